#!/usr/bin/env bash
# Issue 4 benchmark: hashing + message creation of a large file by `wis2-create message`,
# against `openssl speed -evp sha512` on the same machine.
# Targets: throughput >= 90% of openssl's sha512; peak memory (max RSS) < 32 MB.
#
#   bench/hash.sh                 # 1 GiB file, 3 runs
#   SIZE=4G RUNS=1 bench/hash.sh  # memory stays flat whatever the size
#   METHOD=sha3-256 bench/hash.sh # another integrity method (the ratio is then vs sha512)
#
# The file is written once from /dev/urandom and read once before the runs, so every
# run reads from the page cache (as openssl hashes memory); the disk is not measured.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=${SIZE:-1G}
RUNS=${RUNS:-3}
METHOD=${METHOD:-sha512}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

command -v /usr/bin/time >/dev/null || { echo "needs GNU time (/usr/bin/time): apt-get install time" >&2; exit 1; }
command -v openssl >/dev/null || { echo "needs openssl" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wis2-hash-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
file="$tmp/random.dat"

echo "== building wis2-create (release)"
cargo build --release --quiet -p wis2-create --bin wis2-create
bin="$TARGET_DIR/release/wis2-create"

echo "== writing $SIZE of random data to $file"
head -c "$SIZE" /dev/urandom >"$file"
bytes=$(stat -c %s "$file")
cat "$file" >/dev/null # into the page cache

# openssl's figure in MB/s (its "k" are 1000s of bytes per second).
openssl_mbs() {
    openssl speed -evp sha512 -bytes 16384 -seconds 3 2>/dev/null |
        awk '$1 == "sha512" { sub(/k$/, "", $2); printf "%.1f", $2 / 1000 }'
}
# Measured before and after the runs, so that both see the same machine (the load
# of other processes shows in both).
echo "== openssl speed -evp sha512 -bytes 16384 -seconds 3 (before and after the runs)"
ossl_before=$(openssl_mbs)

rates=()
for i in $(seq 1 "$RUNS"); do
    /usr/bin/time -v "$bin" message "$file" --data-dir "$tmp" --integrity "$METHOD" \
        >"$tmp/message.json" 2>"$tmp/time.txt" || { cat "$tmp/time.txt" >&2; exit 1; }
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$tmp/time.txt" |
        awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
    rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tmp/time.txt")
    rate=$(awk -v b="$bytes" -v w="$wall" 'BEGIN { printf "%.1f", b / w / 1e6 }')
    rates+=("$rate")
    echo "run $i: ${wall}s wall, $rate MB/s, max RSS $((rss_kb / 1024)) MiB ($rss_kb kB)"
    max_rss_kb=$(( ${max_rss_kb:-0} > rss_kb ? ${max_rss_kb:-0} : rss_kb ))
done
length=$(grep -o '"length": *[0-9]*' "$tmp/message.json" | grep -o '[0-9]*$')
[ "$length" = "$bytes" ] || { echo "message length $length != file size $bytes" >&2; exit 1; }
median=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')

ossl_after=$(openssl_mbs)
ossl=$(awk -v a="$ossl_before" -v b="$ossl_after" 'BEGIN { printf "%.1f", (a + b) / 2 }')

ratio=$(awk -v a="$median" -v b="$ossl" 'BEGIN { printf "%.1f", 100 * a / b }')
echo
echo "file:            $bytes bytes, integrity $METHOD"
echo "wis2-create:     $median MB/s (median of $RUNS: ${rates[*]})"
echo "openssl sha512:  $ossl MB/s (before $ossl_before, after $ossl_after)"
echo "ratio:           $ratio% (target >= 90%)"
echo "max RSS:         $((max_rss_kb / 1024)) MiB ($max_rss_kb kB; target < 32 MB)"
echo "load average:    $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (other processes skew both figures)"
