//! The health of a whole mirror: one [`FamilyHealth`] per IP family it is probed over, and
//! the mirror's overall state from them.

use serde::{Deserialize, Serialize};

use super::{FamilyHealth, State, SweepResult, Transition};
use crate::config::settings::{HealthSettings, IpFamily};

/// Health of one mirror: one entry per family it is probed over (no AAAA, no `ipv6`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MirrorHealth {
    pub ipv4: Option<FamilyHealth>,
    pub ipv6: Option<FamilyHealth>,
}

impl MirrorHealth {
    pub fn family(&self, family: IpFamily) -> Option<&FamilyHealth> {
        match family {
            IpFamily::Ipv4 => self.ipv4.as_ref(),
            IpFamily::Ipv6 => self.ipv6.as_ref(),
        }
    }

    /// [`FamilyHealth::record`] on `family`, creating it on its first sweep.
    pub fn record(
        &mut self,
        family: IpFamily,
        result: &SweepResult,
        now: i64,
        settings: &HealthSettings,
    ) -> Option<Transition> {
        let slot = match family {
            IpFamily::Ipv4 => &mut self.ipv4,
            IpFamily::Ipv6 => &mut self.ipv6,
        };
        slot.get_or_insert_with(FamilyHealth::new)
            .record(result, now, settings)
    }

    /// Unknown until a family has been swept (unswept families are ignored after that);
    /// Up if every swept family is Up, Down if every one is Down, else Degraded — e.g. IPv6
    /// broken while IPv4 works: the mirror serves, but not everyone.
    pub fn overall(&self) -> State {
        let known = [&self.ipv4, &self.ipv6]
            .into_iter()
            .flatten()
            .map(FamilyHealth::state)
            .filter(|s| *s != State::Unknown);
        let (mut any, mut all_up, mut all_down) = (false, true, true);
        for state in known {
            any = true;
            all_up &= state == State::Up;
            all_down &= state == State::Down;
        }
        match (any, all_up, all_down) {
            (false, _, _) => State::Unknown,
            (true, true, _) => State::Up,
            (true, _, true) => State::Down,
            _ => State::Degraded,
        }
    }
}
