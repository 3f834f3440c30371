//! Wiring: the prober (scheduler + sweeps), the state writer, persistence, reloads and the
//! HTTP server, connected by channels. Data flows one way: scheduler → events → state writer
//! → `watch` of `Arc<Snapshot>` → HTTP handlers.

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config};
use crate::geoip::{GeoIp, GeoIpError};
use crate::persist::{self, Loaded};
use crate::probe::{lookup_slots, sweep_slots, HostLimits, SweepContext};
use crate::probe::{DnsConfig, Fetcher, FetcherConfig, Limits, TrustConfig};
use crate::scheduler::{self, unix_now};
use crate::state::{Event, Records, Snapshot, StateWriter};

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot read CA file {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot set up probing: {0}")]
    Probe(#[from] crate::probe::SetupError),
    #[error("{0}")]
    GeoIp(#[from] GeoIpError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The fetcher and limits the configuration asks for.
pub fn sweep_context(config: &Config) -> Result<SweepContext, StartError> {
    let p = &config.probe;
    let count = |n: NonZeroU32| NonZeroUsize::try_from(n).unwrap_or(NonZeroUsize::MAX);
    let (concurrency, per_host) = (count(p.concurrency), count(p.per_host));
    let mut extra_ca_pem = Vec::new();
    for path in &p.ca_files {
        let pem = crate::files::read_to_string(path).map_err(|source| StartError::CaFile {
            path: path.display().to_string(),
            source,
        })?;
        extra_ca_pem.push(pem);
    }
    let fetcher = Fetcher::new(&FetcherConfig {
        dns: DnsConfig {
            name_servers: p.dns_servers.clone(),
            timeout: p.connect_timeout,
            ..DnsConfig::default()
        },
        trust: TrustConfig {
            system_roots: true,
            extra_ca_pem,
        },
        user_agent: p.user_agent.clone(),
        max_idle_per_host: per_host.get(),
        ..FetcherConfig::default()
    })?;
    Ok(SweepContext {
        global: Arc::new(Semaphore::new(concurrency.get())),
        sweeps: Arc::new(Semaphore::new(sweep_slots(concurrency, per_host))),
        lookups: Arc::new(Semaphore::new(lookup_slots(concurrency))),
        budget: p.interval,
        limits: Limits {
            connect_timeout: p.connect_timeout,
            total_timeout: p.timeout,
            max_body_bytes: p.max_body_bytes.get(),
            max_redirects: p.max_redirects,
        },
        hosts: Arc::new(HostLimits::new(per_host)),
        check_data_files: config.freshness.check_data_files,
        // Until the caller shares the state writer's: nothing known, every copy checked.
        upstream: Arc::default(),
        time_file: config.probe.time_file,
        keep_connections: p.interval < fetcher.idle_timeout(),
        fetcher,
    })
}

/// The persisted records, or fresh ones. An unusable state file is set aside, never fatal.
pub fn load_records(config: &Config) -> Records {
    let Some(path) = &config.state.path else {
        return Records::default();
    };
    match persist::load_or_set_aside::<Records>(path, unix_now()) {
        Loaded::Fresh => Records::default(),
        Loaded::Restored(records) => {
            tracing::info!(path = %path.display(), mirrors = records.mirrors.len(), "state restored");
            // Reading it parsed every value into temporaries freed between the records
            // that stay: give those pages back before the daemon settles in.
            crate::memory::release_free_memory();
            records
        }
        Loaded::SetAside { moved_to, reason } => {
            tracing::error!(path = %path.display(), moved_to = %moved_to.display(), %reason, "state file unusable: set aside, starting fresh");
            Records::default()
        }
    }
}

/// How a save ended: whether it succeeded, when, and the file's size after it.
struct Saved {
    ok: bool,
    at: i64,
    size: Option<u64>,
}

/// Save `records` in the background. Callers pass a clone: cheap, since mirror records are
/// shared until the writer next changes them (see [`Records`]), and the document is streamed
/// to the file rather than built in memory.
fn save(path: Option<&Path>, records: Records) -> Option<tokio::task::JoinHandle<Saved>> {
    let path = path?.to_path_buf();
    Some(tokio::task::spawn_blocking(move || {
        let result = persist::save_atomic(&path, &records);
        let at = unix_now();
        match result {
            Ok(()) => Saved {
                ok: true,
                at,
                size: std::fs::metadata(&path).ok().map(|m| m.len()),
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot save state");
                Saved {
                    ok: false,
                    at,
                    size: None,
                }
            }
        }
    }))
}

/// How long a reload may take to read and check the configuration.
const RELOAD_LIMIT: Duration = Duration::from_secs(30);

/// The configuration at `path` and the fetcher it asks for, for a reload. A configuration is
/// in force only with its fetcher (name servers, CA files, limits): one that cannot be built
/// fails the reload like bad YAML. Read on a blocking thread and bounded by [`RELOAD_LIMIT`]:
/// a file system that hangs fails the reload rather than stalling the daemon.
async fn load_for_reload(path: PathBuf) -> Result<(config::Loaded, SweepContext), String> {
    let work = tokio::task::spawn_blocking(move || {
        let loaded = config::load(&path).map_err(|e| e.to_string())?;
        let ctx = sweep_context(&loaded.config).map_err(|e| e.to_string())?;
        Ok((loaded, ctx))
    });
    match tokio::time::timeout(RELOAD_LIMIT, work).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(format!("loading the configuration failed: {e}")),
        Err(_) => Err(format!(
            "reading the configuration took more than {} s",
            RELOAD_LIMIT.as_secs()
        )),
    }
}

/// The state writer's loop: fold events, publish snapshots (at most four a second), save
/// the records every `state.save_interval` and once more on the way out.
async fn writer_loop(
    mut writer: StateWriter,
    mut events: mpsc::Receiver<Event>,
    snapshots: watch::Sender<Arc<Snapshot>>,
    shutdown: CancellationToken,
) {
    let mut publish = tokio::time::interval(Duration::from_millis(250));
    let every = |writer: &StateWriter| writer.config().state.save_interval;
    let mut save_every = every(&writer);
    let mut saving = tokio::time::interval_at(tokio::time::Instant::now() + save_every, save_every);
    // One save at a time: two writers of the same temporary file would tear it.
    let mut in_flight: Option<tokio::task::JoinHandle<Saved>> = None;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    writer.apply(event, unix_now());
                    if every(&writer) != save_every {
                        save_every = every(&writer);
                        saving = tokio::time::interval_at(tokio::time::Instant::now() + save_every, save_every);
                    }
                }
                None => break,
            },
            _ = publish.tick() => if writer.is_dirty(unix_now()) {
                snapshots.send_replace(writer.snapshot(unix_now()));
            },
            _ = saving.tick() => {
                if in_flight.is_none() {
                    let path = writer.config().state.path.clone();
                    in_flight = save(path.as_deref(), writer.records().clone());
                }
            }
            // How the save ended goes into the next snapshot (the metrics of state saves).
            joined = async {
                match in_flight.as_mut() {
                    Some(handle) => handle.await,
                    None => std::future::pending().await,
                }
            } => {
                in_flight = None;
                if let Ok(saved) = joined {
                    writer.note_save(saved.ok, saved.at, saved.size);
                }
            }
            _ = shutdown.cancelled() => break,
        }
    }
    while let Ok(event) = events.try_recv() {
        writer.apply(event, unix_now());
    }
    if let Some(handle) = in_flight.take() {
        let _ = handle.await;
    }
    let path = writer.config().state.path.clone();
    if let Some(handle) = save(path.as_deref(), writer.records().clone()) {
        let _ = handle.await;
    }
}

/// Run the daemon on `listener` until `shutdown`; state is saved before returning.
pub async fn run(
    config: Arc<Config>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    // Watch for reloads before anything else, so that no change goes unseen.
    let mut triggers = crate::reload::spawn_triggers(&config.file, shutdown.clone());
    let mut ctx = sweep_context(&config)?;
    // Read whole into memory now: lookups on the request path do no I/O. A reload does not
    // reopen them; a changed path or file takes a restart.
    let geoip = GeoIp::open(
        config.serve.geoip_country_db.as_deref(),
        config.serve.geoip_asn_db.as_deref(),
    )?
    .map(Arc::new);
    // Off the async workers: the state file can be hundreds of megabytes.
    let records = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || load_records(&config))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "reading the state failed; starting fresh");
                Records::default()
            })
    };
    let now = unix_now();
    // The writer keeps the records (and their interner); the scheduler's tasks ask it for
    // their validators.
    let mut writer = StateWriter::new(config.clone(), records, now);
    let digests = writer.upstream_digests();
    ctx.upstream = digests.clone();
    // Subnet lists published at a URL, as saved: in the very first snapshot, before any
    // fetch (a restart without network keeps placing clients by them).
    let subnets_file = config
        .state
        .path
        .as_deref()
        .map(crate::subnets::store::path_beside);
    let saved_subnets = subnets_file
        .as_deref()
        .map(|path| crate::subnets::store::load(path, now))
        .unwrap_or_default();
    writer.apply(Event::Subnets(Arc::new(saved_subnets.clone())), now);
    let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot::empty(config.clone(), now)));
    let (events_tx, events_rx) = mpsc::channel(1024);
    let (config_tx, config_rx) = watch::channel(scheduler::InForce {
        config: config.clone(),
        ctx,
    });
    let engine_stop = CancellationToken::new();
    let writer_task = tokio::spawn(writer_loop(writer, events_rx, snap_tx, engine_stop.clone()));
    // The status pages' history, recorded from every snapshot and saved beside the state.
    let (history, history_task) =
        crate::serve::pages::recorder::spawn(&config, snap_rx.clone(), now, engine_stop.clone());
    let scheduler_task = tokio::spawn(scheduler::run(
        config_rx,
        events_tx.clone(),
        engine_stop.clone(),
    ));
    // Then fetched at start and every `serve.subnets_refresh`.
    let subnets_task = crate::subnets::spawn(
        config_tx.subscribe(),
        saved_subnets,
        subnets_file,
        events_tx.clone(),
        engine_stop.clone(),
    );
    let reload_events = events_tx.clone();
    let reload_task = tokio::spawn(async move {
        while let Some(trigger) = triggers.recv().await {
            let path = config_tx.borrow().config.file.clone();
            match load_for_reload(path).await {
                Ok((loaded, mut ctx)) => {
                    ctx.upstream = digests.clone();
                    for warning in &loaded.warnings {
                        tracing::warn!("{warning}");
                    }
                    tracing::info!(
                        ?trigger,
                        mirrors = loaded.config.mirrors.len(),
                        "configuration reloaded"
                    );
                    let new = Arc::new(loaded.config);
                    let _ = reload_events.send(Event::Config(new.clone())).await;
                    config_tx.send_replace(scheduler::InForce { config: new, ctx });
                }
                Err(err) => {
                    tracing::error!(
                        ?trigger,
                        "reload failed, the previous configuration stays in force:\n{err}"
                    );
                    let _ = reload_events.send(Event::ReloadFailed).await;
                }
            }
        }
    });
    drop(events_tx);
    let state = crate::serve::AppState::new(snap_rx, geoip).with_history(history);
    let limits = crate::serve::listener::Limits::new(&config.serve, connection_cap(&config));
    let http = (*state.http).clone();
    let app = crate::serve::router(state);
    tracing::info!(addr = %listener.local_addr()?, max_connections = limits.max_connections, "listening");
    let server = crate::serve::listener::serve(listener, app, limits, http, shutdown.clone());
    // A bounded drain: a client that never finishes its request must not keep the daemon
    // from stopping and saving its state.
    let drain_limit = async {
        shutdown.cancelled().await;
        tokio::time::sleep(DRAIN).await;
    };
    tokio::select! {
        () = server => {}
        () = drain_limit => {
            tracing::warn!(seconds = DRAIN.as_secs(), "connections still open after the drain period; closing them");
        }
    }
    // Stop probing, then let the writer fold what is in flight and save.
    engine_stop.cancel();
    reload_task.abort();
    let _ = scheduler_task.await;
    let _ = subnets_task.await;
    let _ = writer_task.await;
    let _ = history_task.await;
    tracing::info!("shut down");
    Ok(())
}

/// `serve.max_connections`, lowered so that the connections and the probes together stay
/// under the file-descriptor limit (raised to its hard value first).
fn connection_cap(config: &Config) -> u32 {
    let nofile = crate::fdlimit::raise();
    let reserve = crate::fdlimit::reserve(config.probe.concurrency.get());
    let wanted = config.serve.max_connections.get();
    let cap = crate::fdlimit::connection_cap(wanted, nofile.soft, reserve);
    if cap < wanted {
        tracing::warn!(
            max_connections = wanted,
            cap,
            soft_limit = nofile.soft,
            reserve,
            "serve.max_connections lowered to fit the file-descriptor limit beside the probes"
        );
    }
    cap
}

/// One sweep of every enabled mirror (and one upstream poll), for `mirrorwatch check`.
/// `progress` is called after each sweep with (done, total).
pub async fn check_once(
    config: Arc<Config>,
    progress: impl Fn(usize, usize),
) -> Result<Arc<Snapshot>, StartError> {
    let mut ctx = sweep_context(&config)?;
    let mut writer = StateWriter::new(config.clone(), Records::default(), unix_now());
    ctx.upstream = writer.upstream_digests();
    let files = scheduler::upstream_files(&config, &Default::default());
    // The upstream poll runs beside the sweeps: verdicts are only judged at snapshot time.
    let upstream = tokio::spawn({
        let ctx = ctx.clone();
        async move { crate::probe::upstream::poll(&ctx, &files, unix_now()).await }
    });
    let planner = scheduler::Planner::new(config.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for mirror in config.enabled_mirrors() {
        for &family in &config.probe.ip_families {
            if let Some(plan) = planner.plan(mirror, family) {
                let ctx = ctx.clone();
                // Each sweep waits for a slot of `ctx.sweeps` before it allocates anything.
                tasks.spawn(
                    async move { crate::probe::sweep(&ctx, &plan, &[], &[], unix_now()).await },
                );
            }
        }
    }
    let total = tasks.len();
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        done += 1;
        progress(done, total);
        if let Ok(report) = joined {
            writer.apply(Event::Sweep(Box::new(report)), unix_now());
        }
    }
    if let Ok(reports) = upstream.await {
        writer.apply(Event::Upstream(reports), unix_now());
    }
    Ok(writer.snapshot(unix_now()))
}
