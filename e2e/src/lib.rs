//! Nothing here: the crate exists for its test, `tests/e2e.rs`.
