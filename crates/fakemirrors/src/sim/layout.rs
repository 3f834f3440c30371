//! What a simulated network serves, as its caller describes it: the repository directories
//! (each with its version, repo and module, in the caller's order), and the `layout:`
//! section written into the generated configuration, in mirrorwatch's format. The simulator
//! does not read layouts itself; `mirrorwatch simulate` builds this from its own.

use serde_json::Value;

/// One repository directory of the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dir {
    /// `9.8/BaseOS/x86_64/os/`: where it lives under its tree, and mirrorwatch's key for it.
    pub key: String,
    /// The full version, e.g. `9.8`.
    pub version: String,
    pub repo: String,
    /// The optional module the version belongs to (e.g. `kitten`): its own tree, served
    /// only by the mirrors that carry modules.
    pub module: Option<String>,
}

impl Dir {
    pub fn new(key: &str, version: &str, repo: &str, module: Option<&str>) -> Dir {
        Dir {
            key: key.to_string(),
            version: version.to_string(),
            repo: repo.to_string(),
            module: module.map(str::to_string),
        }
    }
}

/// The directories to serve and the `layout:` section that describes them.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub dirs: Vec<Dir>,
    /// Written as it is under `layout:`, except that a `vault.url` is replaced by the
    /// simulated upstream's `/vault/`.
    pub section: Value,
}
