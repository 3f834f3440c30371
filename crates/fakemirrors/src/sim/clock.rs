//! The simulation's clock: one task that applies, in time order, every change to the
//! network — the upstream's publications, each mirror's sync after its delay, faults
//! beginning, flaps. One task and one queue keep the order of events total, so the ground
//! truth never shows a sync before the publication it copies.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::faults::{FaultKind, Rng};
use super::network::Network;
use super::truth::unix_now;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Publish,
    Sync(usize),
    Fault(usize),
    Flap(usize),
}

/// Run the clock from `start` until `shutdown`.
pub async fn run(net: Arc<Network>, start: Instant, seed: u64, shutdown: CancellationToken) {
    // Its own stream of numbers: what is published does not depend on how many were drawn
    // to build the network.
    let mut rng = Rng::new(seed ^ 0x00C1_0C4E);
    let mut queue: BinaryHeap<Reverse<(Instant, u64, Action)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |queue: &mut BinaryHeap<_>, at: Instant, action: Action| {
        seq += 1;
        queue.push(Reverse((at, seq, action)));
    };
    let timing = net.timing;
    push(&mut queue, start + timing.publish_every, Action::Publish);
    for (i, mirror) in net.mirrors.iter().enumerate() {
        if let Some(fault) = mirror.fault {
            push(&mut queue, start + fault.onset, Action::Fault(i));
        }
    }
    while let Some(Reverse((at, _, action))) = queue.pop() {
        tokio::select! {
            () = tokio::time::sleep_until(at) => {}
            () = shutdown.cancelled() => return,
        }
        let now = unix_now();
        match action {
            Action::Publish => {
                let number = net.publish(&mut rng, now);
                tracing::debug!(publication = number, "upstream published");
                for (i, mirror) in net.mirrors.iter().enumerate() {
                    push(&mut queue, at + mirror.follow_delay, Action::Sync(i));
                }
                if timing.publications.is_none_or(|last| number < last) {
                    push(&mut queue, at + timing.publish_every, Action::Publish);
                }
            }
            Action::Sync(i) => net.sync(i, now),
            Action::Fault(i) => {
                if !net.start_fault(i, now) {
                    // Not yet (a rollback waits for a quiet upstream and something to
                    // roll back): again in a quarter of a publication period.
                    push(&mut queue, at + timing.publish_every / 4, Action::Fault(i));
                    continue;
                }
                if let Some(mirror) = net.mirrors.get(i) {
                    tracing::debug!(mirror = %mirror.name, fault = ?mirror.fault.map(|f| f.kind), "fault begins");
                    if mirror.fault.is_some_and(|f| f.kind == FaultKind::Flapping) {
                        push(&mut queue, at + timing.flap_period, Action::Flap(i));
                    }
                }
            }
            Action::Flap(i) => {
                net.flap(i, now);
                push(&mut queue, at + timing.flap_period, Action::Flap(i));
            }
        }
        net.changed.notify_one();
    }
}
