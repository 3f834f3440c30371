//! The real dnf (Debian packages `dnf`, `createrepo-c`, `rpm`) reads our kind of mirror list
//! and metalink as docs/formats.md describes them: static files first, served from loopback,
//! so that the daemon's `/mirrorlist/…` and `/metalink?…` endpoints can be dropped in by
//! changing a URL.
//!
//! Every repository is made by `createrepo_c` and served by a `fakemirrors::FakeMirror`; dnf runs
//! isolated (own config, reposdir, cachedir, installroot, no plugins, no proxy) and the
//! helpers fail the test if dnf's repo file or librepo's log names a non-loopback address.
//! Without dnf, createrepo_c or rpmbuild the tests fail saying what to install (CI installs
//! them); set `MIRRORWATCH_SKIP_DNF=1` to skip them knowingly.
//!
//! What dnf 4.14 / librepo 1.14.5 showed: `$basearch` is substituted in the repo file's URL
//! and inside the mirror list's lines; Content-Type is not looked at (these files are served
//! as `application/octet-stream`); a plain mirror list is trusted blindly (a stale mirror
//! wins if listed first); with a metalink a repomd.xml whose strongest hash (sha512) matches
//! neither the main entry nor an alternate is refused, and each data file is then fetched
//! walking the metalink's list from the top again, checked against that repomd.xml.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::dnf;
use dnf::{base, createrepo, metalink_xml, mirrorlist_text, repo_file, repomd_url};
use dnf::{run_makecache, serve_repo, Fleet, CURRENT, OLD, REPO_PREFIX};
use fakemirrors::FakeMirror;

/// The daemon-shaped URL path and query of the static files on `fleet.lists`.
const MIRRORLIST_PATH: &str = "mirrorlist/9/BaseOS";
const METALINK_PATH: &str = "metalink";
const METALINK_QUERY: &str = "repo=baseos-9&arch=$basearch";

fn with_basearch(url: &str) -> String {
    url.replace("/x86_64/", "/$basearch/")
}

/// The fleet, or `None` when the dnf tests are skipped (see `dnf::dnf_available`).
async fn start() -> Option<Fleet> {
    if !dnf::dnf_available() {
        return None;
    }
    Some(Fleet::start().await)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_static_mirror_list_of_the_good_mirrors_satisfies_dnf() {
    let Some(fleet) = start().await else { return };
    // One line with a literal $basearch (as AlmaLinux answers without ?arch=), one without.
    let bases = [with_basearch(&base(&fleet.good[0])), base(&fleet.good[1])];
    fleet.lists.put(MIRRORLIST_PATH, mirrorlist_text(&bases));
    let url = fleet
        .lists
        .url(&format!("{MIRRORLIST_PATH}?arch=$basearch"));

    let run = run_makecache(&repo_file(&format!("mirrorlist={url}"))).await;
    run.assert_success_with(CURRENT);
    // dnf substituted $basearch in the repo file's URL and inside the list.
    let asked = fleet.lists.requests_for(MIRRORLIST_PATH);
    assert!(!asked.is_empty(), "{run}");
    assert!(asked
        .iter()
        .all(|r| r.query.as_deref() == Some("arch=x86_64")));
    let repomd = fleet.repomd_requests();
    assert!(!repomd.is_empty(), "{run}");
    assert!(
        repomd.iter().all(|(name, _)| name.starts_with("good")),
        "repomd.xml asked of {repomd:?}\n{run}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_mirror_list_lets_dnf_take_a_stale_mirror_unchecked() {
    // Why the mirror list must leave stale mirrors out: nothing in it lets dnf notice one.
    let Some(fleet) = start().await else { return };
    let bases = [base(&fleet.down), base(&fleet.stale), base(&fleet.good[0])];
    fleet.lists.put(MIRRORLIST_PATH, mirrorlist_text(&bases));
    let url = fleet.lists.url(MIRRORLIST_PATH);

    let run = run_makecache(&repo_file(&format!("mirrorlist={url}"))).await;
    run.assert_success_with(OLD);
    assert_eq!(fleet.repomd_requests(), [("stale", 1)], "{run}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_static_metalink_of_the_good_mirrors_satisfies_dnf() {
    let Some(fleet) = start().await else { return };
    let urls = [repomd_url(&fleet.good[0]), repomd_url(&fleet.good[1])];
    let metalink = metalink_xml(fleet.current.repomd(), &[], &urls);
    fleet.lists.put(METALINK_PATH, metalink);
    let url = fleet
        .lists
        .url(&format!("{METALINK_PATH}?{METALINK_QUERY}"));

    let run = run_makecache(&repo_file(&format!("metalink={url}"))).await;
    run.assert_success_with(CURRENT);
    let asked = fleet.lists.requests_for(METALINK_PATH);
    assert_eq!(asked.len(), 1, "{run}");
    assert_eq!(asked[0].query.as_deref(), Some("repo=baseos-9&arch=x86_64"));
    assert_eq!(fleet.repomd_requests(), [("good0", 1)], "{run}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_metalink_steers_dnf_past_down_stale_and_partial_mirrors() {
    let Some(fleet) = start().await else { return };
    let urls = [
        repomd_url(&fleet.down),
        repomd_url(&fleet.stale),
        repomd_url(&fleet.partial),
        repomd_url(&fleet.good[0]),
    ];
    fleet.lists.put(
        METALINK_PATH,
        metalink_xml(fleet.current.repomd(), &[], &urls),
    );
    let url = fleet.lists.url(METALINK_PATH);

    let run = run_makecache(&repo_file(&format!("metalink={url}"))).await;
    run.assert_success_with(CURRENT);
    // The stale repomd.xml was fetched and refused (hash); the partial mirror's repomd.xml
    // passed. librepo then walks the metalink's list again for each data file (checked
    // against that repomd.xml): the stale and partial mirrors answer 404, good0 serves it.
    assert!(run.librepo_log.contains("checksum doesn't match"), "{run}");
    let repomd: Vec<&str> = fleet.repomd_requests().iter().map(|(n, _)| *n).collect();
    assert_eq!(repomd, ["stale", "partial"], "{run}");
    let primary = format!("{REPO_PREFIX}/{}", fleet.current.href("primary").unwrap());
    let statuses = |m: &FakeMirror| -> Vec<Option<u16>> {
        m.requests_for(&primary).iter().map(|r| r.status).collect()
    };
    assert_eq!(statuses(&fleet.stale), [Some(404)], "{run}");
    assert_eq!(statuses(&fleet.partial), [Some(404)], "{run}");
    assert_eq!(statuses(&fleet.good[0]), [Some(200)], "{run}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_metalink_alternate_lets_dnf_use_a_mirror_one_version_behind() {
    let Some(fleet) = start().await else { return };
    let urls = [repomd_url(&fleet.stale)];
    let metalink = metalink_xml(fleet.current.repomd(), &[fleet.old.repomd()], &urls);
    fleet.lists.put(METALINK_PATH, metalink);
    let url = fleet.lists.url(METALINK_PATH);

    let run = run_makecache(&repo_file(&format!("metalink={url}"))).await;
    run.assert_success_with(OLD);
    assert_eq!(fleet.repomd_requests(), [("stale", 1)], "{run}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dnf_refuses_a_repomd_that_changed_after_the_metalink_was_written() {
    let Some(fleet) = start().await else { return };
    let urls = [repomd_url(&fleet.good[0]), repomd_url(&fleet.good[1])];
    let metalink = metalink_xml(fleet.current.repomd(), &[], &urls);
    fleet.lists.put(METALINK_PATH, metalink);
    // Both listed mirrors move on to a newer repository after the metalink was written.
    let newer = fleet.dir.path().join("newer");
    createrepo(&newer, CURRENT + 3_600);
    for m in &fleet.good {
        m.clear_prefix(REPO_PREFIX);
        serve_repo(m, REPO_PREFIX, &newer);
    }

    let url = fleet
        .lists
        .url(&format!("{METALINK_PATH}?{METALINK_QUERY}"));
    let run = run_makecache(&repo_file(&format!("metalink={url}"))).await;
    eprintln!("{run}");
    assert!(!run.success, "{run}");
    assert!(run.output.contains("checksum doesn't match"), "{run}");
    assert!(run.output.contains("Cannot download repomd.xml"), "{run}");
    let repomd = fleet.repomd_requests();
    assert!(repomd.iter().any(|(n, _)| *n == "good0"), "{repomd:?}");
    assert!(repomd.iter().any(|(n, _)| *n == "good1"), "{repomd:?}");

    // A `mirrorlist=` URL with "metalink" in it is read as a metalink too.
    for m in &fleet.good {
        m.clear_requests();
    }
    let run = run_makecache(&repo_file(&format!("mirrorlist={url}"))).await;
    eprintln!("{run}");
    assert!(!run.success, "{run}");
    assert!(run.output.contains("checksum doesn't match"), "{run}");
}
