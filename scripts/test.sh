#!/usr/bin/env bash
# The project's test command: installs what the tests need when it is missing
# (mosquitto, nginx, the netCDF C library, OpenSSL's headers, chromium and
# chromedriver, cargo-deny), then runs formatting, lint, the dependency audit and
# every test, the slow ones included (`cargo test` alone skips them: faults, scale,
# long streams, the browser).
#   scripts/test.sh            everything
#   scripts/test.sh --quick    every test only (no fmt/clippy/cargo deny)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_sub >/dev/null 2>&1 || need+=(mosquitto-clients)
# The data verification tests download links from a real nginx.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
{ pkg-config --exists netcdf 2>/dev/null || [ -e /usr/include/netcdf.h ]; } || need+=(libnetcdf-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
# SHA-2 digests go through OpenSSL's libcrypto (the wis2 crate's default feature).
{ pkg-config --exists openssl 2>/dev/null || [ -e /usr/include/openssl/sha.h ]; } || need+=(libssl-dev)
# The browser tests (the console's page) drive Debian's chromium through chromedriver
# over WebDriver (wis2-tests' src/browser.rs).
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
# The WMO's own Python tools (pywis-pubsub, pywcmp, pywis-topics, wis2downloader) run
# against the chain from a virtual environment (below); Debian's venv module is apart.
python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian installs mosquitto in /usr/sbin, which is not on every user's PATH.
export PATH="$PATH:/usr/sbin"
# Some machines start mosquitto and nginx services on install; the tests start their
# own on free ports, so they are not needed, but they do no harm either.

if [ "${1:-}" != "--quick" ]; then
  cargo fmt --all -- --check
  cargo clippy --workspace --all-targets --locked -- -D warnings
  # The shape review asks for: no source file over 800 lines, no import cycle
  # between the files of a crate.
  python3 scripts/layout.py
  # The dependency audit (deny.toml): licences, duplicate versions, sources, and the
  # RustSec advisories, whose database comes from github.com on each run. cargo-deny
  # is installed when missing or older than deny.toml's version (about 6 min on 2
  # cores).
  deny_version=0.20.2
  have=$(cargo deny --version 2>/dev/null | awk '{ print $2 }' || true)
  if [ -z "$have" ] || [ "$(printf '%s\n' "$deny_version" "$have" | sort -V | head -1)" != "$deny_version" ]; then
    echo "test.sh: installing cargo-deny $deny_version" >&2
    cargo install --locked --quiet cargo-deny --version "$deny_version"
  fi
  # The duplicate-version warnings' inclusion graphs are long: `cargo deny check`
  # shows them.
  if cargo deny fetch db; then
    cargo deny --locked check --hide-inclusion-graph
  else
    echo "test.sh: WARNING: the RustSec advisory database cannot be fetched: advisories NOT checked" >&2
    cargo deny --locked check --hide-inclusion-graph bans licenses sources
  fi
fi
# The WMO's tools at the versions scripts/wmo-requirements.txt pins, in a virtual
# environment made once (about 1 min) and again only when that list changes; the tests
# that run them (wis2-tests' tests/it/wmo_tools.rs) find it through WIS2_WMO_VENV.
WIS2_WMO_VENV=$(realpath -m "${WIS2_WMO_VENV:-target/wmo-venv}")
export WIS2_WMO_VENV
if ! cmp -s scripts/wmo-requirements.txt "$WIS2_WMO_VENV/wmo-requirements.txt"; then
  echo "test.sh: making the WMO tools' virtual environment in $WIS2_WMO_VENV" >&2
  if [ -e "$WIS2_WMO_VENV" ] && [ ! -e "$WIS2_WMO_VENV/pyvenv.cfg" ]; then
    echo "test.sh: $WIS2_WMO_VENV is not a virtual environment: set WIS2_WMO_VENV to a new folder" >&2
    exit 2
  fi
  python3 -m venv --clear "$WIS2_WMO_VENV"
  "$WIS2_WMO_VENV/bin/pip" install --quiet --no-deps -r scripts/wmo-requirements.txt
  "$WIS2_WMO_VENV/bin/pip" check
  cp scripts/wmo-requirements.txt "$WIS2_WMO_VENV/"
fi
# The service binaries are built by this command (each service crate has an
# integration test of its command line); the tests that run them find them in target/.
cargo test --workspace --locked -- --include-ignored
