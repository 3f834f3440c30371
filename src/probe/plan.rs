//! What a sweep fetches: a [`SweepPlan`] per (mirror, family), built once per configuration
//! and kept for the life of its task, so it is small: one base URL per tree (the main one,
//! each module's) and protocol, and per file two indices, into those and into the layout's
//! table of paths ([`Targets`]), which every plan of a configuration shares. URLs are joined
//! when a file is fetched.

use std::collections::BTreeMap;
use std::sync::Arc;

use url::Url;

use crate::config::{IpFamily, Layout, Mirror, Protocol};

/// The repomd.xml files of a layout, in layout order, as paths relative to a mirror's base
/// (`9.8/BaseOS/x86_64/os/repodata/repomd.xml`). Built once per configuration and shared by
/// every plan made from it.
#[derive(Debug, Default)]
pub struct Targets {
    paths: Vec<Box<str>>,
}

/// What follows a target's key (its directory) in its repomd.xml path.
const REPOMD: &str = "repodata/repomd.xml";

impl Targets {
    pub fn new(layout: &Layout) -> Targets {
        Targets {
            paths: layout
                .targets()
                .map(|t| t.repomd_path().into_boxed_str())
                .collect(),
        }
    }

    /// The repomd.xml path of target `index`, relative to a mirror's base URL.
    fn path(&self, index: u32) -> &str {
        self.paths.get(index as usize).map_or("", |p| p)
    }

    /// The key of target `index`: its directory, `9.8/BaseOS/x86_64/os/`.
    fn key(&self, index: u32) -> &str {
        let path = self.path(index);
        path.strip_suffix(REPOMD).unwrap_or(path)
    }
}

/// One file of a plan: a target of the layout, under one of the plan's base URLs.
#[derive(Debug, Clone, Copy)]
struct PlannedFile {
    target: u32,
    tree: u32,
}

/// One sweep to run: built once per (configuration, mirror, family) and reused by every
/// sweep of it.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    pub mirror: String,
    pub family: IpFamily,
    pub primary: Protocol,
    pub secondary: Vec<Protocol>,
    targets: Arc<Targets>,
    /// Base URLs of the mirror's trees (the main one, then each module's it has files in),
    /// per protocol.
    trees: Vec<BTreeMap<Protocol, Url>>,
    files: Vec<PlannedFile>,
    /// `<base>/TIME` over the primary protocol.
    pub time_url: Option<Url>,
}

impl SweepPlan {
    /// The plan of `mirror` over `family`, probing `protocols` (in order of preference):
    /// `None` when the mirror has none of them. `targets` must be of `layout`.
    pub fn new(
        targets: &Arc<Targets>,
        layout: &Layout,
        protocols: &[Protocol],
        mirror: &Mirror,
        family: IpFamily,
    ) -> Option<SweepPlan> {
        let protocols: Vec<Protocol> = protocols
            .iter()
            .copied()
            .filter(|p| mirror.address.for_protocol(*p).is_some())
            .collect();
        let (&primary, secondary) = protocols.split_first()?;
        let mut modules: Vec<Option<&str>> = Vec::new();
        let mut trees: Vec<BTreeMap<Protocol, Url>> = Vec::new();
        let mut files = Vec::new();
        for (index, t) in layout.indexed_targets_for(mirror) {
            let module = t.version.module.as_deref();
            let tree = match modules.iter().position(|m| *m == module) {
                Some(tree) => tree,
                None => {
                    let urls = protocols
                        .iter()
                        .filter_map(|&p| Some((p, mirror.base_url(t.version, p)?.clone())))
                        .collect();
                    modules.push(module);
                    trees.push(urls);
                    trees.len() - 1
                }
            };
            if !trees[tree].contains_key(&primary) {
                continue;
            }
            let (Ok(target), Ok(tree)) = (u32::try_from(index), u32::try_from(tree)) else {
                continue;
            };
            files.push(PlannedFile { target, tree });
        }
        files.shrink_to_fit();
        Some(SweepPlan {
            mirror: mirror.name.clone(),
            family,
            primary,
            secondary: secondary.to_vec(),
            targets: targets.clone(),
            trees,
            files,
            time_url: mirror
                .address
                .for_protocol(primary)
                .and_then(|base| base.join("TIME").ok()),
        })
    }

    /// The number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The key of each file (`9.8/BaseOS/x86_64/os/`), in plan order: the order of a
    /// report's files and of the validators a sweep takes.
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.files.iter().map(|f| self.targets.key(f.target))
    }

    /// The key of file `index`.
    pub fn key(&self, index: usize) -> Option<&str> {
        self.files.get(index).map(|f| self.targets.key(f.target))
    }

    /// The base URL of file `index`'s tree over `protocol`.
    fn base(&self, index: usize, protocol: Protocol) -> Option<&Url> {
        let file = self.files.get(index)?;
        self.trees.get(file.tree as usize)?.get(&protocol)
    }

    /// The repomd.xml URL of file `index` over `protocol`, joined now.
    pub fn url(&self, index: usize, protocol: Protocol) -> Option<Url> {
        let file = self.files.get(index)?;
        self.base(index, protocol)?
            .join(self.targets.path(file.target))
            .ok()
    }

    /// The mirror's main host: the first file's, over the primary protocol. Its address is
    /// the family's, and decides whether the family is absent.
    pub fn host(&self) -> Option<&str> {
        self.base(0, self.primary)?.host_str()
    }

    /// Every host name the files are on over the primary protocol (the main tree's and the
    /// modules'), each once.
    pub fn hosts(&self) -> Vec<&str> {
        let mut hosts: Vec<&str> = self
            .trees
            .iter()
            .filter_map(|tree| tree.get(&self.primary)?.host_str())
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        hosts
    }
}
