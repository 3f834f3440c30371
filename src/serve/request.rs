//! What a mirror list or metalink request asks for, checked against the layout: the
//! version and repo resolved (or the 404 text listing the valid choices), the optional
//! `arch`, `protocol` and `country` parsed (or the 400 message), and the client as the
//! selection sees it (its address behind trusted proxies, GeoIP, `country=`).

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Deserialize;

use super::AppState;
use crate::config::geo::continent_of;
use crate::config::{Arch, Config, Layout, Protocol, Repo, Version};
use crate::select::{client_addr, Client};

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    arch: Option<String>,
    protocol: Option<String>,
    country: Option<String>,
    pub(super) repo: Option<String>,
}

/// What a request names, resolved against the layout.
pub(super) enum Resolved<'a> {
    /// Probed mirrors serve it.
    Mirrors(&'a Version, &'a Repo),
    /// Only the vault has it (an old version, or a vault-only repo).
    Vault(String),
}

/// Resolve (version, repo); `Err` is the 404 text, listing the valid choices.
pub(super) fn resolve<'a>(
    layout: &'a Layout,
    version: &str,
    repo: &str,
) -> Result<Resolved<'a>, String> {
    let vault = layout.vault.as_ref();
    if let Some(v) = layout.resolve_version(version) {
        let Some(r) = layout.repo(repo).filter(|r| r.carried_by(v)) else {
            let valid: Vec<&str> = layout
                .repos
                .iter()
                .filter(|r| r.carried_by(v))
                .map(|r| r.name.as_str())
                .collect();
            return Err(format!(
                "# unknown repo {repo:?} for version {}\n# valid repos: {}\n",
                v.name,
                valid.join(" ")
            ));
        };
        if r.vault {
            if let Some(vault) = vault {
                return Ok(Resolved::Vault(format!(
                    "{}{}/{}",
                    vault.url, v.name, r.path
                )));
            }
        }
        return Ok(Resolved::Mirrors(v, r));
    }
    if let Some(vault) = vault.filter(|vault| vault.versions.iter().any(|v| v == version)) {
        return match layout.repo(repo) {
            Some(r) => Ok(Resolved::Vault(format!(
                "{}{version}/{}",
                vault.url, r.path
            ))),
            None => Err(format!(
                "# unknown repo {repo:?}\n# valid repos: {}\n",
                layout
                    .repos
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
        };
    }
    let mut versions: Vec<&str> = layout.aliases.keys().map(String::as_str).collect();
    versions.extend(layout.versions.iter().map(|v| v.name.as_str()));
    if let Some(vault) = vault {
        versions.extend(vault.versions.iter().map(String::as_str));
    }
    Err(format!(
        "# unknown version {version:?}\n# valid versions: {}\n",
        versions.join(" ")
    ))
}

/// The optional parameters, checked.
pub(super) struct Params {
    pub(super) arch: Option<Arch>,
    pub(super) protocol: Option<Protocol>,
    pub(super) country: Option<String>,
}

/// Parse `arch`, `protocol` and `country`; `Err` is the message of a 400.
pub(super) fn parse_params(q: &ListQuery, version: &Version) -> Result<Params, String> {
    let arch = match q.arch.as_deref().filter(|a| !a.is_empty()) {
        None => None,
        Some(name) => match Arch::parse(name).filter(|a| version.arches.contains(a)) {
            Some(a) => Some(a),
            None => {
                let valid: Vec<&str> = version.arches.iter().map(|a| a.as_str()).collect();
                return Err(format!(
                    "invalid arch {name:?} for version {}: valid arches are {}",
                    version.name,
                    valid.join(", ")
                ));
            }
        },
    };
    let protocol = match q.protocol.as_deref().filter(|p| !p.is_empty()) {
        None => None,
        Some("http") => Some(Protocol::Http),
        Some("https") => Some(Protocol::Https),
        Some(other) => return Err(format!("invalid protocol {other:?}: use http or https")),
    };
    let country = match q.country.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(code) => {
            let upper = code.to_ascii_uppercase();
            if continent_of(&upper).is_none() {
                return Err(format!(
                    "invalid country {code:?}: use an ISO 3166-1 alpha-2 code such as DE"
                ));
            }
            Some(upper)
        }
    };
    Ok(Params {
        arch,
        protocol,
        country,
    })
}

/// Every `X-Forwarded-For` value of a request, joined with `,` as [`client_addr`] expects.
/// Extracted alone, so that answering does not copy the request's whole header map.
pub struct ForwardedFor(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ForwardedFor {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let mut joined: Option<String> = None;
        for value in parts.headers.get_all("x-forwarded-for") {
            // A value that is not text spoils the header: an empty entry makes
            // `client_addr` fall back to the peer, as for any unusable entry.
            let text = value.to_str().unwrap_or_default();
            match &mut joined {
                None => joined = Some(text.to_string()),
                Some(all) => {
                    all.push(',');
                    all.push_str(text);
                }
            }
        }
        Ok(ForwardedFor(joined))
    }
}

/// The client as the selection sees it: its address, what GeoIP says about it (when
/// configured), and `country=` when given, which overrides GeoIP's country and continent.
pub(super) fn client(
    state: &AppState,
    config: &Config,
    peer: SocketAddr,
    forwarded_for: &ForwardedFor,
    country: Option<String>,
) -> Client {
    let addr = client_addr(
        peer.ip(),
        forwarded_for.0.as_deref(),
        &config.serve.trusted_proxies,
    );
    let mut client = match &state.geoip {
        Some(geoip) => geoip.client(addr),
        None => Client::new(addr),
    };
    if let Some(country) = country {
        client.continent = continent_of(&country);
        client.country = Some(country);
        // The coordinates of the address say nothing about the country asked for.
        client.coordinates = None;
    }
    client
}

/// `baseos-9`, `extras-common-10-kitten`: repo and version split where both are known.
pub(super) fn split_repo_version<'a>(layout: &Layout, text: &'a str) -> Option<(&'a str, &'a str)> {
    text.match_indices('-').find_map(|(i, _)| {
        let (repo, version) = (&text[..i], &text[i + 1..]);
        let version_known = layout.resolve_version(version).is_some()
            || layout
                .vault
                .as_ref()
                .is_some_and(|v| v.versions.iter().any(|x| x == version));
        (layout.repo(repo).is_some() && version_known).then_some((repo, version))
    })
}
