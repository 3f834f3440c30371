//! A simulated AlmaLinux-shaped mirror network on this machine, with a known ground truth:
//! what `mirrorwatch simulate` and `demo` serve, what tests score mirrorwatch's verdicts
//! against, and what benchmarks probe.
//!
//! The network: an upstream (`127.9.0.1`) that publishes new revisions of a few repos every
//! `publish_every`; mirrors on their own `127.x.y.1` addresses (and `[::1]`, one port each,
//! for those with IPv6) that follow it after their own delay; a name server (`127.9.0.2`)
//! that knows the mirrors' names; and a control address (`127.9.0.3`) serving the ground
//! truth. Faults are given in proportions and assigned with a seed, so a run is repeatable.
//! Nothing binds or connects outside 127.0.0.0/8 and `::1`.
//!
//! Parts: [`layout`] (what to serve, as the caller describes it), `setup` (starting it all),
//! `network` with `store` and `site` (the state and its changes), `clock` (when they
//! happen), `server` (HTTP and HTTPS), `revision` (one copy of the metadata per revision),
//! [`faults`], [`truth`] and `control` (the ground truth and where it is served), `config`
//! (the generated `mirrors.yaml`) and `certs`; the name server is [`crate::dns`].

mod certs;
mod clock;
mod config;
mod control;
pub mod faults;
pub mod layout;
mod network;
mod revision;
mod server;
mod setup;
mod site;
mod store;
pub mod truth;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use faults::{FaultKind, FaultMix};
pub use layout::{Dir, Layout};
pub use truth::Truth;

use crate::dns::DnsServer;
use crate::tls::TlsError;
use truth::Condition;

use network::Network;

const UPSTREAM_IP: Ipv4Addr = Ipv4Addr::new(127, 9, 0, 1);
const DNS_IP: Ipv4Addr = Ipv4Addr::new(127, 9, 0, 2);
const CONTROL_IP: Ipv4Addr = Ipv4Addr::new(127, 9, 0, 3);
/// Countries the mirrors are spread over (one wildcard certificate name each).
const COUNTRIES: [&str; 20] = [
    "DE", "US", "FR", "GB", "NL", "SE", "FI", "CZ", "PL", "JP", "SG", "IN", "AU", "BR", "ZA", "CA",
    "KR", "ES", "IT", "CH",
];
/// The most mirrors one simulation runs (the product's scale target).
pub const MAX_MIRRORS: usize = 10_000;

/// Mirror `i`'s IPv4 address: `127.10.0.1`, `127.10.1.1`, ... 250 per second octet.
pub fn mirror_ip(i: usize) -> Ipv4Addr {
    let (hi, lo) = (i / 250, i % 250);
    Ipv4Addr::new(127, (10 + hi).min(255) as u8, (lo + 1) as u8, 1)
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub mirrors: usize,
    pub faults: FaultMix,
    pub seed: u64,
    pub layout: Layout,
    pub publish_every: Duration,
    /// At most this many publications, then the upstream is quiet; `None`: no end.
    pub publications: Option<u32>,
    /// `probe.interval` and `freshness.upstream_interval` of the generated configuration.
    pub probe_interval: Duration,
    pub upstream_interval: Duration,
    /// `probe.full_every` of the generated configuration; `None` leaves the daemon's default.
    pub full_every: Option<Duration>,
    /// Faults begin at seeded times between the start and this long after it.
    pub fault_onset: Duration,
    /// The share of mirrors with IPv6 (an AAAA record), when `::1` can be used at all.
    pub ipv6_share: f64,
    /// `serve.listen` of the generated configuration.
    pub listen: SocketAddr,
    /// Also write the configuration here (it is always in the working directory).
    pub write_config: Option<PathBuf>,
    /// Where the ground truth is kept written (default: `truth.json` in the working directory).
    pub truth_file: Option<PathBuf>,
    /// The working directory (CA, state, configuration); a fresh temporary one by default,
    /// removed when the simulation stops.
    pub work_dir: Option<PathBuf>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            mirrors: 30,
            faults: FaultMix::default(),
            seed: 1,
            layout: Layout::default(),
            publish_every: Duration::from_secs(120),
            publications: None,
            probe_interval: Duration::from_secs(30),
            upstream_interval: Duration::from_secs(10),
            full_every: None,
            fault_onset: Duration::ZERO,
            ipv6_share: 0.5,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 9184)),
            write_config: None,
            truth_file: None,
            work_dir: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{0}")]
    Options(String),
    #[error("cannot load the layout:\n{0}")]
    Layout(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SimError {
    let context = context.into();
    move |source| SimError::Io { context, source }
}

/// A running simulation; stopped by [`Simulation::stop`] (or, without waiting, on drop).
pub struct Simulation {
    net: Arc<Network>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    _dns: DnsServer,
    control: SocketAddr,
    config_path: PathBuf,
    truth_path: PathBuf,
    work_dir: PathBuf,
    own_work_dir: bool,
    ipv6: bool,
}

impl Simulation {
    /// Build the network, write its `mirrors.yaml` and start serving; returns once every
    /// address answers. The clock starts now: the first publication is `publish_every` away.
    pub async fn start(options: SimOptions) -> Result<Simulation, SimError> {
        setup::start(options).await
    }

    /// The generated configuration (the `--write-config` file when one was given).
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The file the ground truth is kept written to.
    pub fn truth_path(&self) -> &Path {
        &self.truth_path
    }

    /// `http://127.9.0.3:PORT/truth.json`.
    pub fn truth_url(&self) -> String {
        format!("http://{}/truth.json", self.control)
    }

    /// The upstream's base URL.
    pub fn upstream_url(&self) -> String {
        format!(
            "http://{}:{}/almalinux/",
            self.net.upstream.ipv4, self.net.upstream.port
        )
    }

    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// Whether the network has IPv6 (`::1` could be bound).
    pub fn ipv6(&self) -> bool {
        self.ipv6
    }

    /// The mirrors' names, in order.
    pub fn mirror_names(&self) -> Vec<String> {
        self.net.mirrors.iter().map(|m| m.name.clone()).collect()
    }

    /// The ground truth now.
    pub fn truth(&self) -> Truth {
        truth::build(&self.net, None)
    }

    /// The network in a few lines: size, timing, and which mirror has which fault.
    pub fn describe(&self) -> String {
        let truth = self.truth();
        let with_v6 = truth.mirrors.iter().filter(|m| m.ipv6.is_some()).count();
        let mut text = format!(
            "{} simulated mirrors ({} with IPv6) on 127.10.x.1{}, upstream {} publishing every {}; seed {}\n",
            truth.mirrors.len(),
            with_v6,
            if self.ipv6() { " and [::1]" } else { "" },
            self.upstream_url(),
            humantime::format_duration(Duration::from_secs_f64(truth.publish_every_seconds)),
            truth.seed,
        );
        let mut faults: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for m in &truth.mirrors {
            let kind = match (&m.condition, &m.planned) {
                (Condition::Healthy, None) => continue,
                (Condition::Healthy, Some(p)) => p.kind.to_string(),
                (c, _) => serde_json::to_value(c)
                    .ok()
                    .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
                    .unwrap_or_default(),
            };
            faults.entry(kind).or_default().push(m.name.clone());
        }
        if faults.is_empty() {
            text.push_str("  faults: none\n");
        }
        // A big network lists the first few; the ground truth has them all.
        for (kind, names) in faults {
            let more = match names.len() {
                n if n > 8 => format!(" and {} more", n - 8),
                _ => String::new(),
            };
            let shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
            let _ = writeln!(text, "  {kind:<12} {}{more}", shown.join(", "));
        }
        text
    }

    /// Stop serving and wait (a few seconds at most) for every task; the working directory
    /// is removed if the simulation made it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.tasks.wait()).await;
        if self.own_work_dir {
            let _ = std::fs::remove_dir_all(&self.work_dir);
        }
    }
}

impl Drop for Simulation {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
