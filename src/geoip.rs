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
    let open = |source| GeoIpError::Open {
        key,
        path: path.to_path_buf(),
        source,
    };
    // Read through `files`, so that a FIFO in its place is refused rather than waited on.
    let bytes = crate::files::read(path).map_err(|e| open(MaxMindDbError::Io(e)))?;
    let reader = Reader::from_source(bytes).map_err(open)?;
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
mod tests;
