//! `GET /mirrorlist/{version}/{repo}` and `GET /metalink?repo={repo}-{version}&arch=`: what
//! dnf reads. Both resolve the request against the layout (an unknown version or repo is a 404
//! that lists the valid choices, never a near match), pick mirrors with [`crate::select`] from
//! the current snapshot, and answer in the exact formats of COMPAT.md.

use std::fmt::Write as _;
use std::net::SocketAddr;

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::metrics::First;
use super::AppState;
use crate::config::geo::continent_of;
use crate::config::{Arch, Config, Layout, Protocol, Repo, Version};
use crate::select::{self, client_addr, Client, Pick, Want};
use crate::state::Snapshot;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    arch: Option<String>,
    protocol: Option<String>,
    country: Option<String>,
    repo: Option<String>,
}

const TEXT: &str = "text/plain; charset=utf-8";
const METALINK: &str = "application/metalink+xml";

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, TEXT)], body).into_response()
}

/// A 400 for a bad parameter value, said plainly.
fn bad_request(message: String) -> Response {
    text(StatusCode::BAD_REQUEST, format!("# {message}\n"))
}

/// What a request names, resolved against the layout.
enum Resolved<'a> {
    /// Probed mirrors serve it.
    Mirrors(&'a Version, &'a Repo),
    /// Only the vault has it (an old version, or a vault-only repo).
    Vault(String),
}

/// Resolve (version, repo); `Err` is the 404 text, listing the valid choices.
fn resolve<'a>(layout: &'a Layout, version: &str, repo: &str) -> Result<Resolved<'a>, String> {
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
struct Params {
    arch: Option<Arch>,
    protocol: Option<Protocol>,
    country: Option<String>,
}

/// Parse `arch`, `protocol` and `country`; `Err` is the message of a 400.
fn parse_params(q: &ListQuery, version: &Version) -> Result<Params, String> {
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
fn client(
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

/// The mirrors for one request, with the per-snapshot work shared through `state`.
fn picks<'a>(
    state: &AppState,
    snapshot: &'a Arc<Snapshot>,
    (version, repo, arch, protocol): (&Version, &Repo, Option<Arch>, Option<Protocol>),
    client: &Client,
) -> Vec<Pick<'a>> {
    let want = Want {
        version,
        repo,
        arch,
        protocol,
    };
    let index = state.selection.index_for(snapshot);
    select::select_with(
        &index,
        snapshot,
        &want,
        client,
        crate::scheduler::unix_now(),
    )
}

/// Count what an answer sends its client to: the first mirror's freshness (or the upstream,
/// with no mirror), and how many behind mirrors it lists.
fn count_answer(state: &AppState, endpoint: &'static str, picks: &[Pick<'_>]) {
    let first = match picks.first() {
        None => First::Upstream,
        Some(p) if p.behind() => First::Behind,
        Some(_) => First::Current,
    };
    let behind = picks.iter().filter(|p| p.behind()).count();
    state.http.record_answer(endpoint, first, behind);
}

pub async fn mirrorlist(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((version, repo)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
    forwarded_for: ForwardedFor,
) -> Response {
    let snapshot = state.snapshot();
    let config = &snapshot.config;
    let (v, r) = match resolve(&config.layout, &version, &repo) {
        Err(body) => return text(StatusCode::NOT_FOUND, body),
        Ok(Resolved::Vault(url)) => return text(StatusCode::OK, format!("{url}\n")),
        Ok(Resolved::Mirrors(v, r)) => (v, r),
    };
    let Params {
        arch,
        protocol,
        country,
    } = match parse_params(&q, v) {
        Ok(p) => p,
        Err(message) => return bad_request(message),
    };
    let client = client(&state, config, peer, &forwarded_for, country);
    let picks = picks(&state, &snapshot, (v, r, arch, protocol), &client);
    count_answer(&state, "mirrorlist", &picks);
    // About 70 bytes a line: one allocation for the whole answer.
    let mut body = String::with_capacity(64 + 96 * picks.len());
    if picks.is_empty() {
        // Never strand a client: with no qualifying mirror, the upstream itself is listed.
        body.push_str("# no mirror currently qualifies; the upstream is listed instead\n");
        for base in config.upstream.urls_for(v) {
            let path = arch.map_or_else(|| r.path.clone(), |a| r.path_for(a));
            let _ = writeln!(body, "{base}{}/{path}", v.name);
        }
    }
    for pick in &picks {
        select::write_url(&mut body, pick, v, r, arch);
        body.push('\n');
    }
    text(StatusCode::OK, body)
}

/// `baseos-9`, `extras-common-10-kitten`: repo and version split where both are known.
fn split_repo_version<'a>(layout: &Layout, text: &'a str) -> Option<(&'a str, &'a str)> {
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

pub async fn metalink(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<ListQuery>,
    forwarded_for: ForwardedFor,
) -> Response {
    let snapshot = state.snapshot();
    let config = &snapshot.config;
    let layout = &config.layout;
    let Some(asked) = q.repo.as_deref().filter(|r| !r.is_empty()) else {
        return xml_error(
            StatusCode::BAD_REQUEST,
            "missing parameter repo=<repo>-<version>, for example repo=baseos-9",
        );
    };
    let Some((repo, version)) = split_repo_version(layout, asked) else {
        let mut versions: Vec<&str> = layout.aliases.keys().map(String::as_str).collect();
        versions.extend(layout.versions.iter().map(|v| v.name.as_str()));
        let repos: Vec<&str> = layout.repos.iter().map(|r| r.name.as_str()).collect();
        return xml_error(
            StatusCode::NOT_FOUND,
            &format!(
                "unknown repo-version {asked:?}; valid repos: {}; valid versions: {}",
                repos.join(" "),
                versions.join(" ")
            ),
        );
    };
    let (v, r) = match resolve(layout, version, repo) {
        Ok(Resolved::Mirrors(v, r)) => (v, r),
        Ok(Resolved::Vault(_)) => {
            return xml_error(
                StatusCode::NOT_FOUND,
                &format!(
                    "{asked} is only on the vault, which has no metalink; use the mirror list"
                ),
            )
        }
        Err(body) => return xml_error(StatusCode::NOT_FOUND, body.replace("# ", "").trim()),
    };
    let Params {
        arch,
        protocol,
        country,
    } = match parse_params(&q, v) {
        Ok(p) => p,
        Err(message) => return xml_error(StatusCode::BAD_REQUEST, &message),
    };
    let Some(arch) = arch else {
        let valid: Vec<&str> = v.arches.iter().map(|a| a.as_str()).collect();
        return xml_error(
            StatusCode::BAD_REQUEST,
            &format!("missing parameter arch=, one of {}", valid.join(", ")),
        );
    };
    let dir = format!("{}/{}", v.name, r.path_for(arch));
    let Some(upstream) = snapshot.upstream.iter().find(|u| u.dir == dir) else {
        return xml_error(
            StatusCode::NOT_FOUND,
            &format!("{dir} is not a repository of the layout"),
        );
    };
    let Some(current) = &upstream.current else {
        return xml_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the upstream repomd.xml has not been read yet; try again shortly",
        );
    };
    let client = client(&state, config, peer, &forwarded_for, country);
    let picks = picks(&state, &snapshot, (v, r, Some(arch), protocol), &client);
    count_answer(&state, "metalink", &picks);
    let urls: Vec<MetalinkUrl> = picks
        .iter()
        .map(|p| MetalinkUrl {
            protocol: p.protocol.as_str(),
            location: p.mirror.country.clone(),
            url: format!(
                "{}repodata/repomd.xml",
                select::url_for(p, v, r, Some(arch))
            ),
        })
        .collect();
    // As with the mirror list: with no qualifying mirror, the upstream itself is offered
    // (its repomd.xml is the one the hashes describe), so a client is never stranded.
    let urls = if urls.is_empty() {
        config
            .upstream
            .urls_for(v)
            .iter()
            .map(|base| MetalinkUrl {
                protocol: if base.scheme() == "https" {
                    "https"
                } else {
                    "http"
                },
                location: None,
                url: format!("{base}{dir}repodata/repomd.xml"),
            })
            .collect()
    } else {
        urls
    };
    let body = super::metalink::render(&snapshot, current, &upstream.alternates, &urls);
    (StatusCode::OK, [(header::CONTENT_TYPE, METALINK)], body).into_response()
}

/// One `<url>` of a metalink.
pub struct MetalinkUrl {
    pub protocol: &'static str,
    pub location: Option<String>,
    pub url: String,
}

/// A metalink-shaped error: an XML comment that says what is wrong (librepo shows it).
fn xml_error(status: StatusCode, message: &str) -> Response {
    let safe = message.replace("--", "- -");
    let body = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- {safe} -->\n<metalink version=\"3.0\" xmlns=\"http://www.metalinker.org/\"/>\n");
    (status, [(header::CONTENT_TYPE, METALINK)], body).into_response()
}
