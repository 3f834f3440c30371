//! AlmaLinux's own files, read unchanged: `config.yml` (the layout) and `mirrors.d/*.yml` (one
//! mirror each). Real files carry typos (`address_options`), repeated keys (`sponsor_url` twice)
//! and YAML 1.1 booleans (`private: no`): unknown and repeated keys are warnings here, never
//! errors, because the files are not ours to fix.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use super::diag::{join, Diagnostic, FileDiag};
use super::model::{Layout, Mirror};
use super::raw::{lenient_bool, RawAddress, RawLayout, RawMirror, RawRepo, RawSubnets, RawVault};
use super::validate::{self, LayoutKeys};
use super::{parse_document, section};

const ALMALINUX_LAYOUT: LayoutKeys = LayoutKeys {
    versions: "versions",
    aliases: "duplicated_versions",
    arches: "arches",
    modules: "optional_module_versions",
    repos: "repos",
    vault_url: "vault_mirror",
    vault_versions: "vault_versions",
};

const CONFIG_KEYS: &[&str] = &[
    "config_version",
    "allowed_outdate",
    "mirrors_dir",
    "versions",
    "optional_module_versions",
    "duplicated_versions",
    "vault_versions",
    "vault_mirror",
    "arches",
    "required_protocols",
    "repos",
];

const MIRROR_KEYS: &[&str] = &[
    "name",
    "address",
    "address_optional",
    "update_frequency",
    "sponsor",
    "sponsor_url",
    "email",
    "geolocation",
    "asn",
    "subnets",
    "private",
    "monopoly",
    "cloud_type",
    "cloud_regions",
];
const ADDRESS_KEYS: &[&str] = &["http", "https", "rsync", "ftp"];
const GEOLOCATION_KEYS: &[&str] = &["country", "state_province", "city", "continent"];

#[derive(Debug, Deserialize)]
struct AlmaConfig {
    #[serde(default)]
    allowed_outdate: Option<String>,
    #[serde(default)]
    mirrors_dir: Option<PathBuf>,
    versions: Vec<String>,
    #[serde(default)]
    optional_module_versions: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    duplicated_versions: BTreeMap<String, String>,
    #[serde(default)]
    vault_versions: Vec<String>,
    #[serde(default)]
    vault_mirror: Option<String>,
    arches: BTreeMap<String, Vec<String>>,
    repos: Vec<RawRepo>,
}

#[derive(Debug, Deserialize)]
struct AlmaMirror {
    name: String,
    address: RawAddress,
    #[serde(default)]
    address_optional: Option<BTreeMap<String, RawAddress>>,
    #[serde(default, deserialize_with = "super::settings::opt_duration")]
    update_frequency: Option<Duration>,
    sponsor: Option<String>,
    sponsor_url: Option<String>,
    email: Option<String>,
    geolocation: Option<AlmaGeolocation>,
    #[serde(default, deserialize_with = "super::raw::asn_list")]
    asn: Vec<u32>,
    subnets: Option<RawSubnets>,
    #[serde(default, deserialize_with = "lenient_bool")]
    private: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    monopoly: bool,
    cloud_type: Option<String>,
    cloud_regions: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
struct AlmaGeolocation {
    country: Option<String>,
    state_province: Option<String>,
    city: Option<String>,
    continent: Option<String>,
}

/// The layout from `config.yml`, plus its `allowed_outdate` and resolved `mirrors_dir`.
pub struct ImportedLayout {
    pub layout: Layout,
    pub allowed_outdate: Option<Duration>,
    pub mirrors_dir: Option<PathBuf>,
}

/// Read `config.yml`. Errors and warnings go to `out`; `None` when it cannot be used.
pub fn load_layout(file: &Path, out: &mut Vec<Diagnostic>) -> Option<ImportedLayout> {
    let text = read(file, out)?;
    let mut d = FileDiag::new(file, &text, out);
    let map = tolerant_mapping(&text, &mut d)?;
    let map = keep_known(map, "", CONFIG_KEYS, &mut d);
    let raw: AlmaConfig = section(Value::Mapping(map), "", &mut d)?;
    let allowed_outdate = raw.allowed_outdate.as_deref().and_then(|text| {
        super::settings::parse_duration(text)
            .and_then(|lag| match lag.is_zero() {
                true => Err("must be greater than zero".to_string()),
                false => Ok(lag),
            })
            .map_err(|e| d.error("allowed_outdate", e))
            .ok()
    });
    // `versions` lists majors and full versions; the majors are the keys of duplicated_versions.
    let versions = raw
        .versions
        .into_iter()
        .filter(|v| !raw.duplicated_versions.contains_key(v))
        .collect();
    let layout = RawLayout {
        versions,
        aliases: raw.duplicated_versions,
        arches: raw.arches,
        modules: raw.optional_module_versions,
        repos: raw.repos,
        vault: raw.vault_mirror.map(|url| RawVault {
            url,
            versions: raw.vault_versions,
        }),
    };
    let layout = validate::layout(layout, &ALMALINUX_LAYOUT, &mut d)?;
    let base = file.parent().unwrap_or(Path::new("."));
    Some(ImportedLayout {
        layout,
        allowed_outdate,
        mirrors_dir: raw.mirrors_dir.map(|dir| base.join(dir)),
    })
}

/// Read every `*.yml`/`*.yaml` file of `dir`, in name order.
pub fn load_mirrors(
    dir: &Path,
    layout: &Layout,
    seen: &mut HashMap<String, String>,
    out: &mut Vec<Diagnostic>,
) -> Vec<Mirror> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
            .collect(),
        Err(e) => {
            let mut d = FileDiag::new(dir, "", out);
            d.error("", format!("cannot read mirrors directory: {e}"));
            return Vec::new();
        }
    };
    files.sort();
    files
        .iter()
        .filter_map(|file| load_mirror(file, layout, seen, out))
        .collect()
}

fn load_mirror(
    file: &Path,
    layout: &Layout,
    seen: &mut HashMap<String, String>,
    out: &mut Vec<Diagnostic>,
) -> Option<Mirror> {
    let text = read(file, out)?;
    let mut d = FileDiag::new(file, &text, out);
    let mut map = tolerant_mapping(&text, &mut d)?;
    for (key, known) in [("address", ADDRESS_KEYS), ("geolocation", GEOLOCATION_KEYS)] {
        if let Some(Value::Mapping(inner)) = map.remove(key) {
            map.insert(
                key.into(),
                Value::Mapping(keep_known(inner, key, known, &mut d)),
            );
        }
    }
    if let Some(Value::Mapping(modules)) = map.remove("address_optional") {
        let mut cleaned = Mapping::new();
        for (module, value) in modules {
            let value = match value {
                Value::Mapping(inner) => {
                    let path = join("address_optional", &key_text(&module));
                    Value::Mapping(keep_known(inner, &path, ADDRESS_KEYS, &mut d))
                }
                other => other,
            };
            cleaned.insert(module, value);
        }
        map.insert("address_optional".into(), Value::Mapping(cleaned));
    }
    let map = keep_known(map, "", MIRROR_KEYS, &mut d);
    let raw: AlmaMirror = section(Value::Mapping(map), "", &mut d)?;
    let geo = raw.geolocation.unwrap_or_default();
    let mirror = RawMirror {
        name: raw.name,
        address: raw.address,
        address_optional: raw.address_optional.unwrap_or_default(),
        country: geo.country,
        continent: geo.continent,
        state_province: geo.state_province,
        city: geo.city,
        coordinates: None,
        asn: raw.asn,
        subnets: raw.subnets,
        private: raw.private,
        monopoly: raw.monopoly,
        repos: None,
        enabled: true,
        update_frequency: raw.update_frequency,
        sponsor: raw.sponsor,
        sponsor_url: raw.sponsor_url,
        email: raw.email,
        cloud_type: raw.cloud_type,
        cloud_regions: raw.cloud_regions.unwrap_or_default(),
    };
    super::mirror::validate(
        mirror,
        "",
        &super::mirror::ALMALINUX,
        Some(layout),
        seen,
        &mut d,
    )
}

/// The largest AlmaLinux file read, in bytes: `config.yml` and every `mirrors.d` file (a
/// few KB each; these are third-party input).
const MAX_FILE_BYTES: u64 = 1 << 20;

fn read(file: &Path, out: &mut Vec<Diagnostic>) -> Option<String> {
    match crate::files::read_to_string_at_most(file, MAX_FILE_BYTES) {
        Ok(text) => Some(text),
        Err(e) => {
            FileDiag::new(file, "", out).error("", format!("cannot read: {e}"));
            None
        }
    }
}

/// The top-level mapping of a file, keeping the last of repeated keys (with a warning), as
/// AlmaLinux's own Python loader does.
fn tolerant_mapping(text: &str, d: &mut FileDiag<'_>) -> Option<Mapping> {
    let pairs: Pairs = parse_document(text, d)?;
    let mut map = Mapping::new();
    for (key, value) in pairs.0 {
        if map.contains_key(&key) {
            let name = key_text(&key);
            d.warn(
                &name,
                format!("key `{name}` is repeated; the last value is used"),
            );
        }
        map.insert(key, value);
    }
    Some(map)
}

/// Drop (with a warning) the keys of `map` that are not in `known`.
fn keep_known(map: Mapping, prefix: &str, known: &[&str], d: &mut FileDiag<'_>) -> Mapping {
    map.into_iter()
        .filter(|(key, _)| {
            let name = key_text(key);
            let ok = known.contains(&name.as_str());
            if !ok {
                d.warn(
                    &join(prefix, &name),
                    format!("unknown key `{name}` is ignored"),
                );
            }
            ok
        })
        .collect()
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

/// A mapping read as its list of entries, so that repeated keys survive parsing.
struct Pairs(Vec<(Value, Value)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_unit<E>(self) -> Result<Pairs, E> {
                Ok(Pairs(Vec::new()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Pairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    pairs.push(entry);
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}
