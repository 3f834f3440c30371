//! mirrorwatch: watches a network of RPM package mirrors and publishes what it finds.
//!
//! Data flows one way: [`config`] → probing → state → snapshot → HTTP ([`serve`]).
//! `main.rs` only parses arguments, sets up logging and signals, and calls [`run`]
//! (in [`daemon`], which wires the parts together).

pub mod alertmanager;
pub mod check;
pub mod config;
pub mod daemon;
pub mod fdlimit;
pub mod files;
pub mod freshness;
pub mod geoip;
pub mod health;
pub mod memory;
pub mod persist;
pub mod probe;
pub mod reload;
pub mod repomd;
pub mod scheduler;
pub mod select;
pub mod serve;
pub mod state;
pub mod subnets;

pub use daemon::run;
