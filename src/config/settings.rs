//! The settings sections of `mirrors.yaml` (`probe`, `freshness`, `health`, `serve` — in
//! [`super::serve`] —, `metrics`, `state`): each deserializes strictly (unknown keys are
//! errors) with a default for every key, then [`Settings::check`] enforces the rules between
//! keys.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::counts::COUNTS;
use super::diag::FileDiag;
pub use super::serve::ServeSettings;

/// Which IP family a probe is pinned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    Ipv4,
    Ipv6,
}

impl IpFamily {
    pub fn as_str(self) -> &'static str {
        match self {
            IpFamily::Ipv4 => "ipv4",
            IpFamily::Ipv6 => "ipv6",
        }
    }
}

/// The protocols that are probed (rsync and ftp addresses are recorded, never probed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Http,
    Https,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeSettings {
    /// Every mirror is swept once per interval: the files that may have changed (see
    /// [`crate::probe::due`]) and a share of the others.
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    /// Every repomd.xml of every mirror is checked at least once per `full_every`; when not
    /// given, the larger of 15 minutes and `interval` (see [`ProbeSettings::full_every`]).
    #[serde(deserialize_with = "opt_duration")]
    pub full_every: Option<Duration>,
    /// Bound on one whole request, from DNS to the last body byte.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// Requests in flight across all mirrors.
    #[serde(deserialize_with = "super::counts::count")]
    pub concurrency: NonZeroU32,
    /// Requests in flight to one mirror host.
    #[serde(deserialize_with = "super::counts::count")]
    pub per_host: NonZeroU32,
    #[serde(deserialize_with = "super::counts::count")]
    pub max_body_bytes: NonZeroU64,
    pub max_redirects: u32,
    pub ip_families: Vec<IpFamily>,
    pub protocols: Vec<Protocol>,
    /// Also fetch `<address>/TIME`, the epoch AlmaLinux publishes at a mirror's root.
    pub time_file: bool,
    /// Name servers for the resolver; empty means the system's (`/etc/resolv.conf`).
    pub dns_servers: Vec<SocketAddr>,
    /// PEM files of extra certificate authorities to trust besides the system's (a private
    /// CA, or a test CA); relative paths are taken from the configuration file's directory.
    pub ca_files: Vec<PathBuf>,
    pub user_agent: String,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            interval: Duration::from_secs(300),
            full_every: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            concurrency: NonZeroU32::new(64).unwrap_or(NonZeroU32::MIN),
            per_host: NonZeroU32::new(4).unwrap_or(NonZeroU32::MIN),
            max_body_bytes: NonZeroU64::new(1024 * 1024).unwrap_or(NonZeroU64::MIN),
            max_redirects: 3,
            ip_families: vec![IpFamily::Ipv4, IpFamily::Ipv6],
            protocols: vec![Protocol::Https, Protocol::Http],
            time_file: false,
            dns_servers: Vec::new(),
            ca_files: Vec::new(),
            user_agent: format!("mirrorwatch/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// `probe.full_every` when the file does not set it, unless `probe.interval` is longer.
pub const FULL_EVERY: Duration = Duration::from_secs(15 * 60);

impl ProbeSettings {
    /// How often every file of a mirror is checked at least: `full_every` as written (never
    /// below `interval`, which validation demands), or the larger of [`FULL_EVERY`] and
    /// `interval`.
    pub fn full_every(&self) -> Duration {
        self.full_every.unwrap_or(FULL_EVERY).max(self.interval)
    }

    /// The sweeps a full rotation takes: `full_every / interval`, rounded down; at least 1,
    /// since `full_every()` is never below `interval`. A file is then checked at least every
    /// `rotation() × interval` ≤ `full_every`.
    pub fn rotation(&self) -> NonZeroU32 {
        let sweeps = self
            .full_every()
            .as_nanos()
            .checked_div(self.interval.as_nanos());
        let sweeps = sweeps.map_or(1, |s| u32::try_from(s).unwrap_or(u32::MAX));
        NonZeroU32::new(sweeps).unwrap_or(NonZeroU32::MIN)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FreshnessSettings {
    /// How often the upstream repomd.xml files are polled.
    #[serde(deserialize_with = "duration")]
    pub upstream_interval: Duration,
    /// A copy whose lag exceeds this is stale (AlmaLinux allows 12 h).
    #[serde(deserialize_with = "duration")]
    pub stale_after: Duration,
    /// Distinct upstream versions remembered per (version, repo, arch).
    #[serde(deserialize_with = "super::counts::count")]
    pub history: NonZeroU32,
    /// Check that the files a new repomd.xml references exist with their stated size.
    pub check_data_files: bool,
}

impl Default for FreshnessSettings {
    fn default() -> Self {
        FreshnessSettings {
            upstream_interval: Duration::from_secs(60),
            stale_after: Duration::from_secs(12 * 3600),
            history: NonZeroU32::new(64).unwrap_or(NonZeroU32::MIN),
            check_data_files: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthSettings {
    /// Consecutive failed sweeps before a mirror (family) is down.
    #[serde(deserialize_with = "super::counts::count")]
    pub down_after: NonZeroU32,
    /// Consecutive successful sweeps before it is up again.
    #[serde(deserialize_with = "super::counts::count")]
    pub up_after: NonZeroU32,
    /// Window of the rolling success ratio and latency percentiles.
    #[serde(deserialize_with = "duration")]
    pub window: Duration,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            down_after: NonZeroU32::new(3).unwrap_or(NonZeroU32::MIN),
            up_after: NonZeroU32::MIN,
            window: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Export one series per (mirror, version, repo, arch); off by default (530 × 136 series).
    pub per_repo: bool,
    /// Label put on everything this instance exports, e.g. `eu-west`.
    pub vantage: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateSettings {
    /// The state file; relative paths are taken from the configuration file's directory.
    pub path: Option<PathBuf>,
    #[serde(deserialize_with = "duration")]
    pub save_interval: Duration,
}

impl Default for StateSettings {
    fn default() -> Self {
        StateSettings {
            path: Some(PathBuf::from("mirrorwatch-state.json")),
            save_interval: Duration::from_secs(60),
        }
    }
}

/// All settings sections together.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {
    pub probe: ProbeSettings,
    pub freshness: FreshnessSettings,
    pub health: HealthSettings,
    pub serve: ServeSettings,
    pub metrics: MetricsSettings,
    pub state: StateSettings,
    /// The counts ([`COUNTS`]) the file wrote as 0: taken out before their section was read
    /// (see [`super::counts::take_zero_counts`]), so they hold their defaults, and reported
    /// by [`Settings::check`] with the other broken rules.
    pub zero_counts: Vec<&'static str>,
}

impl Settings {
    /// The rules between keys. Each broken rule is reported; nothing stops at the first.
    pub fn check(&self, diag: &mut FileDiag<'_>) {
        let p = &self.probe;
        let durations = [
            ("probe.interval", p.interval),
            ("probe.timeout", p.timeout),
            ("probe.connect_timeout", p.connect_timeout),
            (
                "freshness.upstream_interval",
                self.freshness.upstream_interval,
            ),
            ("freshness.stale_after", self.freshness.stale_after),
            ("health.window", self.health.window),
            ("serve.sticky_for", self.serve.sticky_for),
            ("serve.subnets_refresh", self.serve.subnets_refresh),
            ("serve.header_read_timeout", self.serve.header_read_timeout),
            ("serve.idle_timeout", self.serve.idle_timeout),
            ("state.save_interval", self.state.save_interval),
        ];
        for (path, value) in durations {
            if value.is_zero() {
                diag.error(path, "must be greater than zero");
            }
        }
        if !p.timeout.is_zero() && p.timeout >= p.interval {
            diag.error(
                "probe.timeout",
                format!(
                    "must be below probe.interval ({} is not below {})",
                    humantime::format_duration(p.timeout),
                    humantime::format_duration(p.interval)
                ),
            );
        }
        if let Some(full_every) = p.full_every {
            if full_every < p.interval {
                diag.error(
                    "probe.full_every",
                    format!(
                        "must not be below probe.interval ({} is below {}); equal to it, every file is checked in every sweep",
                        humantime::format_duration(full_every),
                        humantime::format_duration(p.interval)
                    ),
                );
            }
        }
        if p.connect_timeout > p.timeout {
            diag.error("probe.connect_timeout", "must not exceed probe.timeout");
        }
        for path in COUNTS {
            if self.zero_counts.contains(&path) {
                diag.error(path, "must be at least 1");
            }
        }
        if !self.freshness.stale_after.is_zero() && self.serve.max_lag > self.freshness.stale_after
        {
            diag.error(
                "serve.max_lag",
                "must not exceed freshness.stale_after: stale mirrors are never offered",
            );
        }
        self.serve.check(diag);
        if p.max_redirects > 10 {
            diag.error("probe.max_redirects", "must be at most 10");
        }
        if has_duplicates(&p.ip_families) {
            diag.error("probe.ip_families", "lists a family twice");
        }
        if has_duplicates(&p.protocols) {
            diag.error("probe.protocols", "lists a protocol twice");
        }
        if p.ip_families.is_empty() {
            diag.error("probe.ip_families", "must name at least one of ipv4, ipv6");
        }
        if p.protocols.is_empty() {
            diag.error("probe.protocols", "must name at least one of http, https");
        }
        if let Some(url) = &self.serve.dashboard_url {
            if !matches!(url.scheme(), "http" | "https") {
                diag.error(
                    "serve.dashboard_url",
                    format!("{url} is not an http(s) URL"),
                );
            }
        }
        let vantage = &self.metrics.vantage;
        if !vantage
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            diag.error(
                "metrics.vantage",
                format!("{vantage:?} may only contain letters, digits, '-', '_' and '.'"),
            );
        }
    }
}

fn has_duplicates<T: Ord + Copy>(items: &[T]) -> bool {
    let mut sorted = items.to_vec();
    sorted.sort();
    sorted.windows(2).any(|w| w[0] == w[1])
}

/// Parse a human duration (`30s`, `5m`, `12h`, `1d`, `1h 30m`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|_| {
        format!("invalid duration {text:?}: write a positive duration such as 30s, 5m, 12h or 1d")
    })
}

/// serde adapter for [`parse_duration`]; numbers are refused because their unit is ambiguous.
pub fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = Duration;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a duration such as 30s, 5m or 12h")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
            parse_duration(v).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(Visitor)
}

/// serde adapter for an optional duration.
pub fn opt_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapper(#[serde(deserialize_with = "duration")] Duration);
    Option::<Wrapper>::deserialize(deserializer).map(|w| w.map(|Wrapper(d)| d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_only() {
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("5").is_err());
    }

    #[test]
    fn defaults_pass_their_own_rules() {
        let mut out = Vec::new();
        let mut diag = FileDiag::new(std::path::Path::new("x.yaml"), "", &mut out);
        Settings::default().check(&mut diag);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn timeout_must_be_below_interval() {
        let mut out = Vec::new();
        let mut diag = FileDiag::new(std::path::Path::new("x.yaml"), "", &mut out);
        let mut settings = Settings::default();
        settings.probe.timeout = settings.probe.interval;
        settings.check(&mut diag);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].path, "probe.timeout");
    }

    #[test]
    fn full_every_is_never_below_the_interval() {
        let mut settings = Settings::default();
        // Not written: 15 minutes, or the interval when that is longer.
        assert_eq!(settings.probe.full_every(), FULL_EVERY);
        assert_eq!(settings.probe.rotation().get(), 3);
        settings.probe.interval = Duration::from_secs(3600);
        assert_eq!(settings.probe.full_every(), Duration::from_secs(3600));
        assert_eq!(settings.probe.rotation().get(), 1);
        // Rounded down: a file is never left longer than full_every.
        settings.probe.interval = Duration::from_secs(60);
        settings.probe.full_every = Some(Duration::from_secs(150));
        assert_eq!(settings.probe.rotation().get(), 2);
        // Written below the interval: refused, by name.
        settings.probe.full_every = Some(Duration::from_secs(30));
        let mut out = Vec::new();
        let mut diag = FileDiag::new(std::path::Path::new("x.yaml"), "", &mut out);
        settings.check(&mut diag);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].path, "probe.full_every");
    }
}
