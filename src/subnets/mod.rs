//! Subnet lists that mirrors publish at a URL (`mirrors[].subnets: <URL>`, our format and
//! AlmaLinux's mirror files alike).
//!
//! [`refresh`] fetches each list when the daemon starts and then every
//! `serve.subnets_refresh` (jittered), with [`fetch`]'s caps (size, timeouts), parses it
//! ([`parse`]), keeps the last good one, saves the lists in a small file of their own beside
//! the state file ([`store`]) and hands a new [`Published`] to the state writer. Snapshots carry
//! it, so selection reads fetched subnets exactly like listed ones without any I/O on the
//! request path, and `/metrics` reports each list's fetches.
//!
//! A failed fetch (network, status, size, a body without one usable line) changes nothing but
//! the status: the last good list stays in use, across restarts too.

use std::collections::BTreeMap;
use std::sync::Arc;

use ipnet::IpNet;
use url::Url;

use crate::config::{Mirror, Subnets};

pub mod fetch;
pub mod parse;
pub mod refresh;
pub mod store;
#[cfg(test)]
mod tests;

pub use refresh::spawn;

/// Every published list known, by mirror name: what the snapshot carries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Published {
    pub lists: BTreeMap<String, PublishedList>,
}

impl Published {
    /// The fetched subnets of `mirror`: those of the list at the URL its configuration names
    /// now (a list fetched from an older URL is not used), empty when there is none.
    pub fn nets_for(&self, mirror: &Mirror) -> &[IpNet] {
        self.list_for(mirror).map_or(&[], |list| &list.nets)
    }

    /// [`Published::nets_for`], shared; `None` when there are none.
    pub fn shared_nets_for(&self, mirror: &Mirror) -> Option<Arc<[IpNet]>> {
        self.list_for(mirror)
            .filter(|list| !list.nets.is_empty())
            .map(|list| list.nets.clone())
    }

    fn list_for(&self, mirror: &Mirror) -> Option<&PublishedList> {
        let Subnets::Url(url) = &mirror.subnets else {
            return None;
        };
        self.lists.get(&mirror.name).filter(|list| &list.url == url)
    }
}

/// One mirror's list: the one in use, and how its last fetch went.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedList {
    pub url: Url,
    /// The subnets in use: from the last good fetch, sorted, without duplicates.
    pub nets: Arc<[IpNet]>,
    /// Lines of the list in use that were skipped (not a CIDR).
    pub skipped_lines: usize,
    /// When the list in use was fetched, Unix time (`None`: never).
    pub fetched_at: Option<i64>,
    /// When the last fetch ended, Unix time (`None`: none yet since the start).
    pub attempted_at: Option<i64>,
    /// Whether the last fetch gave a list now in use.
    pub last_ok: bool,
    /// Why the last fetch failed, for the log.
    pub last_error: Option<String>,
}

impl PublishedList {
    /// A list not fetched yet.
    pub fn empty(url: Url) -> PublishedList {
        PublishedList {
            url,
            nets: Arc::from(Vec::new()),
            skipped_lines: 0,
            fetched_at: None,
            attempted_at: None,
            last_ok: false,
            last_error: None,
        }
    }
}
