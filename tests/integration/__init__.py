"""Real local HTTP servers, real SQLite, and stages built in process with injected clocks."""
