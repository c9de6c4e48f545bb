//! Integration tests only: see `tests/it`.
