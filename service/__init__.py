"""The poller and what every stage shares: settings, messages, fetching and parsing, the
schedule, the embedded store, the bus, health, metrics and logging. `service.app` is the
composition root; nothing else here imports `consumers` (see README "Layout")."""
