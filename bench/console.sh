#!/usr/bin/env bash
# The console at scale: a history of N files (default 1,000,000, each with its four
# steps and its message as published: `wis2-bench history`), then the console started
# on it and every query of the page and the API timed (REPEAT requests each, curl's
# total time; p50 and p99), its resident memory (VmHWM) and the history's size per
# file. Targets: p99 < 100 ms for the page's first load and every query; RSS < 64 MB.
#
#   bench/console.sh
#   N=100000 REPEAT=50 bench/console.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${N:-1000000}
REPEAT=${REPEAT:-100}

bench_init
if [ "${BENCH_BUILD:-1}" != 0 ]; then
    echo "== cargo build --profile $PROFILE (wis2-console, wis2-bench)"
    (cd "$ROOT" && cargo build --profile "$PROFILE" --quiet -p wis2-console -p wis2-bench)
fi
start_broker
mkdir -p "$TMP/console"
echo "== a history of $N files"
# Its files changed over the last N/2000 seconds before now (wis2-bench history):
# the time range below takes the last minute of them.
since=$(date -u -d '-1 minute' +%Y-%m-%dT%H:%M:%SZ)
"$BIN/wis2-bench" history --dir "$TMP/console" --files "$N"
pick_port CONSOLE_PORT
t0=$(now_ns)
start_service wis2-console --broker-url "$(url wis2-console)" --state-dir "$TMP/console" \
    --addr "127.0.0.1:$CONSOLE_PORT" --centre-id "$CENTRE" --operator-password "$WIS2_OPERATOR_PASSWORD"
wait_port "$CONSOLE_PORT" 30
echo "== started on the history in $((($(now_ns) - t0) / 1000000)) ms (spawn to /healthz 200 and the page's port open)"

base="http://127.0.0.1:$CONSOLE_PORT"
some_id=$(curl -fsS "$base/api/files?limit=1&offset=$((N / 2))" | sed -n 's/.*"message_id":"\([^"]*\)".*/\1/p')
some_data_id=$(curl -fsS "$base/api/files?limit=1&offset=$((N / 3))" | sed -n 's/.*"data_id":"\([^"]*\)".*/\1/p')
queries=(
    "/"
    "/assets/console.js"
    "/api/files"
    "/api/files?state=published&offset=500000"
    "/api/files?q=R0123456"
    "/api/files?q=$some_id"
    "/api/files?q=$some_data_id"
    "/api/files?from=$since"
    "/api/deadletters"
    "/api/status"
    "/api/stats?window=day"
    "/collections/messages/items"
    "/collections/messages/items?limit=100&offset=900000"
    "/collections/messages/items?data_id=$some_data_id"
    "/collections/messages/items?datetime=$since/.."
)
echo "== $REPEAT requests per query (ms: p50 p99 max; answer bytes)"
for q in "${queries[@]}"; do
    times=()
    for _ in $(seq "$REPEAT"); do
        times+=("$(curl -s -o "$TMP/answer" -w '%{time_total}' "$base$q")")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk -v q="$q" -v bytes="$(stat -c %s "$TMP/answer")" '
        { t[NR] = $1 * 1000 }
        END { printf "%-60.60s %7.1f %7.1f %7.1f  %d\n", q, t[int(NR * 0.5 + 0.5)], t[int(NR * 0.99 + 0.5)], t[NR], bytes }'
done
echo
echo "== wis2-console memory: $(status_kb "${PID[wis2-console]}" VmHWM) kB peak, $(status_kb "${PID[wis2-console]}" VmRSS) kB now"
echo "== history: $(du -k "$TMP/console/console.redb" | cut -f1) kB for $N files"
machine_line
fs_line
