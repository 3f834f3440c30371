//! The arithmetic of ordering: a deterministic hash (FNV-1a, finished with splitmix64), the
//! sticky seed, the weighted-shuffle key and great-circle distance.
//!
//! Deterministic on purpose: std's `DefaultHasher` may change between Rust releases and `rand`
//! is not a dependency, while a network's order must survive a restart of the daemon.

use std::net::IpAddr;
use std::time::Duration;

use super::client::network_key;
use super::Want;
use crate::config::Coordinates;

/// FNV-1a over a sequence of byte strings, each followed by a separator so that `("ab", "c")`
/// and `("a", "bc")` differ.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes.iter().chain(&[0xff]) {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// FNV alone mixes its last bytes poorly; splitmix64's finalizer spreads them over all bits.
    fn finish(&self) -> u64 {
        mix(self.0)
    }
}

/// splitmix64's output function: a bijection of u64 with good avalanche.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The index of the sticky window `now` falls in for `addr`'s network. Each network's windows
/// are shifted by an offset derived from the network, so that the answers of all networks do not
/// change in the same second (a reshuffle of every client at once would move load in a step).
pub(super) fn window(addr: IpAddr, now: i64, sticky_for: Duration) -> i64 {
    // Validation makes `sticky_for` at least 1 s; the clamp keeps a zero from dividing anyway.
    let period = sticky_for.as_secs().clamp(1, i64::MAX as u64);
    let mut h = Fnv::new();
    h.write(&network_key(addr));
    let offset = h.finish() % period;
    // Both fit in i64: `period` was clamped and `offset < period`.
    let (period, offset) = (period as i64, offset as i64);
    now.saturating_add(offset).div_euclid(period)
}

/// The seed of one answer: the client's network, its sticky window and the query. The query
/// is part of it so that one network's load is spread over mirrors across repos.
pub(super) fn seed(addr: IpAddr, now: i64, sticky_for: Duration, want: &Want<'_>) -> u64 {
    let mut h = Fnv::new();
    h.write(&network_key(addr));
    h.write(&window(addr, now, sticky_for).to_le_bytes());
    h.write(want.version.name.as_bytes());
    h.write(want.repo.name.as_bytes());
    h.write(want.arch.map_or("", |a| a.as_str()).as_bytes());
    h.write(want.protocol.map_or("", |p| p.as_str()).as_bytes());
    h.finish()
}

/// The hash of a mirror's name that [`shuffle_key`] mixes with the seed; computed once per
/// snapshot (see `index.rs`), so that a request does not hash every mirror's name again.
pub(super) fn name_hash(name: &str) -> u64 {
    let mut h = Fnv::new();
    h.write(name.as_bytes());
    h.finish()
}

/// One over the shuffle weight of a mirror with `score` (a multiplication per candidate is
/// cheaper than a division). The weight is the score, at least 1: a score of 0 must not
/// exclude a mirror that passed every check, nor NaN confuse the sort.
pub(super) fn inverse_weight(score: f64) -> f64 {
    if score.is_nan() {
        1.0
    } else {
        1.0 / score.max(1.0)
    }
}

/// The weighted-shuffle key of one mirror (Efraimidis–Spirakis): sorting by `−ln(u) / w`
/// ascending, with `u` uniform in (0, 1], puts a mirror first with probability proportional to
/// its weight. `u` comes from mixing the hash of the mirror's name with the seed rather than
/// from a PRNG stream, so a mirror joining or leaving the list does not reshuffle the others.
pub(super) fn shuffle_key(seed: u64, name_hash: u64, inverse_weight: f64) -> f64 {
    -uniform(seed, name_hash).ln() * inverse_weight
}

/// A lower bound of [`shuffle_key`] that needs no logarithm: `−ln(u) ≥ 1 − u` for u in (0, 1].
/// A candidate whose bound already exceeds the last key of a full list cannot enter it.
pub(super) fn shuffle_bound(seed: u64, name_hash: u64, inverse_weight: f64) -> f64 {
    (1.0 - uniform(seed, name_hash)) * inverse_weight
}

/// The `u` of one (seed, mirror): uniform in (0, 1].
fn uniform(seed: u64, name_hash: u64) -> f64 {
    // splitmix64's finalizer is a bijection with full avalanche: distinct names give
    // independent-looking draws for every seed.
    let h = mix(seed ^ name_hash);
    // The top 53 bits, plus one, over 2^53: exactly representable, never 0 (ln 0 = −∞).
    ((h >> 11) + 1) as f64 / (1u64 << 53) as f64
}

/// Great-circle distance in kilometres (haversine, mean Earth radius).
pub(super) fn distance_km(a: Coordinates, b: Coordinates) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6371.0;
    let (lat1, lat2) = (a.latitude.to_radians(), b.latitude.to_radians());
    let d_lat = lat2 - lat1;
    let d_lon = (b.longitude - a.longitude).to_radians();
    let h = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}
