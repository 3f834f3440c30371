//! The subnet lists mirrors publish at a URL: one series per mirror with a subnet URL, read
//! from the snapshot's [`crate::subnets::Published`]. The only label is the mirror's name.

use crate::state::Snapshot;

use super::family::Exposition;

pub(super) fn write(snapshot: &Snapshot, out: &mut Exposition) {
    let mut success = out.gauge(
        "mirrorwatch_mirror_subnet_list_fetch_success",
        "Whether the last fetch of the subnet list the mirror publishes gave a list (1) or not (0); absent before the first.",
    );
    let mut attempted = out.gauge(
        "mirrorwatch_mirror_subnet_list_fetch_timestamp_seconds",
        "When the last fetch of the subnet list the mirror publishes ended, Unix time.",
    );
    let mut fetched = out.gauge(
        "mirrorwatch_mirror_subnet_list_success_timestamp_seconds",
        "When the subnet list in use was fetched, Unix time; absent while there is none.",
    );
    let mut subnets = out.gauge(
        "mirrorwatch_mirror_subnet_list_subnets",
        "Subnets of the published list in use for placing clients (0 before the first good fetch).",
    );
    let mut skipped = out.gauge(
        "mirrorwatch_mirror_subnet_list_skipped_lines",
        "Lines of the published subnet list in use that were skipped because they are not CIDRs.",
    );
    for (name, list) in &snapshot.subnets.lists {
        let labels = [("mirror", name.as_str())];
        if let Some(at) = list.attempted_at {
            success.set_bool(&labels, list.last_ok);
            attempted.set(&labels, at as f64);
        }
        if let Some(at) = list.fetched_at {
            fetched.set(&labels, at as f64);
        }
        subnets.set(&labels, list.nets.len() as f64);
        skipped.set(&labels, list.skipped_lines as f64);
    }
    out.add(success);
    out.add(attempted);
    out.add(fetched);
    out.add(subnets);
    out.add(skipped);
}
