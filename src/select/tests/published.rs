//! Subnets published at a URL, as the snapshot carries them, place clients exactly like
//! listed ones; a list fetched from another URL than the configured one is not used.

use super::*;
use crate::subnets::{Published, PublishedList};

const URL: &str = "http://127.0.0.1:1/nets.txt";

/// `a` and `b` in Germany; `own` publishes its subnets at [`URL`] and is private.
fn setup(list_url: &str, nets: &[&str]) -> Snapshot {
    let subnets = format!("subnets: \"{URL}\"");
    let config = config(
        &[],
        &[
            mirror("a", &["country: DE"]),
            mirror("b", &["country: DE"]),
            mirror("own", &[&subnets, "private: true", "country: DE"]),
        ],
    );
    let mut snap = snapshot(config, vec![healthy("a"), healthy("b"), healthy("own")]);
    let mut published = Published::default();
    published.lists.insert(
        "own".into(),
        PublishedList {
            nets: nets.iter().map(|n| n.parse().unwrap()).collect(),
            fetched_at: Some(NOW - 60),
            ..PublishedList::empty(url::Url::parse(list_url).unwrap())
        },
    );
    snap.subnets = Arc::new(published);
    snap
}

#[test]
fn a_client_in_a_published_subnet_gets_that_mirror_first() {
    let snap = setup(URL, &["198.51.100.0/24", "2001:db8::/32"]);
    let picks = pick_x86(&snap, &client("198.51.100.7"));
    assert_eq!(picks[0].mirror.name, "own");
    assert_eq!(picks[0].group, Group::Subnet);
    assert_eq!(sorted(&picks), ["a", "b", "own"]);
    // Outside it, the private mirror is never offered.
    assert_eq!(sorted(&pick_x86(&snap, &client("203.0.113.1"))), ["a", "b"]);
}

#[test]
fn a_list_from_another_url_is_not_used() {
    let snap = setup("http://127.0.0.1:1/old.txt", &["198.51.100.0/24"]);
    assert_eq!(
        sorted(&pick_x86(&snap, &client("198.51.100.7"))),
        ["a", "b"]
    );
}
