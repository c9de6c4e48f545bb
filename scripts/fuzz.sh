#!/bin/sh
# Fuzzes the WIS2 library's parsers (fuzz/, cargo-fuzz + libFuzzer), each target for
# a bounded time:
#
#   scripts/fuzz.sh                 # every target, FUZZ_SECONDS (default 30) each
#   scripts/fuzz.sh wnm bufr        # some targets
#   FUZZ_SECONDS=600 scripts/fuzz.sh classic
#
# Targets: event (CloudEvent intake), wnm (notification message checks), wcmp2
# (discovery metadata checks), bufr (BUFR headers), classic (netCDF classic header and
# time units), stac (STAC item events), sniff (media types from a file's first bytes).
#
# cargo-fuzz needs nightly compiler flags (-Z sanitizer=address, ...). With a nightly
# toolchain installed, `cargo +nightly fuzz run` is the usual way; on a stable-only
# machine this script sets RUSTC_BOOTSTRAP=1, which lets the stable compiler accept
# the nightly flags (fine for a local fuzzing build, never for a release build).
# FUZZ_TOOLCHAIN=nightly uses `cargo +nightly` instead.
#
# FUZZ_SANITIZER (default address) is passed to `cargo fuzz -s`: `none` builds in
# about two thirds of the time (CI uses it). The library has no unsafe code, so what
# AddressSanitizer adds is checking dependencies' unsafe code and the 256 MiB cap on
# one allocation (-malloc_limit_mb needs its malloc hooks); without it, only the RSS
# limit and allocation failures catch runaway allocations.
#
# Seeds come from the repository's and ../shared's sample files (fuzz/corpus/<target>,
# kept between runs, not committed). A crash stops its target and leaves the input in
# fuzz/artifacts/<target>/; replay it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/crash-...
# A panic (overflow checks and debug assertions are on), an input taking over 10 s, or
# (with AddressSanitizer) one allocation over 256 MiB from at most 64 KiB of input
# counts as a crash. The script exits non-zero when a target crashed.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-30}
sanitizer=${FUZZ_SANITIZER:-address}
all="event wnm wcmp2 bufr classic stac sniff monitor"
targets=${*:-$all}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  cargo install cargo-fuzz --locked
fi

if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
  cargo_fuzz() { cargo "+$FUZZ_TOOLCHAIN" fuzz "$@"; }
else
  cargo_fuzz() { RUSTC_BOOTSTRAP=1 cargo fuzz "$@"; }
fi

shared=$root/../shared
corpus=$root/fuzz/corpus

# seed TARGET FILE...: copies sample files (their first 64 KiB) into the corpus.
seed() {
  t=$1
  shift
  mkdir -p "$corpus/$t"
  for f in "$@"; do
    [ -f "$f" ] || continue
    head -c 65536 "$f" >"$corpus/$t/seed-$(basename "$f")"
  done
}
seed_text() {
  mkdir -p "$corpus/$1"
  printf '%s' "$3" >"$corpus/$1/seed-$2"
}

seed wnm "$shared"/standards/wnm/examples/*.json
seed wcmp2 "$shared"/standards/wcmp2/examples/*.json "$shared"/data/wcmp2/*.json \
  "$root"/data/metadata/*.json
seed bufr "$shared"/data/bufr/*
seed classic "$root"/data/argo/*.nc "$shared"/data/argo/*.nc "$shared"/data/argo/negative/*.nc
seed stac "$shared"/data/wnm/*.json
seed_text event created '{"specversion":"1.0","id":"1","source":"wis2-watch","type":"int.wmo.wis2.chain.file.created","time":"2025-01-01T00:00:00Z","data":{"path":"argo/R9900001_001.nc","size":25620}}'
seed_text event deleted '{"specversion":"1.0","id":"2","source":"wis2-watch","type":"int.wmo.wis2.chain.file.deleted","data":{"path":"a/b.nc"}}'
seed event "$shared"/data/wnm/*.json
seed sniff "$shared"/data/bufr/*.bin "$root"/data/argo/*.nc "$shared"/data/wnm/*.json \
  "$shared"/standards/wnm/examples/*.json
seed_text classic units 'days since 1950-01-01T00:00:00Z12345678'
seed_text monitor discarded '{"specversion":"1.0","id":"e1","source":"fr-meteofrance-global-broker","type":"int.wmo.wis2.gb.message.discarded","subject":"wis2/argo/R1.nc","time":"2026-11-29T10:00:00Z","data":{"message_id":"m1","reason":"no discovery metadata","details":[{"data_id":"wis2/argo/R1.nc"}]}}'

failed=""
for t in $targets; do
  case " $all " in
    *" $t "*) ;;
    *) echo "fuzz.sh: unknown target '$t' (targets: $all)" >&2; exit 2 ;;
  esac
  echo "fuzz.sh: $t for $seconds s (sanitizer: $sanitizer)"
  if ! (cd "$root/fuzz" && cargo_fuzz run -s "$sanitizer" "$t" "$corpus/$t" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
        -malloc_limit_mb=256 \
        -print_final_stats=1); then
    failed="$failed $t"
  fi
done

if [ -n "$failed" ]; then
  echo "fuzz.sh: crashes in:$failed (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz.sh: no crash in: $targets"
