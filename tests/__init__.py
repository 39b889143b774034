"""The test suite: unit (pure core), integration (real local servers and SQLite), e2e (the
real command), kafka (a real broker), container (the real image); shared helpers in support."""
