//! Validation of one mirror entry. Our own format is strict: every problem is an error. AlmaLinux's
//! files are not ours to fix, so there a bad field is a warning and is dropped (a mirror left
//! with no usable http or https address is skipped, with a warning), and the other 529 mirrors
//! still load.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::diag::{join, FileDiag};
use super::geo::{continent_of, Continent};
use super::model::{Addresses, Coordinates, Layout, Mirror, Subnets};
use super::raw::{RawAddress, RawMirror, RawSubnets};
use super::validate::{is_name, parse_document_url, parse_subnet, parse_url};

/// How a mirror entry is read.
pub struct Dialect {
    /// Path of the country code, relative to the entry.
    pub country: &'static str,
    pub continent: &'static str,
    /// Imported files: problems are warnings and the bad value is dropped.
    pub lenient: bool,
}

pub const OURS: Dialect = Dialect {
    country: "country",
    continent: "continent",
    lenient: false,
};

pub const ALMALINUX: Dialect = Dialect {
    country: "geolocation.country",
    continent: "geolocation.continent",
    lenient: true,
};

/// Reports problems as errors or, for lenient dialects, as warnings.
struct Reporter<'d, 'a> {
    d: &'d mut FileDiag<'a>,
    lenient: bool,
    prefix: String,
}

impl Reporter<'_, '_> {
    fn path(&self, key: &str) -> String {
        if key.starts_with('[') {
            format!("{}{key}", self.prefix)
        } else {
            join(&self.prefix, key)
        }
    }

    fn problem(&mut self, key: &str, message: String) {
        let path = self.path(key);
        if self.lenient {
            self.d.warn(&path, format!("{message}; ignored"));
        } else {
            self.d.error(&path, message);
        }
    }
}

/// Validate one mirror found at `prefix` of the file behind `d`. `seen` maps lower-cased names
/// to where they were first defined, across all files. Without a (valid) layout the checks that
/// need one are skipped, so that a broken layout does not hide the mirrors' own mistakes.
pub fn validate(
    raw: RawMirror,
    prefix: &str,
    dialect: &Dialect,
    layout: Option<&Layout>,
    seen: &mut HashMap<String, String>,
    d: &mut FileDiag<'_>,
) -> Option<Mirror> {
    let errors_before = d.error_count();
    let origin = match d.locate(prefix) {
        Some((line, _)) => format!("{}:{line}", d.file().display()),
        None => d.file().display().to_string(),
    };
    let mut r = Reporter {
        d,
        lenient: dialect.lenient,
        prefix: prefix.to_string(),
    };
    let name_path = r.path("name");
    if !is_name(&raw.name) {
        let msg = format!(
            "{:?} is not a valid mirror name (letters, digits, '.', '-', '_')",
            raw.name
        );
        r.d.error(&name_path, msg);
    } else if let Some(first) = seen.get(&raw.name.to_ascii_lowercase()) {
        let msg = format!(
            "duplicate mirror name {:?} (first defined at {first})",
            raw.name
        );
        r.d.error(&name_path, msg);
    }
    let address = addresses(&raw.address, "address", &mut r);
    let mut modules = BTreeMap::new();
    for (module, raw_addr) in &raw.address_optional {
        let key = format!("address_optional.{module}");
        if !layout.is_none_or(|l| l.has_module(module)) {
            r.problem(&key, format!("the layout has no module {module:?}"));
            continue;
        }
        let addr = addresses(raw_addr, &key, &mut r);
        if addr.http.is_some() || addr.https.is_some() {
            modules.insert(module.clone(), addr);
        } else if r.lenient || (raw_addr.http.is_none() && raw_addr.https.is_none()) {
            r.problem(&key, "needs an http or https address".into());
        }
    }
    let country = raw
        .country
        .as_deref()
        .and_then(|code| country(code, dialect, &mut r));
    let continent = match &raw.continent {
        Some(code) => Continent::parse(code.trim()).or_else(|| {
            let msg = format!("{code:?} is not a continent code (AF, AN, AS, EU, NA, OC, SA)");
            r.problem(dialect.continent, msg);
            None
        }),
        None => None,
    }
    .or_else(|| country.as_deref().and_then(continent_of));
    let coordinates = raw.coordinates.as_ref().and_then(|c| {
        let ok = (-90.0..=90.0).contains(&c.latitude) && (-180.0..=180.0).contains(&c.longitude);
        if !ok {
            let msg = "latitude must be within ±90 and longitude within ±180".to_string();
            r.problem("coordinates", msg);
        }
        ok.then_some(Coordinates {
            latitude: c.latitude,
            longitude: c.longitude,
        })
    });
    let mut asns = Vec::new();
    for (i, asn) in raw.asn.iter().enumerate() {
        if *asn == 0 {
            r.problem(&format!("asn[{i}]"), "AS number 0 is reserved".into());
        } else {
            asns.push(*asn);
        }
    }
    let subnets = match &raw.subnets {
        None => Subnets::List(Vec::new()),
        Some(RawSubnets::Url(text)) => match parse_document_url(text, &["http", "https"]) {
            Ok(url) => Subnets::Url(url),
            Err(e) => {
                r.problem("subnets", e);
                Subnets::List(Vec::new())
            }
        },
        Some(RawSubnets::List(items)) => {
            let mut nets = Vec::new();
            for (i, text) in items.iter().enumerate() {
                match parse_subnet(text) {
                    Ok(net) => nets.push(net),
                    Err(e) => r.problem(&format!("subnets[{i}]"), e),
                }
            }
            Subnets::List(nets)
        }
    };
    let monopoly = raw.monopoly && (raw.private || !dialect.lenient);
    if raw.monopoly && !raw.private {
        let msg = "a monopoly mirror must also be private (private: true)";
        r.problem("monopoly", msg.into());
    }
    let repos = raw.repos.as_ref().map(|names| {
        let mut set = BTreeSet::new();
        for (i, name) in names.iter().enumerate() {
            if layout.is_none_or(|l| l.repo(name).is_some()) {
                set.insert(name.clone());
            } else {
                r.problem(
                    &format!("repos[{i}]"),
                    format!("repo {name:?} is not in the layout"),
                );
            }
        }
        set
    });
    let update_frequency = raw.update_frequency.filter(|f| {
        if f.is_zero() {
            r.problem("update_frequency", "must be greater than zero".into());
        }
        !f.is_zero()
    });
    if raw.address.http.is_none() && raw.address.https.is_none() {
        r.problem("address", "needs an http or https address".into());
    }
    if dialect.lenient && address.http.is_none() && address.https.is_none() {
        let path = r.path("address");
        r.d.warn(
            &path,
            "no usable http or https address; this mirror is skipped",
        );
        return None;
    }
    if r.d.error_count() != errors_before {
        return None;
    }
    // Only a mirror that loads reserves its name.
    seen.insert(raw.name.to_ascii_lowercase(), origin.clone());
    Some(Mirror {
        name: raw.name,
        address,
        modules,
        country,
        continent,
        state_province: raw.state_province,
        city: raw.city,
        coordinates,
        asns,
        subnets,
        private: raw.private,
        monopoly,
        repos,
        enabled: raw.enabled,
        update_frequency,
        sponsor: raw.sponsor,
        sponsor_url: raw.sponsor_url,
        email: raw.email,
        cloud_type: raw.cloud_type,
        cloud_regions: raw.cloud_regions,
        origin,
    })
}

/// An ISO 3166-1 alpha-2 code, upper-cased. Imported files also say `UK` for Great Britain.
fn country(code: &str, dialect: &Dialect, r: &mut Reporter<'_, '_>) -> Option<String> {
    let upper = code.trim().to_ascii_uppercase();
    if continent_of(&upper).is_some() {
        return Some(upper);
    }
    if upper == "UK" {
        if dialect.lenient {
            let path = r.path(dialect.country);
            r.d.warn(&path, "\"UK\" is not an ISO 3166-1 code; read as \"GB\"");
            return Some("GB".into());
        }
        let msg = "\"UK\" is not an ISO 3166-1 alpha-2 country code (Great Britain is \"GB\")";
        r.problem(dialect.country, msg.into());
        return None;
    }
    let msg = format!("{code:?} is not an ISO 3166-1 alpha-2 country code");
    r.problem(dialect.country, msg);
    None
}

/// The addresses of one tree. A URL whose scheme does not match its key is a problem; in a
/// lenient dialect it is moved to the key its scheme names when that one is free.
fn addresses(raw: &RawAddress, key: &str, r: &mut Reporter<'_, '_>) -> Addresses {
    let mut out = Addresses::default();
    for (proto, other, value) in [("http", "https", &raw.http), ("https", "http", &raw.https)] {
        let Some(text) = value else { continue };
        let path = join(key, proto);
        match parse_url(text, &[proto]) {
            Ok(url) => *slot(&mut out, proto) = Some(url),
            Err(e) => match parse_url(text, &[other]) {
                // A lenient reader keeps an https:// URL written under `http:` (and the
                // reverse) when the key its scheme names is free.
                Ok(url)
                    if r.lenient
                        && slot(&mut out, other).is_none()
                        && raw_slot(raw, other).is_none() =>
                {
                    let full = r.path(&path);
                    r.d.warn(&full, format!("{e}; used as the {other} address"));
                    *slot(&mut out, other) = Some(url);
                }
                _ => r.problem(&path, e),
            },
        }
    }
    if let Some(text) = &raw.rsync {
        let t = text.trim();
        let host_module = t
            .split_once("::")
            .is_some_and(|(h, _)| !h.is_empty() && !h.contains('/'));
        if t.starts_with("rsync://") || host_module {
            out.rsync = Some(t.to_string());
        } else {
            r.problem(
                &join(key, "rsync"),
                format!("{text:?} must be rsync://HOST/PATH or HOST::MODULE"),
            );
        }
    }
    if let Some(text) = &raw.ftp {
        match parse_url(text, &["ftp"]) {
            Ok(url) => out.ftp = Some(url.to_string()),
            Err(e) => r.problem(&join(key, "ftp"), e),
        }
    }
    out
}

fn slot<'a>(out: &'a mut Addresses, proto: &str) -> &'a mut Option<url::Url> {
    if proto == "http" {
        &mut out.http
    } else {
        &mut out.https
    }
}

fn raw_slot<'a>(raw: &'a RawAddress, proto: &str) -> &'a Option<String> {
    if proto == "http" {
        &raw.http
    } else {
        &raw.https
    }
}
