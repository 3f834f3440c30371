//! `GET /mirrorlist/{version}/{repo}` and `GET /metalink?repo={repo}-{version}&arch=`: what
//! dnf reads. Both resolve the request against the layout ([`super::request`]: an unknown
//! version or repo is a 404 that lists the valid choices, never a near match), pick mirrors
//! with [`crate::select`] from the current snapshot, and answer in the formats dnf reads: one
//! URL per line, or a Metalink 3.0 document.

use std::fmt::Write as _;
use std::net::SocketAddr;

use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::metrics::First;
use super::request::{
    client, parse_params, resolve, split_repo_version, ForwardedFor, ListQuery, Params, Resolved,
};
use super::AppState;
use crate::config::{Arch, Protocol, Repo, Version};
use crate::select::{self, Client, Pick, Want};
use crate::state::Snapshot;

const TEXT: &str = "text/plain; charset=utf-8";
const METALINK: &str = "application/metalink+xml";

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, TEXT)], body).into_response()
}

/// A 400 for a bad parameter value, said plainly.
fn bad_request(message: String) -> Response {
    text(StatusCode::BAD_REQUEST, format!("# {message}\n"))
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

/// A metalink-shaped error: an XML comment that says what is wrong (librepo shows it). The
/// message quotes what the client asked, so it is made safe for a comment first.
fn xml_error(status: StatusCode, message: &str) -> Response {
    let safe = comment_text(message);
    let body = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- {safe} -->\n<metalink version=\"3.0\" xmlns=\"http://www.metalinker.org/\"/>\n");
    (status, [(header::CONTENT_TYPE, METALINK)], body).into_response()
}

/// `text` as the inside of an XML comment: no `--` anywhere (a space goes between two
/// dashes, however many follow each other, so `--->` cannot close the comment), and
/// characters XML does not allow (controls other than tab, newline and return, U+FFFE,
/// U+FFFF) replaced by U+FFFD. The comment's own spaces keep a final `-` off the `-->`.
pub(super) fn comment_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let allowed = matches!(c, '\t' | '\n' | '\r') || !(c.is_control() && c < ' ');
        let c = if allowed && c != '\u{FFFE}' && c != '\u{FFFF}' {
            c
        } else {
            char::REPLACEMENT_CHARACTER
        };
        if c == '-' && out.ends_with('-') {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::comment_text;

    /// Parses `xml` to the end; `Err` names the first problem.
    fn well_formed(xml: &str) -> Result<Vec<String>, String> {
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut comments = Vec::new();
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => return Ok(comments),
                Ok(quick_xml::events::Event::Comment(c)) => {
                    let text = std::str::from_utf8(&c).map_err(|e| e.to_string())?;
                    if text.contains("--") {
                        return Err(format!("`--` inside a comment: {text:?}"));
                    }
                    comments.push(text.to_string());
                }
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    #[test]
    fn no_message_breaks_out_of_the_comment() {
        for message in [
            "unknown repo-version \"--->\"",
            "-->",
            "--->",
            "---->",
            "a-",
            "- - -- --- ----",
            "<x>--><y/><!--",
            "\u{1}\u{1b}[31m\u{FFFF}",
        ] {
            let xml = format!(
                "<?xml version=\"1.0\"?>\n<!-- {} -->\n<metalink/>\n",
                comment_text(message)
            );
            let comments = well_formed(&xml).unwrap_or_else(|e| panic!("{message:?}: {e}\n{xml}"));
            assert_eq!(comments.len(), 1, "{xml}");
            // Nothing but spaces added and forbidden characters replaced.
            let kept: String = comments[0].chars().filter(|c| *c != ' ').collect();
            let asked: String = message
                .chars()
                .filter(|c| *c != ' ')
                .map(|c| {
                    if c.is_control() || c == '\u{FFFF}' {
                        '\u{FFFD}'
                    } else {
                        c
                    }
                })
                .collect();
            assert_eq!(kept, asked);
        }
    }
}
