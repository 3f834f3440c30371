//! Debian's Chromium, headless, and `tidy`, for the status page tests. Nothing here leaves
//! the machine: every host name but loopback's resolves to nothing
//! (`--host-resolver-rules`), so the browser's own background requests fail before any
//! lookup, and each run gets a new, empty profile.
//!
//! - [`dump_dom`]: the DOM after the page's scripts ran (`--dump-dom`).
//! - [`dom_without_javascript`]: the DOM with scripts disabled. `--dump-dom` reads the DOM
//!   by evaluating script, which a profile with JavaScript off refuses (it prints nothing),
//!   so this drives the browser through the DevTools protocol instead: scripts off by
//!   `Emulation.setScriptExecutionDisabled`, the page loaded, the DOM read with
//!   `DOM.getOuterHTML`, which runs no script. The protocol's WebSocket is spoken by hand
//!   (text frames only), enough for these few commands.
//! - [`tidy`]: `tidy -q -e`, which must report neither errors nor warnings.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];

fn chromium() -> Command {
    let mut command = Command::new("chromium");
    command.args(FLAGS);
    command
}

fn missing(tool: &str, e: std::io::Error) -> ! {
    panic!("cannot run {tool} ({e}): install Debian's `{tool}` package (.ci/run does)")
}

/// The DOM Chromium builds for `url` with scripts on, in a fresh profile.
pub fn dump_dom(url: &str) -> String {
    // Headless Chromium on a loaded machine now and then exits without printing the DOM;
    // another try in a fresh process settles it.
    let mut failures = String::new();
    for _ in 0..3 {
        let profile = tempfile::tempdir().unwrap();
        let out = chromium()
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--dump-dom")
            .arg(url)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| missing("chromium", e));
        let dom = String::from_utf8_lossy(&out.stdout).into_owned();
        if dom.contains("</html>") {
            return dom;
        }
        failures.push_str(&format!(
            "{}: {}\n",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    panic!("chromium printed no DOM for {url}:\n{failures}");
}

/// A browser started with `--remote-debugging-port=0`, killed (by its own process) on drop.
struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    port: u16,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    fn start() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let child = chromium()
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--remote-debugging-address=127.0.0.1")
            .arg("--remote-debugging-port=0")
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| missing("chromium", e));
        // The browser writes the port it chose into the profile.
        let file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if let Some(port) = text.lines().next().and_then(|l| l.trim().parse().ok()) {
                break port;
            }
            assert!(
                Instant::now() < deadline,
                "chromium wrote no DevToolsActivePort"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        Browser {
            child,
            _profile: profile,
            port,
        }
    }

    /// The WebSocket path of the first page target (the `about:blank` tab).
    fn page_path(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut stream = BufReader::new(stream);
            write!(
                stream.get_mut(),
                "GET /json/list HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
                self.port
            )
            .unwrap();
            // The answer's length is in its head; the connection may stay open after it.
            let mut length = 0;
            loop {
                let mut line = String::new();
                stream.read_line(&mut line).unwrap();
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap();
                    }
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut body = vec![0u8; length];
            stream.read_exact(&mut body).unwrap();
            let body = String::from_utf8_lossy(&body);
            let targets: Value = serde_json::from_str(&body).unwrap_or_default();
            let page = targets.as_array().and_then(|all| {
                all.iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            });
            if let Some(url) = page {
                let rest = url.split_once("//").unwrap().1;
                return format!("/{}", rest.split_once('/').unwrap().1);
            }
            assert!(Instant::now() < deadline, "no page target: {body}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// One DevTools protocol connection to a page, over a WebSocket spoken by hand.
struct Session {
    stream: BufReader<TcpStream>,
    next_id: u64,
}

impl Session {
    fn open(port: u16, path: &str) -> Session {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: bWlycm9yd2F0Y2gtcGFnZXM=\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let mut stream = BufReader::new(stream);
        let mut status = String::new();
        stream.read_line(&mut status).unwrap();
        assert!(status.contains(" 101 "), "no WebSocket: {status}");
        loop {
            let mut line = String::new();
            stream.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        Session { stream, next_id: 1 }
    }

    /// Sends a masked text frame (RFC 6455 §5.2): clients must mask.
    fn send(&mut self, text: &str) {
        let payload = text.as_bytes();
        let mut frame = vec![0x81u8];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n < 65_536 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x6d, 0x77, 0x70, 0x67];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.get_mut().write_all(&frame).unwrap();
    }

    /// The next whole message (continuation frames joined; control frames skipped).
    fn receive(&mut self) -> Value {
        let mut message = Vec::new();
        loop {
            let mut head = [0u8; 2];
            self.stream.read_exact(&mut head).unwrap();
            let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
            let len = match head[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    self.stream.read_exact(&mut b).unwrap();
                    u64::from(u16::from_be_bytes(b))
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.stream.read_exact(&mut b).unwrap();
                    u64::from_be_bytes(b)
                }
                n => u64::from(n),
            };
            let mut payload = vec![0u8; usize::try_from(len).unwrap()];
            self.stream.read_exact(&mut payload).unwrap();
            if opcode >= 0x8 {
                assert_ne!(opcode, 0x8, "DevTools closed the connection");
                continue;
            }
            message.extend_from_slice(&payload);
            if fin {
                return serde_json::from_slice(&message).unwrap();
            }
        }
    }

    /// Sends a command and waits for its answer; events seen meanwhile go to `events`.
    fn call(&mut self, method: &str, params: Value, events: &mut Vec<String>) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"id": id, "method": method, "params": params}).to_string());
        loop {
            let message = self.receive();
            if message["id"] == id {
                assert!(message.get("error").is_none(), "{method}: {message}");
                return message["result"].clone();
            }
            if let Some(event) = message["method"].as_str() {
                events.push(event.to_string());
            }
        }
    }
}

/// The DOM of `url` loaded with scripts disabled.
pub fn dom_without_javascript(url: &str) -> String {
    let browser = Browser::start();
    let mut session = Session::open(browser.port, &browser.page_path());
    let mut events = Vec::new();
    session.call(
        "Emulation.setScriptExecutionDisabled",
        json!({"value": true}),
        &mut events,
    );
    session.call("Page.enable", json!({}), &mut events);
    events.clear();
    session.call("Page.navigate", json!({"url": url}), &mut events);
    while !events.iter().any(|e| e == "Page.loadEventFired") {
        if let Some(event) = session.receive()["method"].as_str() {
            events.push(event.to_string());
        }
    }
    let document = session.call("DOM.getDocument", json!({"depth": 0}), &mut events);
    let root = document["root"]["nodeId"].clone();
    let html = session.call("DOM.getOuterHTML", json!({"nodeId": root}), &mut events);
    html["outerHTML"].as_str().unwrap().to_string()
}

/// `tidy -q -e` on `html`: neither errors nor warnings.
pub fn tidy(name: &str, html: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("page.html");
    std::fs::write(&file, html).unwrap();
    let out = Command::new("tidy")
        .args(["-q", "-e"])
        .arg(Path::new(&file))
        .output()
        .unwrap_or_else(|e| missing("tidy", e));
    assert!(
        out.status.success(),
        "tidy on {name} ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
