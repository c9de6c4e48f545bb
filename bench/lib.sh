# Shared by the bench/*.sh scripts (sourced, bash): a mosquitto started from the
# project's broker/ on a free loopback port, the four services as processes with the
# same flags as the integration tests' ProcChain, and cleanup on exit.
#
# Sets ROOT, SHARED, BIN, TMP; call bench_init first, then start_broker, start_chain.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${WIS2_SHARED:-$(cd "$ROOT/.." && pwd)/shared}
# BENCH_PROFILE=container measures the Docker image's build profile (no cross-crate LTO).
PROFILE=${BENCH_PROFILE:-release}
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE
export PATH="$PATH:/usr/sbin:/usr/local/sbin"

CENTRE=fr-ifremer-argo
WIS2_TOPIC=origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers
# Throwaway passwords of the benchmark's own broker (loopback only, deleted on exit).
export WIS2_WATCH_PASSWORD=bench-watch WIS2_CREATE_PASSWORD=bench-create \
    WIS2_VALIDATE_PASSWORD=bench-validate WIS2_PUBLISH_PASSWORD=bench-publish \
    WIS2_OPERATOR_PASSWORD=bench-operator WIS2_CONSOLE_BROKER_PASSWORD=bench-console \
    WIS2_CENTRE_ID=$CENTRE

declare -A PID PORT
CHILDREN=()

# Where the bench's files, stores and output go: ON=disk (the default: TMPDIR, else
# /tmp, else the repository's target/ when those are tmpfs) or ON=tmpfs (/dev/shm).
# A TMPDIR given without ON is taken as it is.
bench_base() {
    local d
    case "${ON:-}" in
        tmpfs) echo /dev/shm ;;
        disk | "")
            if [ -z "${ON:-}" ] && [ -n "${TMPDIR:-}" ]; then echo "$TMPDIR"; return; fi
            d=${TMPDIR:-/tmp}
            [ "$(findmnt -no FSTYPE -T "$d" 2>/dev/null)" = tmpfs ] && d=$ROOT/target && mkdir -p "$d"
            echo "$d"
            ;;
        *) echo "ON must be disk or tmpfs" >&2; exit 2 ;;
    esac
}

bench_init() {
    TMP=$(mktemp -d "$(bench_base)/wis2-bench.XXXXXX")
    echo "== files, stores and output on $(fs_line) ($TMP)"
    chmod 711 "$TMP" # mosquitto, started as root, drops to its own user: let it reach its folder
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
    for tool in mosquitto mosquitto_passwd curl; do
        command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install mosquitto curl)" >&2; exit 1; }
    done
    [ -f "$SHARED/data/argo/R4902481_001.nc" ] || { echo "needs $SHARED (set WIS2_SHARED)" >&2; exit 1; }
}

bench_cleanup() {
    local p
    for p in "${CHILDREN[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${CHILDREN[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    [ -n "${KEEP_TMP:-}" ] && echo "kept $TMP" >&2 || rm -rf "$TMP"
}

build_release() {
    [ "${BENCH_BUILD:-1}" = 0 ] && { echo "== BENCH_BUILD=0: using the binaries in $BIN"; return; }
    echo "== cargo build --profile $PROFILE (services and wis2-bench)"
    (cd "$ROOT" && cargo build --profile "$PROFILE" --quiet -p wis2-watch -p wis2-create -p wis2-validate \
        -p wis2-publish -p wis2-bench ${CONSOLE:+-p wis2-console})
}

# A port nothing listens on, below the kernel's ephemeral range: a port in that range
# may be taken meanwhile as the local end of an outgoing connection (a service's
# /healthz then fails to bind). Never one this script handed out already (the broker
# or a service may not listen on it yet). Sets the variable named $1.
USED_PORTS=" "
pick_port() { # variable name
    local p low
    low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "${low:-0}" -gt 12000 ] 2>/dev/null || low=32768
    for _ in $(seq 200); do
        p=$((10000 + RANDOM % (low - 10000)))
        case "$USED_PORTS" in *" $p "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            USED_PORTS="$USED_PORTS$p "
            printf -v "$1" '%s' "$p"
            return
        fi
    done
    echo "no free port" >&2; return 1
}

wait_port() { # port timeout_s
    local end=$((SECONDS + $2))
    until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.02
    done
}

now_ns() { date +%s%N; }

start_broker() {
    pick_port BROKER_PORT
    mkdir -p "$TMP/broker"
    BROKER_RUN_DIR=$TMP/broker/run BROKER_DATA_DIR=$TMP/broker/data BROKER_PORT=$BROKER_PORT \
        sh "$ROOT/broker/start.sh" >"$TMP/broker/mosquitto.log" 2>&1 &
    PID[mosquitto]=$!
    CHILDREN+=("$!")
    wait_port "$BROKER_PORT" 15 || { cat "$TMP/broker/mosquitto.log" >&2; echo "mosquitto did not start" >&2; exit 1; }
}

url() { # account
    local pw
    case $1 in
        wis2-watch) pw=$WIS2_WATCH_PASSWORD ;; wis2-create) pw=$WIS2_CREATE_PASSWORD ;;
        wis2-validate) pw=$WIS2_VALIDATE_PASSWORD ;; wis2-publish) pw=$WIS2_PUBLISH_PASSWORD ;;
        operator) pw=$WIS2_OPERATOR_PASSWORD ;; wis2-console) pw=$WIS2_CONSOLE_BROKER_PASSWORD ;;
        *) pw=everyone ;;
    esac
    echo "mqtt://$1:$pw@127.0.0.1:$BROKER_PORT"
}

# Milliseconds until /healthz answers 200 (polled every ~10 ms), or fails after 30 s.
wait_healthz() { # name
    local end=$((SECONDS + 30))
    until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[$1]}/healthz")" = 200 ]; do
        if [ $SECONDS -ge $end ] || ! kill -0 "${PID[$1]}" 2>/dev/null; then
            echo "$1 not ready; its log:" >&2; tail -20 "$TMP/$1.log" >&2; exit 1
        fi
        sleep 0.01
    done
}

# start_service NAME ARGS...: `NAME run ARGS --health-addr` in the background;
# sets PID[NAME], PORT[NAME], STARTUP_MS[NAME] (spawn to /healthz 200).
declare -A STARTUP_MS
# SVC_ENV: extra NAME=value words of environment for every service (A/B runs).
start_service() {
    local name=$1; shift
    local port
    pick_port port
    PORT[$name]=$port
    local t0; t0=$(now_ns)
    local wrap=()
    # STRACE=1: each service under `strace -f -c` (its system calls counted, and their
    # time: slow, for where the time goes, not for the rate); summaries in
    # $TMP/strace.NAME, printed by strace_report.
    [ "${STRACE:-0}" = 1 ] && wrap=(strace -f -c -o "$TMP/strace.$name")
    env ${SVC_ENV:-} RUST_LOG=${RUST_LOG:-info} WIS2_LOG_FORMAT=human \
        "${wrap[@]}" "$BIN/$name" run "$@" --health-addr "127.0.0.1:${PORT[$name]}" >>"$TMP/$name.log" 2>&1 &
    PID[$name]=$!
    CHILDREN+=("$!")
    wait_healthz "$name"
    STARTUP_MS[$name]=$((($(now_ns) - t0) / 1000000))
}

DATA=""
chain_dirs() {
    DATA=$TMP/data
    mkdir -p "$DATA" "$TMP/state"
}

# PUBLISH_OUTPUT=0: no --output (each message is otherwise also written to a file).
start_publish() {
    local out=(--output "$TMP/out/")
    [ "${PUBLISH_OUTPUT:-1}" = 0 ] && out=()
    start_service wis2-publish --broker-url "$(url wis2-publish)" "${out[@]}" \
        --deadletter-dir "$TMP/deadletters" --state-dir "$TMP/state/publish" "$@"
}

# SIGTERM to a service and wait for its exit (at most 15 s).
stop_service() { # name
    local p=${PID[$1]}
    kill -TERM "$p" 2>/dev/null || return 0
    for _ in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}
start_validate() {
    start_service wis2-validate --broker-url "$(url wis2-validate)" \
        --schema "$SHARED/standards/wnm/wis2-notification-message-bundled.json" \
        --wth-dir "$SHARED/standards/wth" --deadletter-dir "$TMP/deadletters" "$@"
}
start_create() {
    start_service wis2-create --broker-url "$(url wis2-create)" --data-dir "$DATA" \
        --base-url https://data.example.org/argo --deadletter-dir "$TMP/deadletters" "$@"
}
start_watch() {
    start_service wis2-watch --broker-url "$(url wis2-watch)" --data-dir "$DATA" \
        --state-dir "$TMP/state/watch" --settle-ms 300 "$@"
}

SERVICES=(wis2-watch wis2-create wis2-validate wis2-publish)
# CONSOLE=1: the console too (its CPU and memory are reported with the others').
# CONSOLE=sub: in its place, mosquitto_sub on the console's account and topics (QoS 1,
# a persistent session, the messages thrown away): what a subscriber that does no
# work at all costs the chain.
EXTRA=()

# The topics the console reads (wis2_console::subscriptions).
CONSOLE_TOPICS=(chain/events chain/rejected chain/deadletter chain/published 'chain/status/#'
    "origin/a/wis2/$CENTRE/#")

start_console() {
    pick_port CONSOLE_PORT
    if [ "${CONSOLE:-0}" = sub ]; then
        local sub=(mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -u wis2-console
            -P "$WIS2_CONSOLE_BROKER_PASSWORD" -q 1 -c -i bench-console-sub)
        local t
        for t in "${CONSOLE_TOPICS[@]}"; do sub+=(-t "$t"); done
        # -E: subscribe, then exit; the session keeps the subscriptions, so the
        # subscriber below misses nothing.
        "${sub[@]}" -E
        "${sub[@]}" >/dev/null &
        PID[wis2-console]=$!
        CHILDREN+=("$!")
        EXTRA=(wis2-console)
        return
    fi
    start_service wis2-console --broker-url "$(url wis2-console)" --state-dir "$TMP/state/console" \
        --addr "127.0.0.1:$CONSOLE_PORT" --centre-id "$CENTRE" "$@"
    EXTRA=(wis2-console)
}

# The four services, downstream first, each ready before the next starts (as ProcChain).
start_chain() {
    chain_dirs
    case "${CONSOLE:-0}" in 1 | sub) start_console ;; esac
    start_publish
    start_validate
    start_create
    start_watch
}

# CPU seconds (user+system) a process has used so far.
cpu_secs() { # pid
    awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0
}

ctx_switches() { # pid: "voluntary involuntary" context switches of its live threads
    cat /proc/"$1"/task/*/status 2>/dev/null |
        awk '$1 == "voluntary_ctxt_switches:" { v += $2 } $1 == "nonvoluntary_ctxt_switches:" { n += $2 }
             END { print v + 0, n + 0 }'
}

status_kb() { # pid field (VmRSS, VmHWM)
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

snapshot_metrics() { # tag
    local s
    for s in "${SERVICES[@]}"; do
        curl -s "http://127.0.0.1:${PORT[$s]}/metrics" >"$TMP/metrics.$s.$1" || true
    done
}

# One line saying what the figures were measured on: CPUs, model, load average, and a
# CPU calibration (openssl's sha512 over 16 KiB blocks for 1 s), to compare runs taken
# while the host was busier or quieter.
machine_line() {
    local cal
    cal=$(openssl speed -seconds 1 -bytes 16384 -evp sha512 2>/dev/null |
        awk '/^sha512/ { v = $NF; sub(/k$/, "", v); printf "%.0f", v / 1000 }')
    echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg), openssl sha512 ${cal:-?} MB/s (16 KiB blocks), files on $(fs_line), $(date -u +%FT%TZ)"
}

# The filesystem of the bench's files (TMPDIR). On ext4 without a journal the kernel
# checks each candidate inode for a recent deletion when it allocates one
# (`recently_deleted`), which made creating files a large part of the load on the CI
# machine: the README's performance section gives figures on it and on tmpfs
# (TMPDIR=/dev/shm).
fs_line() {
    local src="" fstype="" journal=""
    read -r src fstype < <(findmnt -no SOURCE,FSTYPE -T "${TMP:-${TMPDIR:-/tmp}}" 2>/dev/null) || true
    if [ "$fstype" = ext4 ] && [ "$(cat "/sys/fs/ext4/$(basename "$src")/journal_task" 2>/dev/null)" = "<none>" ]; then
        journal=" without journal"
    fi
    echo "${fstype:-?}$journal"
}

# With STRACE=1: stops the services (strace writes its summary as they exit) and
# prints, per service, the file-system calls per file (FILES files went through) and
# the time strace measured in them.
strace_report() { # FILES
    [ "${STRACE:-0}" = 1 ] || return 0
    local s
    # SIGTERM to each service itself (strace's child): strace writes its summary when
    # the service exits.
    for s in "${SERVICES[@]}"; do
        pkill -TERM -P "${PID[$s]}" 2>/dev/null || true
        for _ in $(seq 150); do kill -0 "${PID[$s]}" 2>/dev/null || break; sleep 0.1; done
    done
    echo "-- system calls per file (strace -f -c; $1 files), file-system and sync calls"
    for s in "${SERVICES[@]}"; do
        [ -f "$TMP/strace.$s" ] || continue
        awk -v svc="$s" -v n="$1" '
            $NF ~ /^(fsync|fdatasync|sync_file_range|openat|rename|renameat2|unlink|unlinkat|write|pwrite64|writev|pwritev|ftruncate|fallocate|mkdir|statx|newfstatat|read|pread64)$/ && $4 ~ /^[0-9]+$/ {
                printf "%-14s %-16s %8.3f per file %10.3f s\n", svc, $NF, $4 / n, $2 }
            /^100.00/ { printf "%-14s %-16s %8s          %10.3f s\n", svc, "(all calls)", "", $2 }' "$TMP/strace.$s"
    done
}
