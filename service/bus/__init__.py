"""The transports that carry articles and alerts between stages: `base` (the `Bus` and
`Consumer` interface), `embedded` (topics in the SQLite store) and `kafka` (Apache Kafka)."""
