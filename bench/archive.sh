#!/usr/bin/env bash
# Issue 20 benchmark, an archive: the chain pointed at a tree of N existing files (hard
# links to the real Argo file shared/data/argo/R6903247_274.nc, so that the tree costs
# directory entries, not data) in DIRS directories, as a data centre's archive.
#
#   TMPDIR=/dev/shm bench/archive.sh                       # N=1000000 DIRS=20000
#   TMPDIR=/dev/shm N=100000 DIRS=2000 bench/archive.sh
#   PHASES=none bench/archive.sh                           # skip the `all` phases
#
# Phases, each wis2-watch a new process (its VmHWM is its own peak):
#   1. first start, WIS2_ANNOUNCE_EXISTING=none: every file recorded as known, none
#      announced (time to the first-start line, then to the end of the catch-up scan);
#   2. restart with the N files known (baselined): spawn to /healthz 200, the catch-up
#      scan (a full rescan of N unchanged files: its wall time and the process's CPU);
#   3. first start, WIS2_ANNOUNCE_EXISTING=all, on a fresh state: every file published;
#      the rate from the first message on the WIS2 topic to the last (wis2-bench
#      collect subscribes first);
#   4. restart with the N files announced and confirmed: as 2.
# Then the peak RSS (VmHWM) of every process, and the stores' size per file.
# wis2-publish writes no output copies (PUBLISH_OUTPUT=0 unless set: 1,000,000 files
# of JSON would be the benchmark's largest cost on tmpfs).
# Targets: >= 2,000 files/s with `all`, restart ready < 2 s, a rescan of 1,000,000
# unchanged files < 10 s CPU, every service < 64 MB.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${N:-1000000}
DIRS=${DIRS:-20000}
PHASES=${PHASES:-none,all}
export PUBLISH_OUTPUT=${PUBLISH_OUTPUT:-0}
case "$N$DIRS" in *[!0-9]*) echo "N and DIRS are numbers" >&2; exit 2 ;; esac
[ "$N" -ge 1 ] && [ "$DIRS" -ge 1 ] || { echo "N and DIRS must be >= 1" >&2; exit 2; }

bench_init
command -v mosquitto_sub >/dev/null || { echo "needs mosquitto_sub (apt-get install mosquitto-clients)" >&2; exit 1; }
build_release
start_broker
chain_dirs

echo "== the tree: $N hard links to R6903247_274.nc in $DIRS directories under $DATA/argo"
t0=$(now_ns)
# A copy of the file on the tree's filesystem (a hard link cannot cross filesystems),
# a new one every 50,000 links (ext4 allows 65,000 links to one inode).
python3 - "$SHARED/data/argo/R6903247_274.nc" "$DATA/argo" "$TMP/src" "$N" "$DIRS" <<'PY'
import os, shutil, sys
src, root, copies, n, dirs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
os.makedirs(copies, exist_ok=True)
per_dir = -(-n // dirs)
made = 0
for d in range(dirs):
    folder = os.path.join(root, f"{6900000 + d}")
    os.makedirs(folder, exist_ok=True)
    for c in range(per_dir):
        if made == n:
            break
        if made % 50000 == 0:
            origin = os.path.join(copies, f"{made}.nc")
            shutil.copyfile(src, origin)
            os.utime(origin, (1650275280, 1650275280))
        os.link(origin, os.path.join(folder, f"R{6900000 + d}_{c:03d}.nc"))
        made += 1
print(f"{made} files")
PY
echo "built in $(( ($(now_ns) - t0) / 1000000 )) ms"

# The value of the field `$2=` of the $3-th log line of wis2-watch holding $1 (waits).
log_field() { # needle field nth
    local line=""
    for _ in $(seq 36000); do
        line=$(grep -F "$1" "$TMP/wis2-watch.log" | sed -n "${3:-1}p" || true)
        [ -n "$line" ] && break
        kill -0 "${PID[wis2-watch]}" 2>/dev/null || { tail -20 "$TMP/wis2-watch.log" >&2; exit 1; }
        sleep 0.05
    done
    [ -n "$line" ] || { echo "no '$1' in wis2-watch's log" >&2; exit 1; }
    sed -n "s/.*[ ,]$2=\([0-9]*\).*/\1/p" <<<"$line"
}

metric() { # service name
    curl -s "http://127.0.0.1:${PORT[$1]}/metrics" | awk -v m="$2" '$1 == m { print $2 }'
}

store_line() { # file
    local b; b=$(stat -c %s "$1")
    echo "$(basename "$1"): $((b / 1048576)) MiB, $((b / N)) bytes per file"
}

# A restart with the files known: ready, the catch-up scan, its CPU, the peak RSS.
restart() { # nth scan line of this log
    stop_service wis2-watch
    local scans; scans=$(grep -cF "data directory scanned" "$TMP/wis2-watch.log" || true)
    start_watch "$@"
    local ms; ms=$(log_field "data directory scanned" ms $((scans + 1)))
    local dirs; dirs=$(log_field "data directory scanned" watched_dirs $((scans + 1)))
    echo "restart with $N files known: ready (spawn to /healthz 200) ${STARTUP_MS[wis2-watch]} ms; catch-up scan $ms ms ($dirs folders watched), wis2-watch CPU so far $(cpu_secs "${PID[wis2-watch]}") s; VmHWM $(status_kb "${PID[wis2-watch]}" VmHWM) kB"
}

start_publish
start_validate
start_create

echo
echo "== 1. first start, WIS2_ANNOUNCE_EXISTING=none"
# Whatever reaches the WIS2 topic from the start until 5 s after the catch-up scan
# (subscribed before wis2-watch starts: mosquitto_sub's connection, then its start).
mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -u operator -P "$WIS2_OPERATOR_PASSWORD" \
    -i bench-none -t "$WIS2_TOPIC" >"$TMP/none.msgs" 2>&1 &
sub=$!
CHILDREN+=("$sub")
start_watch --announce-existing none
first=$(log_field "first start:" ms)
scan=$(log_field "data directory scanned" ms)
watched=$(log_field "data directory scanned" watched_dirs)
unwatched=$(log_field "data directory scanned" unwatched_dirs)
sleep 5
kill -TERM "$sub" 2>/dev/null || true
wait "$sub" 2>/dev/null || true
echo "recorded in $first ms (then the catch-up scan: $scan ms; $watched folders watched, $unwatched not); ready ${STARTUP_MS[wis2-watch]} ms; messages on the WIS2 topic: $(grep -c . "$TMP/none.msgs" || true); wis2-watch CPU $(cpu_secs "${PID[wis2-watch]}") s, VmHWM $(status_kb "${PID[wis2-watch]}" VmHWM) kB"
grep -F "first start:" "$TMP/wis2-watch.log" | sed 's/^/    /' | cut -c1-400
echo "    $(store_line "$TMP/state/watch/announced.redb")"

echo
echo "== 2. restart, the $N files baselined"
restart --announce-existing none

if [[ ",$PHASES," == *",all,"* ]]; then
    echo
    echo "== 3. first start, WIS2_ANNOUNCE_EXISTING=all (fresh state)"
    stop_service wis2-watch
    mv "$TMP/state/watch" "$TMP/state/watch-none"
    "$BIN/wis2-bench" collect --broker-url "$(url operator)" --topic "$WIS2_TOPIC" --count "$N" \
        --ready-file "$TMP/collect.ready" --timeout-secs $((N / 100 + 300)) >"$TMP/collect.out" 2>&1 &
    collector=$!
    CHILDREN+=("$collector")
    for _ in $(seq 300); do [ -f "$TMP/collect.ready" ] && break; sleep 0.05; done
    [ -f "$TMP/collect.ready" ] || { cat "$TMP/collect.out" >&2; exit 1; }
    cpu0=()
    for s in wis2-create wis2-validate wis2-publish; do cpu0+=("$(cpu_secs "${PID[$s]}")"); done
    t0=$(now_ns)
    start_watch --announce-existing all
    wait "$collector" || { tail -3 "$TMP/collect.out" >&2; exit 1; }
    read -r received first last < <(sed -n 's/^RESULT received=\([0-9]*\) first_ns=\([0-9]*\) last_ns=\([0-9]*\)/\1 \2 \3/p' "$TMP/collect.out")
    awk -v n="$received" -v t0="$t0" -v f="$first" -v l="$last" 'BEGIN {
        printf "%d messages on the WIS2 topic; first to last: %.1f s = %.0f files/s; from the spawn of wis2-watch: %.1f s\n", n, (l - f) / 1e9, (n - 1) / ((l - f) / 1e9), (l - t0) / 1e9 }'
    i=0
    for s in wis2-create wis2-validate wis2-publish; do
        echo "    $s CPU during it: $(awk -v a="$(cpu_secs "${PID[$s]}")" -v b="${cpu0[$i]}" 'BEGIN { printf "%.1f", a - b }') s"
        i=$((i + 1))
    done
    echo "    wis2-watch CPU $(cpu_secs "${PID[wis2-watch]}") s"
    # The confirmations of the last files (a few ms behind their messages).
    sleep 5
    echo "    $(store_line "$TMP/state/watch/announced.redb")"
    echo "    $(store_line "$TMP/state/publish/published.redb")"
    echo
    echo "== peak RSS (VmHWM) of every process, after phase 3"
    for s in mosquitto "${SERVICES[@]}"; do
        printf '%-14s %7d kB\n' "$s" "$(status_kb "${PID[$s]}" VmHWM)"
    done
    echo
    echo "== 4. restart, the $N files announced and confirmed"
    restart
fi
echo
machine_line
