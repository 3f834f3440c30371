//! The `serve` section: where the HTTP server listens, how mirror lists are made, and the
//! limits that keep hostile or broken clients from taking the server down (timeouts, caps on
//! connections, the size of a request head). The limits are read when `serve` starts; a
//! reload does not change them.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};
use url::Url;

use super::diag::FileDiag;
use super::settings::duration;

/// The smallest `serve.max_header_bytes` accepted: a dnf request head is about 300 bytes,
/// and a proxy adds a few headers; below this, ordinary clients would be refused.
pub const MIN_HEADER_BYTES: u32 = 1024;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeSettings {
    pub listen: SocketAddr,
    /// Peers whose `X-Forwarded-For` is believed. They are also exempt from
    /// `max_connections_per_client`: a proxy carries many clients.
    #[serde(deserialize_with = "networks")]
    pub trusted_proxies: Vec<IpNet>,
    #[serde(deserialize_with = "super::counts::count")]
    pub mirrorlist_length: NonZeroU32,
    /// The same /24 (IPv4) or /64 (IPv6) gets the same answer for this long.
    #[serde(deserialize_with = "duration")]
    pub sticky_for: Duration,
    /// Copies behind upstream by at most this long are still offered to clients.
    #[serde(deserialize_with = "duration")]
    pub max_lag: Duration,
    /// Behind copies on the client's own network (subnet or ASN match) within this lag rank
    /// with the current copies of their group (capped at `max_lag`). `0s` turns it off.
    #[serde(deserialize_with = "duration")]
    pub own_network_max_lag: Duration,
    /// How often subnet lists published at a URL (`mirrors[].subnets: <URL>`) are fetched
    /// again, jittered by up to a tenth either way.
    #[serde(deserialize_with = "duration")]
    pub subnets_refresh: Duration,
    pub geoip_country_db: Option<PathBuf>,
    pub geoip_asn_db: Option<PathBuf>,
    /// A dashboard the status pages link each mirror to (`{mirror}` in it is replaced by
    /// the mirror's name); an http(s) URL.
    pub dashboard_url: Option<Url>,
    /// Show private mirrors (their names, addresses and verdicts) in the status API and
    /// pages to every client. Off by default: a client sees a private mirror there only from
    /// inside one of its subnets or ASNs, as in the mirror list.
    pub show_private_mirrors: bool,
    /// A request head must be complete this long after a new connection is accepted, or
    /// after its first byte arrived on a kept-alive connection.
    #[serde(deserialize_with = "duration")]
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request, and how long a
    /// response may wait for a client that does not read it.
    #[serde(deserialize_with = "duration")]
    pub idle_timeout: Duration,
    /// Connections open at once, at most (lowered at start to what the file-descriptor
    /// limit allows beside the probes).
    #[serde(deserialize_with = "super::counts::count")]
    pub max_connections: NonZeroU32,
    /// Connections open at once from one client address (IPv6: one /64), at most; above
    /// `max_connections` it changes nothing (so lowering that alone is enough).
    #[serde(deserialize_with = "super::counts::count")]
    pub max_connections_per_client: NonZeroU32,
    /// The request line and headers together, at most, in bytes (over: `431`).
    #[serde(deserialize_with = "super::counts::count")]
    pub max_header_bytes: NonZeroU32,
}

impl Default for ServeSettings {
    fn default() -> Self {
        let count = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        ServeSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 9184)),
            trusted_proxies: Vec::new(),
            mirrorlist_length: count(10),
            sticky_for: Duration::from_secs(3600),
            // Mirrors sync every few hours: without some allowance, every upstream release
            // would empty the list until each mirror had synced and been probed again.
            max_lag: Duration::from_secs(6 * 3600),
            // An ISP's or campus's own mirror an hour behind still beats a current one across
            // the world for most updates, but not for long: its users are the ones a security
            // update must reach first.
            own_network_max_lag: Duration::from_secs(3600),
            // Published lists change when an ISP renumbers: rarely, and never urgently.
            subnets_refresh: Duration::from_secs(3600),
            geoip_country_db: None,
            geoip_asn_db: None,
            dashboard_url: None,
            show_private_mirrors: false,
            // dnf sends its whole request at once: seconds are generous even over a slow
            // link, and a client holding a connection with half a header is cut off soon.
            header_read_timeout: Duration::from_secs(10),
            // Long enough for dnf to reuse its connection between the mirror list and the
            // metalink of a run, short enough that idle connections do not pile up.
            idle_timeout: Duration::from_secs(60),
            max_connections: count(4096),
            // A NAT'd campus running dnf opens a few at a time; one address holding more
            // than this is hoarding.
            max_connections_per_client: count(64),
            max_header_bytes: count(16 * 1024),
        }
    }
}

impl ServeSettings {
    /// The rules between the `serve` keys.
    pub(super) fn check(&self, diag: &mut FileDiag<'_>) {
        if self.max_header_bytes.get() < MIN_HEADER_BYTES {
            diag.error(
                "serve.max_header_bytes",
                format!("must be at least {MIN_HEADER_BYTES}"),
            );
        }
    }
}

/// serde adapter: a list of CIDRs or bare addresses, parsed like `mirrors[].subnets`.
fn networks<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(deserializer)?
        .iter()
        .map(|text| super::validate::parse_subnet(text).map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn errors(settings: &Settings) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut diag = FileDiag::new(std::path::Path::new("x.yaml"), "", &mut out);
        settings.check(&mut diag);
        out.into_iter().map(|d| (d.path, d.message)).collect()
    }

    #[test]
    fn limits_are_read_with_units_and_checked() {
        let serve: ServeSettings = serde_yaml::from_str(
            "header_read_timeout: 4s\nidle_timeout: 2m\nmax_connections: 100\nmax_connections_per_client: 10\nmax_header_bytes: 8192\n",
        )
        .unwrap();
        assert_eq!(serve.header_read_timeout, Duration::from_secs(4));
        assert_eq!(serve.idle_timeout, Duration::from_secs(120));
        assert_eq!(serve.max_connections.get(), 100);
        let mut settings = Settings {
            serve,
            ..Settings::default()
        };
        assert_eq!(errors(&settings), vec![]);
        settings.serve.max_header_bytes = NonZeroU32::new(512).unwrap();
        // Above max_connections: allowed, it changes nothing.
        settings.serve.max_connections_per_client = NonZeroU32::new(101).unwrap();
        settings.serve.idle_timeout = Duration::ZERO;
        let mut found = errors(&settings);
        found.sort();
        assert_eq!(
            found,
            vec![
                (
                    "serve.idle_timeout".to_string(),
                    "must be greater than zero".to_string()
                ),
                (
                    "serve.max_header_bytes".to_string(),
                    "must be at least 1024".to_string()
                ),
            ]
        );
    }
}
