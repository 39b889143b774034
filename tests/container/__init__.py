"""The real image under a real Docker engine (skipped without one, failed so under CI)."""
