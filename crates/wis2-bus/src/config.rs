//! Connection settings shared by every service: one clap struct flattened into each
//! binary's own, every field with a flag and an environment variable.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use rumqttc::tokio_rustls::rustls;
use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use url::Url;

/// Why the broker settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("WIS2_BROKER_URL `{0}` is not a URL: {1}; write it as mqtt://user:password@host:1883")]
    Url(String, url::ParseError),
    #[error(
        "WIS2_BROKER_URL scheme `{0}` is not supported: use mqtt://, mqtts://, ws:// or wss://"
    )]
    Scheme(String),
    #[error("WIS2_BROKER_URL `{0}` has no host: write it as mqtt://user:password@host:1883")]
    NoHost(String),
    #[error("cannot read {what} from {path}: {source}")]
    File {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

/// How to reach the MQTT broker.
#[derive(Clone, Args)]
pub struct BrokerArgs {
    /// Broker URL: mqtt://, mqtts://, ws:// or wss://, with optional user:password@.
    #[arg(
        long,
        env = "WIS2_BROKER_URL",
        default_value = "mqtt://localhost:1883",
        hide_env_values = true
    )]
    pub broker_url: String,

    /// Broker user (overrides the one in the URL).
    #[arg(long, env = "WIS2_BROKER_USER")]
    pub broker_user: Option<String>,

    /// Broker password (overrides the one in the URL; prefer --broker-password-file).
    #[arg(long, env = "WIS2_BROKER_PASSWORD", hide_env_values = true)]
    pub broker_password: Option<String>,

    /// File holding the broker password (Docker secrets).
    #[arg(long, env = "WIS2_BROKER_PASSWORD_FILE")]
    pub broker_password_file: Option<PathBuf>,

    /// MQTT client id; fixed so that the broker keeps the session across restarts.
    #[arg(long, env = "WIS2_CLIENT_ID")]
    pub client_id: Option<String>,

    /// PEM file of the certificate authorities to trust for mqtts/wss (default: system roots).
    #[arg(long, env = "WIS2_CA_FILE")]
    pub ca_file: Option<PathBuf>,

    /// INSECURE: accept any TLS certificate from the broker (mqtts/wss), so that anyone
    /// on the network path can impersonate it and read the credentials. For tests
    /// against a self-signed broker only; give its CA with --ca-file instead.
    #[arg(
        long,
        env = "WIS2_INSECURE_SKIP_TLS_VERIFY",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub insecure_skip_tls_verify: bool,

    /// MQTT keep-alive interval in seconds.
    #[arg(long, env = "WIS2_KEEP_ALIVE", default_value_t = 30)]
    pub keep_alive: u64,

    /// Share the service's input with the other replicas of this group (MQTT shared
    /// subscriptions, `$share/<group>/<topic>`): each message goes to one replica.
    /// Each replica then needs its own client id (default: `<service>-<hostname>`).
    #[arg(long, env = "WIS2_SHARED_GROUP")]
    pub shared_group: Option<String>,

    /// Largest MQTT packet the broker accepts, in bytes (its `max_packet_size`; 0: no
    /// limit). A larger output is dead-lettered instead of being sent, as the broker
    /// would drop the connection.
    #[arg(
        long,
        env = "WIS2_MAX_PACKET_BYTES",
        default_value_t = crate::bus::DEFAULT_MAX_PACKET_BYTES
    )]
    pub max_packet_bytes: usize,
}

impl fmt::Debug for BrokerArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerArgs")
            .field("broker_url", &redact(&self.broker_url))
            .field("broker_user", &self.broker_user)
            .field(
                "broker_password",
                &self.broker_password.as_ref().map(|_| "***"),
            )
            .field("broker_password_file", &self.broker_password_file)
            .field("client_id", &self.client_id)
            .field("shared_group", &self.shared_group)
            .field("ca_file", &self.ca_file)
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .field("max_packet_bytes", &self.max_packet_bytes)
            .finish()
    }
}

impl BrokerArgs {
    /// Settings for `url` with everything else default (tests, remote brokers).
    pub fn from_url(url: &str) -> Self {
        BrokerArgs {
            broker_url: url.to_string(),
            broker_user: None,
            broker_password: None,
            broker_password_file: None,
            client_id: None,
            ca_file: None,
            insecure_skip_tls_verify: false,
            keep_alive: 30,
            shared_group: None,
            max_packet_bytes: crate::bus::DEFAULT_MAX_PACKET_BYTES,
        }
    }

    /// The settings checked once: the URL parsed, the password read, TLS set up.
    pub fn check(&self) -> Result<Broker, ConfigError> {
        let url = Url::parse(&self.broker_url)
            .map_err(|e| ConfigError::Url(redact(&self.broker_url), e))?;
        let redacted = redact(&self.broker_url);
        let host = url
            .host_str()
            .ok_or_else(|| ConfigError::NoHost(redacted.clone()))?
            .to_string();
        let scheme = url.scheme().to_string();
        let (default_port, ws) = match scheme.as_str() {
            "mqtt" | "tcp" => (1883, false),
            "mqtts" | "ssl" | "tls" => (8883, false),
            "ws" => (80, true),
            "wss" => (443, true),
            other => return Err(ConfigError::Scheme(other.to_string())),
        };
        let port = url.port().unwrap_or(default_port);
        // rumqttc takes a websocket's full URL as the "host", and the port separately.
        let host = if ws {
            let path = if url.path().is_empty() || url.path() == "/" {
                "/mqtt"
            } else {
                url.path()
            };
            format!("{scheme}://{host}:{port}{path}")
        } else {
            host
        };
        let user = non_empty(&self.broker_user)
            .or_else(|| (!url.username().is_empty()).then(|| percent_decode(url.username())));
        let password = match (non_empty(&self.broker_password), &self.broker_password_file) {
            (Some(p), _) => Some(p),
            (None, Some(path)) if !path.as_os_str().is_empty() => Some(
                std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::File {
                        what: "the broker password",
                        path: path.clone(),
                        source,
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            ),
            _ => url.password().map(percent_decode),
        };
        let tls = matches!(scheme.as_str(), "mqtts" | "ssl" | "tls" | "wss");
        let transport = match (tls, ws) {
            (true, true) => Transport::wss_with_config(self.tls_configuration()?),
            (true, false) => Transport::tls_with_config(self.tls_configuration()?),
            (false, true) => Transport::Ws,
            (false, false) => Transport::Tcp,
        };
        Ok(Broker {
            redacted,
            host,
            port,
            transport,
            credentials: user.map(|u| (u, Secret(password.unwrap_or_default()))),
            client_id: non_empty(&self.client_id),
            keep_alive: Duration::from_secs(self.keep_alive.max(5)),
            shared_group: non_empty(&self.shared_group),
            max_packet_bytes: self.max_packet_bytes,
        })
    }
}

/// `url` with any password masked, for logs and errors.
fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<invalid url>".into(),
    }
}

/// An optional setting: an empty value (an unset variable passed on by Compose as
/// `VAR=`) is none.
fn non_empty(v: &Option<String>) -> Option<String> {
    v.clone().filter(|v| !v.is_empty())
}

/// A password: never printed.
#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Broker settings checked by [`BrokerArgs::check`]: each connection's options are
/// made from them without another check.
#[derive(Clone)]
pub struct Broker {
    redacted: String,
    host: String,
    port: u16,
    transport: Transport,
    credentials: Option<(String, Secret)>,
    client_id: Option<String>,
    keep_alive: Duration,
    shared_group: Option<String>,
    max_packet_bytes: usize,
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("url", &self.redacted)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("client_id", &self.client_id)
            .field("shared_group", &self.shared_group)
            .field("max_packet_bytes", &self.max_packet_bytes)
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// The URL with any password masked, for logs.
    pub fn redacted_url(&self) -> &str {
        &self.redacted
    }

    /// The largest packet the broker accepts (0: no limit).
    pub fn max_packet_bytes(&self) -> usize {
        self.max_packet_bytes
    }

    /// rumqttc options of a persistent session under `default_client_id` (or
    /// `--client-id`): manual acknowledgements, clean session off.
    pub fn mqtt_options(&self, default_client_id: &str) -> MqttOptions {
        let client_id = self
            .client_id
            .clone()
            .unwrap_or_else(|| default_client_id.to_string());
        let mut opts = MqttOptions::new(client_id, self.host.clone(), self.port);
        if let Some((user, password)) = &self.credentials {
            opts.set_credentials(user.clone(), password.0.clone());
        }
        opts.set_keep_alive(self.keep_alive)
            .set_clean_session(false)
            .set_manual_acks(true)
            .set_inflight(100)
            .set_max_packet_size(16 * 1024 * 1024, 16 * 1024 * 1024)
            .set_transport(self.transport.clone());
        opts
    }

    /// rumqttc options for a one-shot command: a fresh client id and a clean session,
    /// so that one-off runs leave no session behind on the broker.
    pub fn oneshot_options(&self, prefix: &str) -> MqttOptions {
        let mut o = self.mqtt_options(prefix);
        let id = format!(
            "{prefix}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        o.set_client_id(id).set_clean_session(true);
        o
    }

    /// Options of a service's connection: a persistent session under
    /// `default_client_id` (or `--client-id`), subscribed to `subscriptions` (as a
    /// shared subscription with `--shared-group`, each replica with its own client id).
    pub fn service_connection(
        &self,
        default_client_id: &str,
        subscriptions: Vec<String>,
    ) -> crate::bus::ConnectOptions {
        let (client_id, subscriptions) = match &self.shared_group {
            None => (default_client_id.to_string(), subscriptions),
            Some(g) => (
                format!("{default_client_id}-{}", hostname()),
                subscriptions
                    .into_iter()
                    .map(|t| format!("$share/{g}/{t}"))
                    .collect(),
            ),
        };
        let mut o = crate::bus::ConnectOptions::new(self.mqtt_options(&client_id), subscriptions);
        o.max_packet_bytes = self.max_packet_bytes;
        o
    }
}

impl BrokerArgs {
    /// TLS settings of an mqtts/wss connection: the broker's certificate is verified
    /// against `--ca-file` or the system roots, unless `--insecure-skip-tls-verify`.
    fn tls_configuration(&self) -> Result<TlsConfiguration, ConfigError> {
        let provider = crypto_provider();
        if self.insecure_skip_tls_verify {
            tracing::warn!(
                broker = %redact(&self.broker_url),
                "INSECURE: --insecure-skip-tls-verify (WIS2_INSECURE_SKIP_TLS_VERIFY) is set: \
                 the broker's TLS certificate is NOT verified, anyone on the network path can \
                 impersonate the broker and read the credentials; use --ca-file instead"
            );
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| ConfigError::Tls(e.to_string()))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
                .with_no_client_auth();
            return Ok(TlsConfiguration::Rustls(Arc::new(config)));
        }
        match &self.ca_file {
            Some(path) => {
                let ca = std::fs::read(path).map_err(|source| ConfigError::File {
                    what: "the CA certificates",
                    path: path.clone(),
                    source,
                })?;
                Ok(TlsConfiguration::Simple {
                    ca,
                    alpn: None,
                    client_auth: None,
                })
            }
            None => system_roots(provider),
        }
    }
}

/// TLS settings that trust the system's certificate authorities (rumqttc's own
/// default panics when the system has none or one of them is unreadable).
fn system_roots(
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<TlsConfiguration, ConfigError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    for e in &found.errors {
        tracing::warn!(error = %e, "a system CA certificate could not be loaded");
    }
    if added == 0 {
        return Err(ConfigError::Tls(
            "no trusted CA certificate found on this system: install the ca-certificates \
             package, or give the broker's CA with --ca-file (WIS2_CA_FILE)"
                .into(),
        ));
    }
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConfiguration::Rustls(Arc::new(config)))
}

/// The rustls crypto provider, installed as the process default when none is, so that
/// rumqttc's own `ClientConfig::builder()` finds one: when both of rustls' providers
/// are compiled in (ureq brings `ring`, rumqttc `aws-lc-rs`), rustls cannot choose
/// and would panic at the first TLS connection.
fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    if let Some(p) = rustls::crypto::CryptoProvider::get_default() {
        return p.clone();
    }
    // Another thread may install one at the same time: then use that one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// Certificate "verifier" of `--insecure-skip-tls-verify`: any certificate, any
/// name. Handshake signatures are still checked, so the peer holds the key of the
/// certificate it sent (which proves nothing about who it is).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// This machine's (or container's) host name, for per-replica client ids.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_string())
}

/// Percent-decoding of the user info of a URL (`%40` -> `@`).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_gives_host_port_and_credentials() {
        let a = BrokerArgs::from_url("mqtt://wis2-create:s%40cret@broker:1884");
        let b = a.check().expect("settings");
        let o = b.mqtt_options("wis2-create");
        assert_eq!(o.broker_address(), ("broker".to_string(), 1884));
        let login = o.credentials().expect("credentials");
        assert_eq!(login.username, "wis2-create");
        assert_eq!(login.password, "s@cret");
        assert!(!o.clean_session());
        assert_eq!(b.redacted_url(), "mqtt://wis2-create:***@broker:1884");
    }

    #[test]
    fn bad_urls_say_how_to_write_them() {
        let e = BrokerArgs::from_url("broker:1883")
            .check()
            .expect_err("no scheme");
        assert!(e.to_string().contains("mqtt://"), "{e}");
        let e = BrokerArgs::from_url("http://h").check().expect_err("http");
        assert!(e.to_string().contains("mqtt://"), "{e}");
    }

    #[test]
    fn passwords_do_not_debug_print() {
        let mut a = BrokerArgs::from_url("mqtt://u:topsecret@h");
        a.broker_password = Some("alsosecret".into());
        let d = format!("{a:?}");
        assert!(!d.contains("topsecret") && !d.contains("alsosecret"), "{d}");
        let d = format!("{:?}", a.check().expect("settings"));
        assert!(!d.contains("topsecret") && !d.contains("alsosecret"), "{d}");
    }
}
