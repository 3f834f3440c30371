//! The `mirrorwatch` command: arguments, logging, signals and exit codes; the work is in the library.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use mirrorwatch::config::{self, Config};
use mirrorwatch::simulate::{FaultMix, LayoutSource, SimError, SimOptions};

/// Exit codes, as documented in `--help`.
const EXIT_OK: u8 = 0;
const EXIT_FAILURE: u8 = 1;
const EXIT_CONFIG: u8 = 2;

#[derive(Parser)]
#[command(
    name = "mirrorwatch",
    version,
    about = "Watch a network of RPM package mirrors: reachability per IP family, freshness, latency",
    after_help = "Exit codes:\n  0  success (check: every mirror healthy)\n  1  runtime failure (for example the listen address is taken); check: a mirror is unhealthy\n  2  the configuration is invalid or unreadable\n\nThe configuration file is taken from --config, else $MIRRORWATCH_CONFIG, else ./mirrors.yaml.\nLogging is filtered with RUST_LOG (default: info)."
)]
struct Cli {
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// `--config FILE`, shared by the commands that run against a configuration.
#[derive(clap::Args)]
struct ConfigArg {
    /// Configuration file.
    #[arg(
        long = "config",
        short = 'c',
        value_name = "FILE",
        env = "MIRRORWATCH_CONFIG",
        default_value = "mirrors.yaml"
    )]
    path: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: probe the mirrors and serve metrics, mirror lists and the API.
    Serve {
        #[command(flatten)]
        config: ConfigArg,
        /// Listen on this address instead of `serve.listen` (port 0 picks a free port).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Sweep every mirror once and print what was found (exit 0 when every mirror is healthy,
    /// 1 otherwise, 2 on a configuration error).
    Check {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this mirror.
        #[arg(long)]
        mirror: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Validate a configuration file, print a summary and exit (0 valid, 2 invalid).
    CheckConfig {
        /// Configuration file.
        #[arg(env = "MIRRORWATCH_CONFIG", default_value = "mirrors.yaml")]
        file: PathBuf,
    },
    /// Serve a simulated mirror network on loopback, with injected faults and a ground truth
    /// (JSON), and write the mirrors.yaml that watches it; runs until Ctrl-C.
    Simulate {
        #[command(flatten)]
        sim: SimArgs,
        /// Also write the generated configuration to this file.
        #[arg(long)]
        write_config: Option<PathBuf>,
        /// Keep the ground truth written to this file (default: truth.json in the
        /// simulator's temporary directory).
        #[arg(long)]
        truth_file: Option<PathBuf>,
    },
    /// Start a simulated network and the daemon watching it, print the URLs to open, and run
    /// until Ctrl-C. No set-up, no internet.
    Demo {
        #[command(flatten)]
        sim: SimArgs,
    },
}

/// The simulated network, shared by `simulate` and `demo`.
#[derive(clap::Args)]
struct SimArgs {
    /// Number of simulated mirrors.
    #[arg(long, default_value_t = 30)]
    mirrors: usize,
    /// Faults by kind (stale, partial, down, slow, flapping, ipv6, tls): a share of the
    /// mirrors (0.1) or a count (2); `none` for a healthy network.
    #[arg(
        long,
        default_value = "stale=0.1,partial=0.05,down=0.05,slow=0.05,flapping=0.05,ipv6=0.05,tls=0.05"
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
    fn options(self, write_config: Option<PathBuf>, truth_file: Option<PathBuf>) -> SimOptions {
        let layout = match (self.almalinux_config, self.layout_from) {
            (Some(path), _) => LayoutSource::AlmaLinux(path),
            (None, Some(path)) => LayoutSource::Config(path),
            (None, None) => LayoutSource::Shipped,
        };
        SimOptions {
            mirrors: self.mirrors,
            faults: self.faults,
            seed: self.seed,
            layout,
            publish_every: self.publish_every,
            probe_interval: self.probe_interval,
            upstream_interval: self.upstream_interval,
            fault_onset: self.fault_onset,
            ipv6_share: self.ipv6,
            listen: self.listen,
            write_config,
            truth_file,
            work_dir: None,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `check` prints its own report; its log shows only warnings unless RUST_LOG says otherwise.
    // `demo` prints where to look; the daemon's per-mirror news would drown that out.
    let default_level = match cli.command {
        Command::Check { .. } | Command::Demo { .. } => "warn",
        _ => "info",
    };
    init_logging(cli.log_format, default_level);
    let code = match cli.command {
        Command::CheckConfig { file } => check_config(&file),
        Command::Check {
            config,
            mirror,
            json,
        } => match load(&config.path) {
            Some(config) => check(config, mirror.as_deref(), json),
            None => EXIT_CONFIG,
        },
        Command::Serve { config, listen } => match load(&config.path) {
            Some(config) => serve(config, listen),
            None => EXIT_CONFIG,
        },
        Command::Simulate {
            sim,
            write_config,
            truth_file,
        } => simulate(sim.options(write_config, truth_file)),
        Command::Demo { sim } => demo(sim.options(None, None)),
    };
    ExitCode::from(code)
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Load a configuration, printing warnings, or every error.
fn load(file: &Path) -> Option<Config> {
    match config::load(file) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                eprintln!("{warning}");
            }
            Some(loaded.config)
        }
        Err(err) => {
            eprintln!("{err}");
            let count = err.errors().count();
            let noun = if count == 1 { "error" } else { "errors" };
            eprintln!("{}: {count} {noun}", file.display());
            None
        }
    }
}

fn check_config(file: &Path) -> u8 {
    let Some(config) = load(file) else {
        return EXIT_CONFIG;
    };
    let targets: usize = config
        .enabled_mirrors()
        .map(|m| config.layout.targets_for(m).count())
        .sum();
    println!(
        "{}: valid: {} mirrors ({} enabled); versions {}; {} repos; {} repomd.xml files expected on the enabled mirrors",
        file.display(),
        config.mirrors.len(),
        config.enabled_mirrors().count(),
        config.layout.version_names().join(", "),
        config.layout.repos.len(),
        targets,
    );
    EXIT_OK
}

fn check(mut config: Config, only: Option<&str>, json: bool) -> u8 {
    if let Some(name) = only {
        if config.mirror(name).is_none() {
            eprintln!("{}: no mirror named {name:?}", config.file.display());
            return EXIT_CONFIG;
        }
        config.mirrors.retain(|m| m.name == name);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return EXIT_FAILURE;
        }
    };
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let bar = indicatif::ProgressBar::new(0);
        let style = indicatif::ProgressStyle::with_template(
            "{spinner} sweeping {pos}/{len} mirror families [{bar:30}] {elapsed}",
        );
        if let Ok(style) = style {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let snapshot = runtime.block_on(mirrorwatch::daemon::check_once(Arc::new(config), progress));
    bar.finish_and_clear();
    let snapshot = match snapshot {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot probe");
            return EXIT_FAILURE;
        }
    };
    let rows = mirrorwatch::check::rows(&snapshot, only);
    if json {
        match serde_json::to_string_pretty(&rows) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                tracing::error!(error = %e, "cannot write JSON");
                return EXIT_FAILURE;
            }
        }
    } else {
        print!("{}", mirrorwatch::check::table(&rows));
    }
    if rows.iter().all(mirrorwatch::check::healthy) {
        EXIT_OK
    } else {
        EXIT_FAILURE
    }
}

fn serve(config: Config, listen: Option<std::net::SocketAddr>) -> u8 {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return EXIT_FAILURE;
        }
    };
    runtime.block_on(async move {
        let addr = listen.unwrap_or(config.serve.listen);
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(%addr, error = %e, "cannot listen");
                return EXIT_FAILURE;
            }
        };
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        match mirrorwatch::run(Arc::new(config), listener, shutdown).await {
            Ok(()) => EXIT_OK,
            Err(e) => {
                tracing::error!(error = %e, "mirrorwatch failed");
                EXIT_FAILURE
            }
        }
    })
}

fn simulate(options: SimOptions) -> u8 {
    with_runtime(|shutdown| async move {
        match mirrorwatch::simulate::demo::simulate(options, shutdown).await {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!("mirrorwatch simulate: {e}");
                match e {
                    SimError::Options(_) | SimError::Layout(_) => EXIT_CONFIG,
                    _ => EXIT_FAILURE,
                }
            }
        }
    })
}

fn demo(options: SimOptions) -> u8 {
    with_runtime(|shutdown| async move {
        match mirrorwatch::simulate::demo::demo(options, shutdown).await {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!("mirrorwatch demo: {e}");
                if e.is_usage() {
                    EXIT_CONFIG
                } else {
                    EXIT_FAILURE
                }
            }
        }
    })
}

/// Run `f` on a new runtime with a token that SIGINT and SIGTERM cancel.
fn with_runtime<F, Fut>(f: F) -> u8
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = u8>,
{
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return EXIT_FAILURE;
        }
    };
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        f(shutdown).await
    })
}

/// Cancel `token` on the first SIGINT or SIGTERM.
async fn cancel_on_signal(token: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut int, mut term) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot install signal handlers");
            return;
        }
    };
    let name = tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    };
    tracing::info!(signal = name, "shutting down");
    token.cancel();
}
