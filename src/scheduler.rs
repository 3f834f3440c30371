//! When to probe what. One task per (mirror, IP family) sweeps once per `probe.interval`;
//! the tasks' phases are spread over the interval so the load is even; one upstream task
//! polls every `freshness.upstream_interval`. A global semaphore caps requests in flight and
//! each sweep caps its own (`probe.per_host`). A configuration change restarts only the tasks
//! whose mirror changed. Results go to the state writer as [`Event`]s.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, IpFamily, Mirror};
use crate::probe::upstream::{poll, UpstreamFile, UpstreamResult};
use crate::probe::{
    sweep, FileReport, FileResult, Previous, SweepContext, SweepPlan, Targets, Validators,
};
use crate::state::{Event, Records};

/// Seconds since the epoch, for reports.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Builds the sweep plans of one configuration; the table of the layout's paths is made once
/// and shared by every plan.
pub struct Planner {
    config: Arc<Config>,
    targets: Arc<Targets>,
}

impl Planner {
    pub fn new(config: Arc<Config>) -> Planner {
        let targets = Arc::new(Targets::new(&config.layout));
        Planner { config, targets }
    }

    /// The sweep plan of `mirror` over `family`: `None` when it has no probed protocol.
    pub fn plan(&self, mirror: &Mirror, family: IpFamily) -> Option<SweepPlan> {
        SweepPlan::new(
            &self.targets,
            &self.config.layout,
            &self.config.probe.protocols,
            mirror,
            family,
        )
    }
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

/// The validators of `plan`'s files, in plan order, from the writer (which owns the records).
/// `None` when the writer is gone: the daemon is stopping.
async fn validators_of(
    plan: &SweepPlan,
    events: &mpsc::Sender<Event>,
) -> Option<Vec<Option<Validators>>> {
    // A place in the queue first, the question (136 keys) only then: at start-up thousands
    // of tasks wait here at once, and they must not each hold their keys while they wait.
    let permit = events.reserve().await.ok()?;
    let (reply, answer) = oneshot::channel();
    permit.send(Event::Validators {
        mirror: plan.mirror.clone(),
        family: plan.family,
        keys: plan.keys().map(str::to_string).collect(),
        reply,
    });
    answer.await.ok()
}

/// Update the validators of one file after a sweep's result for it.
fn remember(previous: &mut Option<Validators>, file: &FileReport) {
    match &file.result {
        FileResult::Fetched {
            sha256, missing, ..
        } => {
            let old = previous.as_ref();
            let same = old.is_some_and(|p| p.same_sha256(sha256));
            let complete = match missing {
                Some(m) => m.is_empty(),
                None => same && old.is_some_and(Validators::complete),
            };
            *previous = Some(Validators::new(
                file.etag.as_deref(),
                file.last_modified.as_deref(),
                Some(sha256),
                complete,
            ));
        }
        FileResult::NotModified => {}
        FileResult::NotFound | FileResult::Failed { .. } => *previous = None,
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
    interval: Duration,
    plan: SweepPlan,
    predecessor: Option<JoinHandle<()>>,
    events: mpsc::Sender<Event>,
    shutdown: CancellationToken,
) {
    // The task this one replaces (after a reload) may still be handing in its last sweep:
    // once it has ended, that report is in the queue ahead of the question below, so the
    // validators answered include it.
    if let Some(predecessor) = predecessor {
        let _ = predecessor.await;
    }
    let mut previous = tokio::select! {
        previous = validators_of(&plan, &events) => match previous {
            Some(previous) => previous,
            None => return,
        },
        _ = shutdown.cancelled() => return,
    };
    // The first sweep comes soon (spread over at most 10 s, so that start-up is quick and not
    // a stampede); later ones keep that phase, one interval apart.
    let first = interval
        .min(Duration::from_secs(10))
        .mul_f64(phase(&plan.mirror, plan.family));
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
        let report = tokio::select! {
            report = sweep(&ctx, &plan, &previous, unix_now()) => report,
            _ = shutdown.cancelled() => return,
        };
        // The report has one file per planned file, in plan order.
        for (previous, file) in previous.iter_mut().zip(&report.files) {
            remember(previous, file);
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
    // Mirror tasks ask the writer for their validators; nothing else is needed from these.
    drop(records);
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
        let planner = Planner::new(config.clone());
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
                let predecessor = tasks.remove(&key).map(|(_, token, handle)| {
                    token.cancel();
                    handle
                });
                let token = shutdown.child_token();
                // Built once for the life of the task: only a change of the mirror or of the
                // configuration around it (which restarts the task) changes the plan.
                let Some(plan) = planner.plan(mirror, family) else {
                    continue;
                };
                let handle = tokio::spawn(mirror_loop(
                    ctx.clone(),
                    config.probe.interval,
                    plan,
                    predecessor,
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
