//! The WNM abstract test suite, the authoritative JSON Schema, reports.
