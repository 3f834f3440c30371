//! Kit self-tests, repository part: `RepoTree` metadata is true (checksums,
//! sizes, well-formed XML), trees served by a mirror, and `Network`
//! scenarios. Included by `selftest.rs`.

use std::collections::HashSet;
use std::io::ErrorKind;

use super::{gunzip, REPOMD};
use fakemirrors::client::fetch;
use fakemirrors::repodata::sha256_hex;
use fakemirrors::{FakeMirror, MirrorOptions, Network, RepoTree};

#[test]
fn repo_tree_metadata_is_true() {
    let tree = RepoTree::builder(1_700_000_000, "BaseOS")
        .packages(3)
        .updateinfo()
        .group()
        .modules()
        .build();
    let repomd = fakemirrors::xml::parse(tree.repomd_xml()).unwrap();
    assert_eq!(repomd.name, "repomd");
    assert_eq!(
        repomd.attr("xmlns"),
        Some("http://linux.duke.edu/metadata/repo")
    );
    assert_eq!(
        repomd.attr("xmlns:rpm"),
        Some("http://linux.duke.edu/metadata/rpm")
    );
    assert_eq!(repomd.child_text("revision"), Some("1700000000"));
    let files = tree.files();
    assert_eq!(
        files[0],
        (
            "repodata/repomd.xml".to_string(),
            tree.repomd_xml().to_vec()
        )
    );
    assert_eq!(tree.repomd_sha256(), sha256_hex(tree.repomd_xml()));
    let types: Vec<&str> = repomd
        .children_named("data")
        .map(|d| d.attr("type").unwrap())
        .collect();
    let expected = [
        "primary",
        "filelists",
        "other",
        "updateinfo",
        "group",
        "group_gz",
        "modules",
    ];
    assert_eq!(types, expected);
    assert_eq!(tree.data_files().len(), expected.len());
    for (data, (href, size)) in repomd.children_named("data").zip(tree.data_files()) {
        let loc = data.child("location").unwrap().attr("href").unwrap();
        assert_eq!(loc, href);
        let bytes = &files.iter().find(|(p, _)| *p == href).unwrap().1;
        let sum = data.child("checksum").unwrap();
        assert_eq!(sum.attr("type"), Some("sha256"));
        assert_eq!(sum.text, sha256_hex(bytes));
        assert!(href.starts_with(&format!("repodata/{}-", sum.text)));
        assert_eq!(data.child_text("size").unwrap(), bytes.len().to_string());
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(data.child_text("timestamp"), Some("1700000000"));
        let open = match data.child("open-checksum") {
            Some(open_sum) => {
                let open = gunzip(bytes);
                assert_eq!(open_sum.text, sha256_hex(&open));
                assert_eq!(
                    data.child_text("open-size").unwrap(),
                    open.len().to_string()
                );
                open
            }
            None => bytes.clone(),
        };
        if href.ends_with(".yaml.gz") {
            assert!(String::from_utf8(open)
                .unwrap()
                .starts_with("---\ndocument: modulemd"));
        } else {
            let doc = fakemirrors::xml::parse(&open).unwrap_or_else(|e| panic!("{href}: {e}"));
            if doc.attr("packages").is_some() {
                assert_eq!(doc.attr("packages"), Some("3"));
                assert_eq!(doc.children_named("package").count(), 3);
            }
        }
    }
    let primary = fakemirrors::xml::parse(&gunzip(&files[1].1)).unwrap();
    let first = primary.child("package").unwrap();
    assert_eq!(first.child_text("name"), Some("baseos-tool0"));
    assert_eq!(
        first.child_text("summary"),
        Some("Test package baseos-tool0 & friends")
    );

    // Deterministic per (revision, label); a new revision or label changes everything.
    let again = RepoTree::builder(1_700_000_000, "BaseOS")
        .packages(3)
        .updateinfo()
        .group()
        .modules()
        .build();
    assert_eq!(again.files(), files);
    let next = RepoTree::new(1_700_000_001, "BaseOS");
    let other = RepoTree::new(1_700_000_000, "AppStream");
    let base = RepoTree::new(1_700_000_000, "BaseOS");
    for t in [&next, &other] {
        assert_ne!(t.repomd_sha256(), base.repomd_sha256());
        assert_ne!(t.href("primary"), base.href("primary"));
    }
    assert_eq!(base.href("updateinfo"), None);
}

#[tokio::test]
async fn served_tree_and_partial_sync() {
    let tree = RepoTree::new(1_700_000_000, "baseos");
    let m = FakeMirror::start(MirrorOptions::default()).await;
    let prefix = "9/BaseOS/x86_64/os";
    let missing = m.serve_tree_without(prefix, &tree, "primary");
    assert_eq!(
        missing,
        format!("/{prefix}/{}", tree.href("primary").unwrap())
    );
    let repomd = fetch(&m.url(REPOMD)).await.unwrap();
    assert_eq!(repomd.body, tree.repomd_xml());
    assert_eq!(sha256_hex(&repomd.body), tree.repomd_sha256());
    assert_eq!(fetch(&m.url(&missing)).await.unwrap().status, 404);
    let (href, size) = &tree.data_files()[1];
    let other = fetch(&m.url(&format!("{prefix}/{href}"))).await.unwrap();
    assert_eq!((other.status, other.body.len() as u64), (200, *size));
    assert_eq!(other.header("content-type"), Some("application/x-gzip"));
}

#[tokio::test]
async fn network_with_stale_partial_and_down_mirrors() {
    let prefix = "9/BaseOS/x86_64/os";
    let (old, new) = (RepoTree::new(100, "baseos"), RepoTree::new(200, "baseos"));
    let net = Network::start(4).await;
    let ips: HashSet<_> = net.mirrors.iter().map(FakeMirror::ip).collect();
    assert_eq!(ips.len(), 4);
    assert!(!ips.contains(&net.upstream.ip()));
    net.publish(prefix, &new);
    net.make_stale(0, prefix, &old);
    let missing = net.make_partial(1, prefix, &new);
    net.make_down(2).await;
    let urls: Vec<String> = net.mirrors.iter().map(|m| m.url(REPOMD)).collect();
    let get = |i: usize| fetch(&urls[i]);
    assert_eq!(
        fetch(&net.upstream.url(REPOMD)).await.unwrap().body,
        new.repomd_xml()
    );
    assert_eq!(get(0).await.unwrap().body, old.repomd_xml());
    assert_eq!(
        fetch(&net.mirror(0).url(new.href("primary").unwrap()))
            .await
            .unwrap()
            .status,
        404
    );
    assert_eq!(get(1).await.unwrap().body, new.repomd_xml());
    assert_eq!(
        fetch(&net.mirror(1).url(&missing)).await.unwrap().status,
        404
    );
    assert_eq!(
        get(2).await.unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
    assert_eq!(get(3).await.unwrap().body, new.repomd_xml());
    net.bring_up(2).await;
    assert_eq!(get(2).await.unwrap().body, new.repomd_xml());
    net.publish_upstream(prefix, &RepoTree::new(300, "baseos"));
    assert_eq!(get(3).await.unwrap().body, new.repomd_xml());
}

#[test]
fn xml_checker_is_strict() {
    let ok = fakemirrors::xml::parse(
        b"<?xml version=\"1.0\"?>\n<a x=\"1 &amp; 2\"><b>&lt;&#65;</b><c/></a>\n",
    )
    .unwrap();
    assert_eq!(
        (ok.attr("x"), ok.child_text("b")),
        (Some("1 & 2"), Some("<A"))
    );
    assert_eq!(ok.children.len(), 2);
    for bad in [
        "<a><b></b>",
        "<a></b>",
        "<a/><b/>",
        "<a>&nbsp;</a>",
        "text<a/>",
        "<a x=\"1\" x=\"2\"/>",
        "",
    ] {
        assert!(
            fakemirrors::xml::parse(bad.as_bytes()).is_err(),
            "accepted {bad:?}"
        );
    }
}
