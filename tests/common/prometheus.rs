//! A real Prometheus for tests (Debian package `prometheus`, `/usr/bin/prometheus`): started
//! on a free `127.0.0.1` port with a configuration and TSDB in a tempdir, scraping only
//! loopback targets every second and evaluating rules every second; queried over its HTTP
//! API with the kit's client; killed when dropped.
//!
//! The mirrorwatch instances it scrapes run in process ([`super::daemon::Daemon::spawn`] with a
//! [`super::scraped::Config`]).
//!
//! - [`tool`]: the path of `prometheus` or `promtool`, or `None` (after printing
//!   `SKIPPED: ...`) when missing and `MIRRORWATCH_SKIP_PROMTOOL=1`; missing otherwise is a
//!   failure that says what to install (CI installs it).
//! - [`Prometheus::start`]`(jobs, rule_files)`, then `wait_targets_up`, `query`,
//!   `query_range`, `wait_until`, `wait_rules_evaluated`, `alerts`.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use fakemirrors::client::fetch;

/// How long any condition may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(45);

/// The path of `name` (`prometheus`, `promtool`): `$PATH`, then `/usr/bin`. Missing: a
/// failure naming the package, or `None` with `MIRRORWATCH_SKIP_PROMTOOL=1`.
pub fn tool(name: &str) -> Option<PathBuf> {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path_var)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("MIRRORWATCH_SKIP_PROMTOOL").is_some(),
            "{name} not found: install the Debian package `prometheus` (or, for Alertmanager \
             and amtool, `prometheus-alertmanager`; CI installs both), or set \
             MIRRORWATCH_SKIP_PROMTOOL=1 to skip this test knowingly"
        );
        println!("SKIPPED: {name} not found and MIRRORWATCH_SKIP_PROMTOOL is set");
    }
    found
}

/// Starts `binary` (Prometheus or Alertmanager) in `dir` with `args`, on a free 127.0.0.1
/// port, its output in `dir/<name>.log`: the child and its base URL.
pub fn spawn_server(binary: &Path, dir: &Path, name: &str, args: &[String]) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let child = Command::new(binary)
        .current_dir(dir)
        .args(args)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    (child, format!("http://127.0.0.1:{port}"))
}

/// One instant-vector sample.
#[derive(Clone, Debug)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One range-query series.
#[derive(Clone, Debug)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub values: Vec<f64>,
}

/// A running Prometheus; killed (and its tempdir removed) on drop.
pub struct Prometheus {
    child: Child,
    pub base: String,
    dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn labels_of(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// `[time, "value"]` → the value (`NaN`, `+Inf` included).
fn value_of(pair: &Value) -> f64 {
    pair[1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn encode(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

impl Prometheus {
    /// Start Prometheus with one scrape job per `(name, targets)` (every target must be a
    /// `127.x` address) and these rule files; `None` when it is missing and may be skipped.
    pub async fn start(jobs: &[(&str, Vec<String>)], rule_files: &[PathBuf]) -> Option<Self> {
        Prometheus::start_alerting(jobs, rule_files, None).await
    }

    /// [`Prometheus::start`], sending its alerts to the Alertmanager at `alertmanager`
    /// (`127.x.y.z:port`) when given.
    pub async fn start_alerting(
        jobs: &[(&str, Vec<String>)],
        rule_files: &[PathBuf],
        alertmanager: Option<&str>,
    ) -> Option<Self> {
        let binary = tool("prometheus")?;
        let mut config = String::from(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n",
        );
        if let Some(target) = alertmanager {
            assert!(
                target.starts_with("127."),
                "not a loopback Alertmanager: {target}"
            );
            config.push_str(&format!(
                "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [{target:?}]\n"
            ));
        }
        config.push_str("rule_files:\n");
        for file in rule_files {
            config.push_str(&format!("  - {:?}\n", file.display().to_string()));
        }
        config.push_str("scrape_configs:\n");
        for (name, targets) in jobs {
            for t in targets {
                assert!(t.starts_with("127."), "not a loopback target: {t}");
            }
            config.push_str(&format!(
                "  - job_name: {name}\n    static_configs:\n      - targets: {targets:?}\n"
            ));
        }
        // A free port can be taken between our probe and Prometheus' bind: try again.
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("prometheus.yml"), &config).unwrap();
            let (child, base) = spawn_server(
                &binary,
                dir.path(),
                "prometheus",
                &[
                    "--config.file=prometheus.yml".into(),
                    format!("--storage.tsdb.path={}", dir.path().join("data").display()),
                ],
            );
            let mut prom = Prometheus { child, base, dir };
            if prom.wait_ready().await {
                return Some(prom);
            }
        }
        panic!("Prometheus did not start three times in a row");
    }

    /// Ready (true), or exited early, e.g. the port was taken (false).
    async fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Ok(r) = fetch(&format!("{}/-/ready", self.base)).await {
                if r.status == 200 {
                    return true;
                }
            }
            if self.child.try_wait().unwrap().is_some() {
                eprintln!("Prometheus exited early:\n{}", self.log());
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus not ready:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Prometheus' own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// `GET path` on the API: the `data` member, or Prometheus' error message.
    pub async fn api(&self, path: &str) -> Result<Value, String> {
        let r = fetch(&format!("{}{path}", self.base))
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = serde_json::from_slice(&r.body)
            .map_err(|e| format!("HTTP {}: {e}: {}", r.status, r.text()))?;
        if body["status"] != "success" {
            return Err(format!("{}: {}", body["errorType"], body["error"]));
        }
        Ok(body["data"].clone())
    }

    /// An instant query at the current time: vector samples (a scalar is one sample
    /// without labels).
    pub async fn query(&self, expr: &str) -> Result<Vec<Sample>, String> {
        let data = self
            .api(&format!("/api/v1/query?{}", encode(&[("query", expr)])))
            .await?;
        Ok(match data["resultType"].as_str() {
            Some("scalar") => vec![Sample {
                labels: BTreeMap::new(),
                value: value_of(&data["result"]),
            }],
            _ => data["result"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| Sample {
                    labels: labels_of(&s["metric"]),
                    value: value_of(&s["value"]),
                })
                .collect(),
        })
    }

    /// A range query over the last `seconds`, one point per `step` seconds.
    pub async fn query_range(
        &self,
        expr: &str,
        seconds: u32,
        step: u32,
    ) -> Result<Vec<Series>, String> {
        let end = now();
        let (start, end, step) = (
            format!("{:.3}", end - f64::from(seconds)),
            format!("{end:.3}"),
            step.to_string(),
        );
        let q = encode(&[
            ("query", expr),
            ("start", &start),
            ("end", &end),
            ("step", &step),
        ]);
        let data = self.api(&format!("/api/v1/query_range?{q}")).await?;
        Ok(data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| Series {
                labels: labels_of(&s["metric"]),
                values: s["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(value_of)
                    .collect(),
            })
            .collect())
    }

    /// Poll `expr` until `ok(samples)`; fail after [`DEADLINE`] with the last answer.
    pub async fn wait_until(&self, expr: &str, ok: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let answer = self.query(expr).await;
            if let Ok(samples) = &answer {
                if ok(samples) {
                    return samples.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "{expr}: condition not met; last answer {answer:?}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Wait until `n` targets are scraped and all are up.
    pub async fn wait_targets_up(&self, n: usize) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let data = self.api("/api/v1/targets?state=active").await;
            let health: Vec<String> = data
                .as_ref()
                .ok()
                .and_then(|d| d["activeTargets"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .map(|t| t["health"].as_str().unwrap_or_default().to_string())
                .collect();
            if health.len() == n && health.iter().all(|h| h == "up") {
                return;
            }
            assert!(Instant::now() < deadline, "targets not up: {data:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Wait until every loaded rule has been evaluated at least once (`health` no longer
    /// `unknown`); returns `(name, health, lastError)` per rule.
    pub async fn wait_rules_evaluated(&self) -> Vec<(String, String, String)> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let data = self.api("/api/v1/rules").await.unwrap();
            let rules: Vec<(String, String, String)> = data["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .map(|r| {
                    let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                    (s("name"), s("health"), s("lastError"))
                })
                .collect();
            if !rules.is_empty() && rules.iter().all(|(_, h, _)| h != "unknown") {
                return rules;
            }
            assert!(Instant::now() < deadline, "rules not evaluated: {rules:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Active alerts (pending and firing): `(labels, annotations, state)`.
    pub async fn alerts(&self) -> Vec<Alert> {
        let data = self.api("/api/v1/alerts").await.unwrap();
        data["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| Alert {
                labels: labels_of(&a["labels"]),
                annotations: labels_of(&a["annotations"]),
                state: a["state"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }

    /// Poll the active alerts until one named `name` whose labels include `labels` shows up.
    pub async fn wait_alert(&self, name: &str, labels: &[(&str, &str)]) -> Alert {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let alerts = self.alerts().await;
            if let Some(a) = alerts.iter().find(|a| a.is(name, labels)) {
                return a.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no alert {name} {labels:?}: {alerts:#?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// One active alert.
#[derive(Clone, Debug)]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub state: String,
}

impl Alert {
    /// Named `name`, with every label of `labels`.
    pub fn is(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.labels.get("alertname").map(String::as_str) == Some(name)
            && labels
                .iter()
                .all(|(k, v)| self.labels.get(*k).map(String::as_str) == Some(*v))
    }
}

/// A file of this repository, by path relative to its root.
pub fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}
