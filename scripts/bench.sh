#!/usr/bin/env bash
# Load benchmark of the backend, run in one go on this machine, everything on
# 127.0.0.1 and bounded in time (about 3 minutes once the release build is
# there). Prints a Markdown report and writes it to bench/RESULTS.md
# (BENCH_OUT=path to write elsewhere); progress goes to stderr.
#
#   (a) GET /api/ts/status with a session cookie (SQLite and PostgreSQL store)
#   (b) GET /api/ts/v3/marketdata/quotes/MSFT through the passthrough, the
#       upstream being a static nginx responder (SQLite and PostgreSQL store)
#   (c) the same request straight to that responder
#   (d) the same request through plain nginx as a reverse proxy adding a fixed
#       Authorization header: the least a proxy can cost; (b) / (d) is the
#       ratio we aim to keep at 0.8 or more
#   (e) one refresh per session: 300 callers over 1 and 3 replicas
#       (backend/tests/replicas.rs against release-built replicas)
#   (f) resident memory of one replica: idle, after the load, after 100 000
#       sessions were created and used
#
# Sessions are made by backend/examples/bench_session.rs straight in the store
# (far-future expiry, so no refresh happens during the load); the app runs in
# TradeStation mode with TS_BASE_URL at the static responder and every other
# TS_* URL pointing there too (never called). Placeholder credentials only.
#
# Installs wrk, nginx-light and postgresql from Debian's packages if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

DURATION="${BENCH_DURATION:-10s}"
THREADS=2
CONNECTIONS=32
SESSIONS=100000
OUT="${BENCH_OUT:-bench/RESULTS.md}"

say() { printf 'bench: %s\n' "$*" >&2; }

need=()
for p in wrk nginx-light postgresql; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if ((${#need[@]})); then
    say "installing ${need[*]} (Debian packages)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

LOAD_BEFORE="$(cut -d' ' -f1 /proc/loadavg)"
say "building backend (release): the binary, the session helper, the replica tests"
build_started=$SECONDS
# One command, so the three share one feature set and one build.
cargo build --release --locked -q -p backend --bin backend --example bench_session --test replicas
build_secs=$((SECONDS - build_started))
BIN="$PWD/target/release/backend"
HELPER="$PWD/target/release/examples/bench_session"

WORK="$(mktemp -d /tmp/bench.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

. scripts/pg.sh
pg_start >/dev/null
free_port() { pg__free_port; }

# --- nginx: the static upstream (one worker) and the reference proxy -------
UP_PORT="$(free_port)"
PX_PORT="$(free_port)"
QUOTE='{"Quotes":[{"Symbol":"MSFT","Open":"415.10","High":"421.00","Low":"414.20","PreviousClose":"414.90","Last":"420.50","Ask":"420.52","AskSize":"200","Bid":"420.48","BidSize":"300","NetChange":"5.60","NetChangePct":"1.35","Volume":"18234567","TradeTime":"2026-11-25T15:59:59Z"}]}'

declare -A NGINX_PID
nginx_conf() { # name workers server-block
    local dir="$WORK/$1"
    mkdir -p "$dir/tmp"
    cat >"$dir/nginx.conf" <<EOF
worker_processes $2;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
$3
}
EOF
    nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' &
    PIDS+=("$!")
    NGINX_PID[$1]=$!
}

nginx_conf upstream 1 "
    server {
        listen 127.0.0.1:$UP_PORT;
        location = /v3/marketdata/quotes/MSFT {
            default_type application/json;
            return 200 '$QUOTE';
        }
        location / { return 404; }
    }"

nginx_conf proxy auto "
    upstream api { server 127.0.0.1:$UP_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$PX_PORT;
        location /api/ts/v3/ {
            proxy_pass http://api/v3/;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Cookie \"\";
            proxy_set_header Authorization \"Bearer bench-access-token\";
        }
    }"

wait_http() { # url
    local i
    for i in $(seq 1 100); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench: $1 did not answer" >&2
    return 1
}
wait_http "http://127.0.0.1:$UP_PORT/v3/marketdata/quotes/MSFT"
wait_http "http://127.0.0.1:$PX_PORT/api/ts/v3/marketdata/quotes/MSFT"

# --- the app ----------------------------------------------------------------
KEY="$(head -c 32 /dev/urandom | base64)"
UP="http://127.0.0.1:$UP_PORT"
APP_PID=""
APP_PORT=""
start_app() { # name database-url
    APP_PORT="$(free_port)"
    (cd "$WORK" && exec env -i \
        TS_CLIENT_ID=bench-client TS_CLIENT_SECRET=bench-placeholder \
        TS_BASE_URL="$UP" TS_AUTH_URL="$UP/authorize" TS_TOKEN_URL="$UP/oauth/token" \
        TS_REVOKE_URL="$UP/oauth/revoke" TS_ISSUER="$UP/" \
        TS_REDIRECT_URI="http://127.0.0.1:$APP_PORT/api/ts/callback" \
        TOKEN_ENCRYPTION_KEY="$KEY" DATABASE_URL="$2" SESSION_IDLE_DAYS=0 \
        RUST_LOG=warn BIND_ADDR="127.0.0.1:$APP_PORT" \
        "$BIN" >"$WORK/app-$1.log" 2>&1) &
    APP_PID=$!
    PIDS+=("$APP_PID")
    wait_http "http://127.0.0.1:$APP_PORT/health"
}
stop_app() {
    kill "$APP_PID"
    wait "$APP_PID" 2>/dev/null || true
}
rss_mib() { awk '/^VmRSS/{printf "%.1f", $2/1024}' "/proc/$1/status"; }

# One session for the fixed-cookie runs.
make_sessions() { # database-url count
    env -i DATABASE_URL="$1" TOKEN_ENCRYPTION_KEY="$KEY" "$HELPER" "$2"
}

# --- CPU accounting: utime + stime, in clock ticks, of a set of processes -----
TICK="$(getconf CLK_TCK)"
ticks() { local t=0 p; for p in "$@"; do
    [[ -r /proc/$p/stat ]] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
done; echo "$t"; }
children() { pgrep -P "$1" | tr '\n' ' '; }
pg_pids() { children "$(head -1 "$PG_DIR/data/postmaster.pid")"; }
# Which processes serve a run: the backend (CPU of PostgreSQL reported apart),
# the upstream's worker, or the reference proxy's workers.
server_pids() {
    case "$1" in
        app) echo "$APP_PID" ;;
        up) children "${NGINX_PID[upstream]}" ;;
        proxy) children "${NGINX_PID[proxy]}" ;;
    esac
}

# --- wrk ----------------------------------------------------------------------
ROWS=""
declare -A RPS CPU
check_200() { # url [cookie]
    local code
    code="$(curl -s -o "$WORK/check.body" -w '%{http_code}' ${2:+-H "Cookie: ts_session=$2"} "$1")"
    if [[ "$code" != 200 ]]; then
        echo "bench: $1 answered $code: $(head -c 300 "$WORK/check.body")" >&2
        return 1
    fi
}
bench() { # id label server url [cookie]
    local id="$1" label="$2" server="$3" url="$4" cookie="${5:-}" out rps p50 p99 bad
    local pids pgs t0 t1 pg0 pg1 reqs cpu pgcpu=""
    check_200 "$url" "$cookie"
    say "($id) $label"
    local header=()
    [[ -n "$cookie" ]] && header=(-H "Cookie: ts_session=$cookie")
    wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "${header[@]}" "$url" >/dev/null # warm-up
    pids="$(server_pids "$server")"
    pgs="$(pg_pids)"
    # shellcheck disable=SC2086
    t0="$(ticks $pids)"; pg0="$(ticks $pgs)"
    out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${header[@]}" "$url")"
    # shellcheck disable=SC2086
    t1="$(ticks $pids)"; pg1="$(ticks $pgs)"
    reqs="$(awk '/requests in/{print $1}' <<<"$out")"
    cpu="$(awk -v t=$((t1 - t0)) -v hz="$TICK" -v n="$reqs" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }')"
    if [[ "$label" == *PostgreSQL* ]]; then
        pgcpu=" + $(awk -v t=$((pg1 - pg0)) -v hz="$TICK" -v n="$reqs" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }') PostgreSQL"
    fi
    CPU[$id]="$cpu"
    rps="$(awk '/^Requests\/sec:/{printf "%.0f", $2}' <<<"$out")"
    p50="$(awk '$1=="50%"{print $2}' <<<"$out")"
    p99="$(awk '$1=="99%"{print $2}' <<<"$out")"
    bad="$(awk '/Non-2xx/{print $NF}' <<<"$out")"
    bad="${bad:-0}"
    if grep -q 'Socket errors' <<<"$out"; then bad="$bad; $(grep 'Socket errors' <<<"$out" | sed 's/^ *//')"; fi
    RPS[$id]="$rps"
    ROWS+="| $id | $label | $rps | $p50 | $p99 | $cpu$pgcpu | $bad |"$'\n'
}

# SQLite store.
start_app sqlite "sqlite://$WORK/tokens.db"
COOKIE="$(make_sessions "sqlite://$WORK/tokens.db" 1 2>/dev/null)"
APP="http://127.0.0.1:$APP_PORT"
bench a0 "GET /api/ts/status without a cookie (no store access)" app "$APP/api/ts/status"
bench a1 "GET /api/ts/status, SQLite store" app "$APP/api/ts/status" "$COOKIE"
bench b1 "passthrough quotes/MSFT, SQLite store" app "$APP/api/ts/v3/marketdata/quotes/MSFT" "$COOKIE"
stop_app

# PostgreSQL store; this replica is also the one whose memory is measured.
start_app pg "$PG_URL"
APP="http://127.0.0.1:$APP_PORT"
sleep 1
RSS_IDLE="$(rss_mib "$APP_PID")"
COOKIE="$(make_sessions "$PG_URL" 1 2>/dev/null)"
bench a2 "GET /api/ts/status, PostgreSQL store" app "$APP/api/ts/status" "$COOKIE"
bench b2 "passthrough quotes/MSFT, PostgreSQL store" app "$APP/api/ts/v3/marketdata/quotes/MSFT" "$COOKIE"
RSS_LOADED="$(rss_mib "$APP_PID")"

bench c "quotes/MSFT straight to the static upstream" up "$UP/v3/marketdata/quotes/MSFT"
bench d "quotes/MSFT through nginx (reverse proxy + Authorization)" proxy "http://127.0.0.1:$PX_PORT/api/ts/v3/marketdata/quotes/MSFT" "$COOKIE"

# (f) 100 000 sessions, then every one of them used once through the
# passthrough (each wrk thread walks its half of the list).
say "(f) creating $SESSIONS sessions"
created_started=$SECONDS
make_sessions "$PG_URL" "$SESSIONS" >"$WORK/cookies.txt" 2>"$WORK/sessions.log"
created_secs=$((SECONDS - created_started))
cat >"$WORK/cycle.lua" <<'EOF'
local threads = {}
function setup(thread)
    thread:set("id", #threads)
    table.insert(threads, thread)
end
function init(args)
    cookies = {}
    for line in io.lines(args[1]) do cookies[#cookies + 1] = line end
    i = id * math.floor(#cookies / 2)
end
function request()
    i = i % #cookies + 1
    return wrk.format("GET", nil, { ["Cookie"] = "ts_session=" .. cookies[i] })
end
EOF
# Long enough for every session at half the rate of (b2) (walking 100 000
# sessions misses caches that one session hits), at most 60 s.
USED_SECS="$(awk -v n="$SESSIONS" -v r="${RPS[b2]}" 'BEGIN { s = int(n / (0.5 * r)) + 2; print (s > 60 ? 60 : s) }')"
say "(f) using the sessions (${USED_SECS} s)"
USED_OUT="$(wrk -t2 -c"$CONNECTIONS" -d"${USED_SECS}s" --timeout 10s -s "$WORK/cycle.lua" \
    "$APP/api/ts/v3/marketdata/quotes/MSFT" -- "$WORK/cookies.txt")"
USED_REQS="$(awk '/requests in/{print $1}' <<<"$USED_OUT")"
USED_RPS="$(awk '/^Requests\/sec:/{printf "%.0f", $2}' <<<"$USED_OUT")"
USED_BAD="$(awk '/Non-2xx/{print $NF}' <<<"$USED_OUT")"
USED_BAD="${USED_BAD:-0}"
if ((USED_REQS >= SESSIONS)); then
    USED_NOTE="every one of them used (each wrk thread walks its half of the list)"
else
    USED_NOTE="$USED_REQS of them used (the time bound ran out first)"
fi
RSS_SESSIONS="$(rss_mib "$APP_PID")"
stop_app

# (e) single flight, and the other replica figures, from the replica tests.
say "(e) replica tests against release-built replicas"
if TEST_DATABASE_URL="$PG_URL" cargo test --release --locked -q -p backend --test replicas \
    -- --nocapture --test-threads=1 >"$WORK/replicas.log" 2>&1; then
    REPLICA_LINES="$(grep -o 'replicas: .*' "$WORK/replicas.log" | sed 's/^replicas: /- /')"
else
    say "the replica tests failed:"
    tail -40 "$WORK/replicas.log" >&2
    REPLICA_LINES="- the replica tests FAILED in this run (see their output)"
fi

LOAD_AFTER="$(cut -d' ' -f1 /proc/loadavg)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

REPORT="$(cat <<EOF
# Benchmark results

$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (plus uncommitted changes)'), \`scripts/bench.sh\`.

Machine: $(nproc) cores ($(lscpu | awk -F: '/Model name/{gsub(/^ +/, "", $2); print $2; exit}')),
$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(. /etc/os-release && echo "$PRETTY_NAME").
**The load generator, the servers, nginx and PostgreSQL all share these
$(nproc) cores**, so the figures are ratios between setups on one machine, not
capacity claims. Load average (1 min) before the build: $LOAD_BEFORE, at the end:
$LOAD_AFTER (the bench itself keeps both cores busy; anything above about 2
before it started was other work sharing the machine).

Load: \`wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency\` (after a 2 s warm-up), keep-alive, on
127.0.0.1. The backend is the release build, RUST_LOG=warn; nginx has its
access log off. The static upstream is nginx (1 worker) answering a
$(printf '%s' "$QUOTE" | wc -c)-byte quote; the reference proxy is nginx (workers = cores) with
upstream keep-alive, adding \`Authorization: Bearer …\` and dropping the
cookie, as the backend does. The backend also looks the session up in its
store on every request, which nginx does not.

| | request | requests/s | p50 | p99 | server CPU µs/request | non-2xx / errors |
|---|---|---|---|---|---|---|
${ROWS}
**Passthrough throughput as a ratio of nginx's (goal ≥ 0.8):**
SQLite store $(ratio "${RPS[b1]}" "${RPS[d]}"), PostgreSQL store $(ratio "${RPS[b2]}" "${RPS[d]}").
nginx as proxy vs the upstream alone: $(ratio "${RPS[d]}" "${RPS[c]}").
CPU per proxied request, nginx's as a fraction of ours: SQLite store
$(ratio "${CPU[d]}" "${CPU[b1]}"), PostgreSQL store $(ratio "${CPU[d]}" "${CPU[b2]}").
Where the passthrough's CPU goes (SQLite store): the HTTP stack alone (a0)
${CPU[a0]} µs, the session lookup (a1 − a0) $((CPU[a1] - CPU[a0])) µs, the upstream call
(b1 − a1) $((CPU[b1] - CPU[a1])) µs; nginx's whole proxied request (d) ${CPU[d]} µs.

"Server CPU" is the user + system time of the serving processes during the
run divided by the requests served: the backend process (a, b; the
PostgreSQL server's own share beside it), the upstream's nginx worker (c),
the proxy's nginx workers (d; the upstream's work is not counted in (b) or
(d)). It depends less than requests/s on what else the shared cores do.

## Memory (one replica, PostgreSQL store)

| state | VmRSS |
|---|---|
| idle, just started | $RSS_IDLE MiB |
| after the runs (a2), (b2) | $RSS_LOADED MiB |
| after $SESSIONS more sessions were created ($created_secs s) and used: $USED_REQS passthrough calls in ${USED_SECS} s, $USED_NOTE ($USED_RPS req/s, non-2xx $USED_BAD) | $RSS_SESSIONS MiB |

The backend keeps no per-session state in memory (the store holds it), so
the figure should not grow with the number of sessions.

## One refresh per session, replicas (release build)

From \`backend/tests/replicas.rs\` (\`cargo test --release -p backend --test replicas -- --nocapture\`):
300 concurrent data calls for one session whose token is expiring, spread
round-robin over the replicas, the token endpoint holding its answer 3 s.

${REPLICA_LINES}

Release build of the backend for this run: ${build_secs} s (0 when already built).
EOF
)"

mkdir -p "$(dirname "$OUT")"
printf '%s\n' "$REPORT" | tee "$OUT"
