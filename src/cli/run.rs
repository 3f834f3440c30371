//! The daemon's commands — `serve`, `check`, `check-config` — and what every command shares:
//! loading a configuration with its diagnostics, a runtime whose token SIGINT and SIGTERM
//! cancel, and the exit codes.

use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use mirrorwatch::config::{self, Config};

/// Exit codes, as documented in `--help`.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_CONFIG: u8 = 2;

/// Load a configuration, printing warnings, or every error.
pub fn load(file: &Path) -> Option<Config> {
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

pub fn check_config(file: &Path) -> u8 {
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

/// `alertmanager-config`: the configuration on standard output, a summary on standard error.
pub fn alertmanager_config(config: &Config, options: &mirrorwatch::alertmanager::Options) -> u8 {
    match mirrorwatch::alertmanager::generate(config, options) {
        Ok((yaml, owners)) => {
            print!("{yaml}");
            let without = config.enabled_mirrors().count() - owners;
            eprintln!(
                "{owners} mirrors get their own route; {without} without an email reach the team only"
            );
            EXIT_OK
        }
        Err(e) => {
            eprintln!("mirrorwatch alertmanager-config: {e}");
            EXIT_FAILURE
        }
    }
}

pub fn check(mut config: Config, only: Option<&str>, json: bool) -> u8 {
    if let Some(name) = only {
        if config.mirror(name).is_none() {
            eprintln!("{}: no mirror named {name:?}", config.file.display());
            return EXIT_CONFIG;
        }
        config.mirrors.retain(|m| m.name == name);
    }
    let Some(runtime) = runtime() else {
        return EXIT_FAILURE;
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

pub fn serve(config: Config, listen: Option<std::net::SocketAddr>) -> u8 {
    with_runtime(|shutdown| async move {
        let addr = listen.unwrap_or(config.serve.listen);
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(%addr, error = %e, "cannot listen");
                return EXIT_FAILURE;
            }
        };
        match mirrorwatch::run(Arc::new(config), listener, shutdown).await {
            Ok(()) => EXIT_OK,
            Err(e) => {
                tracing::error!(error = %e, "mirrorwatch failed");
                EXIT_FAILURE
            }
        }
    })
}

/// A multi-threaded runtime, or `None` after logging why there is none.
fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Runtime::new() {
        Ok(rt) => Some(rt),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            None
        }
    }
}

/// Run `f` on a new runtime with a token that SIGINT and SIGTERM cancel.
pub fn with_runtime<F, Fut>(f: F) -> u8
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = u8>,
{
    let Some(runtime) = runtime() else {
        return EXIT_FAILURE;
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
