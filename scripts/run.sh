#!/usr/bin/env bash
# Builds the SPA and starts the app. Without TS_CLIENT_ID (environment or
# .env) it runs against the built-in TradeStation simulator with SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
trunk build --release --locked
exec cargo run --release --locked -p backend
