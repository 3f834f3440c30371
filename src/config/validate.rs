//! Raw values → the model. Every check reports through [`FileDiag`] and carries on, so a file
//! with ten mistakes gets ten messages. A section that fails returns `None`.

use std::collections::{BTreeMap, BTreeSet};

use url::Url;

use super::diag::{join, FileDiag};
use super::model::{Arch, Layout, Repo, Vault, Version};
use super::raw::RawLayout;

/// Where the layout's fields live: `layout.*` in our format, top-level names in AlmaLinux's.
pub struct LayoutKeys {
    pub versions: &'static str,
    pub aliases: &'static str,
    pub arches: &'static str,
    pub modules: &'static str,
    pub repos: &'static str,
    pub vault_url: &'static str,
    pub vault_versions: &'static str,
}

pub const OUR_LAYOUT: LayoutKeys = LayoutKeys {
    versions: "layout.versions",
    aliases: "layout.aliases",
    arches: "layout.arches",
    modules: "layout.modules",
    repos: "layout.repos",
    vault_url: "layout.vault.url",
    vault_versions: "layout.vault.versions",
};

pub(super) fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// `9.8` → `9`; `10-kitten` → `10`.
fn major_of(version: &str) -> &str {
    let end = version
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(version.len());
    &version[..end]
}

fn list(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| s.as_ref().to_string()).collect();
    items.join(", ")
}

/// Validate a layout; `None` when anything in it is wrong.
pub fn layout(raw: RawLayout, keys: &LayoutKeys, diag: &mut FileDiag<'_>) -> Option<Layout> {
    let errors_before = diag.error_count();
    let mut full: Vec<String> = Vec::new();
    if raw.versions.is_empty() {
        diag.error(keys.versions, "must list at least one version");
    }
    for (i, name) in raw.versions.iter().enumerate() {
        let path = format!("{}[{i}]", keys.versions);
        if !is_name(name) || !name.starts_with(|c: char| c.is_ascii_digit()) {
            diag.error(&path, format!("{name:?} is not a version such as 9.8"));
        } else if full.contains(name) {
            diag.error(&path, format!("version {name:?} is listed twice"));
        } else {
            full.push(name.clone());
        }
    }
    for (alias, target) in &raw.aliases {
        if !is_name(alias) || full.contains(alias) {
            let msg = format!("{alias:?} must be a name such as 9 that is not itself a version");
            diag.error(&join(keys.aliases, alias), msg);
        } else if !full.contains(target) {
            diag.error(
                &join(keys.aliases, alias),
                format!(
                    "alias {alias:?} points at {target:?}, which is not a version (versions: {})",
                    list(&full)
                ),
            );
        }
    }
    let majors: BTreeSet<&str> = full.iter().map(|v| major_of(v)).collect();
    let mut module_versions: Vec<(String, String, String)> = Vec::new();
    for (module, module_majors) in &raw.modules {
        let path = join(keys.modules, module);
        if !is_name(module) {
            diag.error(&path, format!("{module:?} is not a valid module name"));
        }
        for (i, major) in module_majors.iter().enumerate() {
            let name = format!("{major}-{module}");
            if module_versions.iter().any(|(n, ..)| *n == name) {
                diag.error(
                    &format!("{path}[{i}]"),
                    format!("{major:?} is listed twice"),
                );
            } else if majors.contains(major.as_str()) {
                module_versions.push((name, major.clone(), module.clone()));
            } else {
                diag.error(
                    &format!("{path}[{i}]"),
                    format!(
                        "major version {major:?} has no full version in {}",
                        keys.versions
                    ),
                );
            }
        }
    }
    let mut arches: BTreeMap<&str, Vec<Arch>> = BTreeMap::new();
    for (key, names) in &raw.arches {
        let path = join(keys.arches, key);
        let known = full.contains(key)
            || majors.contains(key.as_str())
            || module_versions.iter().any(|(n, ..)| n == key);
        if !known {
            diag.error(&path, format!("{key:?} names no version of the layout"));
        }
        arches.insert(key, parse_arches(names, &path, diag));
    }
    let mut versions = Vec::new();
    for name in &full {
        let major = major_of(name);
        match arches.get(name.as_str()).or_else(|| arches.get(major)) {
            Some(list) => versions.push(Version {
                name: name.clone(),
                major: major.to_string(),
                module: None,
                arches: list.clone(),
            }),
            None => diag.error(
                keys.arches,
                format!("no arches for version {name:?}: add {major:?} or {name:?}"),
            ),
        }
    }
    for (name, major, module) in module_versions {
        // A module version needs its own entry: it does not inherit its major's arches.
        match arches.get(name.as_str()) {
            Some(list) => versions.push(Version {
                name,
                major,
                module: Some(module),
                arches: list.clone(),
            }),
            None => diag.error(keys.arches, format!("no arches for version {name:?}")),
        }
    }
    let repos = repos(&raw, &versions, keys, diag);
    let vault = raw.vault.and_then(|v| {
        let url = parse_url(&v.url, &["http", "https"]).map_err(|e| diag.error(keys.vault_url, e));
        for (i, name) in v.versions.iter().enumerate() {
            if !is_name(name) {
                let path = format!("{}[{i}]", keys.vault_versions);
                diag.error(&path, format!("{name:?} is not a version such as 9.2"));
            }
        }
        url.ok().map(|url| Vault {
            url,
            versions: v.versions,
        })
    });
    (diag.error_count() == errors_before).then_some(Layout {
        versions,
        aliases: raw.aliases,
        repos,
        vault,
    })
}

fn parse_arches(names: &[String], path: &str, diag: &mut FileDiag<'_>) -> Vec<Arch> {
    let mut out = Vec::new();
    if names.is_empty() {
        diag.error(path, "must list at least one arch");
    }
    for (i, name) in names.iter().enumerate() {
        match Arch::parse(name) {
            Some(arch) if !out.contains(&arch) => out.push(arch),
            Some(_) => diag.error(
                &format!("{path}[{i}]"),
                format!("arch {name:?} is listed twice"),
            ),
            None => diag.error(
                &format!("{path}[{i}]"),
                format!("unknown arch {name:?} (known: {})", Arch::names()),
            ),
        }
    }
    out
}

fn repos(
    raw: &RawLayout,
    versions: &[Version],
    keys: &LayoutKeys,
    d: &mut FileDiag<'_>,
) -> Vec<Repo> {
    let mut out: Vec<Repo> = Vec::new();
    if raw.repos.is_empty() {
        d.error(keys.repos, "must list at least one repo");
    }
    for (i, repo) in raw.repos.iter().enumerate() {
        let path = format!("{}[{i}]", keys.repos);
        if !is_name(&repo.name) {
            d.error(
                &join(&path, "name"),
                format!("{:?} is not a valid repo name", repo.name),
            );
        } else if out.iter().any(|r| r.name == repo.name) {
            d.error(
                &join(&path, "name"),
                format!("repo {:?} is defined twice", repo.name),
            );
        }
        let trimmed = repo.path.trim_start_matches("./");
        if trimmed.is_empty() || trimmed.starts_with('/') || trimmed.split('/').any(|s| s == "..") {
            d.error(
                &join(&path, "path"),
                format!(
                    "{:?} must be a relative path below the version directory",
                    repo.path
                ),
            );
        }
        let mut repo_path = trimmed.to_string();
        if !repo_path.ends_with('/') {
            repo_path.push('/');
        }
        let repo_versions = repo.versions.as_ref().map(|names| {
            for (j, name) in names.iter().enumerate() {
                if !versions.iter().any(|v| &v.name == name) {
                    d.error(
                        &format!("{path}.versions[{j}]"),
                        format!(
                            "version {name:?} does not exist (versions: {})",
                            list(versions.iter().map(|v| &v.name))
                        ),
                    );
                }
            }
            names.iter().cloned().collect::<BTreeSet<_>>()
        });
        let arches = repo.arches.as_ref().map(|a| {
            parse_arches(a, &join(&path, "arches"), d)
                .into_iter()
                .collect()
        });
        out.push(Repo {
            name: repo.name.clone(),
            path: repo_path,
            versions: repo_versions,
            arches,
            vault: repo.vault,
        });
    }
    out
}

/// Parse a base URL: one of `schemes`, with a host, no query or fragment; the path ends in `/`.
pub fn parse_url(text: &str, schemes: &[&str]) -> Result<Url, String> {
    let mut url = Url::parse(text.trim()).map_err(|e| format!("invalid URL {text:?}: {e}"))?;
    if !schemes.contains(&url.scheme()) {
        let wanted: Vec<String> = schemes.iter().map(|s| format!("{s}://")).collect();
        return Err(format!("{text:?} must start with {}", wanted.join(" or ")));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?} must not have a query or fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// A URL naming one document (a published subnet list): checked like [`parse_url`], but its
/// path is kept as written, since `…/subnets.txt` and `…/subnets.txt/` are different things.
pub fn parse_document_url(text: &str, schemes: &[&str]) -> Result<Url, String> {
    let written = Url::parse(text.trim()).map_err(|e| format!("invalid URL {text:?}: {e}"))?;
    let mut url = parse_url(text, schemes)?;
    url.set_path(written.path());
    Ok(url)
}

/// A CIDR (`192.0.2.0/24`, `2001:db8::/32`) or a bare address (a /32 or /128).
pub fn parse_subnet(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| format!("{text:?} is not a CIDR such as 192.0.2.0/24 or 2001:db8::/32"))
}
