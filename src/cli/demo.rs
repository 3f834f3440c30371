//! The `simulate` and `demo` commands: start a simulated network (and, for `demo`, the
//! daemon watching it), say where everything is, and run until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fakemirrors::sim::{FaultMix, SimError, SimOptions, Simulation};
use tokio_util::sync::CancellationToken;

use super::layout::{self, LayoutSource};
use super::run::{with_runtime, EXIT_CONFIG, EXIT_FAILURE, EXIT_OK};
use mirrorwatch::config::Layout;

/// The simulated network, shared by `simulate` and `demo`.
#[derive(clap::Args)]
pub struct SimArgs {
    /// Number of simulated mirrors.
    #[arg(long, default_value_t = 30)]
    mirrors: usize,
    /// Faults by kind (stale, partial, down, slow, flapping, ipv6, tls, rollback): a share of the
    /// mirrors (0.1) or a count (2); `none` for a healthy network.
    #[arg(
        long,
        default_value = "stale=0.1,partial=0.05,down=0.05,slow=0.05,flapping=0.05,ipv6=0.05,tls=0.05,rollback=0.05"
    )]
    faults: FaultMix,
    /// Seed of everything random: addresses, delays, faults, publications.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Serve the layout of AlmaLinux's own config.yml instead of the shipped one.
    #[arg(long, conflicts_with = "layout_from")]
    almalinux_config: Option<PathBuf>,
    /// Serve the layout of this mirrors.yaml instead of the shipped one.
    #[arg(long)]
    layout_from: Option<PathBuf>,
    /// How often the upstream publishes new revisions of a few repos.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    publish_every: Duration,
    /// probe.interval of the generated configuration.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    probe_interval: Duration,
    /// probe.full_every of the generated configuration (the daemon's default when not given).
    #[arg(long, value_parser = humantime::parse_duration)]
    full_every: Option<Duration>,
    /// freshness.upstream_interval of the generated configuration.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    upstream_interval: Duration,
    /// Faults begin at random (seeded) times up to this long after the start.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    fault_onset: Duration,
    /// Share of the mirrors with IPv6 (an AAAA record for [::1]).
    #[arg(long, default_value_t = 0.5)]
    ipv6: f64,
    /// Where the daemon listens (serve.listen of the generated configuration; loopback only).
    #[arg(long, default_value = "127.0.0.1:9184")]
    listen: SocketAddr,
}

impl SimArgs {
    /// The simulator's options for `command`, or `None` after saying why the layout is
    /// unusable.
    fn options_for(
        self,
        command: &str,
        write_config: Option<PathBuf>,
        truth_file: Option<PathBuf>,
    ) -> Option<SimOptions> {
        let source = match (self.almalinux_config, self.layout_from) {
            (Some(path), _) => LayoutSource::AlmaLinux(path),
            (None, Some(path)) => LayoutSource::Config(path),
            (None, None) => LayoutSource::Shipped,
        };
        let layout = match layout::load(&source) {
            Ok(layout) => layout,
            Err(e) => {
                eprintln!("mirrorwatch {command}: cannot load the layout:\n{e}");
                return None;
            }
        };
        Some(SimOptions {
            mirrors: self.mirrors,
            faults: self.faults,
            seed: self.seed,
            layout: layout::describe(&layout),
            publish_every: self.publish_every,
            publications: None,
            probe_interval: self.probe_interval,
            full_every: self.full_every,
            upstream_interval: self.upstream_interval,
            fault_onset: self.fault_onset,
            ipv6_share: self.ipv6,
            listen: self.listen,
            write_config,
            truth_file,
            work_dir: None,
        })
    }
}

/// Why `demo` stopped early.
#[derive(Debug, thiserror::Error)]
enum DemoError {
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error("the generated configuration does not load (a bug):\n{0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Daemon(#[from] mirrorwatch::daemon::StartError),
}

/// The exit code for a simulator that could not start: 2 for a problem with what was
/// asked, 1 for one with running it.
fn sim_exit(e: &SimError) -> u8 {
    match e {
        SimError::Options(_) | SimError::Layout(_) => EXIT_CONFIG,
        _ => EXIT_FAILURE,
    }
}

/// `mirrorwatch simulate`: exit code.
pub fn simulate(sim: SimArgs, write_config: Option<PathBuf>, truth_file: Option<PathBuf>) -> u8 {
    let Some(options) = sim.options_for("simulate", write_config, truth_file) else {
        return EXIT_CONFIG;
    };
    with_runtime(|shutdown| async move {
        let sim = match Simulation::start(options).await {
            Ok(sim) => sim,
            Err(e) => {
                eprintln!("mirrorwatch simulate: {e}");
                return sim_exit(&e);
            }
        };
        print!("{}", sim.describe());
        println!("  config       {}", sim.config_path().display());
        println!(
            "  truth        {} (also {})",
            sim.truth_url(),
            sim.truth_path().display()
        );
        println!(
            "Watch it with: mirrorwatch serve --config {}\nCtrl-C stops the simulation.",
            sim.config_path().display()
        );
        shutdown.cancelled().await;
        sim.stop().await;
        EXIT_OK
    })
}

/// `mirrorwatch demo`: exit code.
pub fn demo(sim: SimArgs) -> u8 {
    let Some(options) = sim.options_for("demo", None, None) else {
        return EXIT_CONFIG;
    };
    with_runtime(|shutdown| async move {
        match run_demo(options, shutdown).await {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!("mirrorwatch demo: {e}");
                match &e {
                    DemoError::Sim(e) => sim_exit(e),
                    _ => EXIT_FAILURE,
                }
            }
        }
    })
}

/// A mirror list and metalink worth opening: the `9` alias when there is one, `baseos`.
fn example(layout: &Layout) -> Option<(String, String)> {
    let alias = layout
        .aliases
        .get_key_value("9")
        .or_else(|| layout.aliases.iter().next());
    let target = layout
        .targets()
        .filter(|t| alias.is_none_or(|(_, full)| &t.version.name == full))
        .find(|t| t.repo.name == "baseos")
        .or_else(|| layout.targets().next())?;
    let version = match alias {
        Some((a, full)) if *full == target.version.name => a.clone(),
        _ => target.version.name.clone(),
    };
    let (repo, arch) = (&target.repo.name, target.arch);
    Some((
        format!("/mirrorlist/{version}/{repo}?arch={arch}"),
        format!("/metalink?repo={repo}-{version}&arch={arch}"),
    ))
}

/// A simulated network and the daemon watching it, until `shutdown`.
async fn run_demo(options: SimOptions, shutdown: CancellationToken) -> Result<(), DemoError> {
    let listen = options.listen;
    let sim = Simulation::start(options).await?;
    let loaded = match mirrorwatch::config::load(sim.config_path()) {
        Ok(loaded) => loaded,
        Err(e) => {
            sim.stop().await;
            return Err(DemoError::Config(e.to_string()));
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(source) => {
            sim.stop().await;
            return Err(DemoError::Listen {
                addr: listen,
                source,
            });
        }
    };
    let base = match listener.local_addr() {
        Ok(addr) => format!("http://{addr}"),
        Err(_) => format!("http://{listen}"),
    };
    let examples = example(&loaded.config.layout);
    let loaded_interval = loaded.config.probe.interval;
    let daemon_stop = CancellationToken::new();
    let mut daemon = tokio::spawn(mirrorwatch::run(
        Arc::new(loaded.config),
        listener,
        daemon_stop.clone(),
    ));
    println!("mirrorwatch demo: the daemon watches a simulated mirror network; nothing leaves this machine.");
    print!("{}", sim.describe());
    println!("Open:");
    println!("  status page  {base}/");
    println!("  metrics      {base}/metrics");
    if let Some((list, metalink)) = examples {
        println!("  mirror list  {base}{list}");
        println!("  metalink     {base}{metalink}");
    }
    println!("  API          {base}/api/v1/mirrors");
    println!("  upstream     {base}/api/v1/upstream");
    println!("  truth        {}", sim.truth_url());
    println!("  config       {}", sim.config_path().display());
    // The first sweeps start within 10 s (or one interval); the slowest take half an interval.
    let interval = loaded_interval.as_secs_f64();
    let ready = interval.min(10.0) + interval / 2.0;
    println!(
        "Every mirror is swept within about {ready:.0} s ({base}/readyz answers 200 then). Ctrl-C stops."
    );
    let outcome = tokio::select! {
        () = shutdown.cancelled() => {
            daemon_stop.cancel();
            (&mut daemon).await
        }
        finished = &mut daemon => finished,
    };
    sim.stop().await;
    match outcome {
        Ok(result) => result.map_err(DemoError::from),
        Err(e) => Err(DemoError::Daemon(mirrorwatch::daemon::StartError::Io(
            std::io::Error::other(e.to_string()),
        ))),
    }
}
