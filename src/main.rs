//! The `mirrorwatch` command: arguments, logging, signals and exit codes (in [`cli`]); the
//! work is in the library, and for `simulate` and `demo` in the fake-mirrors crate.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::args::{Cli, Command, LogFormat};
use cli::run::{self, EXIT_CONFIG};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `check` prints its own report; its log shows only warnings unless RUST_LOG says otherwise.
    // `demo` prints where to look; the daemon's per-mirror news would drown that out.
    let default_level = match cli.command {
        Command::Check { .. } => "warn",
        #[cfg(feature = "simulator")]
        Command::Demo { .. } => "warn",
        _ => "info",
    };
    init_logging(cli.log_format, default_level);
    let code = match cli.command {
        Command::CheckConfig { file } => run::check_config(&file),
        Command::Check {
            config,
            mirror,
            json,
        } => match run::load(&config.path) {
            Some(config) => run::check(config, mirror.as_deref(), json),
            None => EXIT_CONFIG,
        },
        Command::AlertmanagerConfig {
            config,
            team_receiver,
            team_email,
            team_webhook,
            owner_webhook,
            smtp_smarthost,
            smtp_from,
        } => match run::load(&config.path) {
            Some(config) => run::alertmanager_config(
                &config,
                &mirrorwatch::alertmanager::Options {
                    team_receiver: Some(team_receiver),
                    team_email,
                    team_webhook,
                    owner_webhook,
                    smtp_smarthost,
                    smtp_from,
                },
            ),
            None => EXIT_CONFIG,
        },
        Command::Serve { config, listen } => match run::load(&config.path) {
            Some(config) => run::serve(config, listen),
            None => EXIT_CONFIG,
        },
        #[cfg(feature = "simulator")]
        Command::Simulate {
            sim,
            write_config,
            truth_file,
        } => cli::demo::simulate(sim, write_config, truth_file),
        #[cfg(feature = "simulator")]
        Command::Demo { sim } => cli::demo::demo(sim),
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
