//! The `mirrorwatch` command: arguments, logging, signals and exit codes; the work is in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use mirrorwatch::config::{self, Config};

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

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: probe the mirrors and serve metrics, mirror lists and the API.
    Serve {
        /// Configuration file.
        #[arg(
            long,
            short,
            env = "MIRRORWATCH_CONFIG",
            default_value = "mirrors.yaml"
        )]
        config: PathBuf,
        /// Listen on this address instead of `serve.listen` (port 0 picks a free port).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Sweep every mirror once and print what was found (exit 0 when every mirror is healthy,
    /// 1 otherwise, 2 on a configuration error).
    Check {
        /// Configuration file.
        #[arg(
            long,
            short,
            env = "MIRRORWATCH_CONFIG",
            default_value = "mirrors.yaml"
        )]
        config: PathBuf,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `check` prints its own report; its log shows only warnings unless RUST_LOG says otherwise.
    let default_level = match cli.command {
        Command::Check { .. } => "warn",
        _ => "info",
    };
    init_logging(cli.log_format, default_level);
    let code = match cli.command {
        Command::CheckConfig { file } => check_config(&file),
        Command::Check {
            config,
            mirror,
            json,
        } => match load(&config) {
            Some(config) => check(config, mirror.as_deref(), json),
            None => EXIT_CONFIG,
        },
        Command::Serve { config, listen } => match load(&config) {
            Some(config) => serve(config, listen),
            None => EXIT_CONFIG,
        },
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
