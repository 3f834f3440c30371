//! What serde reads, before validation: strings where the model has URLs, CIDRs and codes, so
//! that validation can report every bad value with its own path instead of stopping at the first.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub urls: Vec<String>,
    #[serde(default)]
    pub modules: BTreeMap<String, Vec<String>>,
}

/// `almalinux:` — read AlmaLinux's `config.yml` and `mirrors.d/` unchanged.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlmaLinux {
    pub config: PathBuf,
    pub mirrors_dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLayout {
    pub versions: Vec<String>,
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    pub arches: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub modules: BTreeMap<String, Vec<String>>,
    pub repos: Vec<RawRepo>,
    pub vault: Option<RawVault>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRepo {
    pub name: String,
    pub path: String,
    pub versions: Option<Vec<String>>,
    pub arches: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub vault: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVault {
    pub url: String,
    #[serde(default)]
    pub versions: Vec<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAddress {
    pub http: Option<String>,
    pub https: Option<String>,
    pub rsync: Option<String>,
    pub ftp: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCoordinates {
    pub latitude: f64,
    pub longitude: f64,
}

/// A mirror entry of our own format. AlmaLinux's per-mirror files are converted into this.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMirror {
    pub name: String,
    pub address: RawAddress,
    #[serde(default)]
    pub address_optional: BTreeMap<String, RawAddress>,
    pub country: Option<String>,
    pub continent: Option<String>,
    pub state_province: Option<String>,
    pub city: Option<String>,
    pub coordinates: Option<RawCoordinates>,
    #[serde(default, deserialize_with = "asn_list")]
    pub asn: Vec<u32>,
    pub subnets: Option<RawSubnets>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub private: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub monopoly: bool,
    pub repos: Option<Vec<String>>,
    #[serde(default = "yes", deserialize_with = "lenient_bool")]
    pub enabled: bool,
    #[serde(default, deserialize_with = "super::settings::opt_duration")]
    pub update_frequency: Option<Duration>,
    pub sponsor: Option<String>,
    pub sponsor_url: Option<String>,
    pub email: Option<String>,
    pub cloud_type: Option<String>,
    #[serde(default)]
    pub cloud_regions: Vec<String>,
}

fn yes() -> bool {
    true
}

/// `subnets:` is a list of CIDRs, or one URL where the mirror publishes its list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, expecting = "a list of CIDRs or a URL")]
pub enum RawSubnets {
    List(Vec<String>),
    Url(String),
}

/// `asn: 64500` or `asn: [64500, 64501]`.
pub fn asn_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "an AS number or a list of AS numbers")]
    enum OneOrMany {
        One(u32),
        Many(Vec<u32>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(n) => vec![n],
        OneOrMany::Many(v) => v,
    })
}

/// A boolean, also in the YAML 1.1 spellings real mirror files use (`yes`, `no`, `on`, `off`).
pub fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("true or false")
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<bool, E> {
            match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" => Ok(true),
                "false" | "no" | "off" => Ok(false),
                _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
            }
        }
    }
    deserializer.deserialize_any(Visitor)
}
