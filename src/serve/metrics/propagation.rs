//! Propagation, with bounded cardinality: per repository name, the latest upstream change of
//! any of its versions and arches — when it appeared, how long it took to reach each share
//! of the mirrors expected to carry it, and how many of those still lack it. About 15
//! repository names, so about 90 series whatever the network's size.

use crate::serve::propagation::{Latest, SHARES};

use super::family::Exposition;

pub(super) fn write(latest: &[Latest], out: &mut Exposition) {
    let mut at = out.gauge(
        "mirrorwatch_propagation_change_timestamp_seconds",
        "When upstream first showed the repository's latest new version (any version and arch), Unix time.",
    );
    let mut seconds = out.gauge(
        "mirrorwatch_propagation_seconds",
        "Seconds from the repository's latest upstream change until that share of the mirrors expected to carry it served it; absent until then.",
    );
    let mut behind = out.gauge(
        "mirrorwatch_propagation_behind_mirrors",
        "Mirrors expected to carry the repository's latest upstream change that have not been seen serving it.",
    );
    for l in latest {
        let labels = [("repo", l.repo.as_str())];
        at.set(&labels, l.at as f64);
        behind.set(&labels, l.behind as f64);
        for ((_, share), time) in SHARES.iter().zip(l.times) {
            if let Some(s) = time {
                seconds.set(&[("repo", l.repo.as_str()), ("share", share)], s as f64);
            }
        }
    }
    out.add(at);
    out.add(seconds);
    out.add(behind);
}
