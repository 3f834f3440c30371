//! The validated configuration model. Every value here has passed validation: URLs are parsed
//! and end in `/`, names are unique, versions and arches exist, durations are positive. Code
//! downstream of `config` never re-checks any of it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use url::Url;

use super::geo::Continent;
use super::settings::{
    FreshnessSettings, HealthSettings, MetricsSettings, ProbeSettings, Protocol, ServeSettings,
    StateSettings,
};

/// A whole, valid configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was loaded from.
    pub file: PathBuf,
    pub upstream: Upstream,
    pub layout: Layout,
    pub mirrors: Vec<Mirror>,
    pub probe: ProbeSettings,
    pub freshness: FreshnessSettings,
    pub health: HealthSettings,
    pub serve: ServeSettings,
    pub metrics: MetricsSettings,
    pub state: StateSettings,
}

impl Config {
    pub fn mirror(&self, name: &str) -> Option<&Mirror> {
        self.mirrors.iter().find(|m| m.name == name)
    }

    pub fn enabled_mirrors(&self) -> impl Iterator<Item = &Mirror> {
        self.mirrors.iter().filter(|m| m.enabled)
    }
}

/// The reference copy freshness is measured against.
#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    /// Base URLs of the main tree, tried in order.
    pub urls: Vec<Url>,
    /// Base URLs per optional module (`kitten`).
    pub modules: BTreeMap<String, Vec<Url>>,
}

impl Upstream {
    /// The base URLs that hold `version`.
    pub fn urls_for(&self, version: &Version) -> &[Url] {
        match &version.module {
            Some(module) => self.modules.get(module).map_or(&[], Vec::as_slice),
            None => &self.urls,
        }
    }
}

/// CPU architectures a repository can be built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    X86_64,
    X86_64V2,
    Aarch64,
    Ppc64le,
    S390x,
    I686,
    Armhfp,
    Riscv64,
}

impl Arch {
    pub const ALL: [Arch; 8] = [
        Arch::X86_64,
        Arch::X86_64V2,
        Arch::Aarch64,
        Arch::Ppc64le,
        Arch::S390x,
        Arch::I686,
        Arch::Armhfp,
        Arch::Riscv64,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::X86_64V2 => "x86_64_v2",
            Arch::Aarch64 => "aarch64",
            Arch::Ppc64le => "ppc64le",
            Arch::S390x => "s390x",
            Arch::I686 => "i686",
            Arch::Armhfp => "armhfp",
            Arch::Riscv64 => "riscv64",
        }
    }

    pub fn parse(text: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.as_str() == text)
    }

    /// The known names, for error messages.
    pub fn names() -> String {
        let names: Vec<&str> = Arch::ALL.iter().map(|a| a.as_str()).collect();
        names.join(", ")
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A version directory on a mirror: a full version (`9.8`) or a module version (`10-kitten`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Directory name, e.g. `9.8` or `10-kitten`.
    pub name: String,
    /// Major version, e.g. `9`.
    pub major: String,
    /// The optional module that publishes it (`kitten`), if any.
    pub module: Option<String>,
    pub arches: Vec<Arch>,
}

/// One repository of the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub name: String,
    /// Path below the version directory, with a literal `$basearch`, ending in `/`.
    pub path: String,
    /// Versions that carry it; `None` means every version, module versions included.
    pub versions: Option<BTreeSet<String>>,
    /// Restriction of the version's arches; `None` means all of them.
    pub arches: Option<BTreeSet<Arch>>,
    /// Lives only on the vault.
    pub vault: bool,
}

impl Repo {
    pub fn carried_by(&self, version: &Version) -> bool {
        self.versions
            .as_ref()
            .is_none_or(|v| v.contains(&version.name))
    }

    /// The arches of this repo in `version`, in the version's order.
    pub fn arches_in<'a>(&'a self, version: &'a Version) -> impl Iterator<Item = Arch> + 'a {
        version
            .arches
            .iter()
            .copied()
            .filter(|a| self.arches.as_ref().is_none_or(|set| set.contains(a)))
    }

    /// The path with `$basearch` replaced.
    pub fn path_for(&self, arch: Arch) -> String {
        self.path.replace("$basearch", arch.as_str())
    }
}

/// Old versions and repos that only the vault serves.
#[derive(Debug, Clone, PartialEq)]
pub struct Vault {
    pub url: Url,
    pub versions: Vec<String>,
}

/// Versions, repos and arches: which repomd.xml files a mirror is expected to hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Full versions first, then module versions.
    pub versions: Vec<Version>,
    /// Major → full version (`9` → `9.8`).
    pub aliases: BTreeMap<String, String>,
    pub repos: Vec<Repo>,
    pub vault: Option<Vault>,
}

/// One (version, repo, arch) whose repomd.xml a mirror should serve.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub version: &'a Version,
    pub repo: &'a Repo,
    pub arch: Arch,
}

impl Target<'_> {
    /// `9.8/BaseOS/x86_64/os/`: relative to the mirror's base URL.
    pub fn dir(&self) -> String {
        format!("{}/{}", self.version.name, self.repo.path_for(self.arch))
    }

    /// `9.8/BaseOS/x86_64/os/repodata/repomd.xml`.
    pub fn repomd_path(&self) -> String {
        format!("{}repodata/repomd.xml", self.dir())
    }
}

impl Layout {
    pub fn version(&self, name: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.name == name)
    }

    /// A version by its own name or by an alias (`9` → `9.8`).
    pub fn resolve_version(&self, name: &str) -> Option<&Version> {
        let name = self.aliases.get(name).map_or(name, String::as_str);
        self.version(name)
    }

    /// The directory names of every version, in order (`8.10`, ..., `10-kitten`).
    pub fn version_names(&self) -> Vec<&str> {
        self.versions.iter().map(|v| v.name.as_str()).collect()
    }

    /// Whether an optional module (`kitten`) is part of the layout.
    pub fn has_module(&self, module: &str) -> bool {
        self.versions
            .iter()
            .any(|v| v.module.as_deref() == Some(module))
    }

    pub fn repo(&self, name: &str) -> Option<&Repo> {
        self.repos.iter().find(|r| r.name == name)
    }

    /// Every non-vault (version, repo, arch) of the layout.
    pub fn targets(&self) -> impl Iterator<Item = Target<'_>> {
        self.versions.iter().flat_map(move |version| {
            self.repos
                .iter()
                .filter(move |repo| !repo.vault && repo.carried_by(version))
                .flat_map(move |repo| {
                    repo.arches_in(version).map(move |arch| Target {
                        version,
                        repo,
                        arch,
                    })
                })
        })
    }

    /// The targets `mirror` is expected to serve: module versions only where it has an address
    /// for that module, and only its repos when it is a partial mirror.
    pub fn targets_for<'a>(&'a self, mirror: &'a Mirror) -> impl Iterator<Item = Target<'a>> {
        self.indexed_targets_for(mirror).map(|(_, t)| t)
    }

    /// [`Self::targets_for`], each with its position in [`Self::targets`]: what tables built
    /// once per layout (paths, shared names) are indexed by.
    pub fn indexed_targets_for<'a>(
        &'a self,
        mirror: &'a Mirror,
    ) -> impl Iterator<Item = (usize, Target<'a>)> {
        self.targets().enumerate().filter(move |(_, t)| {
            let module_ok = t
                .version
                .module
                .as_ref()
                .is_none_or(|m| mirror.modules.contains_key(m));
            let repo_ok = mirror
                .repos
                .as_ref()
                .is_none_or(|r| r.contains(&t.repo.name));
            module_ok && repo_ok
        })
    }
}

/// Addresses of one tree on one mirror. http and https are probed (parsed, ending in `/`);
/// rsync (`rsync://host/path` or `host::module`) and ftp are recorded only.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Addresses {
    pub http: Option<Url>,
    pub https: Option<Url>,
    pub rsync: Option<String>,
    pub ftp: Option<String>,
}

impl Addresses {
    pub fn for_protocol(&self, protocol: Protocol) -> Option<&Url> {
        match protocol {
            Protocol::Http => self.http.as_ref(),
            Protocol::Https => self.https.as_ref(),
        }
    }
}

/// Networks a mirror serves preferentially: a list, or a URL where the mirror publishes one.
#[derive(Debug, Clone, PartialEq)]
pub enum Subnets {
    List(Vec<IpNet>),
    Url(Url),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    pub latitude: f64,
    pub longitude: f64,
}

/// One mirror, valid.
#[derive(Debug, Clone, PartialEq)]
pub struct Mirror {
    pub name: String,
    pub address: Addresses,
    /// Addresses of optional module trees (`kitten`).
    pub modules: BTreeMap<String, Addresses>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    pub continent: Option<Continent>,
    pub state_province: Option<String>,
    pub city: Option<String>,
    pub coordinates: Option<Coordinates>,
    pub asns: Vec<u32>,
    pub subnets: Subnets,
    pub private: bool,
    pub monopoly: bool,
    /// The repos of a partial mirror; `None` means all.
    pub repos: Option<BTreeSet<String>>,
    pub enabled: bool,
    pub update_frequency: Option<Duration>,
    pub sponsor: Option<String>,
    pub sponsor_url: Option<String>,
    pub email: Option<String>,
    /// A cloud provider's in-region mirror (`aws`, `gcp`) and the regions it serves.
    pub cloud_type: Option<String>,
    pub cloud_regions: Vec<String>,
    /// Where it was defined: `file:line`.
    pub origin: String,
}

impl Mirror {
    /// The base URL that holds `version` over `protocol`.
    pub fn base_url(&self, version: &Version, protocol: Protocol) -> Option<&Url> {
        match &version.module {
            Some(module) => self.modules.get(module)?.for_protocol(protocol),
            None => self.address.for_protocol(protocol),
        }
    }
}
