//! GeoIP: where a client is, from MaxMind DB files (`serve.geoip_country_db`,
//! `serve.geoip_asn_db`). Both are optional; without them the mirror list still matches
//! subnets and honours `country=`.
//!
//! - The country database may be GeoLite2-Country or GeoLite2-City (or a compatible one such
//!   as GeoIP2-Country/-City or DB-IP's lite databases): `country.iso_code` (else
//!   `registered_country.iso_code`), `continent.code` and, in City databases,
//!   `location.latitude`/`longitude` are read. `traits.autonomous_system_number` (present in
//!   GeoIP2-Enterprise) stands in for the ASN when the ASN database has none.
//! - The ASN database is GeoLite2-ASN (or GeoIP2-ISP): `autonomous_system_number`.
//!
//! Both files are read whole into memory when the daemon starts (never memory-mapped: a file
//! replaced or truncated by an updater would change under the reader). Lookups are on the
//! request path: pure in-memory tree walks that decode only the few fields above, no I/O and no
//! lock. A lookup that fails (an address the database cannot hold, a damaged record) leaves
//! the fields it would have filled `None`; it never panics and never fails the request.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use maxminddb::{MaxMindDbError, Reader};
use serde::Deserialize;

use crate::config::geo::{continent_of, Continent};
use crate::config::Coordinates;
use crate::select::Client;

/// Why a GeoIP database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    #[error("{key}: cannot read GeoIP database {}: {source}", path.display())]
    Open {
        /// The configuration key that names the file (`serve.geoip_country_db`, ...).
        key: &'static str,
        path: PathBuf,
        source: MaxMindDbError,
    },
    #[error(
        "{key}: {} is a {database_type:?} database, not {expected} (are the two paths swapped?)",
        path.display()
    )]
    WrongKind {
        key: &'static str,
        path: PathBuf,
        database_type: String,
        expected: &'static str,
    },
}

/// The opened GeoIP databases; at least one of the two is present.
pub struct GeoIp {
    /// Country or City format.
    place: Option<Reader<Vec<u8>>>,
    /// ASN format.
    asn: Option<Reader<Vec<u8>>>,
}

impl fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind =
            |r: &Option<Reader<Vec<u8>>>| r.as_ref().map(|r| r.metadata().database_type.clone());
        f.debug_struct("GeoIp")
            .field("place", &kind(&self.place))
            .field("asn", &kind(&self.asn))
            .finish()
    }
}

const COUNTRY_KEY: &str = "serve.geoip_country_db";
const ASN_KEY: &str = "serve.geoip_asn_db";

/// What a database's `database_type` suggests it holds. Only a clear mismatch (an ASN
/// database named as the country database, or the other way round) is refused: other vendors'
/// compatible databases have other names.
fn looks_like_asn(database_type: &str) -> bool {
    let t = database_type.to_ascii_lowercase();
    t.contains("asn") || t.contains("isp")
}

fn looks_like_place(database_type: &str) -> bool {
    let t = database_type.to_ascii_lowercase();
    t.contains("country") || t.contains("city") || t.contains("enterprise")
}

fn read(key: &'static str, path: &Path) -> Result<Reader<Vec<u8>>, GeoIpError> {
    let reader = Reader::open_readfile(path).map_err(|source| GeoIpError::Open {
        key,
        path: path.to_path_buf(),
        source,
    })?;
    let meta = reader.metadata();
    let (wrong, expected) = if key == ASN_KEY {
        (
            looks_like_place(&meta.database_type) && !looks_like_asn(&meta.database_type),
            "an ASN database (GeoLite2-ASN)",
        )
    } else {
        (
            looks_like_asn(&meta.database_type) && !looks_like_place(&meta.database_type),
            "a country or city database (GeoLite2-Country or GeoLite2-City)",
        )
    };
    if wrong {
        return Err(GeoIpError::WrongKind {
            key,
            path: path.to_path_buf(),
            database_type: meta.database_type.clone(),
            expected,
        });
    }
    tracing::info!(
        key,
        path = %path.display(),
        database_type = %meta.database_type,
        ip_version = meta.ip_version,
        build_epoch = meta.build_epoch,
        "GeoIP database loaded"
    );
    Ok(reader)
}

impl GeoIp {
    /// Read the configured databases into memory. `Ok(None)` when neither is configured; an
    /// unreadable or clearly wrong file is an error naming its key and path.
    pub fn open(
        country_db: Option<&Path>,
        asn_db: Option<&Path>,
    ) -> Result<Option<GeoIp>, GeoIpError> {
        if country_db.is_none() && asn_db.is_none() {
            return Ok(None);
        }
        let place = country_db.map(|p| read(COUNTRY_KEY, p)).transpose()?;
        let asn = asn_db.map(|p| read(ASN_KEY, p)).transpose()?;
        Ok(Some(GeoIp { place, asn }))
    }

    /// Everything the databases say about `addr`. An IPv4-mapped IPv6 address is looked up
    /// as IPv4; `addr` itself is kept as given. Missing records leave fields `None`.
    pub fn client(&self, addr: IpAddr) -> Client {
        let mut client = Client::new(addr);
        let ip = addr.to_canonical();
        let mut traits_asn = None;
        if let Some(place) = self
            .place
            .as_ref()
            .and_then(|r| lookup::<PlaceRecord>(r, ip))
        {
            let country = place
                .country
                .and_then(|c| c.iso_code)
                .or_else(|| place.registered_country.and_then(|c| c.iso_code))
                .and_then(country_code);
            client.continent = place
                .continent
                .and_then(|c| c.code)
                .and_then(Continent::parse)
                .or_else(|| country.as_deref().and_then(continent_of));
            client.country = country;
            client.coordinates = place.location.and_then(LocationRecord::coordinates);
            traits_asn = place.traits.and_then(|t| t.autonomous_system_number);
        }
        let asn = self
            .asn
            .as_ref()
            .and_then(|r| lookup::<AsnRecord>(r, ip))
            .and_then(|r| r.autonomous_system_number);
        // AS 0 is reserved ("no AS"); mirrors cannot name it either.
        client.asn = asn.or(traits_asn).filter(|&n| n != 0);
        client
    }
}

/// The record for `ip`, decoded into `T`, or `None` (no record, or a lookup error).
fn lookup<'a, T: Deserialize<'a>>(reader: &'a Reader<Vec<u8>>, ip: IpAddr) -> Option<T> {
    // An IPv6 address is simply not in an IPv4-only database.
    if ip.is_ipv6() && reader.metadata().ip_version == 4 {
        return None;
    }
    match reader.lookup(ip).and_then(|found| found.decode::<T>()) {
        Ok(record) => record,
        Err(error) => {
            tracing::debug!(%ip, %error, database_type = %reader.metadata().database_type, "GeoIP lookup failed");
            None
        }
    }
}

/// An ISO 3166-1 alpha-2 code, upper case; anything else (empty, longer) is no country.
fn country_code(code: &str) -> Option<String> {
    (code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| code.to_ascii_uppercase())
}

/// The fields read from a Country or City record; everything else is skipped.
#[derive(Deserialize)]
struct PlaceRecord<'a> {
    #[serde(borrow)]
    country: Option<CountryRecord<'a>>,
    #[serde(borrow)]
    registered_country: Option<CountryRecord<'a>>,
    #[serde(borrow)]
    continent: Option<ContinentRecord<'a>>,
    location: Option<LocationRecord>,
    traits: Option<TraitsRecord>,
}

#[derive(Deserialize)]
struct CountryRecord<'a> {
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct ContinentRecord<'a> {
    code: Option<&'a str>,
}

#[derive(Deserialize)]
struct LocationRecord {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

impl LocationRecord {
    /// Both coordinates, when present and in range.
    fn coordinates(self) -> Option<Coordinates> {
        let latitude = self.latitude.filter(|v| (-90.0..=90.0).contains(v))?;
        let longitude = self.longitude.filter(|v| (-180.0..=180.0).contains(v))?;
        Some(Coordinates {
            latitude,
            longitude,
        })
    }
}

#[derive(Deserialize)]
struct TraitsRecord {
    autonomous_system_number: Option<u32>,
}

#[derive(Deserialize)]
struct AsnRecord {
    autonomous_system_number: Option<u32>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
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
}
