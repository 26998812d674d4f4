#!/usr/bin/env bash
# Runs every test: formatting, lints, the SPA build, backend unit and
# integration tests. Installs whatever is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
. scripts/setup.sh --test

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (native, and the SPA for wasm)"
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo clippy --locked -p frontend --target wasm32-unknown-unknown --all-targets -- -D warnings

step "trunk build --release"
trunk build --release --locked

step "PostgreSQL (throwaway cluster for the store tests)"
. scripts/pg.sh
pg_start
export TEST_DATABASE_URL="$PG_URL"

step "cargo test (native)"
cargo test --locked --workspace --exclude frontend

step "cargo test (the SPA's pure logic, native)"
cargo test --locked -p frontend --lib --tests

# --- Frontend ----------------------------------------------------------------
# The SPA's wasm-bindgen tests (components and the stream parser) in headless
# Chromium, then the end-to-end test: the backend binary in simulation mode
# serving dist/ (built above) to headless Chromium through chromedriver. On
# failure it leaves a screenshot, the page, its console and the backend log in
# test-artifacts/e2e/; on success, test-artifacts/e2e/metrics.json has the
# first page's wasm/JS sizes and the navigation → interactive times.

step "wasm-bindgen-test (frontend, headless Chromium)"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    CHROMEDRIVER="$(command -v chromedriver)" \
    cargo test --locked -p frontend --target wasm32-unknown-unknown

step "end-to-end (backend + dist/ + headless Chromium)"
cargo build --locked -p backend
cargo test --locked -p e2e -- --ignored --nocapture
# --- end Frontend --------------------------------------------------------------
