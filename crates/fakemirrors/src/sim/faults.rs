//! The faults a simulated mirror can have, the mix asked for on the command line
//! (`stale=0.1,down=2,...`), and their seeded assignment to mirrors.
//!
//! Every faulty mirror has exactly one fault, so that the ground truth is unambiguous: a
//! mirror that is both stale and down could not be scored on either.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What can be wrong with a mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Stops following the upstream: falls further behind with every publication.
    Stale,
    /// Syncs new repomd.xml files without their primary file.
    Partial,
    /// Refuses connections over every family.
    Down,
    /// Answers every request late.
    Slow,
    /// Alternates between down and up.
    Flapping,
    /// Has an AAAA record, but nothing answers over IPv6 (connections refused).
    Ipv6Broken,
    /// Presents a certificate that does not verify (expired, self-signed or another host's).
    BadTls,
    /// Restores an older snapshot while the upstream is quiet: serves again the upstream's
    /// previous revision of every directory it has synced since the start, and syncs no
    /// more (a mirror put back from a backup, its sync job broken).
    Rollback,
}

impl FaultKind {
    pub const ALL: [FaultKind; 8] = [
        FaultKind::Stale,
        FaultKind::Partial,
        FaultKind::Down,
        FaultKind::Slow,
        FaultKind::Flapping,
        FaultKind::Ipv6Broken,
        FaultKind::BadTls,
        FaultKind::Rollback,
    ];

    /// The name used in `--faults` and in the ground truth.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Stale => "stale",
            FaultKind::Partial => "partial",
            FaultKind::Down => "down",
            FaultKind::Slow => "slow",
            FaultKind::Flapping => "flapping",
            FaultKind::Ipv6Broken => "ipv6_broken",
            FaultKind::BadTls => "bad_tls",
            FaultKind::Rollback => "rollback",
        }
    }

    /// `ipv6` and `tls` are accepted as short forms.
    pub fn parse(text: &str) -> Option<FaultKind> {
        match text {
            "ipv6" => Some(FaultKind::Ipv6Broken),
            "tls" => Some(FaultKind::BadTls),
            "flap" => Some(FaultKind::Flapping),
            _ => FaultKind::ALL.into_iter().find(|k| k.as_str() == text),
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which bad certificate a `bad_tls` mirror presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadCert {
    Expired,
    SelfSigned,
    WrongHost,
}

/// How many mirrors get a fault: a share of the network (`0.1`) or a count (`2`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Share {
    Fraction(f64),
    Count(usize),
}

impl Share {
    /// The number of mirrors out of `n`; a fraction is rounded, but a positive fraction of
    /// a network big enough to hold one mirror gives at least one.
    pub fn of(self, n: usize) -> usize {
        match self {
            Share::Count(c) => c,
            Share::Fraction(f) if f <= 0.0 => 0,
            Share::Fraction(f) => ((f * n as f64).round() as usize).max(1).min(n),
        }
    }
}

/// The faults asked for, by kind.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultMix(pub Vec<(FaultKind, Share)>);

impl Default for FaultMix {
    /// The proportions: a tenth stale, a twentieth of every other kind.
    fn default() -> Self {
        let share = |k| match k {
            FaultKind::Stale => Share::Fraction(0.1),
            _ => Share::Fraction(0.05),
        };
        FaultMix(FaultKind::ALL.into_iter().map(|k| (k, share(k))).collect())
    }
}

impl FaultMix {
    /// No faults at all.
    pub fn none() -> FaultMix {
        FaultMix(Vec::new())
    }

    /// Mirrors per kind out of `n`, in [`FaultKind::ALL`] order.
    pub fn counts(&self, n: usize) -> Vec<(FaultKind, usize)> {
        FaultKind::ALL
            .into_iter()
            .map(|kind| {
                let count = self
                    .0
                    .iter()
                    .filter(|(k, _)| *k == kind)
                    .map(|(_, s)| s.of(n))
                    .sum();
                (kind, count)
            })
            .filter(|(_, c)| *c > 0)
            .collect()
    }
}

impl FromStr for FaultMix {
    type Err = String;

    /// `stale=0.1,partial=0.05,down=2` (a value below 1 is a share, a whole number a count);
    /// `none` or an empty string for a healthy network.
    fn from_str(text: &str) -> Result<FaultMix, String> {
        let text = text.trim();
        if text.is_empty() || text == "none" {
            return Ok(FaultMix::none());
        }
        let mut mix = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?}: expected KIND=SHARE, such as stale=0.1"))?;
            let kind = FaultKind::parse(name.trim()).ok_or_else(|| {
                let known: Vec<&str> = FaultKind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown fault {name:?} (known: {})", known.join(", "))
            })?;
            let value: f64 = value
                .trim()
                .parse()
                .map_err(|_| format!("{item:?}: {value:?} is not a number"))?;
            let share = match value {
                v if !(0.0..=1_000_000.0).contains(&v) => {
                    return Err(format!("{item:?}: must be a share from 0 to 1 or a count"))
                }
                v if v < 1.0 => Share::Fraction(v),
                v if v.fract() == 0.0 => Share::Count(v as usize),
                _ => return Err(format!("{item:?}: a count must be a whole number")),
            };
            mix.push((kind, share));
        }
        Ok(FaultMix(mix))
    }
}

/// A fault chosen for one mirror, and when it begins (after the simulation starts).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlannedFault {
    pub kind: FaultKind,
    pub onset: Duration,
    /// For `bad_tls`: which bad certificate.
    pub cert: Option<BadCert>,
}

/// Give each kind its count of mirrors, at random (seeded) but only where the fault can
/// exist: `ipv6_broken` needs a mirror with IPv6. Each fault starts at a seeded time in
/// `[0, onset]`. Fails when the network is too small for the mix.
pub fn assign(
    mix: &FaultMix,
    has_ipv6: &[bool],
    onset: Duration,
    rng: &mut Rng,
) -> Result<Vec<Option<PlannedFault>>, String> {
    let n = has_ipv6.len();
    let counts = mix.counts(n);
    let total: usize = counts.iter().map(|(_, c)| c).sum();
    if total > n {
        return Err(format!(
            "the faults ask for {total} mirrors but the network has {n}"
        ));
    }
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let mut planned: Vec<Option<PlannedFault>> = vec![None; n];
    // IPv6 faults first, while mirrors with IPv6 are still free.
    let mut counts = counts;
    counts.sort_by_key(|(k, _)| *k != FaultKind::Ipv6Broken);
    let mut tls_seen = 0;
    for (kind, count) in counts {
        for _ in 0..count {
            let slot = order.iter().position(|&i| {
                planned.get(i).is_some_and(Option::is_none)
                    && (kind != FaultKind::Ipv6Broken || has_ipv6.get(i).copied() == Some(true))
            });
            let Some(pos) = slot else {
                return Err(format!(
                    "not enough mirrors{} for {count} {kind} fault(s)",
                    if kind == FaultKind::Ipv6Broken {
                        " with IPv6"
                    } else {
                        ""
                    }
                ));
            };
            let mirror = order.remove(pos);
            let cert = (kind == FaultKind::BadTls).then(|| {
                tls_seen += 1;
                match tls_seen % 3 {
                    1 => BadCert::Expired,
                    2 => BadCert::SelfSigned,
                    _ => BadCert::WrongHost,
                }
            });
            if let Some(slot) = planned.get_mut(mirror) {
                *slot = Some(PlannedFault {
                    kind,
                    onset: onset.mul_f64(rng.unit()),
                    cert,
                });
            }
        }
    }
    Ok(planned)
}

/// A small seeded generator (SplitMix64): the same seed gives the same network, faults and
/// publications, which is what makes a simulated run reproducible.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: usize) -> usize {
        match n {
            0 => 0,
            n => (self.next_u64() % n as u64) as usize,
        }
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_parse_shares_and_counts() {
        let mix: FaultMix = "stale=0.1, down=2,tls=0.05".parse().unwrap();
        assert_eq!(
            mix.counts(30),
            vec![
                (FaultKind::Stale, 3),
                (FaultKind::Down, 2),
                (FaultKind::BadTls, 2)
            ]
        );
        assert!("stale".parse::<FaultMix>().is_err());
        assert!("rotten=0.1".parse::<FaultMix>().is_err());
        assert!("down=1.5".parse::<FaultMix>().is_err());
        assert_eq!("none".parse::<FaultMix>().unwrap().counts(10), vec![]);
    }

    #[test]
    fn assignment_is_seeded_and_respects_ipv6() {
        let mix: FaultMix = "ipv6=2,down=3,stale=1".parse().unwrap();
        let v6: Vec<bool> = (0..10).map(|i| i % 3 == 0).collect();
        let a = assign(&mix, &v6, Duration::from_secs(10), &mut Rng::new(7)).unwrap();
        let b = assign(&mix, &v6, Duration::from_secs(10), &mut Rng::new(7)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.iter().flatten().count(), 6);
        for (i, fault) in a.iter().enumerate() {
            if fault.is_some_and(|f| f.kind == FaultKind::Ipv6Broken) {
                assert!(v6[i]);
            }
        }
        let too_many: FaultMix = "down=11".parse().unwrap();
        assert!(assign(&too_many, &v6, Duration::ZERO, &mut Rng::new(1)).is_err());
    }
}
