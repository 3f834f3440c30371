use std::sync::Arc;

use super::parse::{escape, parse};
use super::store::{from_saved, path_beside, to_saved};
use super::{Published, PublishedList};

fn net(text: &str) -> ipnet::IpNet {
    text.parse().unwrap()
}

#[test]
fn parses_cidrs_comments_and_blank_lines() {
    let body =
        b"# campus networks\n\n192.0.2.0/24\r\n  2001:db8::/32  # v6\n198.51.100.7\n192.0.2.9/24\n";
    let parsed = parse(body);
    assert_eq!(
        parsed.nets,
        vec![
            net("192.0.2.0/24"),
            net("198.51.100.7/32"),
            net("2001:db8::/32")
        ]
    );
    assert!(parsed.bad.is_empty(), "{:?}", parsed.bad);
}

#[test]
fn bad_lines_are_skipped_with_their_number_and_escaped() {
    let body = b"192.0.2.0/24\nnot a cidr\n10.0.0.0/33\n\x1b[31mred\r\n\xff\xfe10.1.0.0/16\n203.0.113.0/24\n";
    let parsed = parse(body);
    assert_eq!(
        parsed.nets,
        vec![net("192.0.2.0/24"), net("203.0.113.0/24")]
    );
    let lines: Vec<usize> = parsed.bad.iter().map(|b| b.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 5]);
    assert_eq!(parsed.bad[0].text, "not a cidr");
    assert_eq!(parsed.bad[2].text, "\\u{1b}[31mred");
    for bad in &parsed.bad {
        assert!(!bad.text.chars().any(char::is_control), "{:?}", bad.text);
    }
}

#[test]
fn escape_cuts_long_lines() {
    let long = "x".repeat(500);
    assert_eq!(escape(&long).chars().count(), 81);
    assert_eq!(escape("a\nb"), "a\\nb");
}

#[test]
fn the_lists_file_sits_beside_the_state_file() {
    let state = std::path::Path::new("/var/lib/mirrorwatch/state.json");
    assert_eq!(
        path_beside(state),
        std::path::Path::new("/var/lib/mirrorwatch/state.subnets.json")
    );
}

#[test]
fn only_good_lists_are_saved_and_they_come_back() {
    let url = url::Url::parse("http://127.0.0.1:1/nets.txt").unwrap();
    let mut published = Published::default();
    published.lists.insert(
        "a".into(),
        PublishedList {
            nets: Arc::from(vec![net("192.0.2.0/24")]),
            skipped_lines: 1,
            fetched_at: Some(100),
            attempted_at: Some(200),
            last_ok: false,
            last_error: Some("HTTP status 500".into()),
            ..PublishedList::empty(url.clone())
        },
    );
    published
        .lists
        .insert("never".into(), PublishedList::empty(url.clone()));
    let saved = to_saved(&published);
    assert_eq!(saved.lists.len(), 1);
    let back = from_saved(saved);
    let a = &back.lists["a"];
    assert_eq!(&*a.nets, &[net("192.0.2.0/24")]);
    assert_eq!(
        (a.fetched_at, a.attempted_at, a.skipped_lines),
        (Some(100), None, 1)
    );
}

/// `subnets: <URL>` in our file and in AlmaLinux's mirror files: the URL as written (no `/`
/// added), so that the list itself is fetched.
#[test]
fn a_subnet_url_is_kept_as_written_in_both_dialects() {
    use crate::config::Subnets;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("mirrors.d")).unwrap();
    std::fs::write(
        d.join("config.yml"),
        "mirrors_dir: mirrors.d\nversions: [\"9.8\"]\narches:\n  \"9.8\": [x86_64]\nrepos:\n  - {name: BaseOS, path: BaseOS/$basearch/os/}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("mirrors.d/alma.example.yml"),
        "name: alma.example\naddress:\n  http: http://127.0.0.1:1/almalinux/\ngeolocation:\n  country: DE\nsubnets: http://127.0.0.1:1/alma/subnets.txt\n",
    )
    .unwrap();
    std::fs::write(
        d.join("mirrors.yaml"),
        "upstream:\n  urls: [\"http://127.0.0.1:1/almalinux/\"]\nalmalinux:\n  config: config.yml\nmirrors:\n  - name: ours\n    address: {http: \"http://127.0.0.1:1/ours/\"}\n    subnets: \"https://127.0.0.1:1/ours/nets\"\nprobe:\n  dns_servers: [\"127.0.0.1:1\"]\n",
    )
    .unwrap();
    let loaded = crate::config::load(&d.join("mirrors.yaml"))
        .unwrap_or_else(|e| panic!("does not load:\n{e}"));
    let url = |name: &str| match &loaded
        .config
        .mirrors
        .iter()
        .find(|m| m.name == name)
        .unwrap()
        .subnets
    {
        Subnets::Url(url) => url.to_string(),
        Subnets::List(list) => panic!("{name}: a list {list:?}"),
    };
    assert_eq!(url("ours"), "https://127.0.0.1:1/ours/nets");
    assert_eq!(url("alma.example"), "http://127.0.0.1:1/alma/subnets.txt");
}
