//! Transport security and secrets: the broker's TLS listener (certificates generated
//! by `broker/gen-certs.sh` or mounted), clients that verify the broker's certificate
//! unless told `--insecure-skip-tls-verify`, passwords kept out of the logs, and the
//! `everyone` account unable to publish.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, Event, Packet};
use wis2_bus::{BrokerArgs, Bus, ConnectOptions};

use wis2_tests::broker::{Broker, password};
use wis2_tests::fixtures::{TOPIC, repo, run_ok};
use wis2_tests::flags::{args, s};
use wis2_tests::net::free_port;
use wis2_tests::observer::Observer;
use wis2_tests::process::binary;
use wis2_tests::service::{ChainDirs, start_publish_with};

/// A broker with its TLS listener on a free port, and the port.
fn tls_broker(env: &[(&str, String)]) -> (Broker, u16) {
    let tls_port = free_port();
    let mut env = env.to_vec();
    env.push(("BROKER_TLS_PORT", tls_port.to_string()));
    let b = Broker::start_with_env(&env, &[tls_port]);
    (b, tls_port)
}

/// A broker with its mqtts and wss listeners on free ports: (broker, mqtts, wss).
fn tls_and_wss_broker() -> (Broker, u16, u16) {
    let (tls_port, wss_port) = (free_port(), free_port());
    let env = [
        ("BROKER_TLS_PORT", tls_port.to_string()),
        ("BROKER_WSS_PORT", wss_port.to_string()),
    ];
    let b = Broker::start_with_env(&env, &[tls_port, wss_port]);
    (b, tls_port, wss_port)
}

/// The test CA generated at the broker's first start.
fn generated_ca(b: &Broker) -> PathBuf {
    let ca = b.dir.path().join("data/tls/ca.crt");
    assert!(
        ca.is_file(),
        "no generated CA at {}: {}",
        ca.display(),
        b.log()
    );
    ca
}

fn mqtts(user: &str, host: &str, port: u16) -> String {
    format!("mqtts://{user}:{}@{host}:{port}", password(user))
}

/// Settings parsed from flags, as a service would get them.
fn broker_args(flags: &[String]) -> BrokerArgs {
    args(flags)
}

/// The settings of `user` over mqtts to `host`, verifying the broker with the CA file
/// `ca`.
fn mqtts_args(user: &str, host: &str, port: u16, ca: &Path) -> BrokerArgs {
    let ca = ca.display().to_string();
    broker_args(&[
        s("--broker-url"),
        mqtts(user, host, port),
        s("--ca-file"),
        ca,
    ])
}

/// Connects with the `Bus` of the services, waiting at most 10 s.
async fn bus_connect(a: &BrokerArgs) -> Bus {
    let conn = Bus::connect(ConnectOptions::new(
        a.check().expect("options").oneshot_options("security"),
        vec![],
    ));
    tokio::time::timeout(Duration::from_secs(10), conn.bus.wait_connected())
        .await
        .expect("connected within 10 s")
        .expect("bus open");
    conn.bus
}

/// Connects with `a`, publishes `payload` on the WIS2 topic and disconnects: `op`, a
/// subscriber on the plain listener, must receive it.
async fn publish_and_see(a: &BrokerArgs, op: &mut Observer, payload: &[u8]) {
    let bus = bus_connect(a).await;
    bus.publish(TOPIC, payload.to_vec())
        .await
        .expect("published");
    let seen = op.collect(1, Duration::from_secs(10), |_| true).await;
    let what = String::from_utf8_lossy(payload);
    assert_eq!(seen.len(), 1, "{what} did not reach the plain subscriber");
    assert_eq!(seen[0].payload, payload);
    assert_eq!(seen[0].topic, TOPIC);
    bus.disconnect().await;
}

/// The first error of a connection attempt (which must fail).
async fn connect_error(a: &BrokerArgs) -> ConnectionError {
    let o = a.check().expect("options").oneshot_options("security");
    let (_client, mut el) = AsyncClient::new(o, 10);
    let r = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(a))) => {
                    panic!("the connection was accepted: {a:?}")
                }
                Ok(_) => {}
                Err(e) => return e,
            }
        }
    })
    .await;
    r.expect("an answer within 10 s")
}

/// Asserts that `e` is a TLS failure whose text names `what`.
fn assert_tls_error(e: &ConnectionError, what: &str) {
    let text = format!("{e} / {e:?}");
    assert!(
        matches!(e, ConnectionError::Tls(_)) && text.contains(what),
        "expected a TLS error about {what}, got {text}"
    );
}

#[tokio::test]
async fn mqtts_with_the_test_ca_publishes_through_the_tls_listener() {
    let (b, tls_port) = tls_broker(&[]);
    let ca = generated_ca(&b);
    assert!(
        b.log().contains(&ca.display().to_string()),
        "start.sh prints the CA for clients: {}",
        b.log()
    );
    let mut op = Observer::connect(&b, "operator", &["origin/a/wis2/#"]).await;
    let a = mqtts_args("wis2-publish", "127.0.0.1", tls_port, &ca);
    publish_and_see(&a, &mut op, b"over-tls").await;
    // The DNS names of the certificate work too.
    let a = mqtts_args("operator", "localhost", tls_port, &ca);
    bus_connect(&a).await.disconnect().await;
}

#[tokio::test]
async fn untrusted_certificates_are_refused_unless_insecure() {
    let (_broker, tls_port) = tls_broker(&[]);
    // System roots only: the test CA is not among them.
    let a = broker_args(&[
        s("--broker-url"),
        mqtts("wis2-publish", "127.0.0.1", tls_port),
    ]);
    let e = connect_error(&a).await;
    assert_tls_error(&e, "UnknownIssuer");
    // A CA file that is not the broker's: refused too.
    let other = tempfile::tempdir().expect("dir");
    gen_certs(other.path(), "DNS:localhost");
    let a = mqtts_args(
        "wis2-publish",
        "127.0.0.1",
        tls_port,
        &other.path().join("ca.crt"),
    );
    let e = connect_error(&a).await;
    // Same issuer name, another key: the signature does not verify.
    assert_tls_error(&e, "invalid peer certificate");
    // Opting out of verification connects (and says so loudly in the logs).
    let a = broker_args(&[
        s("--broker-url"),
        mqtts("wis2-publish", "127.0.0.1", tls_port),
        s("--insecure-skip-tls-verify"),
    ]);
    assert!(a.insecure_skip_tls_verify);
    let bus = bus_connect(&a).await;
    bus.publish(TOPIC, b"insecure".to_vec())
        .await
        .expect("published");
    bus.disconnect().await;
}

/// Runs `broker/gen-certs.sh` into `dir` for the subject names `san`.
fn gen_certs(dir: &Path, san: &str) {
    run_ok(
        Command::new("sh")
            .arg(repo().join("broker/gen-certs.sh"))
            .arg(dir)
            .env("BROKER_TLS_SAN", san),
        "gen-certs.sh",
    );
}

#[tokio::test]
async fn a_host_name_outside_the_certificate_is_refused() {
    // Mounted certificates (BROKER_TLS_CERT/KEY/CA) whose only name is localhost.
    let certs = tempfile::tempdir().expect("dir");
    gen_certs(certs.path(), "DNS:localhost");
    let c = |f: &str| certs.path().join(f).display().to_string();
    let (b, tls_port) = tls_broker(&[
        ("BROKER_TLS_CERT", c("server.crt")),
        ("BROKER_TLS_KEY", c("server.key")),
        ("BROKER_TLS_CA", c("ca.crt")),
    ]);
    assert!(
        !b.dir.path().join("data/tls").exists(),
        "mounted certificates: nothing generated"
    );
    let ca = certs.path().join("ca.crt");
    // The name in the certificate: accepted.
    let a = mqtts_args("operator", "localhost", tls_port, &ca);
    bus_connect(&a).await.disconnect().await;
    // Same server, same CA, reached by an address the certificate does not name.
    let a = mqtts_args("operator", "127.0.0.1", tls_port, &ca);
    let e = connect_error(&a).await;
    assert_tls_error(&e, "NotValidForName");
}

/// Runs `wis2-publish message` with `env` and returns (success, stderr + stdout).
fn publish_message(file: &Path, env: &[(&str, String)]) -> (bool, String) {
    let mut cmd = Command::new(binary("wis2-publish"));
    cmd.arg("message")
        .arg(file)
        .arg("--force")
        .env("RUST_LOG", "trace")
        .env("WIS2_LOG_FORMAT", "human")
        .env_remove("WIS2_BROKER_USER")
        .env_remove("WIS2_BROKER_PASSWORD_FILE")
        .env_remove("WIS2_CA_FILE")
        .env_remove("WIS2_INSECURE_SKIP_TLS_VERIFY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run wis2-publish");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn passwords_never_appear_in_the_logs() {
    let (b, tls_port) = tls_broker(&[]);
    let ca = generated_ca(&b);
    let mut op = Observer::connect(&b, "operator", &["origin/a/wis2/#"]).await;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("message.json");
    std::fs::write(&file, br#"{"type":"Feature","id":"secrets-test"}"#).expect("write");
    // The URL's password is overridden by WIS2_BROKER_PASSWORD (the real one): both
    // must stay out of every log line, at the most verbose level.
    let url_secret = "Url-Secret-7f3a9c";
    let real = password("wis2-publish");
    let url =
        |scheme: &str, port: u16| format!("{scheme}://wis2-publish:{url_secret}@127.0.0.1:{port}");
    let runs = [
        vec![
            ("WIS2_BROKER_URL", url("mqtt", b.port)),
            ("WIS2_BROKER_PASSWORD", s(real)),
        ],
        vec![
            ("WIS2_BROKER_URL", url("mqtts", tls_port)),
            ("WIS2_BROKER_PASSWORD", s(real)),
            ("WIS2_CA_FILE", ca.display().to_string()),
        ],
        vec![
            ("WIS2_BROKER_URL", url("mqtts", tls_port)),
            ("WIS2_BROKER_PASSWORD", s(real)),
            ("WIS2_INSECURE_SKIP_TLS_VERIFY", s("true")),
        ],
    ];
    for (i, env) in runs.iter().enumerate() {
        let (ok, log) = tokio::task::spawn_blocking({
            let file = file.clone();
            let env = env.clone();
            move || publish_message(&file, &env)
        })
        .await
        .expect("runner");
        assert!(ok, "run {i} failed: {log}");
        assert!(
            log.contains("published") && log.lines().count() >= 3,
            "run {i} logged next to nothing: {log}"
        );
        assert!(
            !log.contains(url_secret),
            "run {i} logged the URL's password: {log}"
        );
        assert!(!log.contains(real), "run {i} logged the password: {log}");
        if i == 2 {
            assert!(log.contains("INSECURE"), "no loud warning: {log}");
        }
        let seen = op.collect(1, Duration::from_secs(10), |_| true).await;
        assert_eq!(seen.len(), 1, "run {i} published");
    }
    // A refused password is not echoed either: read the log until the refusal.
    let url = format!("mqtt://wis2-publish:{url_secret}@127.0.0.1:{}", b.port);
    let log = tokio::task::spawn_blocking(move || refused_run(&file, &url, "Wrong-Secret-0b1d"))
        .await
        .expect("runner");
    assert!(log.contains("refused"), "the refusal is logged: {log}");
    assert!(
        !log.contains(url_secret) && !log.contains("Wrong-Secret-0b1d"),
        "a password was logged: {log}"
    );
}

/// Runs `wis2-publish message` with a wrong password and returns its log up to the
/// broker's refusal (then stops it: it would retry for 30 s).
fn refused_run(file: &Path, url: &str, wrong: &str) -> String {
    use std::io::BufRead;
    let mut child = Command::new(binary("wis2-publish"))
        .arg("message")
        .arg(file)
        .arg("--force")
        .env("RUST_LOG", "trace")
        .env("WIS2_LOG_FORMAT", "human")
        .env("WIS2_BROKER_URL", url)
        .env("WIS2_BROKER_PASSWORD", wrong)
        .env_remove("WIS2_BROKER_USER")
        .env_remove("WIS2_BROKER_PASSWORD_FILE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run wis2-publish");
    let mut log = String::new();
    if let Some(err) = child.stderr.take() {
        for line in std::io::BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            log.push_str(&line);
            log.push('\n');
            if line.contains("refused") {
                break;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    log
}

#[tokio::test]
async fn everyone_cannot_publish_anything_even_over_tls() {
    let (b, tls_port) = tls_broker(&[]);
    let ca = generated_ca(&b);
    let mut op = Observer::connect(&b, "operator", &["origin/a/wis2/#", "chain/#"]).await;
    let mut reader = Observer::connect(&b, "everyone", &["origin/a/wis2/fr-ifremer-argo/#"]).await;
    let everyone = mqtts_args("everyone", "127.0.0.1", tls_port, &ca);
    let bus = bus_connect(&everyone).await;
    // mosquitto acknowledges denied publishes and drops them.
    for topic in [
        TOPIC,
        "origin/a/wis2/fr-ifremer-argo/metadata",
        "origin/a/wis2/other-centre/data/core/weather",
        "chain/events",
        "chain/created",
        "chain/validated",
        "chain/published",
        "chain/deadletter",
    ] {
        bus.publish(topic, format!("everyone-on-{topic}").into_bytes())
            .await
            .expect("acknowledged (and dropped)");
    }
    bus.disconnect().await;
    // Then an allowed marker: delivered in order, so a denied message would be first.
    let publisher = mqtts_args("wis2-publish", "127.0.0.1", tls_port, &ca);
    let bus = bus_connect(&publisher).await;
    bus.publish(TOPIC, b"marker".to_vec())
        .await
        .expect("marker");
    bus.disconnect().await;
    for (who, obs) in [("operator", &mut op), ("everyone", &mut reader)] {
        let seen = obs.collect(1, Duration::from_secs(10), |_| true).await;
        assert_eq!(seen.len(), 1, "{who} saw the marker");
        assert_eq!(
            seen[0].payload, b"marker",
            "a publish by everyone got through to {who}: {seen:?}"
        );
    }
}

#[test]
fn the_insecure_flag_is_off_unless_asked() {
    let a = broker_args(&[s("--broker-url"), s("mqtts://h:8883")]);
    assert!(!a.insecure_skip_tls_verify);
    assert!(format!("{a:?}").contains("insecure_skip_tls_verify: false"));
}

#[tokio::test]
async fn wss_with_the_test_ca_publishes_and_a_foreign_ca_is_refused() {
    let (b, _tls_port, wss_port) = tls_and_wss_broker();
    let ca = generated_ca(&b);
    let mut op = Observer::connect(&b, "operator", &["origin/a/wis2/#"]).await;
    let wss = |host: &str| {
        format!(
            "wss://wis2-publish:{}@{host}:{wss_port}/mqtt",
            password("wis2-publish")
        )
    };
    let a = broker_args(&[
        s("--broker-url"),
        wss("localhost"),
        s("--ca-file"),
        ca.display().to_string(),
    ]);
    publish_and_see(&a, &mut op, b"over-wss").await;
    // Without the test CA (system roots only) the certificate is refused.
    let a = broker_args(&[s("--broker-url"), wss("localhost")]);
    let e = connect_error(&a).await;
    // Over websockets rumqttc reports the TLS failure as a websocket I/O error.
    let text = format!("{e:?}");
    assert!(
        matches!(e, ConnectionError::Websocket(_)) && text.contains("UnknownIssuer"),
        "expected a refused certificate, got {text}"
    );
}

/// `wis2-publish run` forwards each message to a remote WIS2 broker over mqtts and over
/// wss, verifying the remote's certificate with the CA given by --remote-ca-file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remote_wis2_broker_is_reached_over_mqtts_and_wss() {
    let local = Broker::start();
    let (remote, tls_port, wss_port) = tls_and_wss_broker();
    let ca = generated_ca(&remote);
    let mut at_remote = Observer::connect(&remote, "operator", &["origin/a/wis2/#"]).await;
    for (i, url) in [
        format!(
            "mqtts://wis2-publish:{}@localhost:{tls_port}",
            password("wis2-publish")
        ),
        format!(
            "wss://wis2-publish:{}@localhost:{wss_port}/mqtt",
            password("wis2-publish")
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let dirs = ChainDirs::temp();
        let publish = start_publish_with(
            &local,
            &dirs,
            &[
                s("--remote-broker-url"),
                url.clone(),
                s("--remote-ca-file"),
                ca.display().to_string(),
                s("--remote-client-id"),
                format!("remote-tls-{i}"),
            ],
        );
        publish.wait_ready().await;
        let data_id = format!("fr-ifremer-argo/data/core/ocean/remote-{i}");
        let message = serde_json::json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"],
            "type": "Feature",
            "geometry": null,
            "properties": {
                "data_id": data_id,
                "pubtime": "2026-01-01T00:00:00Z",
                "datetime": "2026-01-01T00:00:00Z",
                "integrity": {"method": "sha512", "value": "AAAA"}
            },
            "links": [{"href": format!("https://data.example.org/{i}.nc"), "rel": "canonical", "type": "application/netcdf"}]
        })
        .to_string();
        let envelope = wis2_bus::envelope::Envelope::new(TOPIC, None, None, message)
            .expect("envelope")
            .to_vec();
        let sender = broker_args(&[s("--broker-url"), local.url("wis2-validate")]);
        let bus = bus_connect(&sender).await;
        bus.publish(wis2_bus::topics::VALIDATED, envelope)
            .await
            .expect("sent to wis2-publish");
        bus.disconnect().await;
        let seen = at_remote
            .collect(1, Duration::from_secs(20), |_| true)
            .await;
        assert_eq!(
            seen.len(),
            1,
            "nothing reached the remote broker over {url}"
        );
        let v: serde_json::Value = serde_json::from_slice(&seen[0].payload).expect("json");
        assert_eq!(v["properties"]["data_id"], data_id.as_str());
        assert_eq!(seen[0].topic, TOPIC);
        publish.stop().await.expect("publish stops");
    }
}

/// With no system CA (a slim container without ca-certificates) and no --ca-file,
/// an mqtts connection is a clear configuration error, not a panic.
#[test]
fn no_system_ca_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("message.json");
    std::fs::write(&file, b"{}").expect("write");
    let missing = dir.path().join("no-such-ca").display().to_string();
    let (ok, log) = publish_message(
        &file,
        &[
            ("WIS2_BROKER_URL", s("mqtts://wis2-publish:x@127.0.0.1:1")),
            ("SSL_CERT_FILE", missing.clone()),
            ("SSL_CERT_DIR", missing),
        ],
    );
    assert!(!ok, "connected without any CA: {log}");
    assert!(
        log.contains("no trusted CA certificate found") && log.contains("--ca-file"),
        "unclear error: {log}"
    );
    assert!(!log.contains("panicked"), "panicked: {log}");
}
