#!/usr/bin/env bash
# Interleaved A/B runs of a bench script: the release binaries of another commit (A)
# against those of this tree (B), alternating A B B A A B ... on the same machine in
# the same run, so that the machine's drift weighs on both alike.
#
#   bench/ab.sh REV [ROUNDS] [SCRIPT [ARGS...]]    # default: 4 rounds of bench/e2e.sh
#   bench/ab.sh HEAD~1 6 bench/e2e.sh 10000 500
#   bench/ab.sh d0afa32 3 bench/publish.sh         # any bench/*.sh that uses lib.sh
#   AB_A_TARGET=../old/target bench/ab.sh REV ...  # A already built there (release)
#   AB_PAUSE=90 bench/ab.sh REV ...                # seconds between runs (default 0)
#
# On ext4, a run that starts soon after the previous one deleted its files allocates
# inodes freed moments ago, which ext4 scans past at a high kernel CPU cost (perf:
# find_inode_bit -> recently_deleted): its figures then depend on the gap between runs,
# not on the code. AB_PAUSE gives the file system that time back.
#
# A is checked out in a worktree under target/ab/ and built there once (release,
# its own target folder); B is this tree, built with `cargo build --release`. Every
# run's output is kept in target/ab/runs/ (its path is printed). For bench/e2e.sh the
# summary gives each run's throughput and latency percentiles and, per side, their
# median; for other scripts it prints the lines matching AB_GREP (default: lines with
# "/s" or " ms") of each run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
[ $# -ge 1 ] || { sed -n '2,16p' "$0" >&2; exit 2; }
REV=$1; shift
ROUNDS=${1:-4}; [ $# -gt 0 ] && shift
SCRIPT=${1:-bench/e2e.sh}; [ $# -gt 0 ] && shift
case "$ROUNDS" in '' | *[!0-9]*) echo "ROUNDS must be a number" >&2; exit 2 ;; esac
SHA=$(git rev-parse --verify "$REV^{commit}")
AB=$ROOT/target/ab
mkdir -p "$AB/runs"
PROFILE=${BENCH_PROFILE:-release}
BINS=(-p wis2-watch -p wis2-create -p wis2-validate -p wis2-publish -p wis2-bench)

if [ -n "${AB_A_TARGET:-}" ]; then
    A_TARGET=$(cd "$AB_A_TARGET" && pwd)
else
    A_SRC=$AB/src-${SHA:0:12}
    A_TARGET=$AB/target-${SHA:0:12}
    [ -d "$A_SRC" ] || git worktree add --detach "$A_SRC" "$SHA" >/dev/null
    echo "== A: cargo build --profile $PROFILE at ${SHA:0:12} (into $A_TARGET)"
    (cd "$A_SRC" && CARGO_TARGET_DIR=$A_TARGET cargo build --profile "$PROFILE" --quiet "${BINS[@]}")
fi
echo "== B: cargo build --profile $PROFILE of this tree ($(git rev-parse --short HEAD)$(git diff --quiet || echo ', uncommitted changes'))"
cargo build --profile "$PROFILE" --quiet "${BINS[@]}"
B_TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

stamp=$(date +%Y%m%d-%H%M%S)
runs=()
run() { # side round
    local target=$A_TARGET log
    [ ${#runs[@]} -eq 0 ] || sleep "${AB_PAUSE:-0}"
    [ "$1" = B ] && target=$B_TARGET
    log=$AB/runs/$stamp-$1-$2.log
    echo "== round $2, $1: $SCRIPT ${ARGS[*]}"
    CARGO_TARGET_DIR=$target BENCH_BUILD=0 "$ROOT/$SCRIPT" "${ARGS[@]}" >"$log" 2>&1 ||
        echo "   (exit $?; see $log)"
    runs+=("$1 $2 $log")
}
ARGS=("$@")
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then run A "$r"; run B "$r"; else run B "$r"; run A "$r"; fi
done

echo
echo "== A = ${SHA:0:12}, B = this tree; logs in $AB/runs/$stamp-*"
if [ "$(basename "$SCRIPT")" = e2e.sh ]; then
    for r in "${runs[@]}"; do
        set -- $r
        awk -v side="$1" -v round="$2" '
            /^e2e / { mode = $2 == "saturation:" ? "saturation" : "rate" $2 }
            /^  throughput/ { tp = $2 }
            /^  latency ms/ { print side, round, mode, tp, $4, $6, $8 }
        ' "$3"
    done | python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin if l.strip()]
print("side round mode        files/s    p50 ms   p90 ms   p99 ms")
for r in sorted(rows, key=lambda r: (r[2], r[0], int(r[1]))):
    print(f"{r[0]:4} {r[1]:>5} {r[2]:11} {r[3]:>8} {r[4]:>8} {r[5]:>8} {r[6]:>8}")
print("-- medians")
for mode in sorted({r[2] for r in rows}):
    for side in "AB":
        sel = [r for r in rows if r[0] == side and r[2] == mode]
        if sel:
            tp = statistics.median(float(r[3]) for r in sel)
            p99 = statistics.median(float(r[6]) for r in sel)
            print(f"{side} {mode:11} throughput {tp:8.0f} files/s   p99 {p99:7.1f} ms   ({len(sel)} runs)")
' | tee "$AB/runs/$stamp-summary.txt"
else
    for r in "${runs[@]}"; do
        set -- $r
        echo "-- $1, round $2"
        grep -E "${AB_GREP:-/s| ms}" "$3" || true
    done
fi
