//! The end-to-end test lives in `tests/e2e.rs`; this library is empty.
//!
//! It drives the real backend binary (simulation mode, SQLite in a temp
//! dir) serving the built SPA from `dist/`, with headless Chromium through
//! Debian's chromedriver. Prerequisites: `trunk build --release` (for
//! `dist/`) and `cargo build -p backend` (for `target/debug/backend`, or set
//! `BACKEND_BIN`). `scripts/test.sh` does both first.
