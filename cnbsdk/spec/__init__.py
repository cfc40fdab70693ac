"""Plain models of every CNB file, with parse/dump and validation; no I/O but TOML read/write."""
