//! The repository directories a simulated network serves: every (version, repo, arch) of
//! the layout on its tree (`almalinux`, or `almalinux-<module>` for a module version), how a
//! request path finds one, and which are published together.

use std::collections::HashMap;

use super::layout::Layout;

/// One repository directory of the layout, on its tree.
#[derive(Debug, Clone)]
pub struct Dir {
    /// `9.8/BaseOS/x86_64/os/`: mirrorwatch's key for it.
    pub key: String,
    /// `almalinux`, or `almalinux-<module>` for a module version.
    pub tree: String,
    pub module: Option<String>,
}

/// Every directory of the layout, and how a request path finds one.
pub struct Store {
    pub dirs: Vec<Dir>,
    /// `<tree>/<key>` → index into `dirs`.
    index: HashMap<String, usize>,
    /// Directories published together (every arch of one version's repo).
    pub groups: Vec<Vec<usize>>,
}

/// The tree a version lives on: the main one, or its module's.
pub fn tree_name(module: Option<&str>) -> String {
    match module {
        None => "almalinux".to_string(),
        Some(m) => format!("almalinux-{m}"),
    }
}

impl Store {
    pub fn new(layout: &Layout) -> Store {
        let mut dirs = Vec::new();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_of: HashMap<(String, String), usize> = HashMap::new();
        let mut index = HashMap::new();
        for dir in &layout.dirs {
            let key = dir.key.clone();
            let tree = tree_name(dir.module.as_deref());
            let path = format!("{tree}/{key}");
            if index.contains_key(&path) {
                continue;
            }
            let id = dirs.len();
            index.insert(path, id);
            let group = (dir.version.clone(), dir.repo.clone());
            let g = *group_of.entry(group).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            if let Some(members) = groups.get_mut(g) {
                members.push(id);
            }
            dirs.push(Dir {
                key,
                tree,
                module: dir.module.clone(),
            });
        }
        Store {
            dirs,
            index,
            groups,
        }
    }

    /// The directory at `<tree>/<key>` (`almalinux/9.8/BaseOS/x86_64/os/`).
    pub fn lookup(&self, path: &str) -> Option<usize> {
        self.index.get(path).copied()
    }

    pub fn is_tree(&self, tree: &str) -> bool {
        self.dirs.iter().any(|d| d.tree == tree)
    }
}
