#!/usr/bin/env bash
# Issue 7 benchmark, footprint: idle RSS of each service once ready (VmRSS), peak RSS
# under the end-to-end load (VmHWM), start-up time of each service to /healthz 200,
# the time of the one-shot commands, and the Docker image size when an engine is up.
# Target: < 20 MB idle RSS per service.
#
#   bench/footprint.sh            # load: N=10000 files as fast as possible
#   N=2000 STARTS=3 bench/footprint.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${N:-10000}
STARTS=${STARTS:-5}

bench_init
build_release
start_broker
start_chain

echo "== start-up to /healthz 200 (spawn -> connected and subscribed; median of $STARTS starts, polled every ~10 ms)"
declare -A starts
for s in "${SERVICES[@]}"; do starts[$s]=${STARTUP_MS[$s]}; done
for _ in $(seq $((STARTS - 1))); do
    for s in wis2-publish wis2-validate wis2-create wis2-watch; do
        stop_service "$s"
        "start_${s#wis2-}"
        starts[$s]="${starts[$s]} ${STARTUP_MS[$s]}"
    done
done
for s in "${SERVICES[@]}"; do
    med=$(tr ' ' '\n' <<<"${starts[$s]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    printf '%-14s %4d ms   (runs: %s)\n' "$s" "$med" "${starts[$s]}"
done

sleep 2
echo
echo "== idle RSS once ready (VmRSS)"
for s in mosquitto "${SERVICES[@]}"; do
    printf '%-14s %6d kB\n' "$s" "$(status_kb "${PID[$s]}" VmRSS)"
done

echo
echo "== peak RSS under load (VmHWM after $N files at saturation through the chain)"
"$BIN/wis2-bench" e2e --broker-url "$(url operator)" --topic "$WIS2_TOPIC" --dir "$DATA/load" \
    --source "$SHARED/data/argo/R4902481_001.nc" --count "$N" --rate 0 --prefix load |
    grep -E 'received|throughput' || true
for s in mosquitto "${SERVICES[@]}"; do
    printf '%-14s %6d kB peak, %6d kB now\n' "$s" "$(status_kb "${PID[$s]}" VmHWM)" "$(status_kb "${PID[$s]}" VmRSS)"
done

echo
echo "== one-shot commands"
"$BIN/wis2-create" message "$SHARED/data/argo/R4902481_001.nc" --data-dir "$SHARED/data" >"$TMP/wnm.json"
SCHEMA=$SHARED/standards/wnm/wis2-notification-message-bundled.json
cmds=(
    "$BIN/wis2-validate message $TMP/wnm.json"
    "$BIN/wis2-validate message --schema $SCHEMA $TMP/wnm.json"
    "$BIN/wis2-create message $SHARED/data/argo/R4902481_001.nc --data-dir $SHARED/data"
)
if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 3 --runs 50 --style basic "${cmds[@]}" 2>&1 | grep -E 'Benchmark|Time|Range'
else
    for c in "${cmds[@]}"; do
        t0=$(now_ns)
        for _ in $(seq 50); do $c >/dev/null 2>&1; done
        awk -v a="$t0" -v b="$(now_ns)" -v c="$c" 'BEGIN { printf "%-90s %.1f ms mean of 50\n", c, (b - a) / 5e7 }'
    done
fi
for c in "${cmds[@]}"; do
    /usr/bin/time -f "max RSS %M kB: $c" $c >/dev/null 2>"$TMP/time.txt" || true
    tail -1 "$TMP/time.txt"
done 2>/dev/null || true

echo
if command -v docker >/dev/null && timeout 5 docker info >/dev/null 2>&1; then
    if size=$(docker image inspect wis2-chain:latest --format '{{.Size}}' 2>/dev/null); then
        echo "docker image wis2-chain:latest: $size bytes ($((size / 1024 / 1024)) MiB)"
    else
        echo "docker engine up, no image wis2-chain:latest (docker compose build first)"
    fi
else
    echo "docker image: no Docker engine running here, not measured"
fi
machine_line
