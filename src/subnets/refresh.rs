//! The task that keeps the published lists: one fetch per list at start, then one every
//! `serve.subnets_refresh` (a random tenth either way, so that lists fetched together drift
//! apart), or sooner after a failure (every [`RETRY_AFTER`] at most). A reload adds, drops or
//! re-fetches lists as their URLs come, go or change.
//!
//! After each fetch the state writer gets the whole new [`Published`] (a few lists, shared
//! subnets), and after each good one the lists are saved.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::fetch::{self, FetchError};
use super::parse::{parse, Parsed};
use super::{store, Published, PublishedList};
use crate::config::{Config, Subnets};
use crate::scheduler::{unix_now, InForce};
use crate::state::Event;

/// The longest wait before a failed fetch is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(300);

/// Bad lines logged one by one per fetch; the rest are only counted.
const LOGGED_BAD_LINES: usize = 10;

/// Starts the task. `published` is what was saved at `save_to` (see [`store::load`]); the
/// writer gets it at once, before any fetch. Ends with `shutdown` or when the configuration
/// channel closes.
pub fn spawn(
    configs: watch::Receiver<InForce>,
    published: Published,
    save_to: Option<PathBuf>,
    events: mpsc::Sender<Event>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let task = Refresh {
        published,
        save_to,
        events,
        due: HashMap::new(),
        in_flight: HashSet::new(),
    };
    tokio::spawn(task.run(configs, shutdown))
}

/// What one fetch brings back: the mirror, the URL fetched, and the body or why there is none.
type Fetched = (String, Url, Result<Vec<u8>, FetchError>);

struct Refresh {
    published: Published,
    save_to: Option<PathBuf>,
    events: mpsc::Sender<Event>,
    /// When each list is fetched next (not while its fetch runs).
    due: HashMap<String, Instant>,
    in_flight: HashSet<String>,
}

impl Refresh {
    async fn run(mut self, mut configs: watch::Receiver<InForce>, shutdown: CancellationToken) {
        let mut config = configs.borrow_and_update().config.clone();
        let mut client = fetch::client(&config);
        if let Err(error) = &client {
            tracing::error!(%error, "cannot set up fetching subnet lists");
        }
        self.retarget(&config);
        self.publish().await;
        let mut running: JoinSet<Fetched> = JoinSet::new();
        loop {
            let now = Instant::now();
            let start: Vec<String> = self
                .due
                .iter()
                .filter(|(_, at)| **at <= now)
                .map(|(name, _)| name.clone())
                .collect();
            for name in start {
                self.due.remove(&name);
                let Some(url) = self.published.lists.get(&name).map(|l| l.url.clone()) else {
                    continue;
                };
                self.in_flight.insert(name.clone());
                let client = client.clone();
                running.spawn(async move {
                    let body = match &client {
                        Ok(client) => fetch::fetch(client, &url).await,
                        Err(error) => Err(FetchError::Request(error.clone())),
                    };
                    (name, url, body)
                });
            }
            let next = self.due.values().min().copied();
            tokio::select! {
                () = shutdown.cancelled() => break,
                changed = configs.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    config = configs.borrow_and_update().config.clone();
                    client = fetch::client(&config);
                    if let Err(error) = &client {
                        tracing::error!(%error, "cannot set up fetching subnet lists");
                    }
                    if self.retarget(&config) {
                        self.publish().await;
                    }
                }
                Some(joined) = running.join_next(), if !running.is_empty() => {
                    let Ok((name, url, body)) = joined else { continue };
                    self.in_flight.remove(&name);
                    if self.fold(&config, &name, &url, body, unix_now()) {
                        self.save().await;
                    }
                    self.publish().await;
                }
                () = sleep_until(next) => {}
            }
        }
        running.abort_all();
    }

    /// Makes the lists follow `config`: a list for every enabled mirror with a subnet URL,
    /// new ones (and changed URLs) fetched at once. Whether anything changed.
    fn retarget(&mut self, config: &Config) -> bool {
        let wanted: BTreeMap<&str, &Url> = config
            .enabled_mirrors()
            .filter_map(|m| match &m.subnets {
                Subnets::Url(url) => Some((m.name.as_str(), url)),
                Subnets::List(_) => None,
            })
            .collect();
        let before = self.published.lists.len();
        self.published
            .lists
            .retain(|name, list| wanted.get(name.as_str()) == Some(&&list.url));
        let mut changed = self.published.lists.len() != before;
        self.due
            .retain(|name, _| self.published.lists.contains_key(name));
        for (name, url) in wanted {
            if !self.published.lists.contains_key(name) {
                let list = PublishedList::empty(url.clone());
                self.published.lists.insert(name.to_string(), list);
                changed = true;
            }
            // Every fetch schedules the next, so a list neither due nor being fetched is new
            // (saved lists are fetched again at start too: they may be old).
            if !self.due.contains_key(name) && !self.in_flight.contains(name) {
                self.due.insert(name.to_string(), Instant::now());
            }
        }
        changed
    }

    /// Folds one fetch into the lists and schedules the next. Whether it gave a list (which
    /// is then saved: its fetch time at least is new).
    fn fold(
        &mut self,
        config: &Config,
        name: &str,
        url: &Url,
        body: Result<Vec<u8>, FetchError>,
        now: i64,
    ) -> bool {
        // Dropped, or its URL changed, while the fetch ran: the new one is fetched on its own.
        let Some(list) = self.published.lists.get_mut(name).filter(|l| &l.url == url) else {
            if self.published.lists.contains_key(name) {
                self.due.insert(name.to_string(), Instant::now());
            }
            return false;
        };
        list.attempted_at = Some(now);
        let result = body.map_err(|e| e.to_string()).and_then(|body| {
            let parsed = parse(&body);
            log_bad_lines(name, &parsed);
            // Zero usable lines but some junk: an error page served as 200, not a list.
            if parsed.nets.is_empty() && !parsed.bad.is_empty() {
                return Err(format!(
                    "no line is a CIDR ({} lines skipped)",
                    parsed.bad.len()
                ));
            }
            Ok(parsed)
        });
        let refresh = config.serve.subnets_refresh;
        let (good, wait) = match result {
            Ok(parsed) => {
                if *list.nets != *parsed.nets {
                    tracing::info!(mirror = %name, subnets = parsed.nets.len(), skipped_lines = parsed.bad.len(), "published subnet list in use");
                }
                list.nets = Arc::from(parsed.nets);
                list.skipped_lines = parsed.bad.len();
                list.fetched_at = Some(now);
                list.last_ok = true;
                list.last_error = None;
                (true, refresh)
            }
            Err(error) => {
                tracing::warn!(mirror = %name, %url, %error, kept = list.nets.len(), "cannot fetch the published subnet list; the last good one stays in use");
                list.last_ok = false;
                list.last_error = Some(error);
                (false, refresh.min(RETRY_AFTER))
            }
        };
        self.due
            .insert(name.to_string(), Instant::now() + jittered(wait, name, now));
        good
    }

    /// Hands the lists to the state writer.
    async fn publish(&self) {
        let _ = self
            .events
            .send(Event::Subnets(Arc::new(self.published.clone())))
            .await;
    }

    async fn save(&self) {
        let Some(path) = self.save_to.clone() else {
            return;
        };
        let published = self.published.clone();
        let _ = tokio::task::spawn_blocking(move || store::save(&path, &published)).await;
    }
}

/// Warns about the first few bad lines of a fetch, each with its number, and counts the rest.
/// The line's text is escaped by [`parse`]: nothing the server sent can break a log line.
fn log_bad_lines(name: &str, parsed: &Parsed) {
    for bad in parsed.bad.iter().take(LOGGED_BAD_LINES) {
        tracing::warn!(mirror = %name, line = bad.line, text = %bad.text, "published subnet list: line skipped, not a CIDR");
    }
    if parsed.bad.len() > LOGGED_BAD_LINES {
        tracing::warn!(mirror = %name, more = parsed.bad.len() - LOGGED_BAD_LINES, "published subnet list: more lines skipped");
    }
}

/// `wait` times a factor between 0.9 and 1.1, drawn afresh for each fetch.
fn jittered(wait: Duration, name: &str, now: i64) -> Duration {
    let hash = std::collections::hash_map::RandomState::new().hash_one((name, now));
    let unit = (hash >> 11) as f64 / (1u64 << 53) as f64;
    wait.mul_f64(0.9 + 0.2 * unit)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
