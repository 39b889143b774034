"""The Kafka roles as OS processes over a real Apache Kafka broker (scripts/kafka)."""
