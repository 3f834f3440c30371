//! The layout a simulated network serves — the shipped `mirrors.yaml`'s, another
//! configuration's, or AlmaLinux's own `config.yml` — and the `mirrors.yaml` written for the
//! daemon to watch it. That file points only at this machine: the upstream and the
//! simulator's name server by loopback address, the mirrors by names only that name server
//! knows, the vault at the upstream; its CA and state file live in the simulator's directory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::network::{tree_name, Site, Timing};
use crate::config::{self, Layout};

/// The configuration shipped with mirrorwatch, whose layout is AlmaLinux's.
const SHIPPED: &str = include_str!("../../mirrors.yaml");

/// Where the layout comes from.
#[derive(Debug, Clone, Default)]
pub enum LayoutSource {
    /// The shipped `mirrors.yaml` (8.10, 9.8, 10.2 and Kitten: 136 + 15 directories).
    #[default]
    Shipped,
    /// The `layout` of one of our configuration files.
    Config(PathBuf),
    /// AlmaLinux's `config.yml`, read unchanged.
    AlmaLinux(PathBuf),
}

fn diagnostics(err: &config::ConfigError) -> String {
    err.to_string()
}

/// Load and validate the layout; `work_dir` is where the shipped file is written to be read.
pub fn load_layout(source: &LayoutSource, work_dir: &Path) -> Result<Layout, String> {
    let file = match source {
        LayoutSource::AlmaLinux(path) => {
            let mut out = Vec::new();
            let imported = config::almalinux::load_layout(path, &mut out);
            let errors: Vec<String> = out
                .iter()
                .filter(|d| d.severity == config::Severity::Error)
                .map(ToString::to_string)
                .collect();
            return match imported {
                Some(imported) if errors.is_empty() => Ok(imported.layout),
                _ => Err(errors.join("\n")),
            };
        }
        LayoutSource::Config(path) => path.clone(),
        LayoutSource::Shipped => {
            let path = work_dir.join("shipped-mirrors.yaml");
            std::fs::write(&path, SHIPPED)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            path
        }
    };
    config::load(&file)
        .map(|loaded| loaded.config.layout)
        .map_err(|e| diagnostics(&e))
}

/// The layout in our format, the vault moved to `vault_url`.
fn layout_value(layout: &Layout, vault_url: &str) -> Value {
    let names = |v: &[String]| Value::from(v.to_vec());
    let full: Vec<String> = layout
        .versions
        .iter()
        .filter(|v| v.module.is_none())
        .map(|v| v.name.clone())
        .collect();
    let arches: Map<String, Value> = layout
        .versions
        .iter()
        .map(|v| {
            let list: Vec<&str> = v.arches.iter().map(|a| a.as_str()).collect();
            (v.name.clone(), json!(list))
        })
        .collect();
    let mut modules: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for v in &layout.versions {
        if let Some(m) = &v.module {
            modules.entry(m.clone()).or_default().push(v.major.clone());
        }
    }
    let repos: Vec<Value> = layout
        .repos
        .iter()
        .map(|r| {
            let mut repo = Map::new();
            repo.insert("name".into(), json!(r.name));
            repo.insert("path".into(), json!(r.path));
            if let Some(versions) = &r.versions {
                repo.insert("versions".into(), json!(versions));
            }
            if let Some(arches) = &r.arches {
                let list: Vec<&str> = arches.iter().map(|a| a.as_str()).collect();
                repo.insert("arches".into(), json!(list));
            }
            if r.vault {
                repo.insert("vault".into(), json!(true));
            }
            Value::Object(repo)
        })
        .collect();
    let mut out = Map::new();
    out.insert("versions".into(), names(&full));
    if !layout.aliases.is_empty() {
        out.insert("aliases".into(), json!(layout.aliases));
    }
    out.insert("arches".into(), Value::Object(arches));
    if !modules.is_empty() {
        out.insert("modules".into(), json!(modules));
    }
    out.insert("repos".into(), Value::from(repos));
    if let Some(vault) = &layout.vault {
        out.insert(
            "vault".into(),
            json!({"url": vault_url, "versions": vault.versions}),
        );
    }
    Value::Object(out)
}

/// What the generated `mirrors.yaml` needs to know.
pub struct ConfigPlan<'a> {
    pub layout: &'a Layout,
    pub upstream: SocketAddr,
    pub mirrors: &'a [std::sync::Arc<Site>],
    pub dns: SocketAddr,
    pub ca_file: &'a Path,
    pub state_file: &'a Path,
    pub listen: SocketAddr,
    pub timing: &'a Timing,
    pub ipv6: bool,
    pub seed: u64,
    pub truth_url: &'a str,
}

fn duration(d: std::time::Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn urls(base: &str, port: u16, module: Option<&str>) -> Value {
    let tree = tree_name(module);
    json!({
        "http": format!("http://{base}:{port}/{tree}/"),
        "https": format!("https://{base}:{port}/{tree}/"),
    })
}

/// The text of the generated `mirrors.yaml`.
pub fn mirrors_yaml(plan: &ConfigPlan<'_>) -> Result<String, String> {
    let up = plan.upstream;
    let module_names: Vec<String> = plan
        .layout
        .versions
        .iter()
        .filter_map(|v| v.module.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let modules: Map<String, Value> = module_names
        .iter()
        .map(|m| {
            (
                m.clone(),
                json!([format!("http://{up}/{}/", tree_name(Some(m)))]),
            )
        })
        .collect();
    let mirrors: Vec<Value> = plan
        .mirrors
        .iter()
        .map(|m| {
            let mut entry = Map::new();
            entry.insert("name".into(), json!(m.name));
            entry.insert("address".into(), urls(&m.host, m.port, None));
            if m.modules && !module_names.is_empty() {
                let optional: Map<String, Value> = module_names
                    .iter()
                    .map(|name| (name.clone(), urls(&m.host, m.port, Some(name))))
                    .collect();
                entry.insert("address_optional".into(), Value::Object(optional));
            }
            entry.insert("country".into(), json!(m.country));
            entry.insert("sponsor".into(), json!("mirrorwatch simulate"));
            Value::Object(entry)
        })
        .collect();
    let t = plan.timing;
    let timeout = t.probe_timeout;
    let families: &[&str] = match plan.ipv6 {
        true => &["ipv4", "ipv6"],
        false => &["ipv4"],
    };
    let sections = [
        (
            "upstream",
            json!({"urls": [format!("http://{up}/{}/", tree_name(None))], "modules": modules}),
        ),
        (
            "layout",
            layout_value(plan.layout, &format!("http://{up}/vault/")),
        ),
        ("mirrors", Value::from(mirrors)),
        (
            "probe",
            json!({
                "interval": duration(t.probe_interval),
                "timeout": duration(timeout),
                "connect_timeout": duration(timeout.min(std::time::Duration::from_secs(3))),
                "ip_families": families,
                "dns_servers": [plan.dns.to_string()],
                "ca_files": [plan.ca_file],
            }),
        ),
        (
            "freshness",
            json!({
                "upstream_interval": duration(t.upstream_interval),
                "stale_after": duration(t.stale_after),
            }),
        ),
        (
            "serve",
            json!({"listen": plan.listen.to_string(), "max_lag": duration(t.stale_after)}),
        ),
        ("state", json!({"path": plan.state_file})),
    ];
    let mut text = format!(
        "# Generated by `mirrorwatch simulate` (seed {}): {} simulated mirrors on loopback.\n\
         # Every address here is on this machine: the upstream, the simulator's name server\n\
         # (the only one that knows the mirrors' names) and the vault. Ground truth: {}\n",
        plan.seed,
        plan.mirrors.len(),
        plan.truth_url
    );
    for (name, value) in sections {
        let mut section = Map::new();
        section.insert(name.to_string(), value);
        let yaml = serde_yaml::to_string(&Value::Object(section)).map_err(|e| e.to_string())?;
        text.push_str(&yaml);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_layout_survives_the_round_trip() {
        let dir = std::env::temp_dir().join(format!("mw-sim-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let layout = load_layout(&LayoutSource::Shipped, &dir).unwrap();
        let value = layout_value(&layout, "http://127.0.0.1:1/vault/");
        let text = format!(
            "upstream:\n  urls: [\"http://127.0.0.1:1/almalinux/\"]\n  modules: {{kitten: [\"http://127.0.0.1:1/k/\"]}}\n{}mirrors:\n  - {{name: m, address: {{http: \"http://127.0.0.1:2/\"}}}}\n",
            serde_yaml::to_string(&json!({"layout": value})).unwrap()
        );
        let file = dir.join("round-trip.yaml");
        std::fs::write(&file, text).unwrap();
        let again = config::load(&file).unwrap().config.layout;
        assert_eq!(again.targets().count(), layout.targets().count());
        assert_eq!(again.versions, layout.versions);
        assert_eq!(again.repos, layout.repos);
        assert_eq!(again.aliases, layout.aliases);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
