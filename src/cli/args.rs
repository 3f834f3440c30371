//! The command line as clap reads it: the commands, their options, and the simulated
//! network's options shared by `simulate` and `demo`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[cfg(feature = "simulator")]
pub use super::demo::SimArgs;

#[derive(Parser)]
#[command(
    name = "mirrorwatch",
    version,
    about = "Watch a network of RPM package mirrors: reachability per IP family, freshness, latency",
    after_help = "Exit codes:\n  0  success (check: every mirror healthy)\n  1  runtime failure (for example the listen address is taken); check: a mirror is unhealthy\n  2  the configuration is invalid or unreadable\n\nThe configuration file is taken from --config, else $MIRRORWATCH_CONFIG, else ./mirrors.yaml.\nLogging is filtered with RUST_LOG (default: info)."
)]
pub struct Cli {
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `--config FILE`, shared by the commands that run against a configuration.
#[derive(clap::Args)]
pub struct ConfigArg {
    /// Configuration file.
    #[arg(
        long = "config",
        short = 'c',
        value_name = "FILE",
        env = "MIRRORWATCH_CONFIG",
        default_value = "mirrors.yaml"
    )]
    pub path: PathBuf,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// Print an Alertmanager configuration that sends each mirror's alerts to its admin (the
    /// mirror's `email`) as well as to the team; check it with `amtool check-config`.
    AlertmanagerConfig {
        #[command(flatten)]
        config: ConfigArg,
        /// The team's receiver, which gets every alert.
        #[arg(long, value_name = "NAME", default_value = "mirrorwatch-team")]
        team_receiver: String,
        /// Email the team at this address.
        #[arg(long, value_name = "ADDRESS")]
        team_email: Option<String>,
        /// Send the team's alerts to this webhook.
        #[arg(long, value_name = "URL")]
        team_webhook: Option<String>,
        /// Tell owners through a webhook instead of by email; `{mirror}` in the URL is
        /// replaced by the mirror's name.
        #[arg(long, value_name = "URL")]
        owner_webhook: Option<String>,
        /// The SMTP relay (`host:port`) Alertmanager sends email through.
        #[arg(long, value_name = "HOST:PORT")]
        smtp_smarthost: Option<String>,
        /// The sender of those emails.
        #[arg(long, value_name = "ADDRESS")]
        smtp_from: Option<String>,
    },
    /// Validate a configuration file, print a summary and exit (0 valid, 2 invalid).
    CheckConfig {
        /// Configuration file.
        #[arg(env = "MIRRORWATCH_CONFIG", default_value = "mirrors.yaml")]
        file: PathBuf,
    },
    /// Serve a simulated mirror network on loopback, with injected faults and a ground truth
    /// (JSON), and write the mirrors.yaml that watches it; runs until Ctrl-C.
    #[cfg(feature = "simulator")]
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
    #[cfg(feature = "simulator")]
    Demo {
        #[command(flatten)]
        sim: SimArgs,
    },
}
