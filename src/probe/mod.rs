//! Probing: the only code that talks to mirrors.
//!
//! - [`dns`] — A and AAAA looked up separately through hickory-resolver, timed,
//!   never from a cache; IP literals skip DNS.
//! - [`Fetcher`] — one timed HTTP(S) fetch to a pinned address: phases `resolve`,
//!   `connect`, `tls`, `processing` (request sent → response head) and `transfer`
//!   (→ last body byte) timed separately; connect and total timeouts, a body cap,
//!   bounded redirects, kept-alive connections reused per (scheme, host, port,
//!   address); TLS with the ring provider, leaf-certificate expiry recorded.
//! - A sweep ([`sweep()`]): `context` (what every sweep shares, the caps), `plan` (what a
//!   sweep may fetch), [`due`] (which of those files this sweep checks), `resolve` (its DNS), `validators` (conditional GET, and the one rule
//!   for what a fetch makes of them), `report` (what it found); [`upstream`] polls the
//!   reference files.
//!
//! Invariants: a fetch never returns `Err` nor panics — every failure is a
//! [`Failure`] with a [`FailureReason`] from a small fixed set (a metric label) and
//! free text kept apart in `detail`; any final HTTP status is a [`Response`] for the
//! caller to judge; nothing is ever decompressed; no body larger than the cap (plus
//! one chunk) is ever held in memory.

mod conn;
mod context;
pub mod dns;
pub mod due;
mod fetch;
mod message;
mod outcome;
mod plan;
mod redirect;
mod report;
mod resolve;
mod sweep;
pub mod tls;
pub mod upstream;
mod validators;

pub use dns::{DnsAnswer, DnsConfig, DnsResolver, Family, FamilyLookup, Resolution};
pub use fetch::{Fetcher, FetcherConfig, SetupError};
pub use outcome::{
    Failure, FailureReason, FetchOutcome, FetchRequest, Limits, Method, Phase, Redirect, Response,
    Timings, TlsInfo,
};
pub use tls::TrustConfig;

pub use context::{
    lookup_slots, sweep_slots, HostLimits, SweepContext, UpstreamDigests, UpstreamVersions,
};
pub use due::Rotation;
pub use plan::{SweepPlan, Targets};
pub use report::{FileReport, FileResult, SweepReport};
pub use sweep::sweep;
#[cfg(test)]
pub use validators::Previous;
pub use validators::{Fetched, Next, Validators};
