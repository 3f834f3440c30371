//! `Network`: an upstream `FakeMirror` plus N mirrors, for tests that need a
//! whole mirror network and then break single mirrors (stale, partial, down,
//! misbehaving) while the rest stay in sync.

use super::behaviour::Behaviour;
use super::{FakeMirror, MirrorOptions};
use crate::repodata::RepoTree;

/// An upstream (the source of truth) and its mirrors.
pub struct Network {
    pub upstream: FakeMirror,
    pub mirrors: Vec<FakeMirror>,
}

impl Network {
    /// Upstream and `n` mirrors, plain HTTP, each on its own v4 loopback address.
    pub async fn start(n: usize) -> Network {
        Network::start_with(MirrorOptions::default(), vec![MirrorOptions::default(); n]).await
    }

    /// Upstream and one mirror per entry of `mirrors`, with these options.
    pub async fn start_with(upstream: MirrorOptions, mirrors: Vec<MirrorOptions>) -> Network {
        let upstream = FakeMirror::start(upstream).await;
        let mut started = Vec::with_capacity(mirrors.len());
        for options in mirrors {
            started.push(FakeMirror::start(options).await);
        }
        Network {
            upstream,
            mirrors: started,
        }
    }

    pub fn mirror(&self, i: usize) -> &FakeMirror {
        &self.mirrors[i]
    }

    /// `base_url()` of every mirror, in order.
    pub fn mirror_urls(&self) -> Vec<String> {
        self.mirrors.iter().map(FakeMirror::base_url).collect()
    }

    /// Upstream and every mirror serve `tree` under `prefix` (all in sync).
    /// Replaces what was under `prefix`.
    pub fn publish(&self, prefix: &str, tree: &RepoTree) {
        for m in std::iter::once(&self.upstream).chain(&self.mirrors) {
            m.clear_prefix(prefix);
            m.serve_tree(prefix, tree);
        }
    }

    /// Only upstream moves to `tree`: every mirror is now behind.
    pub fn publish_upstream(&self, prefix: &str, tree: &RepoTree) {
        self.upstream.clear_prefix(prefix);
        self.upstream.serve_tree(prefix, tree);
    }

    /// Mirror `i` serves exactly `tree` under `prefix` (e.g. the latest
    /// revision, to bring it back in sync).
    pub fn sync(&self, i: usize, prefix: &str, tree: &RepoTree) {
        self.mirrors[i].clear_prefix(prefix);
        self.mirrors[i].serve_tree(prefix, tree);
    }

    /// Mirror `i` serves an older tree under `prefix`.
    pub fn make_stale(&self, i: usize, prefix: &str, older: &RepoTree) {
        self.sync(i, prefix, older);
    }

    /// Mirror `i` serves `tree`'s repomd.xml but its primary file is missing.
    /// Returns the missing path.
    pub fn make_partial(&self, i: usize, prefix: &str, tree: &RepoTree) -> String {
        self.mirrors[i].clear_prefix(prefix);
        self.mirrors[i].serve_tree_without(prefix, tree, "primary")
    }

    /// Mirror `i` stops listening (connections refused) until `bring_up`.
    pub async fn make_down(&self, i: usize) {
        self.mirrors[i].go_down().await;
    }

    pub async fn bring_up(&self, i: usize) {
        self.mirrors[i].come_up().await;
    }

    /// Mirror `i` misbehaves in this way for all paths.
    pub fn misbehave(&self, i: usize, behaviour: Behaviour) {
        self.mirrors[i].set_behaviour(behaviour);
    }
}
