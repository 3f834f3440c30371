//! When to probe what. One task per (mirror, IP family) sweeps once per `probe.interval`;
//! the tasks' phases are spread over the interval so the load is even; one upstream task
//! polls every `freshness.upstream_interval`. A global semaphore caps requests in flight and
//! each sweep caps its own (`probe.per_host`). A configuration change restarts only the tasks
//! whose mirror changed. Results go to the state writer as [`Event`]s.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, IpFamily, Mirror, Protocol};
use crate::probe::sweep::{sweep, FileResult, PlannedFile, Previous, SweepContext, SweepPlan};
use crate::probe::upstream::{poll, UpstreamFile, UpstreamResult};
use crate::state::{Event, Records};

/// Seconds since the epoch, for reports.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The sweep plan of `mirror` over `family`: `None` when it has no probed protocol.
pub fn plan(
    config: &Config,
    mirror: &Mirror,
    family: IpFamily,
    previous: &HashMap<String, Previous>,
) -> Option<SweepPlan> {
    let protocols: Vec<Protocol> = config
        .probe
        .protocols
        .iter()
        .copied()
        .filter(|p| mirror.address.for_protocol(*p).is_some())
        .collect();
    let (&primary, secondary) = protocols.split_first()?;
    let files = config
        .layout
        .targets_for(mirror)
        .map(|t| {
            let urls = protocols
                .iter()
                .filter_map(|&p| {
                    let base = mirror.base_url(t.version, p)?;
                    Some((p, base.join(&t.repomd_path()).ok()?))
                })
                .collect();
            let key = t.dir();
            PlannedFile {
                previous: previous.get(&key).cloned(),
                key,
                urls,
            }
        })
        .filter(|f| f.urls.contains_key(&primary))
        .collect();
    Some(SweepPlan {
        mirror: mirror.name.clone(),
        family,
        primary,
        secondary: secondary.to_vec(),
        files,
        time_url: mirror
            .address
            .for_protocol(primary)
            .and_then(|base| base.join("TIME").ok()),
    })
}

/// Every distinct upstream repomd.xml of the layout.
pub fn upstream_files(config: &Config, previous: &HashMap<String, Previous>) -> Vec<UpstreamFile> {
    let mut seen = HashSet::new();
    config
        .layout
        .targets()
        .filter(|t| seen.insert(t.dir()))
        .map(|t| {
            let key = t.dir();
            UpstreamFile {
                urls: config
                    .upstream
                    .urls_for(t.version)
                    .iter()
                    .filter_map(|base| base.join(&t.repomd_path()).ok())
                    .collect(),
                previous: previous.get(&key).cloned(),
                key,
            }
        })
        .collect()
}

/// Validators remembered from records loaded at start-up.
fn previous_of(records: &Records, mirror: &str, family: IpFamily) -> HashMap<String, Previous> {
    records
        .mirrors
        .get(mirror)
        .and_then(|m| m.families.get(&family))
        .map(|f| {
            f.copies
                .iter()
                .map(|(k, c)| (k.clone(), c.previous()))
                .collect()
        })
        .unwrap_or_default()
}

/// Update the validators after a sweep's file results.
fn remember(
    previous: &mut HashMap<String, Previous>,
    key: &str,
    result: &FileResult,
    etag: &Option<String>,
    last_modified: &Option<String>,
) {
    match result {
        FileResult::Fetched {
            sha256, missing, ..
        } => {
            let old = previous.get(key);
            let same = old.and_then(|p| p.sha256.as_deref()) == Some(sha256.as_str());
            let complete = match missing {
                Some(m) => m.is_empty(),
                None => same && old.is_some_and(|p| p.complete),
            };
            previous.insert(
                key.to_string(),
                Previous {
                    etag: etag.clone(),
                    last_modified: last_modified.clone(),
                    sha256: Some(sha256.clone()),
                    complete,
                },
            );
        }
        FileResult::NotModified => {}
        FileResult::NotFound | FileResult::Failed { .. } => {
            previous.remove(key);
        }
    }
}

/// Where in the interval a (mirror, family) sweeps: a stable fraction from its name.
fn phase(mirror: &str, family: IpFamily) -> f64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (mirror, family).hash(&mut hasher);
    (hasher.finish() % 10_000) as f64 / 10_000.0
}

/// Sleep unless cancelled; false when cancelled.
async fn pause(d: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = shutdown.cancelled() => false,
    }
}

async fn mirror_loop(
    ctx: SweepContext,
    config: Arc<Config>,
    mirror: Mirror,
    family: IpFamily,
    mut previous: HashMap<String, Previous>,
    events: mpsc::Sender<Event>,
    shutdown: CancellationToken,
) {
    // The first sweep comes soon (spread over at most 10 s, so that start-up is quick and not
    // a stampede); later ones keep that phase, one interval apart.
    let interval = config.probe.interval;
    let first = interval
        .min(Duration::from_secs(10))
        .mul_f64(phase(&mirror.name, family));
    if !pause(first, &shutdown).await {
        return;
    }
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let Some(plan) = plan(&config, &mirror, family, &previous) else {
            return;
        };
        let report = tokio::select! {
            report = sweep(&ctx, &plan, unix_now()) => report,
            _ = shutdown.cancelled() => return,
        };
        for file in &report.files {
            remember(
                &mut previous,
                &file.key,
                &file.result,
                &file.etag,
                &file.last_modified,
            );
        }
        if events.send(Event::Sweep(Box::new(report))).await.is_err() {
            return;
        }
    }
}

async fn upstream_loop(
    ctx: SweepContext,
    config: Arc<Config>,
    mut previous: HashMap<String, Previous>,
    events: mpsc::Sender<Event>,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(config.freshness.upstream_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let files = upstream_files(&config, &previous);
        let reports = tokio::select! {
            reports = poll(&ctx, &files, unix_now()) => reports,
            _ = shutdown.cancelled() => return,
        };
        for r in &reports {
            if let UpstreamResult::Fetched(o) = &r.result {
                let p = Previous {
                    etag: r.etag.clone(),
                    last_modified: r.last_modified.clone(),
                    sha256: Some(o.sha256.clone()),
                    complete: true,
                };
                previous.insert(r.key.clone(), p);
            }
        }
        if events.send(Event::Upstream(reports)).await.is_err() {
            return;
        }
    }
}

type TaskKey = (String, IpFamily);

/// Equal for probing purposes: where the mirror is written in the file does not matter.
fn same_mirror(a: &Mirror, b: &Mirror) -> bool {
    let unplaced = |m: &Mirror| Mirror {
        origin: String::new(),
        ..m.clone()
    };
    unplaced(a) == unplaced(b)
}

/// A configuration in force and the fetcher and limits built from it.
#[derive(Clone)]
pub struct InForce {
    pub config: Arc<Config>,
    pub ctx: SweepContext,
}

/// Runs the probing tasks for whatever configuration `configs` holds, until `shutdown`.
pub async fn run(
    mut configs: watch::Receiver<InForce>,
    records: Records,
    events: mpsc::Sender<Event>,
    shutdown: CancellationToken,
) {
    let mut tasks: BTreeMap<TaskKey, (Mirror, CancellationToken, JoinHandle<()>)> = BTreeMap::new();
    let mut upstream: Option<(CancellationToken, JoinHandle<()>)> = None;
    let upstream_previous: HashMap<String, Previous> = records
        .upstream
        .iter()
        .filter_map(|(k, u)| {
            let current = u.history.current()?;
            Some((
                k.clone(),
                Previous {
                    etag: u.etag.clone(),
                    last_modified: u.last_modified.clone(),
                    sha256: Some(current.sha256.clone()),
                    complete: true,
                },
            ))
        })
        .collect();
    let mut in_force: Option<Arc<Config>> = None;
    loop {
        let InForce { config, ctx } = configs.borrow_and_update().clone();
        // Every task runs with the whole configuration: when anything but the mirror list
        // changed (layout, upstream, probe or freshness settings), every task restarts.
        let restart_all = in_force.as_ref().is_none_or(|old| {
            old.layout != config.layout
                || old.upstream != config.upstream
                || old.probe != config.probe
                || old.freshness != config.freshness
        });
        in_force = Some(config.clone());
        if let Some((token, _)) = upstream.take() {
            token.cancel();
        }
        let token = shutdown.child_token();
        let handle = tokio::spawn(upstream_loop(
            ctx.clone(),
            config.clone(),
            upstream_previous.clone(),
            events.clone(),
            token.clone(),
        ));
        upstream = Some((token, handle));
        let mut wanted: HashSet<TaskKey> = HashSet::new();
        for mirror in config.enabled_mirrors() {
            for &family in &config.probe.ip_families {
                let key = (mirror.name.clone(), family);
                wanted.insert(key.clone());
                let unchanged = !restart_all
                    && tasks
                        .get(&key)
                        .is_some_and(|(m, ..)| same_mirror(m, mirror));
                if unchanged {
                    continue;
                }
                if let Some((_, token, _)) = tasks.remove(&key) {
                    token.cancel();
                }
                let token = shutdown.child_token();
                let previous = previous_of(&records, &mirror.name, family);
                let handle = tokio::spawn(mirror_loop(
                    ctx.clone(),
                    config.clone(),
                    mirror.clone(),
                    family,
                    previous,
                    events.clone(),
                    token.clone(),
                ));
                tasks.insert(key, (mirror.clone(), token, handle));
            }
        }
        tasks.retain(|key, (_, token, _)| {
            let keep = wanted.contains(key);
            if !keep {
                token.cancel();
            }
            keep
        });
        tokio::select! {
            changed = configs.changed() => if changed.is_err() { break },
            _ = shutdown.cancelled() => break,
        }
    }
    for (_, (_, token, handle)) in tasks {
        token.cancel();
        let _ = handle.await;
    }
    if let Some((token, handle)) = upstream {
        token.cancel();
        let _ = handle.await;
    }
}
