#!/usr/bin/env bash
# Issue 7 benchmark, publishing: QoS 1 messages per second acknowledged by a local
# mosquitto (target >= 40,000/s), measured two ways:
#   (a) wis2-bench publish: the project's wis2_bus::Bus, every message queued with
#       publish_nowait (pipelined), then every PUBACK awaited; a real WNM (~1 KB);
#   (b) the wis2-publish service end to end: N distinct validated envelopes preloaded
#       into chain/validated for its persistent session while it is stopped, then it is
#       started and timed until N confirmations arrived on chain/published (each one
#       means: published on the WIS2 topic at QoS 1, PUBACK received, recorded in
#       published.redb, written to --output, input acknowledged).
#
#   bench/publish.sh                  # N=100000 for (a), N_SERVICE=50000 for (b)
#   N=20000 N_SERVICE=10000 RUNS=1 bench/publish.sh
#   PUBLISH_OUTPUT=0 bench/publish.sh # (b) without --output (no file per message)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${N:-100000}
N_SERVICE=${N_SERVICE:-50000}
RUNS=${RUNS:-3}
[ "$N" -le 1000000 ] && [ "$N_SERVICE" -le 90000 ] || {
    echo "N <= 1000000; N_SERVICE <= 90000 (the broker queues at most 100000 messages per session)" >&2; exit 2; }

bench_init
build_release
start_broker
chain_dirs
"$BIN/wis2-create" message "$SHARED/data/argo/R4902481_001.nc" --data-dir "$SHARED/data" \
    --base-url https://data.example.org/argo >"$TMP/wnm.json"
echo "== payload: a WNM of $(stat -c %s "$TMP/wnm.json") bytes (wis2-create message R4902481_001.nc)"

echo "== (a) wis2_bus::Bus, $N messages, $RUNS runs"
rates=()
for i in $(seq "$RUNS"); do
    out=$("$BIN/wis2-bench" publish --broker-url "$(url wis2-publish)" --topic "$WIS2_TOPIC" \
        --payload "$TMP/wnm.json" --count "$N")
    r=$(sed -n 's/^RESULT rate=\([0-9]*\).*/\1/p' <<<"$out")
    echo "run $i: $r messages/s ($(sed -n 's/^  all acknowledged/all acknowledged/p;s/^  all queued \(.*\), all ack.*/queued \1/p' <<<"$out" | head -1))"
    rates+=("$r")
done
median=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "(a) median: $median messages/s acknowledged (runs: ${rates[*]}; target >= 40000)"

echo
echo "== (b) wis2-publish service, $N_SERVICE envelopes preloaded (output: $([ "${PUBLISH_OUTPUT:-1}" = 0 ] && echo none || echo "one file per message"))"
start_publish   # creates its persistent session and subscription
stop_service wis2-publish
"$BIN/wis2-bench" publish --broker-url "$(url wis2-validate)" --topic chain/validated \
    --payload "$TMP/wnm.json" --count "$N_SERVICE" --envelopes | sed -n 's/^  rate/preloaded at/p'
"$BIN/wis2-bench" collect --broker-url "$(url operator)" --topic chain/published \
    --count "$N_SERVICE" --ready-file "$TMP/collect.ready" --timeout-secs 300 >"$TMP/collect.out" 2>&1 &
collector=$!
CHILDREN+=("$collector")
for _ in $(seq 300); do [ -f "$TMP/collect.ready" ] && break; sleep 0.05; done
[ -f "$TMP/collect.ready" ] || { cat "$TMP/collect.out" >&2; exit 1; }
t0=$(now_ns)
start_publish
wait "$collector" || { cat "$TMP/collect.out" >&2; exit 1; }
read -r received first last < <(sed -n 's/^RESULT received=\([0-9]*\) first_ns=\([0-9]*\) last_ns=\([0-9]*\)/\1 \2 \3/p' "$TMP/collect.out")
awk -v n="$received" -v t0="$t0" -v f="$first" -v l="$last" -v s="${STARTUP_MS[wis2-publish]}" 'BEGIN {
    printf "(b) %d confirmations; from process start: %.2f s = %.0f messages/s (start-up to ready %d ms)\n", n, (l - t0) / 1e9, n / ((l - t0) / 1e9), s
    printf "    first to last confirmation: %.2f s = %.0f messages/s\n", (l - f) / 1e9, (n - 1) / ((l - f) / 1e9) }'
curl -s "http://127.0.0.1:${PORT[wis2-publish]}/metrics" >"$TMP/m.after"
: >"$TMP/m.before"
"$BIN/wis2-bench" histogram "$TMP/m.before" "$TMP/m.after" | sed 's/^/    /'
machine_line
