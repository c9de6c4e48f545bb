//! nginx serving a temporary folder on 127.0.0.1 (plain http, and https with a
//! self-signed certificate when asked), for the tests that download what a message
//! links to. nginx comes from `scripts/test.sh` (Debian package `nginx-light`).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::fixtures::{run_ok, tool};
use crate::net::free_port;

/// A running nginx serving [`Web::www`]; stopped on drop.
///
/// `/moved/<path>` answers a permanent redirect to `/<path>`, for the tests of
/// redirections.
pub struct Web {
    child: Child,
    dir: tempfile::TempDir,
    /// The http port.
    pub port: u16,
    /// The https port (a self-signed certificate for 127.0.0.1), when asked for.
    pub tls_port: Option<u16>,
}

impl Web {
    /// Starts nginx over an empty folder, plain http only.
    pub fn start() -> Web {
        Web::start_with(false)
    }

    /// Starts nginx over an empty folder; with `tls`, also https.
    pub fn start_with(tls: bool) -> Web {
        Web::launch(tls, None)
    }

    /// Starts nginx (plain http) over the existing folder `root` (a chain's data
    /// directory, which the messages' links then point into); [`Web::www`] is unused.
    pub fn serving(root: &Path) -> Web {
        Web::launch(false, Some(root))
    }

    fn launch(tls: bool, root: Option<&Path>) -> Web {
        let bin = tool("nginx", "nginx-light");
        let dir = tempfile::tempdir().expect("temp dir");
        if tls {
            self_signed(dir.path());
        }
        std::fs::create_dir_all(dir.path().join("www")).expect("www dir");
        let root = root.map_or_else(|| dir.path().join("www"), Path::to_path_buf);
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let tls_port = tls.then(free_port);
            let conf_path = dir.path().join("nginx.conf");
            std::fs::write(&conf_path, config(dir.path(), &root, port, tls_port))
                .expect("write nginx.conf");
            let mut child = Command::new(&bin)
                .arg("-c")
                .arg(&conf_path)
                .arg("-p")
                .arg(dir.path())
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok()
                    && tls_port.is_none_or(|p| TcpStream::connect(("127.0.0.1", p)).is_ok())
                {
                    return Web {
                        child,
                        dir,
                        port,
                        tls_port,
                    };
                }
                if let Ok(Some(status)) = child.try_wait() {
                    let mut stderr = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
                    }
                    let log =
                        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                    last_error = format!("nginx exited ({status}): {stderr}{log}");
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("nginx did not listen on port {port} within 20 s");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            // Most likely the port was taken in between: try another one.
        }
        panic!("nginx would not start: {last_error}");
    }

    /// `http://127.0.0.1:<port>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// The folder served at `/`.
    pub fn www(&self) -> PathBuf {
        self.dir.path().join("www")
    }

    /// The paths of the GET requests answered so far, in order, each with its status
    /// (from nginx's access log).
    pub fn requests(&self) -> Vec<(String, u16)> {
        let log = std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        log.lines()
            .filter_map(|l| {
                let (path, status) = l.strip_prefix("GET ")?.split_once(' ')?;
                Some((path.to_string(), status.parse().ok()?))
            })
            .collect()
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `key.pem` and `cert.pem` (for 127.0.0.1, valid a day) into `dir`.
fn self_signed(dir: &Path) {
    run_ok(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem")),
        "openssl (a self-signed certificate for the https test; scripts/test.sh installs it)",
    );
}

/// nginx.conf for a server rooted at `root` on `port` (and `tls_port`), its state in
/// `dir`; its access log has one line per request: method, path, status.
fn config(dir: &Path, root: &Path, port: u16, tls_port: Option<u16>) -> String {
    let t = dir.display();
    let r = root.display();
    let tls_server = match tls_port {
        Some(p) => format!(
            "  server {{\n    listen 127.0.0.1:{p} ssl;\n    ssl_certificate {t}/cert.pem;\n    \
             ssl_certificate_key {t}/key.pem;\n    root {r};\n  }}\n"
        ),
        None => String::new(),
    };
    // One process (no master/worker split): it runs as the test's user and reads the
    // private temp directory whoever that is.
    format!(
        "daemon off;\nmaster_process off;\npid {t}/nginx.pid;\nerror_log {t}/error.log;\n\
         events {{}}\nhttp {{\n  log_format requests '$request_method $uri $status';\n  \
         access_log {t}/access.log requests;\n  client_body_temp_path {t}/body;\n  \
         proxy_temp_path {t}/proxy;\n  fastcgi_temp_path {t}/fastcgi;\n  uwsgi_temp_path {t}/uwsgi;\n  \
         scgi_temp_path {t}/scgi;\n  server {{\n    listen 127.0.0.1:{port};\n    root {r};\n    \
         location /moved/ {{ rewrite ^/moved/(.*)$ /$1 permanent; }}\n  }}\n{tls_server}}}\n"
    )
}
