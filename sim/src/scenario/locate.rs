//! Placeholder: maps a dotted field path to a line and column of the TOML source.
