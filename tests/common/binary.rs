//! Helpers for tests that run the real `mirrorwatch serve` binary against loopback mirrors:
//! writing a configuration, starting the daemon and finding its port from the
//! `listening addr=...` log line, scraping `/metrics`, sending signals, and waiting for a
//! condition with a deadline (never a fixed sleep). `serve_lifecycle.rs` uses only the
//! pieces: [`serve_command`], [`listening_addr`] and [`http_get`].
//!
//! Every configuration written here reaches loopback only: IP-literal URLs of fake mirrors
//! and a dead loopback name server (`probe.dns_servers: ["127.0.0.1:1"]`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long any condition may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The repository directory every test network publishes (layout 9.8, BaseOS, x86_64).
pub const DIR: &str = "9.8/BaseOS/x86_64/os/";

/// A `mirrors.yaml` for a loopback network, with short intervals.
#[derive(Clone)]
pub struct Cfg {
    pub upstream: String,
    /// (name, base URL)
    pub mirrors: Vec<(String, String)>,
    pub state: PathBuf,
    pub interval: &'static str,
    pub timeout: &'static str,
    pub save_interval: &'static str,
    /// Layout repos: (name, path with `$basearch`).
    pub repos: Vec<(&'static str, &'static str)>,
    /// Keys of a `serve` section, YAML lines indented by two (none by default).
    pub serve: &'static str,
}

impl Cfg {
    pub fn new(upstream: &str, state: &Path) -> Cfg {
        Cfg {
            upstream: upstream.to_string(),
            mirrors: Vec::new(),
            state: state.to_path_buf(),
            interval: "2s",
            timeout: "1s",
            save_interval: "1s",
            repos: vec![("baseos", "BaseOS/$basearch/os/")],
            serve: "",
        }
    }

    pub fn mirror(mut self, name: &str, url: &str) -> Cfg {
        self.mirrors.push((name.to_string(), url.to_string()));
        self
    }

    pub fn yaml(&self) -> String {
        let mut text = format!(
            "upstream:\n  urls: [\"{}\"]\nlayout:\n  versions: [\"9.8\"]\n  arches: {{\"9\": [x86_64]}}\n  repos:\n",
            self.upstream
        );
        for (name, path) in &self.repos {
            text.push_str(&format!("    - {{name: {name}, path: {path}}}\n"));
        }
        text.push_str("mirrors:\n");
        for (name, url) in &self.mirrors {
            text.push_str(&format!(
                "  - name: {name}\n    address: {{http: \"{url}\"}}\n"
            ));
        }
        text.push_str(&format!(
            "probe:\n  dns_servers: [\"127.0.0.1:1\"]\n  ip_families: [ipv4]\n  interval: {}\n  timeout: {}\n  connect_timeout: 500ms\nfreshness:\n  upstream_interval: 1s\nstate:\n  path: \"{}\"\n  save_interval: {}\n",
            self.interval,
            self.timeout,
            self.state.display(),
            self.save_interval
        ));
        if !self.serve.is_empty() {
            text.push_str("serve:\n");
            text.push_str(self.serve);
        }
        text
    }

    /// Write the file the way editors do: a temporary file renamed over it.
    pub fn write(&self, path: &Path) {
        write_atomic(path, self.yaml().as_bytes());
    }
}

/// Write `bytes` to a temporary file beside `path`, then rename it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap());
    name.push(".edit");
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Poll `f` every 50 ms until it gives a value; panic with `what` after [`DEADLINE`].
pub fn wait_until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One `/metrics` body.
pub struct Scrape(pub String);

impl Scrape {
    /// The value of the first sample of `name` carrying every label in `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (metric, label_text) = match series.split_once('{') {
                    Some((m, rest)) => (m, rest.strip_suffix('}')?),
                    None => (series, ""),
                };
                let present: Vec<&str> = label_text.split(',').collect();
                let matches = metric == name
                    && labels
                        .iter()
                        .all(|(k, v)| present.contains(&format!("{k}=\"{v}\"").as_str()));
                matches.then(|| value.parse().ok()).flatten()
            })
    }

    /// Assert that the sample of `name` with `labels` is `want`.
    #[track_caller]
    pub fn expect(&self, name: &str, labels: &[(&str, &str)], want: f64) {
        let got = self.value(name, labels);
        assert_eq!(got, Some(want), "{name} {labels:?} in:\n{}", self.0);
    }

    /// `mirrorwatch_mirror_*` value for one mirror over IPv4.
    pub fn mirror(&self, name: &str, mirror: &str) -> Option<f64> {
        self.value(name, &[("mirror", mirror), ("family", "ipv4")])
    }

    /// Whether any series names this mirror.
    pub fn mentions(&self, mirror: &str) -> bool {
        self.0.contains(&format!("mirror=\"{mirror}\""))
    }
}

/// `mirrorwatch serve --listen 127.0.0.1:0 --config <config>`, logging at `info` to a piped
/// stderr.
pub fn serve_command(config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mirrorwatch"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped());
    command
}

/// The address of the daemon's `listening addr=...` log line.
pub fn listening_addr(line: &str) -> SocketAddr {
    line.split("addr=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the listening line names the address")
        .parse()
        .unwrap()
}

/// `GET path` from `addr` on a new connection (`Connection: close`, 5 s timeouts): the
/// whole response, status line, headers and body.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// A running `mirrorwatch serve`; killed on drop if still running.
pub struct Daemon {
    child: Child,
    pub addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    /// Start the binary on `127.0.0.1:0` with `config`; returns once it listens.
    pub fn start(config: &Path) -> Daemon {
        let mut child = serve_command(config)
            .env_remove("MIRRORWATCH_CONFIG")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let mut daemon = Daemon {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
        };
        daemon.addr = listening_addr(&daemon.wait_log(0, "listening"));
        daemon
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every log line so far, joined (for failure messages).
    pub fn logs(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// How many log lines there are now: pass it to [`Daemon::wait_log`] to look only later.
    pub fn mark(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    /// The first log line after line `from` containing every one of `needles`.
    pub fn find_log(&self, from: usize, needles: &[&str]) -> Option<String> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .skip(from)
            .find(|l| needles.iter().all(|n| l.contains(n)))
            .cloned()
    }

    /// The index of the first log line after line `from` containing `needle`.
    pub fn log_position(&self, from: usize, needle: &str) -> Option<usize> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .skip(from)
            .position(|l| l.contains(needle))
            .map(|i| from + i)
    }

    /// Wait for a log line after line `from` containing `needle`.
    pub fn wait_log(&mut self, from: usize, needle: &str) -> String {
        self.wait_log_all(from, &[needle])
    }

    /// Wait for a log line after line `from` containing every one of `needles`.
    pub fn wait_log_all(&mut self, from: usize, needles: &[&str]) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(line) = self.find_log(from, needles) {
                return line;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                // The reader thread may still be collecting the last lines.
                std::thread::sleep(Duration::from_millis(200));
                if let Some(line) = self.find_log(from, needles) {
                    return line;
                }
                panic!(
                    "daemon exited ({status}) without logging {needles:?}:\n{}",
                    self.logs()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needles:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `GET path`: (status code, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        let response = http_get(self.addr, path);
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
        let body = response
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_string();
        (status, body)
    }

    pub fn metrics(&self) -> Scrape {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        Scrape(body)
    }

    /// Scrape until `f` finds what it wants; on timeout, show the last scrape and the logs.
    pub fn wait_metrics<T>(&self, what: &str, mut f: impl FnMut(&Scrape) -> Option<T>) -> T {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let scrape = self.metrics();
            if let Some(value) = f(&scrape) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\nlast scrape:\n{}\nlogs:\n{}",
                scrape.0,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until `/readyz` answers 200.
    pub fn wait_ready(&self) {
        wait_until("/readyz 200", || {
            (self.get("/readyz").0 == 200).then_some(())
        });
    }

    /// Send `signal` (`HUP`, `TERM`, `KILL`) to this daemon, by its process id.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Wait for the process to exit; its exit code (`None` when killed by a signal).
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "daemon still running:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit code, which must be 0.
    pub fn stop(&mut self) {
        self.signal("TERM");
        let code = self.wait_exit();
        assert_eq!(code, Some(0), "exit code after SIGTERM:\n{}", self.logs());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The state file as JSON (the `{"format", "written_at", "state"}` envelope).
pub fn read_state(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{} is not JSON ({e}): {}",
            path.display(),
            String::from_utf8_lossy(&bytes)
        )
    })
}

/// `state.mirrors.<mirror>.families.ipv4.last_sweep` of a state file.
pub fn saved_last_sweep(state: &serde_json::Value, mirror: &str) -> Option<i64> {
    state["state"]["mirrors"][mirror]["families"]["ipv4"]["last_sweep"].as_i64()
}

/// A multi-threaded runtime for the kit's fake mirrors, so that the test thread can block
/// (on the daemon's HTTP answers and on its logs) while the mirrors keep serving.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
