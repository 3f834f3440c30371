//! [`Fleet`]: an upstream and five loopback mirrors serving real createrepo_c repositories,
//! two good, one stale, one partial and one down, and a `lists` server for static mirror
//! lists and metalinks.

use fakemirrors::{FakeMirror, MirrorOptions};

use super::{build_rpm, createrepo, serve_repo, RepoFiles, REPO_PREFIX};

/// The revision (and data timestamps) of the current repository.
pub const CURRENT: u64 = 1_750_000_000;
/// The revision of the old one, a day earlier.
pub const OLD: u64 = CURRENT - 86_400;

/// Each server serves a real repository at `REPO_PREFIX`: `upstream`, `good[0]`, `good[1]`
/// and `down` (then taken down) the `current` one (revision [`CURRENT`], one package),
/// `stale` the `old` one ([`OLD`], empty), `partial` the current one without its primary;
/// `lists` serves nothing until a test puts mirror lists or metalinks on it.
pub struct Fleet {
    pub upstream: FakeMirror,
    pub good: [FakeMirror; 2],
    pub stale: FakeMirror,
    pub partial: FakeMirror,
    pub down: FakeMirror,
    pub lists: FakeMirror,
    pub current: RepoFiles,
    pub old: RepoFiles,
    /// Holds `current/` and `old/`; a test may make more repositories here.
    pub dir: tempfile::TempDir,
}

impl Fleet {
    pub async fn start() -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let current_dir = dir.path().join("current");
        build_rpm(&current_dir.join("Packages"), "mirrorwatch-probe", "1.0");
        let current = createrepo(&current_dir, CURRENT);
        let old = createrepo(&dir.path().join("old"), OLD);
        assert_ne!(current.repomd(), old.repomd());
        let start = || FakeMirror::start(MirrorOptions::default());
        let fleet = Fleet {
            upstream: start().await,
            good: [start().await, start().await],
            stale: start().await,
            partial: start().await,
            down: start().await,
            lists: start().await,
            current,
            old,
            dir,
        };
        for m in [&fleet.upstream, &fleet.good[0], &fleet.good[1], &fleet.down] {
            serve_repo(m, REPO_PREFIX, &current_dir);
        }
        serve_repo(&fleet.stale, REPO_PREFIX, &fleet.dir.path().join("old"));
        serve_repo(&fleet.partial, REPO_PREFIX, &current_dir);
        let primary = fleet.current.href("primary").unwrap();
        assert!(fleet.partial.remove(&format!("{REPO_PREFIX}/{primary}")));
        fleet.down.go_down().await;
        fleet
    }

    /// The five mirrors by name (as a daemon's configuration names them).
    pub fn mirrors(&self) -> [(&'static str, &FakeMirror); 5] {
        [
            ("good0", &self.good[0]),
            ("good1", &self.good[1]),
            ("stale", &self.stale),
            ("partial", &self.partial),
            ("down", &self.down),
        ]
    }

    /// Every server by name: the upstream, the mirrors, the lists.
    pub fn named(&self) -> [(&'static str, &FakeMirror); 7] {
        let [g0, g1, stale, partial, down] = self.mirrors();
        let (upstream, lists) = (("upstream", &self.upstream), ("lists", &self.lists));
        [upstream, g0, g1, stale, partial, down, lists]
    }

    /// Names of the servers that were asked for the repository's repomd.xml, with counts.
    pub fn repomd_requests(&self) -> Vec<(&'static str, usize)> {
        self.repomd_requests_by(|_| true)
    }

    /// Names of the servers asked for the repomd.xml by dnf (librepo), with counts.
    pub fn dnf_repomd_requests(&self) -> Vec<(&'static str, usize)> {
        self.repomd_requests_by(|ua| !ua.starts_with("mirrorwatch/"))
    }

    /// Names of the servers asked for the repomd.xml by a client whose User-Agent passes
    /// `by` (`""` when it sent none), with counts.
    pub fn repomd_requests_by(&self, by: impl Fn(&str) -> bool) -> Vec<(&'static str, usize)> {
        let path = format!("{REPO_PREFIX}/repodata/repomd.xml");
        let counted = self.named().map(|(name, m)| {
            let asked = m.requests_for(&path).into_iter();
            let n = asked.filter(|r| by(r.header("user-agent").unwrap_or("")));
            (name, n.count())
        });
        counted.into_iter().filter(|(_, n)| *n > 0).collect()
    }

    /// Forgets the requests of the upstream and the mirrors.
    pub fn clear_requests(&self) {
        self.upstream.clear_requests();
        self.mirrors().iter().for_each(|(_, m)| m.clear_requests());
    }
}
