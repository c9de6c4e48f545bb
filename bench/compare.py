"""Python side of bench/python-compare.sh (run inside its throwaway venv).

    compare.py wnm-rate FILE...            pywis-pubsub ETS in-process, messages/s
    compare.py wnm-verdicts FILE...        one JSON line per file: verdict, failed tests
    compare.py wcmp-rate FILE...           pywcmp ETS in-process, records/s + verdicts
    compare.py mutate OUTDIR BASE...       writes the mutated corpus and manifest.json
    compare.py paho N PORT USER PW TOPIC PAYLOAD   QoS 1 publishing until all acked
"""
import copy
import json
import sys
import threading
import time
import uuid


def load(path):
    with open(path) as fh:
        return json.load(fh)


def wnm_verdict(data):
    """As `pywis-pubsub ets validate FILE` (schema failure stops the ETS: invalid)."""
    from pywis_pubsub.ets import WNMTestSuite
    try:
        report = WNMTestSuite(data).run_tests(fail_on_schema_validation=True)
    except Exception as err:  # the CLI exits non-zero on these too
        return False, [f'error: {str(err)[:160]}']
    failed = [t['id'].rsplit('/', 1)[-1] for t in report['ets-report']['tests']
              if t['code'] == 'FAILED']
    return not failed, failed


def wnm_rate(files):
    docs = [load(f) for f in files]
    t0 = time.perf_counter()
    valid = sum(1 for d in docs if wnm_verdict(d)[0])
    secs = time.perf_counter() - t0
    print(f'RESULT rate={len(docs) / secs:.1f} count={len(docs)} valid={valid} secs={secs:.3f}')


def wnm_verdicts(files):
    for f in files:
        ok, failed = wnm_verdict(load(f))
        print(json.dumps({'file': f, 'valid': ok, 'failed': failed}))


def wcmp_rate(files):
    from pywcmp.wcmp2.ets import WMOCoreMetadataProfileTestSuite2
    docs = [(f, load(f)) for f in files]
    verdicts = []
    t0 = time.perf_counter()
    for f, d in docs:
        try:
            r = WMOCoreMetadataProfileTestSuite2(d).run_tests(fail_on_schema_validation=True)
            failed = [t['id'].rsplit('/', 1)[-1] for t in r['tests'] if t['code'] == 'FAILED']
        except Exception as err:
            failed = [f'error: {str(err)[:120]}']
        verdicts.append((f, failed))
    secs = time.perf_counter() - t0
    for f, failed in verdicts:
        print(json.dumps({'file': f, 'valid': not failed, 'failed': failed}))
    print(f'RESULT rate={len(docs) / secs:.1f} count={len(docs)} secs={secs:.3f}')


# Mutations: name -> (rule, implemented by pywis-pubsub?, function). "implemented" is
# what its ETS really checks (schema without format checking, id as UUID, UTC of
# datetime/start/end only, one link of a known rel with an http(s)/ftp href); its
# geometry, data_id, version and conformance tests always pass, and it has no size,
# pubtime UTC, link-count or coordinate-range rule.
def _set_point(m, lon, lat):
    m['geometry'] = {'type': 'Point', 'coordinates': [lon, lat]}


def _first_data_link(m):
    for link in m['links']:
        if link.get('rel') in ('canonical', 'update', 'deletion'):
            return link
    return m['links'][0]


MUTATIONS = {
    'bad-uuid': ('id is a UUID', True, lambda m: m.__setitem__('id', 'not-a-uuid-1234')),
    'datetime-not-utc': ('datetime in UTC', True,
                         lambda m: (m['properties'].pop('start_datetime', None),
                                    m['properties'].pop('end_datetime', None),
                                    m['properties'].__setitem__('datetime', '2024-05-01T10:00:00+02:00'))),
    'pubtime-not-utc': ('pubtime in UTC', False,
                        lambda m: m['properties'].__setitem__('pubtime', '2024-05-01T10:00:00+02:00')),
    'missing-data-id': ('data_id required (schema)', True, lambda m: m['properties'].pop('data_id')),
    'missing-pubtime': ('pubtime required (schema)', True, lambda m: m['properties'].pop('pubtime')),
    'two-canonical': ('one canonical/update/deletion link', False,
                      lambda m: m['links'].append(dict(_first_data_link(m), rel='canonical'))),
    'oversize': ('message <= 8192 bytes', False,
                 lambda m: m['properties'].__setitem__('comment', 'x' * 9000)),
    'lat-95': ('coordinate ranges', False, lambda m: _set_point(m, 10.0, 95.0)),
    'lon-200': ('coordinate ranges', False, lambda m: _set_point(m, 200.0, 45.0)),
    'no-data-link': ('a canonical/update/deletion link', True,
                     lambda m: m.__setitem__('links', [dict(_first_data_link(m), rel='via')])),
    'bad-integrity-method': ('integrity method enum (schema)', True,
                             lambda m: m['properties'].__setitem__(
                                 'integrity', {'method': 'md5', 'value': 'AAAA'})),
    'bad-geometry-type': ('geometry is GeoJSON (schema)', True,
                          lambda m: m.__setitem__('geometry', {'type': 'Circle', 'coordinates': [1, 2]})),
    'missing-links': ('links required (schema)', True, lambda m: m.pop('links')),
    'bad-conformance': ('conformsTo value', False,
                        lambda m: m.__setitem__('conformsTo', ['http://example.org/not-wnm'])),
}


def mutate(outdir, bases):
    import os
    manifest = []
    for base in bases:
        stem = os.path.basename(base).rsplit('.', 1)[0]
        original = load(base)
        path = os.path.join(outdir, f'{stem}--original.json')
        with open(path, 'w') as fh:
            json.dump(original, fh)
        manifest.append({'file': path, 'mutation': 'original', 'rule': '-', 'pywis': True})
        for name, (rule, implemented, fn) in MUTATIONS.items():
            m = copy.deepcopy(original)
            m['id'] = str(uuid.uuid4()) if name != 'bad-uuid' else m['id']
            fn(m)
            path = os.path.join(outdir, f'{stem}--{name}.json')
            with open(path, 'w') as fh:
                json.dump(m, fh)
            manifest.append({'file': path, 'mutation': name, 'rule': rule, 'pywis': implemented})
    with open(os.path.join(outdir, 'manifest.json'), 'w') as fh:
        json.dump(manifest, fh, indent=1)
    print(f'{len(manifest)} messages ({len(bases)} originals, {len(manifest) - len(bases)} mutations)')


def paho(n, port, user, pw, topic, payload_file):
    import paho.mqtt.client as mqtt
    payload = open(payload_file, 'rb').read()
    done = threading.Event()
    acked = [0]
    connected = threading.Event()

    def on_connect(client, userdata, flags, rc, props=None):
        connected.set()

    def on_publish(client, userdata, mid, rc=None, props=None):
        acked[0] += 1
        if acked[0] >= n:
            done.set()

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f'bench-paho-{uuid.uuid4().hex[:8]}',
                    clean_session=True)
    c.username_pw_set(user, pw)
    c.max_inflight_messages_set(100)  # as wis2_bus (rumqttc set_inflight(100)); paho's default is 20
    c.max_queued_messages_set(0)
    c.on_connect = on_connect
    c.on_publish = on_publish
    c.connect('127.0.0.1', int(port))
    c.loop_start()
    if not connected.wait(15):
        sys.exit('paho: not connected within 15 s')
    t0 = time.perf_counter()
    for _ in range(n):
        c.publish(topic, payload, qos=1)
    if not done.wait(600):
        sys.exit(f'paho: only {acked[0]} of {n} acknowledged')
    secs = time.perf_counter() - t0
    c.loop_stop()
    c.disconnect()
    print(f'RESULT rate={n / secs:.0f} count={n} secs={secs:.3f}')


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'wnm-rate':
        wnm_rate(args)
    elif cmd == 'wnm-verdicts':
        wnm_verdicts(args)
    elif cmd == 'wcmp-rate':
        wcmp_rate(args)
    elif cmd == 'mutate':
        mutate(args[0], args[1:])
    elif cmd == 'paho':
        paho(int(args[0]), args[1], args[2], args[3], args[4], args[5])
    else:
        sys.exit(__doc__)
