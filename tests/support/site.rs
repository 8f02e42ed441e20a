//! A temporary site for end-to-end tests: a config and a store in a temp
//! directory, and the real `ml-connector` binary run against them.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The master key every test site uses (bytes 0..32, base64).
pub const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A temp directory holding `ml-connector.toml` and `connector.db`.
pub struct Site {
    /// The directory (removed on drop).
    pub dir: tempfile::TempDir,
}

impl Site {
    /// A site listening on 127.0.0.1:0; `server` goes into `[server]` (e.g. a
    /// `public_url` line), `rest` after `[store]` (more sections).
    pub fn new(server: &str, rest: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n{server}\n[store]\npath = \"{}\"\n{rest}",
            dir.path().join("connector.db").display()
        );
        std::fs::write(dir.path().join("ml-connector.toml"), config).unwrap();
        Site { dir }
    }

    /// Stores a secret through `ml-connector secrets set`.
    pub fn set_secret(&self, name: &str, value: &str) {
        super::secret_logs::remember(value);
        let mut child = self.cmd(&["secrets", "set", name]).stdin(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(value.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success(), "secrets set {name} failed");
    }

    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("ml-connector.toml")
    }

    /// The binary with this site's config, master key and working directory.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ml-connector"));
        cmd.env("ML_CONNECTOR_MASTER_KEY", MASTER_KEY)
            .env("ML_CONNECTOR_LOG", "info")
            .arg("--config")
            .arg(self.config())
            .args(args)
            .current_dir(self.dir.path());
        cmd
    }

    /// Runs a command that must succeed; its stdout.
    pub fn stdout(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command that must succeed and print JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.stdout(args)).unwrap()
    }

    /// `audit --json` plus `extra`, as a list of messages.
    pub fn audit(&self, extra: &[&str]) -> Vec<Value> {
        let args = [&["audit", "--json"], extra].concat();
        self.json(&args).as_array().unwrap().clone()
    }

    /// Starts `serve` and waits until it listens.
    pub fn start(&self) -> Server {
        let mut child = self.cmd(&["serve"]).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Listening on http://").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap().to_string());
                }
                eprintln!("[serve] {line}");
                lines.lock().unwrap().push(line);
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(60)).expect("server did not start listening");
        Server { child, base: format!("http://{addr}"), log }
    }

    /// See [`wait_for`].
    pub fn wait_for(&self, what: &str, f: impl FnMut() -> bool) {
        wait_for(what, f)
    }
}

/// A running `serve`, killed on drop.
pub struct Server {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// How many log lines so far contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log.lock().unwrap().iter().filter(|l| l.contains(needle)).count()
    }

    /// SIGKILL: no graceful anything.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    /// Kills the process, then checks its log against every secret value the tests stored.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            super::secret_logs::assert_none_in(&self.log.lock().unwrap());
        }
    }
}

/// Polls `f` until it returns true: a liveness bound (90 s), not a timing assertion.
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !f() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
