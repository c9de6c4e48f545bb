#!/usr/bin/env bash
# Issue 3 benchmark: wall time of one `wis2-validate message FILE` process (start,
# schema compilation, WTH tables, one check, exit), with hyperfine.
# Target: under 10 ms per process (pywis-pubsub: about 280 ms).
#
#   bench/oneshot.sh               # the standard's example1.json, 200 runs
#   RUNS=50 bench/oneshot.sh FILE  # another message
set -euo pipefail
cd "$(dirname "$0")/.."
shared=$(cd .. && pwd)/shared
file=${1:-$shared/standards/wnm/examples/example1.json}
runs=${RUNS:-200}

if ! command -v hyperfine >/dev/null 2>&1; then
  echo "oneshot.sh: installing hyperfine" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq hyperfine >/dev/null
fi
echo "== building wis2-validate (release)"
cargo build --release --quiet -p wis2-validate
bin=${CARGO_TARGET_DIR:-target}/release/wis2-validate
schema=$shared/standards/wnm/wis2-notification-message-bundled.json
wth=$shared/standards/wth

hyperfine -N --warmup 10 --runs "$runs" \
  -n "authoritative schema + WTH tables" "$bin message --schema $schema --wth-dir $wth $file" \
  -n "built-in rules only" "$bin message $file"
