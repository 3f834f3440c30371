//! When to probe what. One task per (mirror, IP family) sweeps once per `probe.interval`,
//! checking the files its [`Rotation`] says are due (see [`crate::probe::due`]); the tasks'
//! phases are spread over the interval so the load is even; one upstream task
//! polls every `freshness.upstream_interval`. A global semaphore caps requests in flight and
//! each sweep caps its own (`probe.per_host`). A configuration change restarts only the tasks
//! whose mirror changed, and the upstream task only when the layout, the upstream or the
//! probe and freshness settings changed; a task starting asks the state writer for its
//! validators. Results go to the state writer as [`Event`]s.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, IpFamily, Mirror};
use crate::probe::upstream::{poll, UpstreamFile};
use crate::probe::{sweep, Rotation, SweepContext, SweepPlan, Targets, Validators};
use crate::state::Event;

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
pub fn upstream_files(
    config: &Config,
    previous: &HashMap<String, Validators>,
) -> Vec<UpstreamFile> {
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

/// The validators of the upstream's files, by key, from the writer; `None` when the writer
/// is gone.
async fn upstream_validators(events: &mpsc::Sender<Event>) -> Option<HashMap<String, Validators>> {
    let permit = events.reserve().await.ok()?;
    let (reply, answer) = oneshot::channel();
    permit.send(Event::UpstreamValidators { reply });
    answer.await.ok()
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

/// How a starting task takes over from the one it replaces (after a reload): it waits for
/// that task to end, so that its last report is in the writer's queue ahead of the question,
/// then asks the writer for its validators. `None`: shutting down, or the writer is gone.
async fn take_over<T>(
    predecessor: Option<JoinHandle<()>>,
    ask: impl std::future::Future<Output = Option<T>>,
    shutdown: &CancellationToken,
) -> Option<T> {
    if let Some(predecessor) = predecessor {
        let _ = predecessor.await;
    }
    tokio::select! {
        answer = ask => answer,
        _ = shutdown.cancelled() => None,
    }
}

async fn mirror_loop(
    ctx: SweepContext,
    config: Arc<Config>,
    plan: SweepPlan,
    predecessor: Option<JoinHandle<()>>,
    events: mpsc::Sender<Event>,
    shutdown: CancellationToken,
) {
    let Some(mut previous) = take_over(predecessor, validators_of(&plan, &events), &shutdown).await
    else {
        return;
    };
    let interval = config.probe.interval;
    let mut rotation = Rotation::new(
        plan.len(),
        config.probe.rotation(),
        config.freshness.stale_after,
    );
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
        let now = unix_now();
        let due = rotation.next(&plan, &previous, &ctx.upstream, ctx.check_data_files, now);
        let report = tokio::select! {
            report = sweep(&ctx, &plan, &previous, &due, now) => report,
            _ = shutdown.cancelled() => return,
        };
        // The report has one file per planned file, in plan order, each with its next
        // validators.
        for (previous, file) in previous.iter_mut().zip(&report.files) {
            file.next.apply(previous);
        }
        rotation.note(&report);
        if events.send(Event::Sweep(Box::new(report))).await.is_err() {
            return;
        }
    }
}

async fn upstream_loop(
    ctx: SweepContext,
    config: Arc<Config>,
    predecessor: Option<JoinHandle<()>>,
    events: mpsc::Sender<Event>,
    shutdown: CancellationToken,
) {
    let Some(mut previous) = take_over(predecessor, upstream_validators(&events), &shutdown).await
    else {
        return;
    };
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
            r.next.apply_keyed(&r.key, &mut previous);
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
/// Every task asks the state writer for its validators when it starts.
pub async fn run(
    mut configs: watch::Receiver<InForce>,
    events: mpsc::Sender<Event>,
    shutdown: CancellationToken,
) {
    // A task's mirror is the one of the configuration in force when it last (re)started or
    // was kept: not copied per task (at 10,000 mirrors the copies cost 20 MB).
    let mut tasks: BTreeMap<TaskKey, (CancellationToken, JoinHandle<()>)> = BTreeMap::new();
    let mut upstream: Option<(CancellationToken, JoinHandle<()>)> = None;
    let mut in_force: Option<InForce> = None;
    loop {
        let new = configs.borrow_and_update().clone();
        let config = new.config;
        // Every task runs with the whole configuration: when anything but the mirror list
        // changed (layout, upstream, probe or freshness settings), every task restarts.
        let restart_all = in_force.as_ref().is_none_or(|old| {
            old.config.layout != config.layout
                || old.config.upstream != config.upstream
                || old.config.probe != config.probe
                || old.config.freshness != config.freshness
        });
        // The fetcher and caps are built from those settings: while they stand, the tasks
        // started now share the ones of the tasks kept, and with them one global cap.
        let previous = in_force.as_ref().map(|old| old.config.clone());
        let ctx = match in_force {
            Some(old) if !restart_all => old.ctx,
            _ => new.ctx,
        };
        let before: HashMap<&str, &Mirror> = previous
            .iter()
            .flat_map(|c| c.mirrors.iter())
            .map(|m| (m.name.as_str(), m))
            .collect();
        in_force = Some(InForce {
            config: config.clone(),
            ctx: ctx.clone(),
        });
        // The upstream task polls the layout's files at the upstream's URLs: a change of
        // the mirror list leaves it running, with the validators it has learnt.
        if restart_all {
            let predecessor = upstream.take().map(|(token, handle)| {
                token.cancel();
                handle
            });
            let token = shutdown.child_token();
            let handle = tokio::spawn(upstream_loop(
                ctx.clone(),
                config.clone(),
                predecessor,
                events.clone(),
                token.clone(),
            ));
            upstream = Some((token, handle));
        }
        let planner = Planner::new(config.clone());
        let mut wanted: HashSet<TaskKey> = HashSet::new();
        for mirror in config.enabled_mirrors() {
            for &family in &config.probe.ip_families {
                let key = (mirror.name.clone(), family);
                wanted.insert(key.clone());
                let unchanged = !restart_all
                    && tasks.contains_key(&key)
                    && before
                        .get(mirror.name.as_str())
                        .is_some_and(|m| same_mirror(m, mirror));
                if unchanged {
                    continue;
                }
                let predecessor = tasks.remove(&key).map(|(token, handle)| {
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
                    config.clone(),
                    plan,
                    predecessor,
                    events.clone(),
                    token.clone(),
                ));
                tasks.insert(key, (token, handle));
            }
        }
        tasks.retain(|key, (token, _)| {
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
    for (_, (token, handle)) in tasks {
        token.cancel();
        let _ = handle.await;
    }
    if let Some((token, handle)) = upstream {
        token.cancel();
        let _ = handle.await;
    }
}
