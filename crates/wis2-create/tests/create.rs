//! wis2-create against the shared sample data, the authoritative WNM schema and the
//! upstream STAC event; the one-shot CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Parser;
use serde_json::{Value, json};
use sha2::Digest;
use wis2::event::CloudEvent;
use wis2::hash::Method;
use wis2::message::{Notification, Relation};
use wis2::validate::{Profile, Validator, ValidatorOptions};
use wis2_create::{CreateError, CreateSettings, Creator, DEFAULT_TOPIC, EventKind, RunArgs};

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared");
const BIN: &str = env!("CARGO_BIN_EXE_wis2-create");
const STAC_EVENT: &str = "data/wnm/ifremer_netcdf-creation-cloudevent_STAC.json";

/// A relative data path of a test.
fn rel(path: &str) -> wis2::path::RelPath {
    wis2::path::RelPath::parse(path).expect("a relative path")
}

fn shared(p: &str) -> PathBuf {
    Path::new(SHARED).join(p)
}

fn validator() -> Validator {
    Validator::new(&ValidatorOptions {
        schema: Some(shared(
            "standards/wnm/wis2-notification-message-bundled.json",
        )),
        wth_dir: Some(shared("standards/wth")),
        profile: Profile::Wnm13,
    })
    .expect("the authoritative schema and WTH tables load")
}

/// The INFCOM-4 draft (WNM 1.4.0), with its schema.
fn draft_validator() -> Validator {
    Validator::new(&ValidatorOptions {
        schema: Some(shared(
            "standards/wnm-infcom4-draft/schemas/wis2-notification-message-bundled.json",
        )),
        wth_dir: Some(shared("standards/wth")),
        profile: Profile::Infcom4Draft,
    })
    .expect("the draft's schema and WTH tables load")
}

/// Valid under `v` (WNM 1.3.0) and under the INFCOM-4 draft: what the chain creates
/// passes both editions.
fn assert_valid(v: &Validator, msg: &Notification, what: &str) {
    let raw = msg.to_json();
    let report = v.check_message(raw.as_bytes(), Some(DEFAULT_TOPIC));
    assert!(
        report.is_valid(),
        "{what}: invalid message\n{}\n{raw}",
        report.to_human()
    );
    let report = draft_validator().check_message(raw.as_bytes(), Some(DEFAULT_TOPIC));
    assert!(
        report.is_valid(),
        "{what}: invalid under the INFCOM-4 draft\n{}\n{raw}",
        report.to_human()
    );
}

#[derive(Parser)]
struct SettingsCli {
    #[command(flatten)]
    s: CreateSettings,
}

/// Settings as the command line gives them (defaults for everything else).
fn settings(data_dir: &Path, extra: &[&str]) -> CreateSettings {
    let mut args = vec![
        "t".to_string(),
        "--data-dir".into(),
        data_dir.display().to_string(),
    ];
    if !extra.contains(&"--base-url") {
        args.extend(["--base-url".into(), "https://data.example.org/argo".into()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    SettingsCli::try_parse_from(args).expect("settings").s
}

fn creator(data_dir: &Path, extra: &[&str]) -> Creator {
    Creator::new(settings(data_dir, extra)).expect("creator")
}

fn sha512_b64(bytes: &[u8]) -> String {
    B64.encode(sha2::Sha512::digest(bytes))
}

fn digest_b64(method: Method, bytes: &[u8]) -> String {
    match method {
        Method::Sha256 => B64.encode(sha2::Sha256::digest(bytes)),
        Method::Sha384 => B64.encode(sha2::Sha384::digest(bytes)),
        Method::Sha512 => B64.encode(sha2::Sha512::digest(bytes)),
        Method::Sha3_256 => B64.encode(sha3::Sha3_256::digest(bytes)),
        Method::Sha3_384 => B64.encode(sha3::Sha3_384::digest(bytes)),
        Method::Sha3_512 => B64.encode(sha3::Sha3_512::digest(bytes)),
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry"))
        .filter(|e| e.file_type().expect("type").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn link(msg: &Value) -> &Value {
    &msg["links"][0]
}

#[test]
fn every_sample_file_gives_a_valid_message_or_a_clear_error() {
    let v = validator();
    let mut built = 0;
    for (dir, negative) in [
        ("data/argo", false),
        ("data/argo/negative", true),
        ("data/bufr", false),
    ] {
        let root = shared(dir);
        let c = creator(&root, &[]);
        let names = files_in(&root);
        assert!(!names.is_empty(), "{dir} has sample files");
        for name in names {
            let bytes = std::fs::read(root.join(&name)).expect("read");
            match c.message_for(&rel(&name), Relation::Canonical) {
                Ok(msg) => {
                    assert_valid(&v, &msg, &name);
                    let m = msg.to_value();
                    let p = &m["properties"];
                    assert_eq!(p["integrity"]["method"], "sha512", "{name}");
                    assert_eq!(p["integrity"]["value"], sha512_b64(&bytes), "{name}");
                    assert_eq!(link(&m)["length"], bytes.len() as u64, "{name}");
                    assert_eq!(link(&m)["rel"], "canonical");
                    assert!(
                        p["data_id"].as_str().expect("data_id").ends_with(&name),
                        "{name}"
                    );
                    assert!(p.get("content").is_none(), "inline content is off");
                    built += 1;
                }
                Err(e) => {
                    assert!(negative, "{dir}/{name} is a sample that must work: {e}");
                    let text = e.to_string();
                    assert!(text.contains(&name), "the error names the file: {text}");
                }
            }
        }
    }
    assert!(built >= 19, "{built} messages");
}

#[test]
fn bufr_and_netcdf_media_types_by_content() {
    let c = creator(&shared("data/bufr"), &[]);
    let m = c
        .message_for(
            &rel("A_IOBH03LFPW161000_C_EDZW_20240216112202_27622614.bin"),
            Relation::Update,
        )
        .expect("bufr")
        .to_value();
    assert_eq!(link(&m)["type"], "application/bufr");
    assert_eq!(link(&m)["rel"], "update");
    let c = creator(&shared("data/argo"), &[]);
    let m = c
        .message_for(&rel("R6903247_274.nc"), Relation::Canonical)
        .expect("argo")
        .to_value();
    assert_eq!(link(&m)["type"], "application/x-netcdf");
}

#[test]
#[ignore = "slow: scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn each_integrity_method_small_and_large_files() {
    let v = validator();
    let dir = tempfile::tempdir().expect("tempdir");
    let argo = std::fs::read(shared("data/argo/R6903247_274.nc")).expect("read");
    std::fs::write(dir.path().join("R6903247_274.nc"), &argo).expect("write");
    // Large enough for the reader thread (over two 1 MiB chunks), not a multiple of it.
    let big: Vec<u8> = (0..(5 << 20) + 4321).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(dir.path().join("big.dat"), &big).expect("write");
    for m in Method::ALL {
        let c = creator(dir.path(), &["--integrity", m.as_str()]);
        for (name, bytes) in [("R6903247_274.nc", &argo), ("big.dat", &big)] {
            let msg = c
                .message_for(&rel(name), Relation::Canonical)
                .expect("message");
            assert_valid(&v, &msg, &format!("{name} {m}"));
            let i = msg.properties.integrity.as_ref().expect("integrity");
            assert_eq!(i.method, m);
            assert_eq!(i.value, digest_b64(m, bytes), "{name} {m}");
            assert_eq!(link(&msg.to_value())["length"], bytes.len() as u64);
        }
    }
    let e = SettingsCli::try_parse_from(["t", "--integrity", "md5"])
        .err()
        .expect("md5 refused");
    assert!(e.to_string().contains("sha3-512"), "{e}");
}

#[test]
fn inline_content_round_trips_and_respects_the_limit() {
    let v = validator();
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = b"station,time,temp\n1,2024-01-01T00:00:00Z,12.5\n\"q\",x,\\\n";
    std::fs::write(dir.path().join("obs.csv"), csv).expect("write");
    let bin: Vec<u8> = (0..=255u8).collect();
    std::fs::write(dir.path().join("blob.raw"), &bin).expect("write");
    let bufr = std::fs::read(shared("data/bufr/pdbufr_synop_wigos.bufr")).expect("read");
    std::fs::write(dir.path().join("synop.bufr"), &bufr).expect("write");
    std::fs::copy(
        shared("data/argo/R6903247_274.nc"),
        dir.path().join("R6903247_274.nc"),
    )
    .expect("copy");

    let c = creator(dir.path(), &["--inline-max-bytes", "4096"]);
    let msg = c
        .message_for(&rel("obs.csv"), Relation::Canonical)
        .expect("csv");
    assert_valid(&v, &msg, "csv");
    let content = msg.properties.content.as_ref().expect("content");
    assert_eq!(content.encoding, "utf-8");
    assert_eq!(content.value.as_bytes(), csv);
    assert_eq!(content.size, csv.len() as u64);
    // Hashed from the same bytes.
    assert_eq!(
        msg.properties.integrity.as_ref().expect("integrity").value,
        sha512_b64(csv)
    );

    for (name, bytes) in [("blob.raw", &bin), ("synop.bufr", &bufr)] {
        let msg = c
            .message_for(&rel(name), Relation::Canonical)
            .expect("binary");
        assert_valid(&v, &msg, name);
        let content = msg.properties.content.as_ref().expect("content");
        assert_eq!(content.encoding, "base64", "{name}");
        assert_eq!(
            B64.decode(&content.value).expect("base64"),
            *bytes,
            "{name}"
        );
        assert_eq!(content.size, bytes.len() as u64);
        assert_eq!(
            msg.properties.integrity.as_ref().expect("integrity").value,
            sha512_b64(bytes)
        );
    }
    // Over 4096 bytes: a link only.
    let msg = c
        .message_for(&rel("R6903247_274.nc"), Relation::Canonical)
        .expect("nc");
    assert!(msg.properties.content.is_none());
    // The setting is a limit on the encoded value: 256 bytes are 344 in base64.
    let c = creator(dir.path(), &["--inline-max-bytes", "300"]);
    let msg = c
        .message_for(&rel("blob.raw"), Relation::Canonical)
        .expect("blob");
    assert!(msg.properties.content.is_none());
    let msg = c
        .message_for(&rel("obs.csv"), Relation::Canonical)
        .expect("csv");
    assert!(msg.properties.content.is_some());
    // Above 4096 the WNM limit applies.
    let big = vec![b'a'; 4097];
    std::fs::write(dir.path().join("big.txt"), &big).expect("write");
    let c = creator(dir.path(), &["--inline-max-bytes", "100000"]);
    let msg = c
        .message_for(&rel("big.txt"), Relation::Canonical)
        .expect("big");
    assert!(msg.properties.content.is_none());
    std::fs::write(dir.path().join("big.txt"), &big[..4096]).expect("write");
    let msg = c
        .message_for(&rel("big.txt"), Relation::Canonical)
        .expect("4096");
    assert_eq!(msg.properties.content.as_ref().expect("content").size, 4096);
    assert_valid(&v, &msg, "4096 bytes of text");
    // Text whose JSON escaping would take the message over 8192 bytes: link only.
    std::fs::write(dir.path().join("ctl.txt"), vec![1u8; 4000]).expect("write");
    let msg = c
        .message_for(&rel("ctl.txt"), Relation::Canonical)
        .expect("ctl");
    assert!(msg.properties.content.is_none());
    assert!(msg.to_json().len() <= 8192);
    // Off by default.
    let c = creator(dir.path(), &[]);
    let msg = c
        .message_for(&rel("obs.csv"), Relation::Canonical)
        .expect("csv");
    assert!(msg.properties.content.is_none());
}

#[test]
fn media_type_table_after_content_sniffing() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("obs.dat"), b"a;b\n1;2\n").expect("write");
    let bufr = std::fs::read(shared("data/bufr/pdbufr_synop_wigos.bufr")).expect("read");
    std::fs::write(dir.path().join("synop.dat"), &bufr).expect("write");
    let c = creator(dir.path(), &[]);
    let m = c
        .message_for(&rel("obs.dat"), Relation::Canonical)
        .expect("dat");
    assert_eq!(
        link(&m.to_value())["type"],
        "application/octet-stream",
        "unknown extension"
    );
    let c = creator(
        dir.path(),
        &["--media-type", ".DAT=text/csv", "--media-type", "x=a/b"],
    );
    let m = c
        .message_for(&rel("obs.dat"), Relation::Canonical)
        .expect("dat");
    assert_eq!(link(&m.to_value())["type"], "text/csv");
    // The content says BUFR: that wins over the extension.
    let m = c
        .message_for(&rel("synop.dat"), Relation::Canonical)
        .expect("bufr");
    assert_eq!(link(&m.to_value())["type"], "application/bufr");
    // Deletions (no content to sniff) use the table too.
    let m = c
        .deletion_for(&rel("gone.dat"))
        .expect("deletion")
        .to_value();
    assert_eq!(link(&m)["type"], "text/csv");
    assert_eq!(link(&m)["rel"], "deletion");
    // Comma-separated, as in WIS2_MEDIA_TYPES.
    let s = settings(
        dir.path(),
        &[
            "--media-type",
            "nc=application/x-netcdf,bin=application/bufr",
        ],
    );
    assert_eq!(s.media_types.len(), 2);
    assert_eq!(s.media_types[1].ext, "bin");
    for bad in ["dat", "=text/csv", "dat=csv", "dat=text/", "a/b=text/csv"] {
        let e = SettingsCli::try_parse_from(["t", "--media-type", bad])
            .err()
            .expect(bad);
        assert!(e.to_string().contains("EXT=TYPE"), "{bad}: {e}");
    }
}

fn stac_event() -> CloudEvent {
    let bytes = std::fs::read(shared(STAC_EVENT)).expect("read");
    CloudEvent::parse(&bytes).expect("event")
}

#[test]
fn stac_event_message_equals_the_item() {
    let v = validator();
    let dir = tempfile::tempdir().expect("tempdir");
    let ev = stac_event();
    assert_eq!(EventKind::of(&ev), EventKind::Stac);
    let c = creator(dir.path(), &[]);
    let msgs = c.messages_for_stac_event(&ev).expect("messages");
    assert_eq!(msgs.len(), 1);
    let msg = &msgs[0];
    assert_valid(&v, msg, "STAC");
    let m = msg.to_value();
    let item = &ev.data.as_ref().expect("data");
    let asset = &item["assets"]["R7901113_022.nc"];
    assert_eq!(m["geometry"], item["geometry"]);
    assert_eq!(m["properties"]["datetime"], "2024-11-09T21:08:00Z");
    assert_eq!(link(&m)["href"], asset["href"]);
    assert_eq!(link(&m)["rel"], "canonical");
    assert_eq!(link(&m)["type"], "application/x-netcdf");
    assert_eq!(link(&m)["length"], 25620);
    // file:checksum is 0x16 (sha3-256), 0x20 (32 bytes), the digest in hex.
    let hex = asset["file:checksum"].as_str().expect("checksum");
    assert_eq!(&hex[..4], "1620");
    let digest: Vec<u8> = (4..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    assert_eq!(m["properties"]["integrity"]["method"], "sha3-256");
    assert_eq!(m["properties"]["integrity"]["value"], B64.encode(&digest));
    // Not under WIS2_BASE_URL: the href's path.
    assert_eq!(
        m["properties"]["data_id"],
        format!(
            "{}/dac/coriolis/7901113/profiles/R7901113_022.nc",
            DEFAULT_TOPIC.trim_start_matches("origin/a/")
        )
    );
    // Under WIS2_BASE_URL: the path below it.
    let c = creator(
        dir.path(),
        &["--base-url", "https://data-argo.ifremer.fr/dac/"],
    );
    let m = c.messages_for_stac_event(&ev).expect("messages")[0].to_value();
    assert!(
        m["properties"]["data_id"]
            .as_str()
            .expect("data_id")
            .ends_with("drifting-ocean-profilers/coriolis/7901113/profiles/R7901113_022.nc")
    );
}

#[test]
fn stac_local_copy_that_differs_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ev = stac_event();
    let c = creator(dir.path(), &["--base-url", "https://data-argo.ifremer.fr"]);
    let local = dir.path().join("dac/coriolis/7901113/profiles");
    std::fs::create_dir_all(&local).expect("mkdir");
    // Right size, wrong content.
    std::fs::write(local.join("R7901113_022.nc"), vec![0u8; 25620]).expect("write");
    let e = c.messages_for_stac_event(&ev).expect_err("digest differs");
    assert!(
        matches!(
            e,
            CreateError::Stac(wis2::stac::StacError::DigestMismatch { .. })
        ),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.contains("R7901113_022.nc") && text.contains("file:checksum"),
        "{text}"
    );
    // Wrong size.
    std::fs::write(local.join("R7901113_022.nc"), vec![0u8; 100]).expect("write");
    let e = c.messages_for_stac_event(&ev).expect_err("size differs");
    assert!(e.to_string().contains("file:size 25620"), "{e}");
    // Small enough to be inlined: read whole, same checks.
    let c = creator(
        dir.path(),
        &[
            "--base-url",
            "https://data-argo.ifremer.fr",
            "--inline-max-bytes",
            "4096",
        ],
    );
    let e = c.messages_for_stac_event(&ev).expect_err("size differs");
    assert!(e.to_string().contains("file:size 25620"), "{e}");
}

/// A STAC item event for files under `dir`, with `file:size` and `file:checksum`
/// (sha2-512 multihash) computed from them.
fn synthetic_stac(dir: &Path, names: &[&str], base: &str) -> CloudEvent {
    let mut assets = serde_json::Map::new();
    for name in names {
        let bytes = std::fs::read(dir.join(name)).expect("read");
        let digest: String = sha2::Sha512::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assets.insert(
            name.to_string(),
            json!({"href": format!("{base}/{name}"), "roles": ["data"],
                   "file:size": bytes.len(), "file:checksum": format!("1340{digest}")}),
        );
    }
    assets.insert(
        "thumb".into(),
        json!({"href": format!("{base}/thumb.png"), "roles": ["thumbnail"]}),
    );
    let ev = json!({
        "specversion": "1.0", "id": "ev-42", "source": "test", "type": "org.example.stac",
        "data": {"type": "Feature", "id": "item-42",
                 "geometry": {"type": "Polygon", "coordinates": [[[0,0],[2,0],[2,1],[0,0]]]},
                 "properties": {"start_datetime": "2024-01-01T01:00:00+01:00",
                                "end_datetime": "2024-01-01T06:00:00Z"},
                 "assets": assets}
    });
    CloudEvent::parse(ev.to_string().as_bytes()).expect("event")
}

#[test]
fn stac_local_copy_that_agrees_is_used() {
    let v = validator();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    std::fs::write(dir.path().join("sub/a.csv"), b"x,y\n1,2\n").expect("write");
    std::fs::copy(
        shared("data/argo/R6903247_274.nc"),
        dir.path().join("sub/R.nc"),
    )
    .expect("copy");
    let base = "https://data.example.org/argo";
    let ev = synthetic_stac(
        &dir.path().join("sub"),
        &["a.csv", "R.nc"],
        &format!("{base}/sub"),
    );
    let c = creator(dir.path(), &["--inline-max-bytes", "4096"]);
    let msgs = c.messages_for_stac_event(&ev).expect("messages");
    assert_eq!(msgs.len(), 2, "the thumbnail is not data");
    for m in &msgs {
        assert_valid(&v, m, "synthetic STAC");
        let j = m.to_value();
        assert_eq!(j["properties"]["start_datetime"], "2024-01-01T00:00:00Z");
        assert_eq!(j["properties"]["integrity"]["method"], "sha512");
    }
    // Assets come in the order of their keys.
    let csv = msgs[1].to_value();
    assert_eq!(
        csv["properties"]["data_id"],
        format!(
            "{}/sub/a.csv",
            DEFAULT_TOPIC.trim_start_matches("origin/a/")
        )
    );
    // Media type from the extension table (the asset has none); content inlined.
    assert_eq!(link(&csv)["type"], "text/csv");
    assert_eq!(csv["properties"]["content"]["value"], "x,y\n1,2\n");
    let nc = msgs[0].to_value();
    assert_eq!(link(&nc)["type"], "application/x-netcdf");
    assert!(nc["properties"].get("content").is_none());
    assert_eq!(link(&nc)["length"], 122032);
}

#[test]
fn stac_hrefs_that_cannot_be_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = creator(dir.path(), &[]);
    for (href, why) in [
        ("file:///tmp/a.nc", "scheme"),
        ("a.nc", "absolute"),
        ("https://host/", "does not name a file"),
    ] {
        let e = c.asset_path(href).expect_err(href).to_string();
        assert!(e.contains(why), "{href}: {e}");
    }
    let p = c
        .asset_path("https://data.example.org/argo/a%20b/c.nc?x=1")
        .expect("under base");
    assert!(p.under_base_url);
    assert_eq!(p.rel, "a b/c.nc");
    let p = c
        .asset_path("https://data.example.org/argon/c.nc")
        .expect("not under base");
    assert!(!p.under_base_url);
    assert_eq!(p.rel, "argon/c.nc");
}

#[test]
fn run_args_keep_their_flags() {
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: wis2_bus::Run<RunArgs>,
    }
    let a = Cli::try_parse_from([
        "t",
        "--broker-url",
        "mqtt://u:p@localhost:1883",
        "--data-dir",
        "/d",
        "--base-url",
        "https://x/y",
        "--deadletter-dir",
        "/dl",
        "--stac-topic",
        "upstream/stac",
        "--inline-max-bytes",
        "1000",
        "--media-type",
        "bin=application/bufr",
    ])
    .expect("args")
    .run;
    assert_eq!(a.settings.stac_topic.as_deref(), Some("upstream/stac"));
    assert_eq!(a.settings.settings.inline_max_bytes, 1000);
    assert_eq!(a.settings.settings.data_dir, PathBuf::from("/d"));
    assert_eq!(a.service.deadletter_dir, Some(PathBuf::from("/dl")));
}

fn run_cli(args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn wis2-create");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(b) = stdin {
        input.write_all(b).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("wait")
}

/// [`run_cli`], which must succeed (its stderr otherwise).
fn run_cli_ok(args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Output {
    let out = run_cli(args, env, stdin);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON document per line"))
        .collect()
}

#[test]
fn cli_message() {
    let v = validator();
    let dir = tempfile::tempdir().expect("tempdir");
    let argo = shared("data/argo/R6903247_274.nc");
    std::fs::copy(&argo, dir.path().join("R6903247_274.nc")).expect("copy");
    let d = dir.path().display().to_string();
    let out = run_cli_ok(
        &["message", &format!("{d}/R6903247_274.nc"), "--data-dir", &d],
        &[],
        None,
    );
    let m: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(v.check_value(&m, Some(DEFAULT_TOPIC)).is_valid());
    let bytes = std::fs::read(&argo).expect("read");
    assert_eq!(m["properties"]["integrity"]["value"], sha512_b64(&bytes));
    // Settings from the environment.
    let small = dir.path().join("x.obs");
    std::fs::write(&small, b"1 2 3\n").expect("write");
    let out = run_cli_ok(
        &["message", &small.display().to_string(), "--data-dir", &d],
        &[
            ("WIS2_MEDIA_TYPES", "obs=text/plain,bin=application/bufr"),
            ("WIS2_INLINE_MAX_BYTES", "100"),
            ("WIS2_INTEGRITY_METHOD", "sha3-384"),
        ],
        None,
    );
    let m: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(link(&m)["type"], "text/plain");
    assert_eq!(m["properties"]["content"]["value"], "1 2 3\n");
    assert_eq!(m["properties"]["integrity"]["method"], "sha3-384");
    // A missing file: exit code 2 and a reason.
    let out = run_cli(
        &["message", &format!("{d}/nope.nc"), "--data-dir", &d],
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.nc"));
    assert!(out.stdout.is_empty());
}

#[test]
fn cli_event() {
    let v = validator();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let stac = shared(STAC_EVENT).display().to_string();
    // The upstream event, with a data directory that does not exist.
    let out = run_cli_ok(
        &["event", &stac, "--data-dir", "/nonexistent/wis2"],
        &[],
        None,
    );
    let msgs = lines(&out);
    assert_eq!(msgs.len(), 1);
    assert!(v.check_value(&msgs[0], Some(DEFAULT_TOPIC)).is_valid());
    assert_eq!(link(&msgs[0])["length"], 25620);
    // From standard input.
    let bytes = std::fs::read(&stac).expect("read");
    let out = run_cli_ok(&["event", "-", "--data-dir", &d], &[], Some(&bytes));
    assert_eq!(lines(&out).len(), 1);
    // Two data assets: two lines.
    std::fs::write(dir.path().join("a.txt"), b"a\n").expect("write");
    std::fs::write(dir.path().join("b.txt"), b"b\n").expect("write");
    let ev = synthetic_stac(
        dir.path(),
        &["a.txt", "b.txt"],
        "https://data.example.org/argo",
    );
    let ev_path = dir.path().join("event.json");
    std::fs::write(&ev_path, ev.to_json()).expect("write");
    let ev_arg = ev_path.display().to_string();
    let base = [
        "--base-url",
        "https://data.example.org/argo",
        "--data-dir",
        &d,
    ];
    let mut args = vec!["event", ev_arg.as_str()];
    args.extend(base);
    let out = run_cli_ok(&args, &[], None);
    let msgs = lines(&out);
    assert_eq!(msgs.len(), 2);
    for m in &msgs {
        assert!(v.check_value(m, Some(DEFAULT_TOPIC)).is_valid(), "{m}");
    }
    assert!(
        msgs[1]["properties"]["data_id"]
            .as_str()
            .expect("data_id")
            .ends_with("/b.txt")
    );
    // A local copy that changed since: rejected, nothing printed.
    std::fs::write(dir.path().join("b.txt"), b"B\n").expect("write");
    let out = run_cli(&args, &[], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("b.txt") && err.contains("file:checksum"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    // A file event of wis2-watch works too.
    let fe = json!({"specversion": "1.0", "id": "e1", "source": "wis2-watch",
                    "type": wis2::event::FILE_CREATED, "data": {"path": "a.txt"}});
    std::fs::write(&ev_path, fe.to_string()).expect("write");
    let out = run_cli_ok(&args, &[], None);
    assert_eq!(lines(&out).len(), 1);
    // Neither a file event nor a STAC item.
    std::fs::write(
        &ev_path,
        json!({"specversion": "1.0", "id": "e2", "source": "x", "type": "other", "data": {}})
            .to_string(),
    )
    .expect("write");
    let out = run_cli(&args, &[], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown event type"));
    // Not JSON.
    std::fs::write(&ev_path, "nope").expect("write");
    let out = run_cli(&args, &[], None);
    assert_eq!(out.status.code(), Some(2));
}
