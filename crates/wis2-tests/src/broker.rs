//! mosquitto started with the project's own `broker/start.sh` (its configuration, ACL
//! template and password file), on a free port, with a state folder of its own.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::fixtures::{CENTRE, repo, tool, tool_path};
use crate::net::{free_port, wait_port};

/// Passwords of the test broker's accounts.
pub const PASSWORDS: [(&str, &str); 6] = [
    ("wis2-console", "console-pw"),
    ("wis2-watch", "watch-pw"),
    ("wis2-create", "create-pw"),
    ("wis2-validate", "validate-pw"),
    ("wis2-publish", "publish-pw"),
    ("operator", "operator-pw"),
];

/// The test broker's password of `user` (empty for an unknown user).
pub fn password(user: &str) -> &'static str {
    if user == "everyone" {
        // The Global Brokers' account keeps its conventional password.
        return "everyone";
    }
    PASSWORDS
        .iter()
        .find(|(u, _)| *u == user)
        .map(|(_, p)| *p)
        .unwrap_or("")
}

/// `mqtt://user:password@127.0.0.1:port`, for a broker that may not be running.
pub fn mqtt_url(user: &str, port: u16) -> String {
    format!("mqtt://{user}:{}@127.0.0.1:{port}", password(user))
}

/// A running mosquitto; killed on drop.
pub struct Broker {
    /// Its plain MQTT port on 127.0.0.1.
    pub port: u16,
    /// Its state folder: persistence (`data/`), generated files (`run/`), its log.
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Broker {
    /// A fresh broker on a free port.
    pub fn start() -> Broker {
        Self::start_in(tempfile::tempdir().expect("temp dir"), free_port())
    }

    /// Starts (or restarts) on a given state folder and port.
    pub fn start_in(dir: tempfile::TempDir, port: u16) -> Broker {
        Self::launch(dir, port, &[], &[])
    }

    /// Like [`Broker::start`], with more environment for `broker/start.sh` (the TLS
    /// listener's BROKER_TLS_PORT, BROKER_TLS_CERT, ...); returns once the plain port
    /// and every one of `more_ports` accept connections.
    pub fn start_with_env(env: &[(&str, String)], more_ports: &[u16]) -> Broker {
        Self::launch(
            tempfile::tempdir().expect("temp dir"),
            free_port(),
            env,
            more_ports,
        )
    }

    /// Starts with the ACL template `acl` instead of the project's (another broker's
    /// accounts: a Global Broker's monitoring topics, say).
    pub fn start_with_acl(acl: &str) -> Broker {
        let dir = tempfile::tempdir().expect("temp dir");
        let template = dir.path().join("acl.template");
        std::fs::write(&template, acl).expect("ACL template");
        let env = [("BROKER_ACL_TEMPLATE", template.display().to_string())];
        Self::launch(dir, free_port(), &env, &[])
    }

    fn launch(
        dir: tempfile::TempDir,
        port: u16,
        env: &[(&str, String)],
        more_ports: &[u16],
    ) -> Broker {
        tool("mosquitto", "mosquitto");
        // Appended to, so that a restart on the same folder keeps the earlier runs' lines.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("mosquitto.log"))
            .expect("log file");
        let mut cmd = Command::new("sh");
        cmd.arg(repo().join("broker/start.sh"))
            .env("PATH", tool_path())
            .env("BROKER_RUN_DIR", dir.path().join("run"))
            .env("BROKER_DATA_DIR", dir.path().join("data"))
            .env("BROKER_PORT", port.to_string())
            .env("WIS2_CENTRE_ID", CENTRE)
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log));
        for (user, pw) in PASSWORDS {
            let var = match user {
                "operator" => "WIS2_OPERATOR_PASSWORD".to_string(),
                "wis2-console" => "WIS2_CONSOLE_BROKER_PASSWORD".to_string(),
                u => format!("{}_PASSWORD", u.replace('-', "_").to_uppercase()),
            };
            cmd.env(var, pw);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start mosquitto (sh broker/start.sh)");
        let b = Broker {
            port,
            dir,
            child: Some(child),
        };
        for p in std::iter::once(port).chain(more_ports.iter().copied()) {
            assert!(
                wait_port(p, Duration::from_secs(15)),
                "mosquitto did not listen on {p}: {}",
                b.log()
            );
        }
        b
    }

    /// The process id of mosquitto (start.sh ends in `exec mosquitto`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// What `start.sh` and mosquitto wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// The URL a client of account `user` connects with.
    pub fn url(&self, user: &str) -> String {
        mqtt_url(user, self.port)
    }

    /// Kills mosquitto with SIGKILL and returns its state folder and port.
    pub fn kill(mut self) -> (tempfile::TempDir, u16) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.into_parts()
    }

    /// Stops mosquitto with SIGTERM (it saves its sessions) and returns its state
    /// folder and port.
    pub fn stop(mut self) -> (tempfile::TempDir, u16) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
        self.into_parts()
    }

    /// The state folder and port of a broker whose process has ended.
    fn into_parts(mut self) -> (tempfile::TempDir, u16) {
        // Drop still runs: it finds no process, and the folder swapped in for the
        // one handed back is an empty one of its own.
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("dir"));
        (dir, self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
