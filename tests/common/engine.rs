//! [`Engine`]: the daemon's sweep context, scheduler calls and state writer driven by hand,
//! every call at an explicit `now`, so that hours pass in milliseconds
//! (`hostile_mirrors.rs`, `freshness_over_time.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use mirrorwatch::config::{Config, IpFamily};
use mirrorwatch::health::State;
use mirrorwatch::probe::due::Due;
use mirrorwatch::probe::{SweepContext, SweepReport, Validators};
use mirrorwatch::state::{Event, Records, Snapshot, StateWriter};

use super::v4;

/// The sweep context, scheduler calls and state writer of the daemon, driven by hand: every
/// call takes the `now` (unix seconds) it happens at, so hours pass in milliseconds.
/// Validators are kept per mirror as `scheduler::mirror_loop` keeps them (each report's
/// next ones); [`Engine::restart`] goes through the state file as `daemon::run` does.
pub struct Engine {
    pub config: Arc<Config>,
    pub ctx: SweepContext,
    pub writer: StateWriter,
    previous: HashMap<String, HashMap<String, Validators>>,
}

impl Engine {
    pub fn new(config: Arc<Config>, now: i64) -> Engine {
        let mut ctx = mirrorwatch::daemon::sweep_context(&config).unwrap();
        let writer = StateWriter::new(config.clone(), Records::default(), now);
        ctx.upstream = writer.upstream_digests();
        Engine {
            config,
            ctx,
            writer,
            previous: HashMap::new(),
        }
    }

    /// Saves the records to `state.path`, then starts again from that file: a new fetcher
    /// (no pooled connections), a new writer, validators from the records (as
    /// `scheduler::run` takes them).
    pub fn restart(&mut self, now: i64) {
        let path = self.config.state.path.clone().unwrap();
        mirrorwatch::persist::save_atomic(&path, self.writer.records()).unwrap();
        let records = mirrorwatch::daemon::load_records(&self.config);
        self.previous = records
            .mirrors
            .iter()
            .filter_map(|(name, m)| {
                let f = m.families.get(&IpFamily::Ipv4)?;
                let copies = f.copies.iter().map(|(k, c)| (k.clone(), c.validators()));
                Some((name.clone(), copies.collect()))
            })
            .collect();
        self.ctx = mirrorwatch::daemon::sweep_context(&self.config).unwrap();
        self.writer = StateWriter::new(self.config.clone(), records, now);
        self.ctx.upstream = self.writer.upstream_digests();
    }

    /// Polls the upstream at `now`, with the validators the records hold (what a starting
    /// `scheduler::upstream_loop` is given), and folds the result.
    pub async fn poll(&mut self, now: i64) {
        let previous = self.writer.upstream_validators();
        let files = mirrorwatch::scheduler::upstream_files(&self.config, &previous);
        let reports = mirrorwatch::probe::upstream::poll(&self.ctx, &files, now).await;
        self.writer.apply(Event::Upstream(reports), now);
    }

    /// Sweeps `mirror` over IPv4 at `now` and folds the report (returned too); its
    /// validators are then the report's next ones, as `scheduler::mirror_loop` keeps them.
    /// Every file is fetched.
    pub async fn sweep(&mut self, mirror: &str, now: i64) -> SweepReport {
        self.sweep_due(mirror, now, &[]).await
    }

    /// [`Engine::sweep`], doing with each file what `due` says (in plan order; a file past
    /// its end is fetched).
    pub async fn sweep_due(&mut self, mirror: &str, now: i64, due: &[Due]) -> SweepReport {
        let previous = self.previous.entry(mirror.to_string()).or_default();
        let m = self.config.mirror(mirror).unwrap();
        let planner = mirrorwatch::scheduler::Planner::new(self.config.clone());
        let plan = planner.plan(m, IpFamily::Ipv4).unwrap();
        let validators: Vec<Option<Validators>> =
            plan.keys().map(|k| previous.get(k).cloned()).collect();
        let report = mirrorwatch::probe::sweep(&self.ctx, &plan, &validators, due, now).await;
        for file in &report.files {
            file.next.apply_keyed(&file.key, previous);
        }
        self.writer
            .apply(Event::Sweep(Box::new(report.clone())), now);
        report
    }

    pub fn snapshot(&mut self, now: i64) -> Arc<Snapshot> {
        self.writer.snapshot(now)
    }

    /// The IPv4 state of `mirror` in a snapshot taken at `now`.
    pub fn state(&mut self, mirror: &str, now: i64) -> State {
        v4(&self.snapshot(now), mirror).state
    }
}
