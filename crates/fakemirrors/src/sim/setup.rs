//! Starting a simulation: the layout, the mirrors' addresses and faults (seeded), the
//! listeners, the name server, the control address, the certificates and the generated
//! configuration, then the tasks that run it all.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::certs::Certs;
use super::config::{self, ConfigPlan};
use super::control;
use super::faults::{self, Rng};
use super::network::{History, Network, RevisionNote, Site, Store, Timing};
use super::revision::Revision;
use super::server::{self, bind_listener, Family};
use super::truth::unix_now;
use super::{
    io, mirror_ip, SimError, SimOptions, Simulation, CONTROL_IP, COUNTRIES, DNS_IP, MAX_MIRRORS,
    UPSTREAM_IP,
};
use crate::dns::{DnsServer, Entry, SIM_ZONE};

/// A mirror's listeners: IPv4 on its own address and, with IPv6, `[::1]` on the same port
/// (a URL carries one port for both families).
type Bound = (u16, TcpListener, Option<TcpListener>);

fn bind_mirror(ip: Ipv4Addr, ipv6: bool) -> std::io::Result<Bound> {
    if !ipv6 {
        let v4 = bind_listener(SocketAddr::from((ip, 0)))?;
        return Ok((v4.local_addr()?.port(), v4, None));
    }
    let mut last = None;
    for _ in 0..20 {
        let v6 = bind_listener(SocketAddr::from((Ipv6Addr::LOCALHOST, 0)))?;
        let port = v6.local_addr()?.port();
        match bind_listener(SocketAddr::from((ip, port))) {
            Ok(v4) => return Ok((port, v4, Some(v6))),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no port free on both families")))
}

/// The figures the network runs by, from the options: mirrors follow within a share of the
/// publication period (never sooner than 1.5 upstream polls, so a fresh copy is usually
/// already known upstream), and `stale_after` is above anything a healthy mirror can show.
fn timing(o: &SimOptions, dirs: usize, families: u32) -> (Timing, Duration, Duration) {
    let p = o.publish_every;
    let delay_min = o.upstream_interval.mul_f64(1.5).max(p.mul_f64(0.05));
    let delay_max = (delay_min + p.mul_f64(0.35))
        .min(p.mul_f64(0.9))
        .max(delay_min);
    let visible = delay_max + o.probe_interval * 2 + o.upstream_interval;
    let stale_after = match visible.as_secs_f64() {
        s if s < 60.0 => Duration::from_secs(s.ceil() as u64),
        s => Duration::from_secs(((s / 5.0).ceil() * 5.0) as u64),
    };
    let timeout = o.probe_interval.mul_f64(0.5).min(Duration::from_secs(10));
    // Slow enough to stand out by far (loopback answers in about a millisecond), fast
    // enough that even the first sweep — every file, plus HEADs of its data files, over
    // every family, 4 at a time — takes about half an interval: readiness waits for it.
    let per_request = o
        .probe_interval
        .mul_f64(1.0 / (2.0 * dirs.max(1) as f64 * f64::from(families)));
    let slow_delay = per_request
        .min(Duration::from_secs(1))
        .min(timeout / 3)
        .max(Duration::from_millis(20));
    let timing = Timing {
        publish_every: p,
        publications: o.publications,
        full_every: o.full_every,
        probe_interval: o.probe_interval,
        probe_timeout: timeout,
        upstream_interval: o.upstream_interval,
        stale_after,
        flap_period: o.probe_interval.mul_f64(1.5),
        slow_delay,
    };
    (timing, delay_min, delay_max)
}

fn check(o: &SimOptions) -> Result<(), SimError> {
    let bad = |m: &str| Err(SimError::Options(m.to_string()));
    if o.mirrors == 0 || o.mirrors > MAX_MIRRORS {
        return bad(&format!("--mirrors must be from 1 to {MAX_MIRRORS}"));
    }
    if o.publish_every < Duration::from_secs(1) || o.probe_interval < Duration::from_secs(1) {
        return bad("--publish-every and the probe interval must be at least 1s");
    }
    if o.full_every.is_some_and(|f| f < o.probe_interval) {
        return bad("--full-every must not be below the probe interval");
    }
    if o.upstream_interval.is_zero() || o.upstream_interval > o.publish_every / 2 {
        return bad("the upstream interval must be positive and at most half of --publish-every");
    }
    if !(0.0..=1.0).contains(&o.ipv6_share) {
        return bad("--ipv6 must be a share from 0 to 1");
    }
    if !o.listen.ip().is_loopback() {
        return bad("the daemon of a simulation listens on loopback only (127.0.0.0/8 or ::1)");
    }
    Ok(())
}

/// Start everything; see [`Simulation::start`].
pub(super) async fn start(o: SimOptions) -> Result<Simulation, SimError> {
    check(&o)?;
    let (work_dir, own_work_dir) = match &o.work_dir {
        Some(dir) => (dir.clone(), false),
        None => {
            let nanos = unix_now().fract();
            let name = format!(
                "mirrorwatch-sim-{}-{:06}",
                std::process::id(),
                (nanos * 1e6) as u64
            );
            (std::env::temp_dir().join(name), true)
        }
    };
    std::fs::create_dir_all(&work_dir)
        .map_err(io(format!("cannot create {}", work_dir.display())))?;
    let started = build(o, work_dir.clone(), own_work_dir).await;
    if started.is_err() && own_work_dir {
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    started
}

/// Everything after the working directory exists.
async fn build(
    o: SimOptions,
    work_dir: std::path::PathBuf,
    own_work_dir: bool,
) -> Result<Simulation, SimError> {
    let layout = &o.layout;
    let store = Store::new(layout);
    if store.dirs.is_empty() {
        return Err(SimError::Layout(
            "the layout has no repository to serve".into(),
        ));
    }
    let ipv6 = o.ipv6_share > 0.0 && crate::ipv6_loopback_available();
    if o.ipv6_share > 0.0 && !ipv6 {
        tracing::warn!("[::1] cannot be bound here: the simulated network is IPv4 only");
    }
    let families = if ipv6 { 2 } else { 1 };
    let (timing, delay_min, delay_max) = timing(&o, store.dirs.len(), families);

    // The network's shape, all from one seeded stream.
    let mut rng = Rng::new(o.seed);
    let n = o.mirrors;
    let has_v6: Vec<bool> = (0..n).map(|_| ipv6 && rng.unit() < o.ipv6_share).collect();
    let modules: Vec<bool> = (0..n).map(|_| rng.unit() < 0.6).collect();
    // Skewed towards the quick end: most mirrors sync soon, a few take their time.
    let delays: Vec<Duration> = (0..n)
        .map(|_| delay_min + (delay_max - delay_min).mul_f64(rng.unit().powi(2)))
        .collect();
    let mut mix = o.faults.clone();
    if !ipv6 {
        mix.0.retain(|(k, _)| *k != faults::FaultKind::Ipv6Broken);
    }
    let planned =
        faults::assign(&mix, &has_v6, o.fault_onset, &mut rng).map_err(SimError::Options)?;

    let now = unix_now();
    let start = tokio::time::Instant::now();
    let initial: Vec<Arc<Revision>> = store
        .dirs
        .iter()
        .map(|d| Arc::new(Revision::generate(&d.key, 0, now)))
        .collect();
    let upstream_listener = bind_listener(SocketAddr::from((UPSTREAM_IP, 0)))
        .map_err(io(format!("cannot listen on {UPSTREAM_IP}")))?;
    let upstream_port = upstream_listener
        .local_addr()
        .map_err(io("upstream address"))?
        .port();
    let upstream = Arc::new(Site::new(
        "upstream".into(),
        UPSTREAM_IP.to_string(),
        "",
        UPSTREAM_IP,
        false,
        upstream_port,
        true,
        Duration::ZERO,
        None,
        &store,
        &initial,
        now,
    ));
    let mut mirrors = Vec::with_capacity(n);
    let mut listeners = Vec::with_capacity(n);
    for i in 0..n {
        let ip = mirror_ip(i);
        let v6 = has_v6.get(i).copied().unwrap_or(false);
        let (port, v4l, v6l) = bind_mirror(ip, v6).map_err(io(format!("cannot listen on {ip}")))?;
        let country = COUNTRIES.get(i % COUNTRIES.len()).copied().unwrap_or("DE");
        let host = format!("m{:03}.{}.sim.test", i + 1, country.to_ascii_lowercase());
        mirrors.push(Arc::new(Site::new(
            host.clone(),
            host,
            country,
            ip,
            v6,
            port,
            modules.get(i).copied().unwrap_or(false),
            delays.get(i).copied().unwrap_or(delay_min),
            planned.get(i).copied().flatten(),
            &store,
            &initial,
            now,
        )));
        listeners.push((v4l, v6l));
    }
    let names: Vec<String> = COUNTRIES
        .iter()
        .map(|c| format!("*.{}.sim.test", c.to_ascii_lowercase()))
        .collect();
    let certs = Certs::new(&names)?;
    let history = History {
        publications: Vec::new(),
        revisions: initial
            .iter()
            .map(|r| {
                VecDeque::from([RevisionNote {
                    number: 0,
                    published_at: now,
                    sha256: r.sha256.clone(),
                }])
            })
            .collect(),
    };
    let net = Arc::new(Network {
        store,
        upstream,
        mirrors,
        certs,
        history: Mutex::new(history),
        timing,
        started_at: now,
        seed: o.seed,
        changed: Notify::new(),
    });

    let sim_dns = DnsServer::start(DNS_IP, SIM_ZONE, false)
        .await
        .map_err(io(format!("cannot start the name server on {DNS_IP}")))?;
    // The table is fixed for the run: a broken IPv6 mirror keeps its AAAA record, which is
    // the fault.
    for m in &net.mirrors {
        let aaaa = if m.ipv6 {
            vec![Ipv6Addr::LOCALHOST]
        } else {
            Vec::new()
        };
        sim_dns.set(
            &m.host,
            Entry {
                a: vec![m.ipv4],
                aaaa,
            },
        );
    }
    let control_listener = TcpListener::bind(SocketAddr::from((CONTROL_IP, 0)))
        .await
        .map_err(io(format!("cannot listen on {CONTROL_IP}")))?;
    let control = control_listener
        .local_addr()
        .map_err(io("control address"))?;
    let truth_url = format!("http://{control}/truth.json");

    let ca_file = work_dir.join("sim-ca.pem");
    std::fs::write(&ca_file, &net.certs.ca_pem)
        .map_err(io(format!("cannot write {}", ca_file.display())))?;
    let text = config::mirrors_yaml(&ConfigPlan {
        layout,
        upstream: SocketAddr::from((UPSTREAM_IP, upstream_port)),
        mirrors: &net.mirrors,
        dns: sim_dns.addr(),
        ca_file: &ca_file,
        state_file: &work_dir.join("state.json"),
        listen: o.listen,
        timing: &timing,
        ipv6,
        seed: o.seed,
        truth_url: &truth_url,
    })
    .map_err(SimError::Options)?;
    let mut config_path = work_dir.join("mirrors.yaml");
    std::fs::write(&config_path, &text)
        .map_err(io(format!("cannot write {}", config_path.display())))?;
    if let Some(path) = &o.write_config {
        std::fs::write(path, &text).map_err(io(format!("cannot write {}", path.display())))?;
        config_path = path.clone();
    }
    let truth_path = o
        .truth_file
        .clone()
        .unwrap_or_else(|| work_dir.join("truth.json"));

    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let upstream_addr = SocketAddr::from((UPSTREAM_IP, upstream_port));
    tasks.spawn(server::run_listener(
        net.clone(),
        net.upstream.clone(),
        Family::V4,
        upstream_addr,
        upstream_listener,
        shutdown.clone(),
    ));
    for (site, (v4, v6)) in net.mirrors.iter().zip(listeners) {
        let addr = SocketAddr::from((site.ipv4, site.port));
        tasks.spawn(server::run_listener(
            net.clone(),
            site.clone(),
            Family::V4,
            addr,
            v4,
            shutdown.clone(),
        ));
        if let Some(v6) = v6 {
            let addr = SocketAddr::from((Ipv6Addr::LOCALHOST, site.port));
            tasks.spawn(server::run_listener(
                net.clone(),
                site.clone(),
                Family::V6,
                addr,
                v6,
                shutdown.clone(),
            ));
        }
    }
    let app = control::router(net.clone());
    tasks.spawn({
        let stop = shutdown.clone();
        async move {
            let served = axum::serve(control_listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "the simulator's control address stopped");
            }
        }
    });
    tasks.spawn(super::clock::run(
        net.clone(),
        start,
        o.seed,
        shutdown.clone(),
    ));
    tasks.spawn(control::keep_written(
        net.clone(),
        truth_path.clone(),
        shutdown.clone(),
    ));
    tasks.close();
    Ok(Simulation {
        net,
        shutdown,
        tasks,
        _dns: sim_dns,
        control,
        config_path,
        truth_path,
        work_dir,
        own_work_dir,
        ipv6,
    })
}
