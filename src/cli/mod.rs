//! The command line, in the binary only: [`args`] (what clap reads), [`run`] (the daemon's
//! commands, runtime, signals and exit codes), and with the `simulator` feature `demo` and
//! `layout` (the simulated network's commands and the layout they serve).

pub mod args;
#[cfg(feature = "simulator")]
pub mod demo;
#[cfg(feature = "simulator")]
mod layout;
pub mod run;
