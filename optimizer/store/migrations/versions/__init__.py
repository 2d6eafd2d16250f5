"""One file per schema revision, oldest first; each upgrades and downgrades one step."""
