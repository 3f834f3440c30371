//! Configuration: `mirrors.yaml` (our format, strict) and AlmaLinux's `config.yml` + `mirrors.d/`
//! (read unchanged, lenient). Text is parsed by serde_norway into raw types ([`raw`]), validated
//! into a model that cannot be invalid ([`model`]), and every problem is reported at once with
//! file, line:column and field path ([`diag`]).
//!
//! Reference: `docs/configuration.md`.

pub mod almalinux;
mod counts;
pub mod diag;
pub mod geo;
pub mod mirror;
pub mod model;
pub mod raw;
pub mod serve;
pub mod settings;
pub mod validate;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_yaml::Value;

pub use diag::{ConfigError, Diagnostic, Severity};
pub use model::{
    Addresses, Arch, Config, Coordinates, Layout, Mirror, Repo, Subnets, Target, Upstream, Vault,
    Version,
};
pub use settings::{IpFamily, Protocol, Settings};

use diag::FileDiag;
use raw::{RawAlmaLinux, RawLayout, RawMirror, RawUpstream};

/// The top-level keys of `mirrors.yaml`.
const TOP_LEVEL: &[&str] = &[
    "upstream",
    "almalinux",
    "layout",
    "mirrors",
    "probe",
    "freshness",
    "health",
    "serve",
    "metrics",
    "state",
];

/// A valid configuration and the warnings met while loading it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
}

/// Load and validate `path` (and the AlmaLinux files it points at).
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let mut out = Vec::new();
    let config = load_into(path, &mut out);
    let failed = out.iter().any(|d| d.severity == Severity::Error);
    match config {
        Some(config) if !failed => Ok(Loaded {
            config,
            warnings: out,
        }),
        _ => Err(ConfigError { diagnostics: out }),
    }
}

/// The largest configuration file read, in bytes: 10,000 mirrors take about 1.2 MB.
/// Parsing costs a few tens of times the file's size in memory, so this bound keeps a
/// runaway file from costing the daemon gigabytes on a reload.
pub const MAX_CONFIG_BYTES: u64 = 8 << 20;

fn load_into(path: &Path, out: &mut Vec<Diagnostic>) -> Option<Config> {
    let text = match crate::files::read_to_string_at_most(path, MAX_CONFIG_BYTES) {
        Ok(text) => text,
        Err(e) => {
            FileDiag::new(path, "", out).error("", format!("cannot read: {e}"));
            return None;
        }
    };
    let mut d = FileDiag::new(path, &text, out);
    let root: Value = parse_document(&text, &mut d)?;
    let mut root = match root {
        Value::Mapping(map) => map,
        Value::Null => {
            d.error(
                "",
                "the file is empty: it needs at least `upstream` and `mirrors`",
            );
            return None;
        }
        _ => {
            d.error(
                "",
                "the top level must be a mapping of keys such as `upstream` and `mirrors`",
            );
            return None;
        }
    };
    for key in root.keys() {
        let name = key.as_str().unwrap_or("?");
        if !TOP_LEVEL.contains(&name) {
            let expected: Vec<String> = TOP_LEVEL.iter().map(|k| format!("`{k}`")).collect();
            d.error(
                name,
                format!(
                    "unknown field `{name}`, expected one of {}",
                    expected.join(", ")
                ),
            );
        }
    }
    let is_set = |section: &str, key: &str| root.get(section).and_then(|s| s.get(key)).is_some();
    let stale_after_set = is_set("freshness", "stale_after");
    let max_lag_set = is_set("serve", "max_lag");
    let mut take = |key: &str| root.remove(key).filter(|v| !v.is_null());

    let upstream = take("upstream");
    let almalinux = take("almalinux");
    let layout_value = take("layout");
    let mirrors_value = take("mirrors");
    let mut settings = Settings::default();
    let zeros = &mut settings.zero_counts;
    read_section(take("probe"), "probe", &mut settings.probe, zeros, &mut d);
    let freshness = &mut settings.freshness;
    read_section(take("freshness"), "freshness", freshness, zeros, &mut d);
    read_section(
        take("health"),
        "health",
        &mut settings.health,
        zeros,
        &mut d,
    );
    read_section(take("serve"), "serve", &mut settings.serve, zeros, &mut d);
    read_section(
        take("metrics"),
        "metrics",
        &mut settings.metrics,
        zeros,
        &mut d,
    );
    read_section(take("state"), "state", &mut settings.state, zeros, &mut d);

    let base = path.parent().unwrap_or(Path::new("."));
    let almalinux_given = almalinux.is_some();
    let almalinux: Option<RawAlmaLinux> = almalinux.and_then(|v| section(v, "almalinux", &mut d));
    let mut imported_mirrors_dir = None;
    let layout = match (&almalinux, layout_value) {
        (Some(_), Some(_)) => {
            d.error("layout", "`layout` cannot be used together with `almalinux.config`, which supplies the layout");
            None
        }
        (None, None) => {
            if !almalinux_given {
                d.error("", "missing field `layout` (or `almalinux.config`)");
            }
            None
        }
        (None, Some(value)) => section::<RawLayout>(value, "layout", &mut d)
            .and_then(|raw| validate::layout(raw, &validate::OUR_LAYOUT, &mut d)),
        (Some(alma), None) => {
            let file = base.join(&alma.config);
            // The imported files report into the same list, under their own names.
            let mut inner = Vec::new();
            let imported = almalinux::load_layout(&file, &mut inner);
            d.extend(inner);
            imported.map(|imported| {
                if !stale_after_set {
                    if let Some(lag) = imported.allowed_outdate {
                        settings.freshness.stale_after = lag;
                    }
                }
                imported_mirrors_dir = match &alma.mirrors_dir {
                    Some(dir) => Some(base.join(dir)),
                    None => imported.mirrors_dir.clone(),
                };
                if imported_mirrors_dir.is_none() {
                    d.error(
                        "almalinux.mirrors_dir",
                        "not given, and config.yml names no mirrors_dir",
                    );
                }
                imported.layout
            })
        }
    };
    // Left unset, the allowed lag follows a smaller staleness bound (which AlmaLinux's
    // config.yml may have set just above).
    if !max_lag_set {
        settings.serve.max_lag = settings.serve.max_lag.min(settings.freshness.stale_after);
    }
    // Sections that failed to parse hold their defaults, which pass every check.
    settings.check(&mut d);
    let upstream = match upstream {
        Some(value) => section::<RawUpstream>(value, "upstream", &mut d),
        None => {
            d.error("", "missing field `upstream`");
            None
        }
    };
    let upstream = upstream.and_then(|raw| validate_upstream(raw, layout.as_ref(), &mut d));

    let mut seen = HashMap::new();
    let mut mirrors = Vec::new();
    if let Some(value) = mirrors_value {
        if let Some(list) = section::<Vec<Value>>(value, "mirrors", &mut d) {
            for (i, item) in list.into_iter().enumerate() {
                let prefix = format!("mirrors[{i}]");
                if let Some(raw) = section::<RawMirror>(item, &prefix, &mut d) {
                    let dialect = &mirror::OURS;
                    mirrors.extend(mirror::validate(
                        raw,
                        &prefix,
                        dialect,
                        layout.as_ref(),
                        &mut seen,
                        &mut d,
                    ));
                }
            }
        }
    }
    if let (Some(dir), Some(layout)) = (imported_mirrors_dir, &layout) {
        let mut inner = Vec::new();
        mirrors.extend(almalinux::load_mirrors(&dir, layout, &mut seen, &mut inner));
        d.extend(inner);
    }
    if mirrors.is_empty() && d.error_count() == 0 {
        d.error(
            "mirrors",
            "no mirrors: list at least one under `mirrors` (or in almalinux.mirrors_dir)",
        );
    }
    let (upstream, layout) = (upstream?, layout?);
    let relative = |p: &PathBuf| base.join(p);
    settings.state.path = settings.state.path.as_ref().map(relative);
    settings.probe.ca_files = settings.probe.ca_files.iter().map(relative).collect();
    settings.serve.geoip_country_db = settings.serve.geoip_country_db.as_ref().map(relative);
    settings.serve.geoip_asn_db = settings.serve.geoip_asn_db.as_ref().map(relative);
    Some(Config {
        file: path.to_path_buf(),
        upstream,
        layout,
        mirrors,
        probe: settings.probe,
        freshness: settings.freshness,
        health: settings.health,
        serve: settings.serve,
        metrics: settings.metrics,
        state: settings.state,
    })
}

fn validate_upstream(
    raw: RawUpstream,
    layout: Option<&Layout>,
    d: &mut FileDiag<'_>,
) -> Option<Upstream> {
    let errors_before = d.error_count();
    if raw.urls.is_empty() {
        d.error("upstream.urls", "must list at least one URL");
    }
    let parse_all = |urls: &[String], path: &str, d: &mut FileDiag<'_>| {
        urls.iter()
            .enumerate()
            .filter_map(|(i, text)| {
                validate::parse_url(text, &["http", "https"])
                    .map_err(|e| d.error(&format!("{path}[{i}]"), e))
                    .ok()
            })
            .collect::<Vec<_>>()
    };
    let urls = parse_all(&raw.urls, "upstream.urls", d);
    let mut modules = std::collections::BTreeMap::new();
    for (module, list) in &raw.modules {
        let path = format!("upstream.modules.{module}");
        if !layout.is_none_or(|l| l.has_module(module)) {
            d.error(&path, format!("the layout has no module {module:?}"));
        }
        if list.is_empty() {
            d.error(&path, "must list at least one URL");
        }
        modules.insert(module.clone(), parse_all(list, &path, d));
    }
    for version in layout.iter().flat_map(|l| &l.versions) {
        if let Some(module) = &version.module {
            if !raw.modules.contains_key(module) {
                d.error(
                    "upstream",
                    format!("no upstream URL for module {module:?}: add upstream.modules.{module}"),
                );
            }
        }
    }
    (d.error_count() == errors_before).then_some(Upstream { urls, modules })
}

/// Parse one YAML document; a syntax error is reported at its line and column, and so is
/// nesting deeper than [`diag::MAX_DEPTH`], before anything is built from the text.
pub(crate) fn parse_document<T: DeserializeOwned>(text: &str, d: &mut FileDiag<'_>) -> Option<T> {
    if let Some(at) = d.too_deep() {
        let message = format!(
            "nested deeper than {} levels: no configuration needs that many",
            diag::MAX_DEPTH
        );
        d.error_at(Some(at), "", message);
        return None;
    }
    match serde_yaml::from_str(text) {
        Ok(value) => Some(value),
        Err(e) => {
            let location = e.location().map(|l| (l.line(), l.column()));
            let mut message = e.to_string();
            // serde_norway appends " at line L column C"; the location is reported separately.
            if let Some(i) = message.find(" at line ") {
                message.truncate(i);
            }
            d.error_at(location, "", format!("invalid YAML: {message}"));
            None
        }
    }
}

/// Deserialize the value found at `path`, reporting a type error with its full field path.
pub(crate) fn section<T: DeserializeOwned>(
    value: Value,
    path: &str,
    d: &mut FileDiag<'_>,
) -> Option<T> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| d.serde_error(path, e))
        .ok()
}

/// Deserialize an optional settings section into `target`, which keeps its defaults on error.
/// The counts it writes as 0 keep their defaults and are added to `zeros`, to be reported
/// by [`Settings::check`] unless the section could not be read at all.
fn read_section<T: DeserializeOwned>(
    value: Option<Value>,
    path: &str,
    target: &mut T,
    zeros: &mut Vec<&'static str>,
    d: &mut FileDiag<'_>,
) {
    let Some(mut value) = value else {
        return;
    };
    let zero = counts::take_zero_counts(path, &mut value);
    if let Some(parsed) = section::<T>(value, path, d) {
        *target = parsed;
        zeros.extend(zero);
    }
}
