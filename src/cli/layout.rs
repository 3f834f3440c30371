//! The layout a simulated network serves — the shipped `mirrors.yaml`'s, another
//! configuration's, or AlmaLinux's own `config.yml` — loaded and validated by mirrorwatch,
//! then described for the simulator: the directories to serve and the `layout:` section of
//! the configuration it writes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fakemirrors::sim::{Dir, Layout as SimLayout};
use serde_json::{json, Map, Value};

use mirrorwatch::config::{self, Layout};

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

/// Load and validate the layout, or say why it cannot be used.
pub fn load(source: &LayoutSource) -> Result<Layout, String> {
    match source {
        LayoutSource::AlmaLinux(path) => {
            let mut out = Vec::new();
            let imported = config::almalinux::load_layout(path, &mut out);
            let errors: Vec<String> = out
                .iter()
                .filter(|d| d.severity == config::Severity::Error)
                .map(ToString::to_string)
                .collect();
            match imported {
                Some(imported) if errors.is_empty() => Ok(imported.layout),
                _ => Err(errors.join("\n")),
            }
        }
        LayoutSource::Config(path) => load_file(path),
        LayoutSource::Shipped => {
            // config::load reads a file: the shipped one is written out for it, and removed.
            let dir =
                std::env::temp_dir().join(format!("mirrorwatch-layout-{}", std::process::id()));
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let path = dir.join("shipped-mirrors.yaml");
            let loaded = std::fs::write(&path, SHIPPED)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
                .and_then(|()| load_file(&path));
            let _ = std::fs::remove_dir_all(&dir);
            loaded
        }
    }
}

fn load_file(path: &Path) -> Result<Layout, String> {
    config::load(path)
        .map(|loaded| loaded.config.layout)
        .map_err(|e| e.to_string())
}

/// What the simulator needs of `layout`: every directory, and the layout in our format.
pub fn describe(layout: &Layout) -> SimLayout {
    let dirs = layout
        .targets()
        .map(|t| {
            Dir::new(
                &t.dir(),
                &t.version.name,
                &t.repo.name,
                t.version.module.as_deref(),
            )
        })
        .collect();
    SimLayout {
        dirs,
        section: section(layout),
    }
}

/// The layout in our format (the simulator points the vault at its upstream).
fn section(layout: &Layout) -> Value {
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
            json!({"url": vault.url.as_str(), "versions": vault.versions}),
        );
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_shipped_layout_survives_the_round_trip() {
        let dir = std::env::temp_dir().join(format!("mw-sim-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let layout = load(&LayoutSource::Shipped).unwrap();
        let described = describe(&layout);
        assert_eq!(described.dirs.len(), layout.targets().count());
        let text = format!(
            "upstream:\n  urls: [\"http://127.0.0.1:1/almalinux/\"]\n  modules: {{kitten: [\"http://127.0.0.1:1/k/\"]}}\n{}mirrors:\n  - {{name: m, address: {{http: \"http://127.0.0.1:2/\"}}}}\n",
            serde_yaml::to_string(&json!({"layout": described.section})).unwrap()
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
