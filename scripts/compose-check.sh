#!/usr/bin/env bash
# Brings the Compose stack up for real and checks it end to end:
#  1. the sample file's message arrives on the WIS2 topic and passes wis2-validate;
#  2. a real Argo file dropped into the data directory gets its message too;
#  3. after a broker restart the services reconnect and a further file arrives;
#  4. `docker compose down` stops everything without kill timeouts.
# With no Docker engine on the machine it starts one with
# ../shared/tools/docker-offline.sh (which needs the host-network override
# compose.ci.yml); set WIS2_COMPOSE_PLAIN=1 to use compose.yml alone.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shared=$(cd .. && pwd)/shared

say() { echo "compose-check: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

export PATH="$PATH:/usr/sbin"
if ! docker info >/dev/null 2>&1; then
  [ -x "$shared/tools/docker-offline.sh" ] || fail "no Docker engine and no ../shared/tools/docker-offline.sh"
  say "starting a Docker engine with docker-offline.sh"
  "$shared/tools/docker-offline.sh" start >&2
fi
command -v mosquitto_sub >/dev/null || { apt-get update -qq && apt-get install -y -qq mosquitto-clients >/dev/null; }

files=(-f compose.yml)
port=1883
if [ "${WIS2_COMPOSE_PLAIN:-0}" != 1 ]; then
  files+=(-f compose.ci.yml)
  port=18830
fi
project=wis2check$$
work=$(mktemp -d)
export WIS2_DATA_HOST_DIR="$work/data"
cp -r data "$WIS2_DATA_HOST_DIR"
chmod -R a+rX "$work"
dc() { docker compose -p "$project" "${files[@]}" "$@"; }
cleanup() {
  dc down -v --timeout 20 >/dev/null 2>&1 || true
  [ -n "${sub_pid:-}" ] && kill "$sub_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say "docker compose config"
docker compose -f compose.yml config -q
dc config -q

sub() { # sub OUTFILE COUNT: subscribe as operator to the WIS2 tree, with a
  # persistent session (-c) so that it picks up again after a broker restart
  mosquitto_sub -h 127.0.0.1 -p "$port" -u operator -P operator-demo -c -i "check-$project" -q 1 \
    -t 'origin/a/wis2/#' -C "$2" -W 600 >"$1" 2>>"$work/sub.err" &
  sub_pid=$!
}
wait_for() { # wait_for FILE PATTERN SECONDS: until a line of FILE matches PATTERN
  for _ in $(seq "$3"); do
    grep -q "$2" "$1" && return 0
    sleep 1
  done
  return 1
}
check_valid() { # check_valid FILE: every line is a valid WNM
  local i=0
  while IFS= read -r line; do
    i=$((i + 1))
    printf '%s' "$line" >"$work/msg$i.json"
    "$root/target/debug/wis2-validate" message --schema "$shared/standards/wnm/wis2-notification-message-bundled.json" \
      --wth-dir "$shared/standards/wth" "$work/msg$i.json" >&2 || fail "message $i is not valid: $line"
  done <"$1"
}
[ -x target/debug/wis2-validate ] || cargo build -q -p wis2-validate

say "building the image"
t0=$(date +%s)
# The four services share one image (wis2-chain:latest): build it once.
dc build wis2-publish >&2
say "built in $(( $(date +%s) - t0 )) s"
say "starting the broker"
dc up -d --wait broker
sub "$work/all.txt" 100
say "starting the stack"
t0=$(date +%s)
dc up -d --wait
say "stack up in $(( $(date +%s) - t0 )) s"
wait_for "$work/all.txt" 'R9900001_001.nc' 120 || { dc logs --tail 50 >&2; fail "no message for the sample file"; }
say "sample file's message arrived"

cp "$shared/data/argo/R6903247_274.nc" "$WIS2_DATA_HOST_DIR/.R6903247_274.nc.tmp"
chmod a+r "$WIS2_DATA_HOST_DIR/.R6903247_274.nc.tmp"
mv "$WIS2_DATA_HOST_DIR/.R6903247_274.nc.tmp" "$WIS2_DATA_HOST_DIR/R6903247_274.nc"
wait_for "$work/all.txt" 'R6903247_274.nc' 120 || { dc logs --tail 50 >&2; fail "no message for a dropped Argo file"; }
check_valid "$work/all.txt"
say "dropped file's message arrived; both pass wis2-validate"

say "restarting the broker"
dc restart broker >/dev/null
dc up -d --wait broker >/dev/null
cp "$shared/data/argo/D1900857_000D.nc" "$WIS2_DATA_HOST_DIR/.D1900857_000D.nc.tmp"
chmod a+r "$WIS2_DATA_HOST_DIR/.D1900857_000D.nc.tmp"
mv "$WIS2_DATA_HOST_DIR/.D1900857_000D.nc.tmp" "$WIS2_DATA_HOST_DIR/D1900857_000D.nc"
wait_for "$work/all.txt" 'D1900857_000D.nc' 120 || { dc logs --tail 80 >&2; fail "no message after the broker restart"; }
check_valid "$work/all.txt"
say "services reconnected; a further file arrived"

say "docker compose down"
t0=$(date +%s)
dc down --timeout 20 >/dev/null
took=$(( $(date +%s) - t0 ))
[ "$took" -lt 10 ] || fail "docker compose down took ${took} s: a service ignores SIGTERM"
say "down in ${took} s"
say "OK"
