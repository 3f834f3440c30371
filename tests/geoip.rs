//! GeoIP from MaxMind DB files built here (mmdb-writer): `GeoIp::client` for each network of
//! a tiny City and ASN database, and the mirror list over real HTTP from a daemon (in process)
//! that locates its clients with them, through `X-Forwarded-For` from a trusted proxy.
//! Loopback only: the databases place 127.0.0.0/16 in Germany (AS64500), 127.1.0.0/16 in the
//! United States and ::1 in Japan.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::daemon::Daemon;
use fakemirrors::client::{fetch, fetch_with};
use fakemirrors::{Network, RepoTree};
use mirrorwatch::config::geo::Continent;
use mirrorwatch::config::Coordinates;
use mirrorwatch::daemon::StartError;
use mirrorwatch::geoip::GeoIp;
use mirrorwatch::select::Client;
use mmdb_writer::ipnet::IpNet;
use mmdb_writer::{Value, Writer};
use tokio_util::sync::CancellationToken;

const DIR: &str = "9.8/BaseOS/x86_64/os/";
const BERLIN: Coordinates = Coordinates {
    latitude: 52.52,
    longitude: 13.40,
};

fn place(continent: &str, country: &str, at: Option<Coordinates>) -> Value {
    let mut entries = vec![
        (
            "continent".to_string(),
            Value::map([("code", Value::from(continent))]),
        ),
        (
            "country".to_string(),
            Value::map([
                ("iso_code", Value::from(country)),
                (
                    "names",
                    Value::map([("en", Value::from(format!("Country {country}")))]),
                ),
            ]),
        ),
    ];
    if let Some(at) = at {
        entries.push((
            "location".to_string(),
            Value::map([
                ("latitude", Value::from(at.latitude)),
                ("longitude", Value::from(at.longitude)),
                ("accuracy_radius", Value::from(100_u16)),
            ]),
        ));
    }
    Value::map(entries)
}

fn write(path: &Path, mut writer: Writer, rows: Vec<(&str, Value)>) {
    for (net, value) in rows {
        writer
            .insert_value(net.parse::<IpNet>().unwrap(), value)
            .unwrap();
    }
    std::fs::write(path, writer.to_bytes().unwrap()).unwrap();
}

/// `city.mmdb` (GeoLite2-City format), `country.mmdb` (GeoLite2-Country: no locations) and
/// `asn.mmdb` (GeoLite2-ASN) in `dir`.
fn write_databases(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let city = dir.join("city.mmdb");
    let country = dir.join("country.mmdb");
    let asn = dir.join("asn.mmdb");
    write(
        &city,
        Writer::new("GeoLite2-City"),
        vec![
            ("127.0.0.0/16", place("EU", "DE", Some(BERLIN))),
            ("127.1.0.0/16", place("NA", "US", None)),
            ("::1/128", place("AS", "JP", None)),
        ],
    );
    write(
        &country,
        Writer::new("GeoLite2-Country"),
        vec![
            ("127.0.0.0/16", place("EU", "DE", None)),
            ("127.1.0.0/16", place("NA", "US", None)),
            ("::1/128", place("AS", "JP", None)),
        ],
    );
    write(
        &asn,
        Writer::new("GeoLite2-ASN"),
        vec![(
            "127.0.0.0/16",
            Value::map([
                ("autonomous_system_number", Value::from(64500_u32)),
                ("autonomous_system_organization", Value::from("Example AS")),
            ]),
        )],
    );
    (city, country, asn)
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn lookups_for_each_network() {
    let dir = tempfile::tempdir().unwrap();
    let (city, country, asn) = write_databases(dir.path());
    let geo = GeoIp::open(Some(&city), Some(&asn)).unwrap().unwrap();

    let de = geo.client(ip("127.0.3.4"));
    assert_eq!(
        de,
        Client {
            addr: ip("127.0.3.4"),
            country: Some("DE".into()),
            continent: Some(Continent::EU),
            asn: Some(64500),
            coordinates: Some(BERLIN),
        }
    );
    let us = geo.client(ip("127.1.200.1"));
    assert_eq!(us.country.as_deref(), Some("US"));
    assert_eq!(us.continent, Some(Continent::NA));
    assert_eq!((us.asn, us.coordinates), (None, None));
    let jp = geo.client(ip("::1"));
    assert_eq!(jp.country.as_deref(), Some("JP"));
    assert_eq!(jp.continent, Some(Continent::AS));
    assert_eq!(jp.asn, None);
    // IPv4-mapped IPv6 (what a dual-stack socket reports) is looked up as IPv4.
    let mapped = geo.client(ip("::ffff:127.1.0.9"));
    assert_eq!(mapped.country.as_deref(), Some("US"));
    assert_eq!(mapped.addr, ip("::ffff:127.1.0.9"));
    // No record: nothing known, and nothing panics anywhere in either address space.
    for addr in [
        "127.2.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "::",
        "::2",
        "2001:db8::1",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ] {
        assert_eq!(geo.client(ip(addr)), Client::new(ip(addr)), "{addr}");
    }

    // The Country format: the same places, no coordinates.
    let geo = GeoIp::open(Some(&country), None).unwrap().unwrap();
    let de = geo.client(ip("127.0.3.4"));
    assert_eq!(de.country.as_deref(), Some("DE"));
    assert_eq!(de.continent, Some(Continent::EU));
    assert_eq!((de.asn, de.coordinates), (None, None));

    // The ASN database alone.
    let geo = GeoIp::open(None, Some(&asn)).unwrap().unwrap();
    let de = geo.client(ip("127.0.3.4"));
    assert_eq!((de.country, de.asn), (None, Some(64500)));
}

/// mirrors.yaml with the mirrors given as YAML lines (without the URL), GeoIP databases by
/// relative path and 127.0.0.1 as the trusted proxy.
fn config_text(net: &Network, mirrors: &[&str], serve: &str) -> String {
    let mut text = format!(
        "upstream:\n  urls: [\"{}\"]\nlayout:\n  versions: [\"9.8\"]\n  aliases: {{\"9\": \"9.8\"}}\n  arches: {{\"9\": [x86_64]}}\n  repos:\n    - {{name: baseos, path: BaseOS/$basearch/os/}}\nmirrors:\n",
        net.upstream.base_url()
    );
    for (i, extra) in mirrors.iter().enumerate() {
        text.push_str(&format!(
            "  - name: m{i}\n    address: {{http: \"{}\"}}\n    {extra}\n",
            net.mirror(i).base_url()
        ));
    }
    text.push_str("probe:\n  dns_servers: [\"127.0.0.1:1\"]\n  ip_families: [ipv4]\n  interval: 30s\n  timeout: 2s\n  connect_timeout: 1s\nstate:\n  path: state.json\n");
    text.push_str(serve);
    text
}

const SERVE: &str = "serve:\n  trusted_proxies: [\"127.0.0.1/32\"]\n  geoip_country_db: city.mmdb\n  geoip_asn_db: asn.mmdb\n";

/// The daemon on `net` with GeoIP, its databases and configuration in a new tempdir.
async fn start(net: &Network, mirrors: &[&str]) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    write_databases(dir.path());
    Daemon::start_in(dir, &config_text(net, mirrors, SERVE)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_behind_a_proxy_get_their_own_mirrors_first() {
    let net = Network::start(4).await;
    net.publish(DIR, &RepoTree::new(1_700_000_000, "r"));
    let d = start(
        &net,
        &[
            // Munich and Berlin: the German client (in Berlin) gets m1 before m0.
            "country: DE\n    coordinates: {latitude: 48.14, longitude: 11.58}",
            "country: DE\n    coordinates: {latitude: 52.50, longitude: 13.30}",
            "country: US",
            // Far away, but inside the German client's AS.
            "country: JP\n    asn: [64500]",
        ],
    )
    .await;
    let url = |i: usize| format!("{}{DIR}", net.mirror(i).base_url());
    let list = |forwarded_for: &'static str, query: &'static str| {
        let target = format!("{}/mirrorlist/9/baseos?arch=x86_64{query}", d.base);
        async move {
            let r = fetch_with(&target, "GET", &[("X-Forwarded-For", forwarded_for)])
                .await
                .unwrap();
            assert_eq!(r.status, 200, "{}", r.text());
            r.text().lines().map(str::to_string).collect::<Vec<_>>()
        }
    };

    // Germany, AS64500: the AS first, then the country nearest first, then the rest.
    let de = list("192.0.2.1, 127.0.9.9", "").await;
    assert_eq!(de, [url(3), url(1), url(0), url(2)], "{de:?}");
    // A proxy chain may arrive as several header lines: they count as one list.
    let split = fetch_with(
        &format!("{}/mirrorlist/9/baseos?arch=x86_64", d.base),
        "GET",
        &[
            ("X-Forwarded-For", "192.0.2.1"),
            ("X-Forwarded-For", "127.0.9.9"),
        ],
    )
    .await
    .unwrap();
    let split: Vec<String> = split.text().lines().map(str::to_string).collect();
    assert_eq!(split, de, "{split:?}");
    // The United States.
    let us = list("127.1.9.9", "").await;
    assert_eq!(us.len(), 4, "{us:?}");
    assert_eq!(us[0], url(2), "{us:?}");
    // `country=` overrides where GeoIP places the client, not its AS.
    let asked = list("127.0.9.9", "&country=us").await;
    assert_eq!(asked[..2], [url(3), url(2)], "{asked:?}");
    // Without a trusted proxy's word the peer itself (127.0.0.1: Germany) is located.
    let peer = fetch(&format!("{}/mirrorlist/9/baseos?arch=x86_64", d.base))
        .await
        .unwrap();
    let peer: Vec<String> = peer.text().lines().map(str::to_string).collect();
    assert_eq!(peer, [url(3), url(1), url(0), url(2)], "{peer:?}");

    // The metalink places clients the same way.
    let r = fetch_with(
        &format!("{}/metalink?repo=baseos-9&arch=x86_64", d.base),
        "GET",
        &[("X-Forwarded-For", "127.1.9.9")],
    )
    .await
    .unwrap();
    let xml = r.text();
    let first = xml.find("<url ").unwrap();
    assert!(
        xml[first..].starts_with("<url protocol=\"http\" type=\"http\" location=\"US\""),
        "{xml}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_database_stops_the_start() {
    let net = Network::start(1).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("asn.mmdb"), b"this is not a MaxMind DB").unwrap();
    let file = dir.path().join("mirrors.yaml");
    std::fs::write(
        &file,
        config_text(&net, &["country: DE"], "serve:\n  geoip_asn_db: asn.mmdb\n"),
    )
    .unwrap();
    let config = Arc::new(mirrorwatch::config::load(&file).unwrap().config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = CancellationToken::new();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        mirrorwatch::run(config, listener, shutdown.clone()),
    )
    .await
    .expect("run returns at once");
    shutdown.cancel();
    let err = result.unwrap_err();
    assert!(matches!(err, StartError::GeoIp(_)), "{err:?}");
    let text = err.to_string();
    let path = dir.path().join("asn.mmdb");
    assert!(
        text.starts_with(&format!(
            "serve.geoip_asn_db: cannot read GeoIP database {}: ",
            path.display()
        )),
        "{text}"
    );
}
