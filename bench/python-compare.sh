#!/usr/bin/env bash
# Issue 7 benchmark, side by side with the Python tools the chain replaces:
#   (a) WNM validation: pywis-pubsub's ETS (pywis_pubsub.ets.WNMTestSuite, as
#       `pywis-pubsub ets validate` runs it) vs `wis2-validate message --schema`;
#   (b) WCMP2 validation: pywcmp's ETS vs `wis2-validate metadata`, on the standard's
#       examples and shared/data/wcmp2/*.json;
#   (c) QoS 1 publishing until acknowledged: paho-mqtt vs wis2_bus::Bus (wis2-bench);
#   (d) verdict agreement over valid and mutated WNMs: every disagreement is listed
#       with the rule, and whether pywis-pubsub implements that rule at all.
#
#   bench/python-compare.sh
#   COPIES=200 PUB_N=20000 bench/python-compare.sh
#   PY_VENV=/path/to/venv bench/python-compare.sh   # reuse a venv that has the packages
#
# The venv lives in the temp folder (deleted on exit); pip needs PyPI. Both Python
# tools get their data from ../shared/standards (HOME points into the temp folder):
# pywis-pubsub the bundled WNM schema, pywcmp the WCMP2 schema, code lists and WTH
# tables, and as IANA link relations the list built into the wis2 crate (the same one
# wis2-validate uses). Nothing else leaves loopback.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

COPIES=${COPIES:-250}   # the 8 valid WNMs x COPIES for the rate of (a)
CLI_RUNS=${CLI_RUNS:-20} # one process per file, for the per-invocation cost
PUB_N=${PUB_N:-20000}

bench_init
build_release
command -v python3 >/dev/null || { echo "needs python3 (with venv)" >&2; exit 1; }

if [ -n "${PY_VENV:-}" ]; then
    VENV=$PY_VENV
else
    VENV=$TMP/venv
    echo "== python3 -m venv + pip install pywis-pubsub pywcmp paho-mqtt"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check pywis-pubsub pywcmp paho-mqtt
fi
PY=$VENV/bin/python
"$VENV/bin/pip" list --disable-pip-version-check 2>/dev/null | grep -iE '^(pywis-pubsub|pywcmp|paho-mqtt|jsonschema) ' | tr -s ' ' | sed 's/^/   /'
CMP=$ROOT/bench/compare.py

# Data the Python tools normally download with `schema sync` / `bundle sync`.
export HOME=$TMP/home
STD=$SHARED/standards
mkdir -p "$HOME/.pywis-pubsub/wis2-notification-message" "$HOME/.pywcmp/wcmp-2/codelists" \
    "$HOME/.pywcmp/wis2-topic-hierarchy"
cp "$STD/wnm/wis2-notification-message-bundled.json" "$HOME/.pywis-pubsub/wis2-notification-message/"
cp "$STD/wcmp2/wcmp2-bundled.json" "$HOME/.pywcmp/wcmp-2/"
cp "$STD"/wcmp2/codelists/*.csv "$HOME/.pywcmp/wcmp-2/codelists/"
cp "$STD"/wth/*.csv "$HOME/.pywcmp/wis2-topic-hierarchy/"
{
    echo "Relation Name,Description,Reference,Notes"
    sed -n '/^pub const IANA_LINK_RELATIONS/,/^];/p' "$ROOT/crates/wis2/src/wcmp2/codelists.rs" |
        grep -o '"[^"]*"' | tr -d '"'
} >"$HOME/.pywcmp/wcmp-2/link-relations-1.csv"

VALIDATE=$BIN/wis2-validate
SCHEMA=(--schema "$STD/wnm/wis2-notification-message-bundled.json")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }'; }

# ---------------------------------------------------------------------------- (a)
echo
echo "== (a) WNM validation"
mkdir -p "$TMP/wnm/base" "$TMP/wnm/corpus"
"$BIN/wis2-create" message "$SHARED/data/argo/R4902481_001.nc" --data-dir "$SHARED/data" \
    --base-url https://data.example.org/argo >"$TMP/wnm/base/argo-R4902481_001.json"
cp "$STD"/wnm/examples/*.json "$TMP/wnm/base/"
bases=("$TMP"/wnm/base/*.json)
for i in $(seq "$COPIES"); do
    for f in "${bases[@]}"; do cp "$f" "$TMP/wnm/corpus/$i-$(basename "$f")"; done
done
corpus=("$TMP"/wnm/corpus/*.json)
n=${#corpus[@]}

t0=$(now_ns)
"$VALIDATE" message "${SCHEMA[@]}" "${corpus[@]}" >/dev/null 2>"$TMP/ours.err" || true
ours_secs=$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
ours_rate=$(awk -v n="$n" -v s="$ours_secs" 'BEGIN { printf "%.1f", n / s }')
theirs=$("$PY" "$CMP" wnm-rate "${corpus[@]}")
theirs_rate=$(sed -n 's/^RESULT rate=\([0-9.]*\).*/\1/p' <<<"$theirs")
echo "in one process, $n messages (${#bases[@]} valid WNMs x $COPIES):"
echo "  ours   wis2-validate message --schema FILE... : $ours_rate messages/s ($ours_secs s, including start-up)"
echo "  theirs WNMTestSuite(msg).run_tests() loop    : $theirs_rate messages/s ($(sed -n 's/.* secs=//p' <<<"$theirs") s, imports excluded)"
echo "  ratio  $(ratio "$ours_rate" "$theirs_rate")x"

cli_ms() { # command... ; mean ms per run over CLI_RUNS runs
    local t0; t0=$(now_ns)
    for _ in $(seq "$CLI_RUNS"); do "$@" >/dev/null 2>&1 || true; done
    awk -v a="$t0" -v b="$(now_ns)" -v n="$CLI_RUNS" 'BEGIN { printf "%.1f", (b - a) / 1e6 / n }'
}
one=${bases[0]}
ours_cli=$(cli_ms "$VALIDATE" message "${SCHEMA[@]}" "$one")
theirs_cli=$(cli_ms "$VENV/bin/pywis-pubsub" ets validate "$one")
echo "one process per message (mean of $CLI_RUNS, $(basename "$one")):"
echo "  ours   wis2-validate message --schema FILE : $ours_cli ms"
echo "  theirs pywis-pubsub ets validate FILE      : $theirs_cli ms"
echo "  ratio  $(ratio "$theirs_cli" "$ours_cli")x faster"

# ---------------------------------------------------------------------------- (b)
echo
echo "== (b) WCMP2 validation"
records=("$STD"/wcmp2/examples/*.json "$SHARED"/data/wcmp2/*.json)
WCMP_ARGS=(--schema "$STD/wcmp2/wcmp2-bundled.json" --codelists "$STD/wcmp2/codelists" --wth-dir "$STD/wth")
reps=()
for _ in $(seq 20); do reps+=("${records[@]}"); done
t0=$(now_ns)
"$VALIDATE" metadata "${WCMP_ARGS[@]}" "${reps[@]}" >/dev/null 2>&1 || true
ours_secs=$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
ours_rate=$(awk -v n="${#reps[@]}" -v s="$ours_secs" 'BEGIN { printf "%.1f", n / s }')
"$PY" "$CMP" wcmp-rate "${reps[@]}" >"$TMP/pywcmp.out" 2>"$TMP/pywcmp.log"
theirs_rate=$(sed -n 's/^RESULT rate=\([0-9.]*\).*/\1/p' "$TMP/pywcmp.out")
echo "${#records[@]} records x 20 = ${#reps[@]}, in one process:"
echo "  ours   wis2-validate metadata FILE...   : $ours_rate records/s ($ours_secs s, including start-up)"
echo "  theirs WMOCoreMetadataProfileTestSuite2 : $theirs_rate records/s (imports excluded)"
echo "  ratio  $(ratio "$ours_rate" "$theirs_rate")x"
echo "verdicts per record (ours / pywcmp):"
for f in "${records[@]}"; do
    if rep=$("$VALIDATE" metadata --json "${WCMP_ARGS[@]}" "$f" 2>/dev/null); then o=valid; else
        o="INVALID $({ grep -o '"id":"[^"]*","code":"FAILED"' <<<"$rep" || true; } | sed 's#.*/\([^/"]*\)","code.*#\1#' | paste -sd, -)"
    fi
    t=$(grep -F "\"file\": \"$f\"" "$TMP/pywcmp.out" | head -1 |
        "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read()); print("valid" if d["valid"] else "INVALID " + ",".join(d["failed"]))')
    printf '  %-56s %-16s / %s\n' "$(basename "$f")" "$o" "$t"
done

# ---------------------------------------------------------------------------- (c)
echo
echo "== (c) QoS 1 publishing until acknowledged, $PUB_N messages of $(stat -c %s "$TMP/wnm/base/argo-R4902481_001.json") bytes, local mosquitto"
start_broker
ours=$("$BIN/wis2-bench" publish --broker-url "$(url wis2-publish)" --topic "$WIS2_TOPIC" \
    --payload "$TMP/wnm/base/argo-R4902481_001.json" --count "$PUB_N" | sed -n 's/^RESULT rate=\([0-9]*\).*/\1/p')
theirs=$("$PY" "$CMP" paho "$PUB_N" "$BROKER_PORT" wis2-publish "$WIS2_PUBLISH_PASSWORD" "$WIS2_TOPIC" \
    "$TMP/wnm/base/argo-R4902481_001.json" | sed -n 's/^RESULT rate=\([0-9]*\).*/\1/p')
echo "  ours   wis2_bus::Bus (wis2-bench publish)  : $ours messages/s"
echo "  theirs paho-mqtt, loop_start, inflight 100 : $theirs messages/s"
echo "  ratio  $(ratio "$ours" "$theirs")x"

# ---------------------------------------------------------------------------- (d)
echo
echo "== (d) verdicts over valid and mutated WNMs"
mkdir -p "$TMP/mut"
"$PY" "$CMP" mutate "$TMP/mut" "$TMP/wnm/base/argo-R4902481_001.json" \
    "$TMP/wnm/base/example1.json" "$TMP/wnm/base/example2.json" \
    "$TMP/wnm/base/eumetsat-msg-seviri-core-notification.json" | sed 's/^/   /'
mapfile -t mfiles < <("$PY" -c 'import json,sys; [print(m["file"]) for m in json.load(open(sys.argv[1]))]' "$TMP/mut/manifest.json")
"$PY" "$CMP" wnm-verdicts "${mfiles[@]}" >"$TMP/mut/theirs.jsonl" 2>"$TMP/mut/theirs.log"
: >"$TMP/mut/ours.jsonl"
for f in "${mfiles[@]}"; do
    rc=0
    rep=$("$VALIDATE" message --json "${SCHEMA[@]}" --wth-dir "$STD/wth" "$f" 2>/dev/null) || rc=$?
    failed=$({ grep -o '"id":"[^"]*","code":"FAILED"' <<<"$rep" || true; } | sed 's#.*/\([^/"]*\)","code.*#\1#' | paste -sd, -)
    printf '{"file": "%s", "rc": %d, "failed": "%s"}\n' "$f" "$rc" "$failed" >>"$TMP/mut/ours.jsonl"
done
"$PY" - "$TMP/mut/manifest.json" "$TMP/mut/ours.jsonl" "$TMP/mut/theirs.jsonl" <<'EOF'
import json, os, sys
manifest = json.load(open(sys.argv[1]))
ours = {d['file']: d for d in map(json.loads, open(sys.argv[2]))}
theirs = {d['file']: d for d in map(json.loads, open(sys.argv[3]))}
agree = unexpected = 0
rows = []
for m in manifest:
    o, t = ours[m['file']], theirs[m['file']]
    if o['rc'] not in (0, 1):
        rows.append(('ERROR', m, f"wis2-validate exit {o['rc']}", ''))
        unexpected += 1
        continue
    ov, tv = o['rc'] == 0, t['valid']
    if ov == tv:
        agree += 1
        continue
    label = ('pywis-pubsub does not implement: ' + m['rule']) if not m['pywis'] else 'UNEXPECTED (pywis-pubsub implements this rule)'
    if m['pywis']:
        unexpected += 1
    rows.append((label, m, f"ours {'valid' if ov else 'invalid: ' + o['failed']}",
                 f"pywis-pubsub {'valid' if tv else 'invalid: ' + ','.join(t['failed'])}"))
print(f"   {len(manifest)} messages: agree on {agree}, disagree on {len(rows)}, unexpected {unexpected}")
for label, m, o, t in rows:
    print(f"   - {os.path.basename(m['file'])}: {label}\n       {o}\n       {t}")
print("   VERDICT: " + ("both agree wherever pywis-pubsub implements the rule" if unexpected == 0
                       else f"{unexpected} disagreement(s) on rules pywis-pubsub implements: look at them"))
EOF
machine_line
