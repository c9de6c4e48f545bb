#!/usr/bin/env bash
# What creating a small file costs on the filesystem of the benches' files (TMPDIR,
# default /tmp): 10,000 files of 1 KB in a fresh directory, then, once they are
# deleted, 10,000 more (as the next end-to-end run does after the last one's
# cleanup). The end-to-end bench creates two files per message (the load generator's
# data file, wis2-publish's output copy), so on a filesystem where this is slow the
# chain's rate is the filesystem's.
#
#   bench/fs.sh                      # TMPDIR or /tmp
#   TMPDIR=/dev/shm bench/fs.sh      # tmpfs
set -euo pipefail
source "$(dirname "$0")/lib.sh"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/wis2-fs.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
python3 - "$TMP" <<'PY'
import os, shutil, sys, time

base = sys.argv[1]

def create(d, n=10_000):
    os.makedirs(d)
    t = time.perf_counter()
    for i in range(n):
        with open(os.path.join(d, f"f{i}"), "wb") as f:
            f.write(b"x" * 1000)
    return (time.perf_counter() - t) / n * 1e6

first = create(os.path.join(base, "a"))
shutil.rmtree(os.path.join(base, "a"))
again = create(os.path.join(base, "b"))
print(f"file creation: {first:.1f} us per file, then {again:.1f} us per file after deleting the first 10,000")
PY
machine_line
