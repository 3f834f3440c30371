//! The `simulate` and `demo` commands: start a simulated network (and, for `demo`, the
//! daemon watching it), say where everything is, and run until the shutdown token fires.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::truth::Condition;
use super::{SimError, SimOptions, Simulation};
use crate::config::Layout;

/// Why `demo` stopped early.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
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
    Daemon(#[from] crate::daemon::StartError),
}

impl DemoError {
    /// A problem with what was asked (exit code 2), not with running it (1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            DemoError::Sim(SimError::Options(_) | SimError::Layout(_))
        )
    }
}

/// The network in a few lines: size, timing, and which mirror has which fault.
pub fn describe(sim: &Simulation) -> String {
    let truth = sim.truth();
    let with_v6 = truth.mirrors.iter().filter(|m| m.ipv6.is_some()).count();
    let mut text = format!(
        "{} simulated mirrors ({} with IPv6) on 127.10.x.1{}, upstream {} publishing every {}; seed {}\n",
        truth.mirrors.len(),
        with_v6,
        if sim.ipv6() { " and [::1]" } else { "" },
        sim.upstream_url(),
        humantime::format_duration(std::time::Duration::from_secs_f64(truth.publish_every_seconds)),
        truth.seed,
    );
    let mut faults: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &truth.mirrors {
        let kind = match (&m.condition, &m.planned) {
            (Condition::Healthy, None) => continue,
            (Condition::Healthy, Some(p)) => p.kind.to_string(),
            (c, _) => serde_json::to_value(c)
                .ok()
                .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
                .unwrap_or_default(),
        };
        faults.entry(kind).or_default().push(m.name.clone());
    }
    if faults.is_empty() {
        text.push_str("  faults: none\n");
    }
    // A big network lists the first few; the ground truth has them all.
    for (kind, names) in faults {
        let more = match names.len() {
            n if n > 8 => format!(" and {} more", n - 8),
            _ => String::new(),
        };
        let shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
        let _ = writeln!(text, "  {kind:<12} {}{more}", shown.join(", "));
    }
    text
}

/// `mirrorwatch simulate`: serve until `shutdown`.
pub async fn simulate(options: SimOptions, shutdown: CancellationToken) -> Result<(), SimError> {
    let sim = Simulation::start(options).await?;
    print!("{}", describe(&sim));
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
    Ok(())
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

/// `mirrorwatch demo`: a simulated network and the daemon watching it, until `shutdown`.
pub async fn demo(options: SimOptions, shutdown: CancellationToken) -> Result<(), DemoError> {
    let listen = options.listen;
    let sim = Simulation::start(options).await?;
    let loaded = match crate::config::load(sim.config_path()) {
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
    let mut daemon = tokio::spawn(crate::run(
        Arc::new(loaded.config),
        listener,
        daemon_stop.clone(),
    ));
    println!("mirrorwatch demo: the daemon watches a simulated mirror network; nothing leaves this machine.");
    print!("{}", describe(&sim));
    println!("Open:");
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
        Err(e) => Err(DemoError::Daemon(crate::daemon::StartError::Io(
            std::io::Error::other(e.to_string()),
        ))),
    }
}
