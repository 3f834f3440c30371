use super::*;
use mmdb_writer::ipnet::IpNet;
use mmdb_writer::{IpVersion, Value, Writer};

fn write(dir: &Path, name: &str, mut writer: Writer, rows: Vec<(&str, Value)>) -> PathBuf {
    for (net, value) in rows {
        writer
            .insert_value(net.parse::<IpNet>().unwrap(), value)
            .unwrap();
    }
    let path = dir.join(name);
    std::fs::write(&path, writer.to_bytes().unwrap()).unwrap();
    path
}

fn code(key: &str, code: &str) -> (String, Value) {
    (
        key.to_string(),
        Value::map([("iso_code", Value::from(code))]),
    )
}

#[test]
fn nothing_configured_is_none() {
    assert!(GeoIp::open(None, None).unwrap().is_none());
}

#[test]
fn unreadable_files_name_key_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.mmdb");
    let err = GeoIp::open(Some(&missing), None).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("serve.geoip_country_db: cannot read GeoIP database "),
        "{text}"
    );
    assert!(text.contains("missing.mmdb"), "{text}");
    let garbage = dir.path().join("garbage.mmdb");
    std::fs::write(&garbage, b"not a database").unwrap();
    let text = GeoIp::open(None, Some(&garbage)).unwrap_err().to_string();
    assert!(
        text.starts_with("serve.geoip_asn_db: cannot read GeoIP database "),
        "{text}"
    );
    let empty = dir.path().join("empty.mmdb");
    std::fs::write(&empty, b"").unwrap();
    assert!(GeoIp::open(Some(&empty), None).is_err());
}

#[test]
fn swapped_databases_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let asn = write(
        dir.path(),
        "asn.mmdb",
        Writer::new("GeoLite2-ASN"),
        vec![(
            "10.0.0.0/8",
            Value::map([("autonomous_system_number", Value::from(64500_u32))]),
        )],
    );
    let country = write(
        dir.path(),
        "country.mmdb",
        Writer::new("GeoLite2-Country"),
        vec![("10.0.0.0/8", Value::map([code("country", "DE")]))],
    );
    let err = GeoIp::open(Some(&asn), Some(&country)).unwrap_err();
    assert!(
        matches!(
            err,
            GeoIpError::WrongKind {
                key: "serve.geoip_country_db",
                ..
            }
        ),
        "{err}"
    );
    let err = GeoIp::open(None, Some(&country)).unwrap_err();
    assert!(err.to_string().contains("not an ASN database"), "{err}");
    // Other vendors' names are accepted.
    let dbip = write(
        dir.path(),
        "dbip.mmdb",
        Writer::new("DBIP-Location"),
        vec![("10.0.0.0/8", Value::map([code("country", "DE")]))],
    );
    let geo = GeoIp::open(Some(&dbip), Some(&asn)).unwrap().unwrap();
    let c = geo.client("10.1.2.3".parse().unwrap());
    assert_eq!((c.country.as_deref(), c.asn), (Some("DE"), Some(64500)));
}

#[test]
fn odd_records_leave_fields_empty() {
    let dir = tempfile::tempdir().unwrap();
    let place = write(
        dir.path(),
        "city.mmdb",
        Writer::new("GeoLite2-City"),
        vec![
            // Lower case, an unknown continent code: the continent is derived.
            (
                "10.0.0.0/24",
                Value::map([
                    code("country", "fr"),
                    (
                        "continent".to_string(),
                        Value::map([("code", Value::from("XX"))]),
                    ),
                ]),
            ),
            // Only the registered country; coordinates out of range; an ASN in traits.
            (
                "10.0.1.0/24",
                Value::map([
                    code("registered_country", "BR"),
                    (
                        "location".to_string(),
                        Value::map([
                            ("latitude", Value::from(95.0_f64)),
                            ("longitude", Value::from(10.0_f64)),
                        ]),
                    ),
                    (
                        "traits".to_string(),
                        Value::map([("autonomous_system_number", Value::from(64511_u32))]),
                    ),
                ]),
            ),
            // Not a code, and a field of the wrong type: the record cannot be read.
            ("10.0.2.0/24", Value::map([code("country", "Germany")])),
            (
                "10.0.3.0/24",
                Value::map([("country".to_string(), Value::from("DE"))]),
            ),
        ],
    );
    let geo = GeoIp::open(Some(&place), None).unwrap().unwrap();
    let c = geo.client("10.0.0.1".parse().unwrap());
    assert_eq!(c.country.as_deref(), Some("FR"));
    assert_eq!(c.continent, Some(Continent::EU));
    let c = geo.client("10.0.1.1".parse().unwrap());
    assert_eq!(c.country.as_deref(), Some("BR"));
    assert_eq!(c.continent, Some(Continent::SA));
    assert_eq!(c.coordinates, None);
    assert_eq!(c.asn, Some(64511));
    let c = geo.client("10.0.2.1".parse().unwrap());
    assert_eq!((c.country, c.continent), (None, None));
    let addr: IpAddr = "10.0.3.1".parse().unwrap();
    assert_eq!(geo.client(addr), Client::new(addr));
    // Outside every network.
    let addr: IpAddr = "192.0.2.1".parse().unwrap();
    assert_eq!(geo.client(addr), Client::new(addr));
}

#[test]
fn ipv4_only_database_and_any_address() {
    let dir = tempfile::tempdir().unwrap();
    let asn = write(
        dir.path(),
        "asn.mmdb",
        Writer::builder("GeoLite2-ASN")
            .ip_version(IpVersion::V4)
            .build(),
        vec![(
            "10.0.0.0/8",
            Value::map([("autonomous_system_number", Value::from(64500_u32))]),
        )],
    );
    let geo = GeoIp::open(None, Some(&asn)).unwrap().unwrap();
    assert_eq!(geo.client("10.9.9.9".parse().unwrap()).asn, Some(64500));
    // IPv4-mapped IPv6 is looked up as IPv4; the address is kept as given.
    let mapped: IpAddr = "::ffff:10.9.9.9".parse().unwrap();
    let c = geo.client(mapped);
    assert_eq!((c.addr, c.asn), (mapped, Some(64500)));
    // IPv6 in an IPv4 database: nothing, and no panic.
    assert_eq!(geo.client("2001:db8::1".parse().unwrap()).asn, None);
    // Every corner of both address spaces.
    for addr in [
        "0.0.0.0",
        "255.255.255.255",
        "::",
        "::1",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "2002:a00::1",
    ] {
        let _ = geo.client(addr.parse().unwrap());
    }
}
