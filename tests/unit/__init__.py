"""The pure core, in tables and properties: no network, no clock, no subprocess (at most a
config file written to tmp_path for the loader to read)."""
