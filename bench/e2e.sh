#!/usr/bin/env bash
# Issue 7 benchmark, end to end: files renamed into the watched directory -> WNMs on
# the WIS2 topic, through mosquitto and the four services as separate processes.
#
#   bench/e2e.sh [N] [RATE]     # N files (default 10000) at RATE files/s (default 500),
#                               # then N more as fast as possible (saturation)
#   RUNS=rate bench/e2e.sh      # only the fixed-rate run; RUNS=sat only saturation
#   DRAIN=60 bench/e2e.sh       # give up on missing messages 60 s after the last file
#   ON=tmpfs bench/e2e.sh       # files, stores and output copies on tmpfs; the default,
#                               # ON=disk, puts them on the disk (TMPDIR, else /tmp,
#                               # else target/ when those are tmpfs); the first and last
#                               # lines name the filesystem (fs_line in lib.sh)
#   SVC_ENV=WIS2_WORKER_THREADS=0 bench/e2e.sh  # extra environment of the four
#                               # services (A/B runs of a setting; space-separated)
#   STRACE=1 RUNS=sat bench/e2e.sh 5000  # each service under strace -c: its file-system
#                               # and sync calls per file (slow: not for the rate)
#   DROP=move bench/e2e.sh      # write the files beforehand outside the watched
#                               # folder, then only move them in during the run
#                               # (default DROP=write: written in place, renamed)
#
# Each file is a copy of shared/data/argo/R4902481_001.nc (22 KB) with its own name,
# written under a temporary name and renamed into place (the watcher counts a rename
# as complete at once); with DROP=move, written into a staging folder next to the
# data folder before the clock starts, and moved from there. wis2-bench subscribes to
# the WIS2 topic (operator account) before the first file: latency = arrival of the
# file's WNM - its rename.
# Per stage, it prints the wis2_processing_seconds histogram of each service's
# /metrics, and per process the CPU time used during the run and the context
# switches per file.
# CONSOLE=1 runs wis2-console too (its CPU and memory with the others', and how many
# files it recorded as published): interleave with CONSOLE=0 to see what it costs.
# CONSOLE=sub runs a bare mosquitto_sub on the console's topics instead (lib.sh).
# Targets (2 cores): >= 2000 files/s sustained; p99 < 100 ms at 500 files/s.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${1:-10000}
RATE=${2:-500}
RUNS=${RUNS:-rate,sat}
DRAIN=${DRAIN:-300} # seconds to wait for the last messages after the last file
case "$N$RATE" in *[!0-9.]*) echo "usage: bench/e2e.sh [N] [RATE]" >&2; exit 2 ;; esac
[ "$N" -ge 1 ] && [ "$N" -le 200000 ] || { echo "N must be 1..200000" >&2; exit 2; }

bench_init
build_release
start_broker
start_chain
echo "== chain ready (broker port $BROKER_PORT; startup ms: watch ${STARTUP_MS[wis2-watch]}, create ${STARTUP_MS[wis2-create]}, validate ${STARTUP_MS[wis2-validate]}, publish ${STARTUP_MS[wis2-publish]})"

SRC=$SHARED/data/argo/R4902481_001.nc
DROP=${DROP:-write}
case "$DROP" in
    write) STAGE=() ;;
    move) STAGE=(--stage-dir "$TMP/stage") ;;
    *) echo "DROP must be write or move" >&2; exit 2 ;;
esac
bench() { # tag rate count
    "$BIN/wis2-bench" e2e --broker-url "$(url operator)" --topic "$WIS2_TOPIC" \
        --dir "$DATA/$1" --source "$SRC" --count "$3" --rate "$2" --prefix "$1" --drain-secs "$DRAIN" \
        --json-out "$TMP/results.jsonl" "${STAGE[@]}"
}

# Warm-up (not measured): page cache, redb files, connections.
bench warmup 200 200 >/dev/null

run() { # tag rate
    local tag=$1 rate=$2 s
    declare -A cpu0 cs0
    for s in mosquitto "${SERVICES[@]}" "${EXTRA[@]}"; do
        cpu0[$s]=$(cpu_secs "${PID[$s]}")
        cs0[$s]=$(ctx_switches "${PID[$s]}")
    done
    snapshot_metrics "$tag.before"
    local t0; t0=$(now_ns)
    echo
    echo "== $tag: $N files, rate ${rate/#0/saturation}"
    bench "$tag" "$rate" "$N" || echo "(run reported an error, figures above)"
    local wall; wall=$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
    snapshot_metrics "$tag.after"
    echo "-- per stage (wis2_processing_seconds: input received -> outputs acknowledged)"
    for s in "${SERVICES[@]}"; do
        printf '%-14s ' "$s"
        "$BIN/wis2-bench" histogram "$TMP/metrics.$s.$tag.before" "$TMP/metrics.$s.$tag.after" | sed -n 1p
    done
    echo "-- CPU seconds used during the run (wall ${wall}s, $(nproc) CPUs)"
    for s in mosquitto "${SERVICES[@]}" "${EXTRA[@]}"; do
        awk -v n="$s" -v a="${cpu0[$s]}" -v b="$(cpu_secs "${PID[$s]}")" -v w="$wall" \
            'BEGIN { printf "%-14s %6.2f s  (%3.0f%% of one CPU)\n", n, b - a, 100 * (b - a) / w }'
    done
    echo "bench (wis2-bench itself: writer + subscriber) not counted; load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "-- context switches per file (voluntary + involuntary, threads alive at the end)"
    for s in mosquitto "${SERVICES[@]}"; do
        awk -v n="$s" -v a="${cs0[$s]}" -v b="$(ctx_switches "${PID[$s]}")" -v f="$N" \
            'BEGIN { split(a, x, " "); split(b, y, " ");
                     printf "%-14s %5.2f + %5.2f\n", n, (y[1] - x[1]) / f, (y[2] - x[2]) / f }'
    done
}

case ",$RUNS," in *,rate,*) run "rate$RATE" "$RATE" ;; esac
case ",$RUNS," in *,sat,*) run saturation 0 ;; esac

echo
echo "-- peak RSS (VmHWM) of each process over the whole script"
for s in mosquitto "${SERVICES[@]}" "${EXTRA[@]}"; do
    printf '%-14s %6d kB\n' "$s" "$(status_kb "${PID[$s]}" VmHWM)"
done
# The files that went through: the warm-up's 200, and N per part run.
files=200
case "$RUNS" in *rate*) files=$((files + N)) ;; esac
case "$RUNS" in *sat*) files=$((files + N)) ;; esac
strace_report "$files"
dl=$(find "$TMP/deadletters" -type f 2>/dev/null | wc -l || true)
echo "dead letters: $dl"
if [ "${CONSOLE:-0}" = 1 ]; then
    sleep 1 # the console's last burst
    echo "console: $(curl -s "http://127.0.0.1:$CONSOLE_PORT/api/files?state=published&limit=1" |
        sed -n 's/.*"total":\([0-9]*\).*/\1/p') files recorded as published"
fi
machine_line
