//! Property-based fuzzing of everything that reads input from outside: the repomd.xml
//! parser, the configuration loader (our format and AlmaLinux's files), the mirror list and
//! metalink answers (paths, query strings, `X-Forwarded-For`), the metalink writer and the
//! state-file reader.
//!
//! Each target mixes purely random input with structure-aware input: valid documents cut,
//! spliced, re-indented, or parsed and changed node by node, since random bytes rarely get
//! past the first check. A target passes when nothing panics and every outcome is one the
//! code classifies: a repomd.xml is parsed or refused with a [`RepomdError`], a
//! configuration loads or fails with a `ConfigError` whose every diagnostic names its file,
//! an HTTP answer is 200, 400 or 404 with a body (a metalink's body well-formed XML), and a
//! state file is restored or set aside with a reason.
//!
//! `cargo test` runs a short round: proptest's default of 256 cases per target. The case
//! count comes from proptest's `PROPTEST_CASES` variable; FUZZING.md has the long runs.
//!
//! Generated YAML nests at most a few levels: deeply nested documents are a separate,
//! known problem with its own fix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, StatusCode};
use fakemirrors::{Network, RepoTree};
use ipnet::IpNet;
use mirrorwatch::config::{ConfigError, Loaded, Severity};
use mirrorwatch::freshness::UpstreamVersion;
use mirrorwatch::persist::{self, Loaded as Restore};
use mirrorwatch::repomd::{RepomdError, MAX_DATA_ENTRIES};
use mirrorwatch::serve::mirrorlist::MetalinkUrl;
use mirrorwatch::state::{Records, Snapshot};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_json::Value as Json;
use tower_service::Service;

// ---------------------------------------------------------------------------------------
// Mutations shared by the targets.

/// One change to a byte string; positions scale to the length of the input.
#[derive(Debug, Clone)]
enum Edit {
    /// XOR one byte with a non-zero mask.
    Flip(Index, u8),
    Insert(Index, Vec<u8>),
    /// Insert a token of the target's dictionary.
    Token(Index, &'static str),
    Delete(Index, usize),
    Truncate(Index),
    /// Repeat a slice in place.
    Repeat(Index, usize),
    /// Cut a slice and paste it elsewhere.
    Move(Index, usize, Index),
}

fn edit(tokens: &'static [&'static str]) -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => (any::<Index>(), 1u8..).prop_map(|(i, m)| Edit::Flip(i, m)),
        1 => (any::<Index>(), vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Edit::Insert(i, b)),
        4 => (any::<Index>(), select(tokens)).prop_map(|(i, t)| Edit::Token(i, t)),
        2 => (any::<Index>(), 1usize..48).prop_map(|(i, n)| Edit::Delete(i, n)),
        1 => any::<Index>().prop_map(Edit::Truncate),
        1 => (any::<Index>(), 1usize..48).prop_map(|(i, n)| Edit::Repeat(i, n)),
        1 => (any::<Index>(), 1usize..48, any::<Index>()).prop_map(|(i, n, j)| Edit::Move(i, n, j)),
    ]
}

/// A position in `0..=len`.
fn pos(i: &Index, len: usize) -> usize {
    i.index(len + 1)
}

fn apply_edits(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = bytes.len();
        match e {
            Edit::Flip(i, mask) => {
                if len > 0 {
                    bytes[i.index(len)] ^= mask;
                }
            }
            Edit::Insert(i, b) => {
                let at = pos(i, len);
                bytes.splice(at..at, b.iter().copied());
            }
            Edit::Token(i, t) => {
                let at = pos(i, len);
                bytes.splice(at..at, t.bytes());
            }
            Edit::Delete(i, n) => {
                let at = pos(i, len);
                bytes.drain(at..(at + n).min(len));
            }
            Edit::Truncate(i) => bytes.truncate(pos(i, len)),
            Edit::Repeat(i, n) => {
                let at = pos(i, len);
                let slice = bytes[at..(at + n).min(len)].to_vec();
                bytes.splice(at..at, slice);
            }
            Edit::Move(i, n, j) => {
                let at = pos(i, len);
                let slice: Vec<u8> = bytes.drain(at..(at + n).min(len)).collect();
                let to = pos(j, bytes.len());
                bytes.splice(to..to, slice);
            }
        }
    }
    bytes
}

/// One change to a text, line by line (what a person editing YAML gets wrong).
#[derive(Debug, Clone)]
enum LineEdit {
    Delete(Index),
    Duplicate(Index),
    Swap(Index, Index),
    /// Replace the value after `key: ` or `- ` (or append one) with a token.
    Value(Index, &'static str),
    /// Indent by one or two more spaces, or remove up to two.
    Indent(Index, i8),
}

fn line_edit(tokens: &'static [&'static str]) -> impl Strategy<Value = LineEdit> {
    prop_oneof![
        1 => any::<Index>().prop_map(LineEdit::Delete),
        1 => any::<Index>().prop_map(LineEdit::Duplicate),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| LineEdit::Swap(a, b)),
        4 => (any::<Index>(), select(tokens)).prop_map(|(i, t)| LineEdit::Value(i, t)),
        1 => (any::<Index>(), prop_oneof![Just(-2i8), Just(-1), Just(1), Just(2)])
            .prop_map(|(i, d)| LineEdit::Indent(i, d)),
    ]
}

fn apply_line_edits(text: &[u8], edits: &[LineEdit]) -> Vec<u8> {
    let text = String::from_utf8_lossy(text);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for e in edits {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match e {
            LineEdit::Delete(i) => {
                lines.remove(i.index(n));
            }
            LineEdit::Duplicate(i) => {
                let i = i.index(n);
                let line = lines[i].clone();
                lines.insert(i, line);
            }
            LineEdit::Swap(a, b) => lines.swap(a.index(n), b.index(n)),
            LineEdit::Value(i, token) => {
                let line = &mut lines[i.index(n)];
                if let Some(at) = line.find(": ") {
                    line.truncate(at + 2);
                } else if let Some(at) = line.find("- ") {
                    line.truncate(at + 2);
                } else {
                    line.push_str(": ");
                }
                line.push_str(token);
            }
            LineEdit::Indent(i, d) => {
                let line = &mut lines[i.index(n)];
                if *d > 0 {
                    line.insert_str(0, &" ".repeat(d.unsigned_abs().into()));
                } else {
                    for _ in 0..d.unsigned_abs() {
                        if line.starts_with(' ') {
                            line.remove(0);
                        }
                    }
                }
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out.into_bytes()
}

/// One change to a parsed document (JSON, or YAML read as JSON), by node number in
/// pre-order.
#[derive(Debug, Clone)]
enum TreeEdit {
    Replace(Index, Json),
    /// Remove a child of an object or array (numbered among all children).
    Remove(Index),
    /// Add (or overwrite) a key of an object, numbered among all objects.
    AddKey(Index, String, Json),
    /// Duplicate an element of an array, numbered among all array elements.
    Duplicate(Index),
}

/// A small random JSON value, at most two levels deep.
fn json_value(strings: &'static [&'static str]) -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        1 => Just(Json::Null),
        1 => any::<bool>().prop_map(Json::Bool),
        1 => any::<i64>().prop_map(Json::from),
        1 => any::<u64>().prop_map(Json::from),
        1 => prop_oneof![
            Just(0.0f64),
            Just(-1.5),
            Just(1e300),
            Just(-1e300),
            Just(0.000_001),
            Just(4_294_967_296.0)
        ]
        .prop_map(Json::from),
        1 => (-5i64..5).prop_map(Json::from),
        4 => select(strings).prop_map(Json::from),
        2 => any::<String>().prop_map(Json::from),
    ];
    leaf.prop_recursive(2, 8, 4, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Json::Array),
            vec((select(strings), inner), 0..4).prop_map(|entries| {
                Json::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                )
            }),
        ]
    })
}

fn tree_edit(
    keys: &'static [&'static str],
    strings: &'static [&'static str],
) -> impl Strategy<Value = TreeEdit> {
    let key = prop_oneof![
        4 => select(keys).prop_map(str::to_string),
        1 => any::<String>(),
    ];
    prop_oneof![
        4 => (any::<Index>(), json_value(strings)).prop_map(|(i, v)| TreeEdit::Replace(i, v)),
        2 => any::<Index>().prop_map(TreeEdit::Remove),
        2 => (any::<Index>(), key, json_value(strings)).prop_map(|(i, k, v)| TreeEdit::AddKey(i, k, v)),
        1 => any::<Index>().prop_map(TreeEdit::Duplicate),
    ]
}

fn count_nodes(v: &Json) -> usize {
    1 + match v {
        Json::Array(a) => a.iter().map(count_nodes).sum(),
        Json::Object(o) => o.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// The `n`-th node in pre-order.
fn nth_node<'a>(v: &'a mut Json, n: &mut usize) -> Option<&'a mut Json> {
    if *n == 0 {
        return Some(v);
    }
    *n -= 1;
    match v {
        Json::Array(a) => a.iter_mut().find_map(|c| nth_node(c, n)),
        Json::Object(o) => o.values_mut().find_map(|c| nth_node(c, n)),
        _ => None,
    }
}

fn apply_tree_edits(mut doc: Json, edits: &[TreeEdit]) -> Json {
    for e in edits {
        match e {
            TreeEdit::Replace(i, value) => {
                let mut n = i.index(count_nodes(&doc));
                if let Some(node) = nth_node(&mut doc, &mut n) {
                    *node = value.clone();
                }
            }
            TreeEdit::Remove(i) | TreeEdit::Duplicate(i) | TreeEdit::AddKey(i, ..) => {
                apply_to_children(&mut doc, e, i);
            }
        }
    }
    doc
}

/// `Remove`, `Duplicate` and `AddKey`: find the target among the children (or objects) of
/// the whole document by number, walking in pre-order.
fn apply_to_children(doc: &mut Json, e: &TreeEdit, i: &Index) {
    fn children(v: &Json, arrays_only: bool) -> usize {
        match v {
            Json::Array(a) => a.len() + a.iter().map(|c| children(c, arrays_only)).sum::<usize>(),
            Json::Object(o) => {
                (if arrays_only { 0 } else { o.len() })
                    + o.values().map(|c| children(c, arrays_only)).sum::<usize>()
            }
            _ => 0,
        }
    }
    fn objects(v: &Json) -> usize {
        match v {
            Json::Array(a) => a.iter().map(objects).sum(),
            Json::Object(o) => 1 + o.values().map(objects).sum::<usize>(),
            _ => 0,
        }
    }
    /// Walk to the `n`-th child (or object) and act on it; `true` once done.
    fn walk(v: &mut Json, e: &TreeEdit, n: &mut usize) -> bool {
        match (e, &mut *v) {
            (TreeEdit::AddKey(_, key, value), Json::Object(o)) => {
                if *n == 0 {
                    o.insert(key.clone(), value.clone());
                    return true;
                }
                *n -= 1;
            }
            (TreeEdit::Remove(_), Json::Object(o)) => {
                if *n < o.len() {
                    let key = o.keys().nth(*n).cloned().unwrap_or_default();
                    o.remove(&key);
                    return true;
                }
                *n -= o.len();
            }
            (TreeEdit::Remove(_) | TreeEdit::Duplicate(_), Json::Array(a)) => {
                if *n < a.len() {
                    if matches!(e, TreeEdit::Remove(_)) {
                        a.remove(*n);
                    } else {
                        let copy = a[*n].clone();
                        a.insert(*n, copy);
                    }
                    return true;
                }
                *n -= a.len();
            }
            _ => {}
        }
        match v {
            Json::Array(a) => a.iter_mut().any(|c| walk(c, e, n)),
            Json::Object(o) => o.values_mut().any(|c| walk(c, e, n)),
            _ => false,
        }
    }
    let total = match e {
        TreeEdit::AddKey(..) => objects(doc),
        TreeEdit::Duplicate(_) => children(doc, true),
        _ => children(doc, false),
    };
    if total > 0 {
        let mut n = i.index(total);
        walk(doc, e, &mut n);
    }
}

/// How a text input is made: random bytes, or a seed changed byte by byte, line by line
/// (text formats) or node by node.
#[derive(Debug, Clone)]
enum Mutation {
    Random(Vec<u8>),
    Bytes(Vec<Edit>),
    Lines(Vec<LineEdit>),
    Tree(Vec<TreeEdit>),
    /// The seed unchanged.
    None,
}

/// A mutation for text formats whose dictionary is `tokens` and whose tree values come from
/// `keys` and `strings`.
fn mutation(
    tokens: &'static [&'static str],
    keys: &'static [&'static str],
    strings: &'static [&'static str],
) -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => vec(any::<u8>(), 0..512).prop_map(Mutation::Random),
        4 => vec(edit(tokens), 1..6).prop_map(Mutation::Bytes),
        3 => vec(line_edit(tokens), 1..5).prop_map(Mutation::Lines),
        4 => vec(tree_edit(keys, strings), 1..4).prop_map(Mutation::Tree),
        1 => Just(Mutation::None),
    ]
}

/// The format a [`Mutation::Tree`] parses and writes back.
#[derive(Clone, Copy)]
enum Format {
    Yaml,
    Json,
}

fn mutate(seed: &[u8], m: &Mutation, format: Format) -> Vec<u8> {
    match m {
        Mutation::Random(bytes) => bytes.clone(),
        Mutation::Bytes(edits) => apply_edits(seed.to_vec(), edits),
        Mutation::Lines(edits) => apply_line_edits(seed, edits),
        Mutation::Tree(edits) => {
            let parsed = match format {
                Format::Yaml => serde_yaml::from_slice::<Json>(seed).ok(),
                Format::Json => serde_json::from_slice::<Json>(seed).ok(),
            };
            let Some(doc) = parsed else {
                return seed.to_vec();
            };
            let doc = apply_tree_edits(doc, edits);
            match format {
                Format::Yaml => serde_yaml::to_string(&doc).unwrap().into_bytes(),
                Format::Json => serde_json::to_vec(&doc).unwrap(),
            }
        }
        Mutation::None => seed.to_vec(),
    }
}

/// proptest's defaults (`PROPTEST_CASES` sets the number of cases, 256 without it), with
/// no failure files written into the source tree: a failure prints its minimal input,
/// which then becomes a regression test of its own.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A scratch directory for one target (each target runs on one thread).
fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

// ---------------------------------------------------------------------------------------
// repomd.xml

/// Shaped like createrepo_c output, with what the parser must tolerate: namespaces and
/// prefixes, unknown elements, a decimal timestamp, `xml:base`, entities, CDATA, comments.
const REPOMD_SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- written by hand for the fuzz tests -->
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1726456208</revision>
  <tags><distro cpeid="cpe:/o:example:example:9">Example &amp; Co 9</distro><content>binary-x86_64</content></tags>
  <data type="primary">
    <checksum type="SHA256">0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef</checksum>
    <open-checksum type="sha256">fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210</open-checksum>
    <location href="repodata/0123-primary.xml.gz"/>
    <timestamp>1726456201.5</timestamp>
    <size>2716408</size>
    <open-size>23564471</open-size>
  </data>
  <rpm:data type="filelists">
    <rpm:checksum type="sha1"><![CDATA[aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44]]></rpm:checksum>
    <rpm:location xml:base="http://elsewhere.example.org/" href="repodata/aa11-filelists.xml.gz"/>
    <rpm:timestamp>1726456203</rpm:timestamp>
  </rpm:data>
  <data type="other_zck">
    <header-checksum type="sha256">2211bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44</header-checksum>
    <location href="repodata/cc11&#45;other.xml.zck"/>
    <size> 1108112 </size>
    <?some-instruction ignored?>
  </data>
</repomd>
"#;

const XML_TOKENS: &[&str] = &[
    "<",
    ">",
    "</",
    "/>",
    "=",
    "\"",
    "'",
    "&",
    ";",
    " ",
    "\n",
    "\0",
    "\u{FEFF}",
    "\u{FFFD}",
    "<repomd>",
    "</repomd>",
    "<repomd xmlns=\"http://linux.duke.edu/metadata/repo\">",
    "<data>",
    "<data type=\"primary\">",
    "<data type=\"\">",
    "</data>",
    "<data/>",
    "<location href=\"repodata/x.xml.gz\"/>",
    "<location href=\"\"/>",
    "<location/>",
    "<location href=\"../../etc/passwd\" xml:base=\"http://x/\"/>",
    "<revision>",
    "</revision>",
    "<checksum type=\"sha256\">",
    "<checksum>",
    "</checksum>",
    "<open-checksum type=\"md5\">",
    "</open-checksum>",
    "<timestamp>",
    "</timestamp>",
    "<size>",
    "</size>",
    "<open-size>",
    "</open-size>",
    "<tags>",
    "</tags>",
    "&amp;",
    "&lt;",
    "&gt;",
    "&quot;",
    "&apos;",
    "&#0;",
    "&#65;",
    "&#x41;",
    "&#x110000;",
    "&#xD800;",
    "&#;",
    "&bogus;",
    "&amp",
    "&#x;",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<?xml version=\"1.0\"?>",
    "<?pi x?>",
    "<!DOCTYPE repomd [<!ENTITY e \"&e;&e;\">]>",
    "<!DOCTYPE repomd>",
    " xmlns=\"u\"",
    " xmlns:a=\"u\"",
    "a:",
    " xml:base=\"http://x/\"",
    " type=\"t\"",
    " type=\"t\" type=\"u\"",
    "-1",
    "1.5",
    "1.",
    ".5",
    "1e3",
    "18446744073709551616",
    "9223372036854775808",
    "-9223372036854775809",
    "0x10",
    "deadbeef",
    "DEADBEEF",
    "g00d",
    "\u{1F600}",
];

/// A structured repomd.xml: a prolog, a root, `<data>` entries whose children are chosen
/// from the elements the parser reads (with valid and invalid values), unknown elements
/// and nesting.
fn repomd_document() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        select(
            &[
                "1726456208",
                "0",
                "-1",
                "1.5",
                "1.x",
                "",
                " 7 ",
                "18446744073709551615",
                "18446744073709551616",
                "9223372036854775807",
                "-9223372036854775808",
                "0123456789abcdef",
                "ABCDEF",
                "xyz",
                "&amp;",
                "&#x41;",
                "&unknown;",
                "<![CDATA[42]]>",
                "repodata/p.xml.gz",
                "../x",
                "http://x/y",
                "repodata/",
                "repodata//a",
            ][..]
        )
        .prop_map(str::to_string),
        "[ -~]{0,24}".prop_map(|s| s.replace(['<', '&'], "")),
        (1usize..3, Just("a")).prop_map(|(k, c)| c.repeat(k * 4096)),
    ];
    let attr = prop_oneof![
        Just(String::new()),
        value
            .clone()
            .prop_map(|v| format!(" type=\"{}\"", v.replace('"', "&quot;"))),
        value
            .clone()
            .prop_map(|v| format!(" href=\"{}\"", v.replace('"', "&quot;"))),
        value
            .clone()
            .prop_map(|v| format!(" xml:base=\"{}\"", v.replace('"', "&quot;"))),
        Just(" type=\"a\" type=\"b\"".to_string()),
    ];
    let name = select(
        &[
            "location",
            "checksum",
            "open-checksum",
            "timestamp",
            "size",
            "open-size",
            "header-checksum",
            "unknown",
            "rpm:checksum",
            "data",
            "revision",
        ][..],
    );
    let child = (name, attr.clone(), value.clone(), 0usize..3).prop_map(|(n, a, v, nest)| {
        let open = "<x>".repeat(nest);
        let close = "</x>".repeat(nest);
        format!("<{n}{a}>{open}{v}{close}</{n}>")
    });
    let entry = (attr, vec(child, 0..7), any::<bool>()).prop_map(|(a, children, loc)| {
        let loc = if loc {
            "<location href=\"repodata/f.xml.gz\"/>"
        } else {
            ""
        };
        format!("<data{a}>{loc}{}</data>", children.concat())
    });
    (
        select(
            &[
                "",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
                "\u{FEFF}",
                "  ",
            ][..],
        ),
        select(&["repomd", "rpm:repomd", "metalink", "repomd xmlns=\"x\""][..]),
        proptest::option::of(value),
        vec(entry, 0..5),
        0usize..40,
        select(&["", "\n", "<!-- c -->", "<x/>", "text", "</repomd>"][..]),
        any::<bool>(),
    )
        .prop_map(|(prolog, root, revision, entries, depth, trailer, close)| {
            let mut doc = format!("{prolog}<{root}>");
            if let Some(r) = revision {
                doc.push_str(&format!("<revision>{r}</revision>"));
            }
            doc.push_str(&entries.concat());
            // Nesting up to and past the parser's limit of 32.
            doc.push_str(&"<n>".repeat(depth));
            doc.push_str(&"</n>".repeat(depth));
            if close {
                let end = root.split(' ').next().unwrap_or(root);
                doc.push_str(&format!("</{end}>"));
            }
            doc.push_str(trailer);
            doc.into_bytes()
        })
}

fn repomd_seeds() -> Vec<Vec<u8>> {
    vec![
        REPOMD_SAMPLE.as_bytes().to_vec(),
        RepoTree::new(1_700_000_000, "fuzz").repomd_xml().to_vec(),
        RepoTree::builder(1_700_003_600, "rich")
            .packages(3)
            .updateinfo()
            .group()
            .modules()
            .build()
            .repomd_xml()
            .to_vec(),
    ]
}

fn repomd_input() -> impl Strategy<Value = Vec<u8>> {
    let seeds = repomd_seeds();
    prop_oneof![
        1 => vec(any::<u8>(), 0..1024),
        4 => (select(seeds), vec(edit(XML_TOKENS), 1..8)).prop_map(|(s, e)| apply_edits(s, &e)),
        3 => repomd_document(),
    ]
}

/// What the parser promises: a result within its bounds, or a classified error whose
/// message quotes at most a clipped piece of the input.
fn check_repomd(bytes: &[u8]) -> Result<(), TestCaseError> {
    match mirrorwatch::repomd::parse(bytes) {
        Ok(md) => {
            prop_assert!(!md.data.is_empty() && md.data.len() <= MAX_DATA_ENTRIES);
            prop_assert!(md.revision.as_ref().is_none_or(|r| r.len() <= 4096));
            for d in &md.data {
                prop_assert!(!d.href.trim().is_empty(), "{d:?}");
                prop_assert!(d.href.len() <= 4096 && d.kind.len() <= 4096);
                for c in [&d.checksum, &d.open_checksum].into_iter().flatten() {
                    prop_assert!(!c.algo.is_empty(), "{c:?}");
                    prop_assert!(
                        !c.hex.is_empty()
                            && c.hex
                                .bytes()
                                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                        "{c:?}"
                    );
                }
            }
        }
        Err(e) => {
            // Every variant, named: a new kind of failure must be classified here too.
            match &e {
                RepomdError::Xml(_)
                | RepomdError::Empty
                | RepomdError::NotRepomd(_)
                | RepomdError::Truncated
                | RepomdError::TrailingContent
                | RepomdError::TooDeep
                | RepomdError::TextTooLong(_)
                | RepomdError::TooManyEntries
                | RepomdError::NoData
                | RepomdError::MissingType
                | RepomdError::MissingLocation(_)
                | RepomdError::BadNumber { .. }
                | RepomdError::BadChecksum { .. } => {}
            }
            let message = e.to_string();
            prop_assert!(
                !message.is_empty() && message.chars().count() <= 400,
                "{message}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]
    #[test]
    fn repomd_parser(bytes in repomd_input()) {
        check_repomd(&bytes)?;
    }
}

// ---------------------------------------------------------------------------------------
// Configuration: our format and AlmaLinux's files.

const YAML_TOKENS: &[&str] = &[
    "",
    "~",
    "null",
    "[]",
    "{}",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "- ",
    "#",
    "\"",
    "'",
    "|",
    ">",
    "&a",
    "*a",
    "*b",
    "!!str",
    "!!binary",
    "!!float",
    "!custom",
    "<<: *a",
    "? ",
    "---",
    "...",
    "\t",
    "\n",
    "\r\n",
    "\0",
    "\u{FEFF}",
    "\u{1b}[2J",
    "yes",
    "no",
    "on",
    "off",
    "true",
    "maybe",
    "0",
    "-1",
    "1e400",
    "0x10",
    "4294967296",
    "18446744073709551616",
    ".nan",
    ".inf",
    "1.5",
    "30s",
    "5m",
    "1h 30m",
    "1.5h",
    "-5m",
    "0s",
    "300",
    "1 fortnight",
    "9.8",
    "\"9.8\"",
    "\"10\"",
    "10-kitten",
    "x86_64",
    "aarch64",
    "mips",
    "DE",
    "de",
    "UK",
    "ZZ",
    "EU",
    "XX",
    "https://mirror.example.org/almalinux/",
    "http://[::1]:0/",
    "ftp://x/",
    "rsync://x/a/",
    "https://x/?q=1",
    "https://user@x/",
    "http://",
    "mirror.example.org",
    "bad name",
    "192.0.2.0/24",
    "2001:db8::/129",
    "10.0.0.1/8",
    "not-a-cidr",
    "127.0.0.1:9184",
    "[::1]:9184",
    "localhost:80",
    "BaseOS/$basearch/os/",
    "/abs/path/",
    "../up/",
    "./here",
    "baseos",
    "appstream",
    "kitten",
    "config.yml",
    "missing.yml",
    "mirrors.d",
];

const YAML_KEYS: &[&str] = &[
    "upstream",
    "urls",
    "modules",
    "layout",
    "versions",
    "aliases",
    "arches",
    "repos",
    "vault",
    "url",
    "mirrors",
    "name",
    "address",
    "http",
    "https",
    "rsync",
    "ftp",
    "address_optional",
    "country",
    "continent",
    "city",
    "state_province",
    "coordinates",
    "latitude",
    "longitude",
    "asn",
    "subnets",
    "private",
    "monopoly",
    "enabled",
    "probe",
    "interval",
    "timeout",
    "connect_timeout",
    "concurrency",
    "per_host",
    "freshness",
    "stale_after",
    "health",
    "serve",
    "listen",
    "trusted_proxies",
    "max_lag",
    "metrics",
    "state",
    "path",
    "almalinux",
    "config",
    "mirrors_dir",
    "geolocation",
    "update_frequency",
    "sponsor",
    "email",
    "allowed_outdate",
    "duplicated_versions",
    "optional_module_versions",
    "vault_versions",
    "vault_mirror",
    "required_protocols",
    "config_version",
    "cloud_type",
    "bogus",
    "9",
    "10",
];

/// Our format with an AlmaLinux section: `config.yml` beside it.
const ALMA_MAIN: &str = "upstream:\n  urls: [\"https://repo.example.org/almalinux/\"]\n  modules:\n    kitten: [\"https://kitten.example.org/\"]\nalmalinux:\n  config: config.yml\nmirrors:\n  - name: internal.example.org\n    address: {https: \"https://internal.example.org/almalinux/\"}\n    private: true\n    subnets: [\"10.0.0.0/8\"]\n";

/// An AlmaLinux `config.yml` using every key the importer reads.
const ALMA_CONFIG: &str = r#"---
config_version: 3
allowed_outdate: 12h
mirrors_dir: mirrors.d
versions: ["8", "8.10", "9", "9.8", "10", "10.2"]
optional_module_versions:
  kitten: ["10"]
duplicated_versions: {"8": "8.10", "9": "9.8", "10": "10.2"}
vault_versions: ["8.9", "9.4", "9.5-beta"]
vault_mirror: http://vault.example.org/
arches:
  "8": [x86_64, aarch64, ppc64le, s390x]
  "9": [x86_64, aarch64, ppc64le, s390x]
  "10": [x86_64, x86_64_v2, aarch64]
  "10-kitten": [x86_64, aarch64]
required_protocols: [http, https]
repos:
  - name: baseos
    path: BaseOS/$basearch/os/
  - name: appstream
    path: AppStream/$basearch/os/
  - name: extras-common
    path: extras-common/$basearch/os/
    versions: ["9.8", "10.2", "10-kitten"]
  - name: devel
    path: devel/$basearch/os/
    arches: [x86_64]
  - name: baseos-debug
    path: BaseOS/debug/$basearch/
    vault: true
"#;

/// AlmaLinux mirror files: every key, a private monopoly, and the quirks read leniently.
const ALMA_MIRRORS: [&str; 3] = [
    r#"---
name: mirror.example.org
address:
  http: http://mirror.example.org/almalinux/
  https: https://mirror.example.org/almalinux/
  rsync: rsync://mirror.example.org/almalinux/
address_optional:
  kitten:
    https: https://mirror.example.org/almalinux-kitten/
geolocation:
  country: DE
  state_province: Hesse
  city: Frankfurt
update_frequency: 3h
sponsor: Example
sponsor_url: https://example.org/
email: mirrors@example.org
asn: [64500, 64501]
subnets:
  - 192.0.2.0/24
  - 2001:db8::/32
private: no
...
"#,
    r#"name: cloud.example.net
address:
  https: https://cloud.example.net/almalinux/
geolocation:
  country: us
  continent: NA
asn: 64510
subnets: https://cloud.example.net/subnets.txt
private: yes
monopoly: on
cloud_type: aws
cloud_regions: [us-east-1, us-west-2]
"#,
    r#"name: small.example.co.uk
address:
  http: https://small.example.co.uk/almalinux
address_options:
  kitten: {http: "http://small.example.co.uk/kitten/"}
geolocation:
  country: UK
  city: London
sponsor_url: https://a.example/
sponsor_url: https://b.example/
"#,
];

struct ConfigSeeds {
    ours: Vec<Vec<u8>>,
    alma_configs: Vec<Vec<u8>>,
    alma_mirrors: Vec<Vec<u8>>,
}

/// AlmaLinux's own files, when the snapshot is beside the repository.
fn almalinux_snapshot() -> Option<PathBuf> {
    let dir = std::env::var_os("MIRRORWATCH_ALMALINUX_DATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/almalinux-mirrors"),
        PathBuf::from,
    );
    dir.join("config.yml").is_file().then_some(dir)
}

fn config_seeds() -> &'static ConfigSeeds {
    static SEEDS: OnceLock<ConfigSeeds> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut ours = vec![std::fs::read(root.join("mirrors.yaml")).unwrap()];
        for kind in ["valid", "invalid"] {
            let mut files: Vec<PathBuf> =
                std::fs::read_dir(root.join("tests/fixtures/config").join(kind))
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
                    .collect();
            files.sort();
            ours.extend(files.iter().map(|f| std::fs::read(f).unwrap()));
        }
        let mut alma_configs = vec![ALMA_CONFIG.as_bytes().to_vec()];
        let mut alma_mirrors: Vec<Vec<u8>> =
            ALMA_MIRRORS.iter().map(|m| m.as_bytes().to_vec()).collect();
        match almalinux_snapshot() {
            Some(dir) => {
                alma_configs.push(std::fs::read(dir.join("config.yml")).unwrap());
                let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("mirrors.d"))
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect();
                files.sort();
                alma_mirrors.extend(files.iter().map(|f| std::fs::read(f).unwrap()));
            }
            None => eprintln!(
                "no AlmaLinux snapshot at ../shared/data/almalinux-mirrors (or \
                 $MIRRORWATCH_ALMALINUX_DATA): the AlmaLinux target mutates its built-in \
                 files only"
            ),
        }
        ConfigSeeds {
            ours,
            alma_configs,
            alma_mirrors,
        }
    })
}

fn yaml_mutation() -> impl Strategy<Value = Mutation> {
    mutation(YAML_TOKENS, YAML_KEYS, YAML_TOKENS)
}

/// A diagnostic as its line starts: the file, control characters escaped.
fn escaped_file(file: &Path) -> String {
    file.display()
        .to_string()
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A configuration loaded (every note a warning) or refused with at least one error; every
/// diagnostic names an absolute file (ours, or one ours names, resolved from its directory),
/// and is one line that starts with that file.
fn check_config(result: Result<Loaded, ConfigError>) -> Result<(), TestCaseError> {
    let diagnostics = match result {
        Ok(loaded) => {
            prop_assert!(loaded
                .warnings
                .iter()
                .all(|d| d.severity == Severity::Warning));
            loaded.warnings
        }
        Err(e) => {
            prop_assert!(e.errors().next().is_some(), "no error in {e:?}");
            e.diagnostics
        }
    };
    for d in &diagnostics {
        prop_assert!(d.file.is_absolute(), "{d:?}");
        let line = d.to_string();
        prop_assert!(!line.chars().any(char::is_control), "{line:?}");
        let file = escaped_file(&d.file);
        let prefix = match d.severity {
            Severity::Error => file,
            Severity::Warning => format!("warning: {file}"),
        };
        prop_assert!(
            line.starts_with(&prefix),
            "{line:?} does not start with {prefix:?}"
        );
    }
    Ok(())
}

/// Which AlmaLinux file a case changes: `config.yml` or one of the mirror files.
const ALMA_FILES: usize = 4;

proptest! {
    #![proptest_config(config())]
    #[test]
    fn config_loader_ours(seed in select(config_seeds().ours.clone()), m in yaml_mutation()) {
        thread_local!(static DIR: tempfile::TempDir = scratch());
        let file = DIR.with(|d| d.path().join("mirrors.yaml"));
        std::fs::write(&file, mutate(&seed, &m, Format::Yaml)).unwrap();
        check_config(mirrorwatch::config::load(&file))?;
    }

    #[test]
    fn config_loader_almalinux(
        config in select(config_seeds().alma_configs.clone()),
        mirrors in vec(select(config_seeds().alma_mirrors.clone()), 3),
        target in 0..ALMA_FILES,
        m in yaml_mutation(),
    ) {
        thread_local!(static DIR: tempfile::TempDir = {
            let dir = scratch();
            std::fs::create_dir(dir.path().join("mirrors.d")).unwrap();
            std::fs::write(dir.path().join("mirrors.yaml"), ALMA_MAIN).unwrap();
            dir
        });
        let dir = DIR.with(|d| d.path().to_path_buf());
        let mut files = vec![config];
        files.extend(mirrors);
        files[target] = mutate(&files[target], &m, Format::Yaml);
        std::fs::write(dir.join("config.yml"), &files[0]).unwrap();
        for (i, text) in files[1..].iter().enumerate() {
            std::fs::write(dir.join(format!("mirrors.d/m{i}.yml")), text).unwrap();
        }
        check_config(mirrorwatch::config::load(&dir.join("mirrors.yaml")))?;
    }
}

// ---------------------------------------------------------------------------------------
// The HTTP answers: a snapshot from a real (loopback) engine run, the real router.

/// The layout every HTTP case runs against: two versions with aliases, a repo carried by
/// one version and one arch, a repo whose name has a dash, a vault-only repo and vault
/// versions; three mirrors in three countries; trusted proxies of both families.
fn router_config(upstream: &str, mirrors: &[String]) -> String {
    let mut text = format!(
        "upstream:\n  urls: [\"{upstream}\"]\nlayout:\n  versions: [\"9.8\", \"10.2\"]\n  aliases: {{\"9\": \"9.8\", \"10\": \"10.2\"}}\n  arches: {{\"9\": [x86_64, aarch64], \"10\": [x86_64]}}\n  repos:\n    - {{name: baseos, path: BaseOS/$basearch/os/}}\n    - {{name: appstream, path: AppStream/$basearch/os/}}\n    - {{name: extras-common, path: extras-common/$basearch/os/}}\n    - {{name: crb, path: CRB/$basearch/os/, versions: [\"9.8\"], arches: [x86_64]}}\n    - {{name: debug, path: debug/$basearch/, vault: true}}\n  vault: {{url: \"http://127.0.0.1:1/vault/\", versions: [\"9.4\", \"8.9\"]}}\nmirrors:\n"
    );
    for (url, country) in mirrors.iter().zip(["DE", "US", "JP"]) {
        text.push_str(&format!(
            "  - name: {}\n    address: {{http: \"{url}\"}}\n    country: {country}\n",
            country.to_lowercase()
        ));
    }
    text.push_str(&format!(
        "probe:\n  dns_servers: [\"{}\"]\n  ip_families: [ipv4]\n  timeout: 2s\n  connect_timeout: 1s\nserve:\n  trusted_proxies: [\"127.0.0.0/8\", \"::1\", \"10.0.0.0/8\", \"2001:db8::/32\"]\nstate:\n  path: state.json\n",
        common::DEAD_DNS
    ));
    text
}

const DIRS: [&str; 11] = [
    "9.8/BaseOS/x86_64/os/",
    "9.8/BaseOS/aarch64/os/",
    "9.8/AppStream/x86_64/os/",
    "9.8/AppStream/aarch64/os/",
    "9.8/extras-common/x86_64/os/",
    "9.8/extras-common/aarch64/os/",
    "9.8/CRB/x86_64/os/",
    "10.2/BaseOS/x86_64/os/",
    "10.2/AppStream/x86_64/os/",
    "10.2/extras-common/x86_64/os/",
    "10.2/CRB/x86_64/os/",
];

/// What the HTTP and state-file targets share, built once per test binary.
struct Fixture {
    router: axum::Router,
    snapshot: Arc<Snapshot>,
    trusted: Vec<IpNet>,
    /// The state file an engine saved after the run, as written.
    state_file: Vec<u8>,
    _sender: tokio::sync::watch::Sender<Arc<Snapshot>>,
}

/// An upstream that published two versions (so metalinks carry an alternate) and three
/// mirrors, two current and one a version behind, polled and swept by the daemon's engine.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (snapshot, config, state_file) = rt.block_on(async {
            let net = Network::start(3).await;
            let file = dir.path().join("mirrors.yaml");
            std::fs::write(
                &file,
                router_config(&net.upstream.base_url(), &net.mirror_urls()),
            )
            .unwrap();
            let config = Arc::new(mirrorwatch::config::load(&file).unwrap().config);
            common::assert_loopback_dns(&config);
            let mut engine = common::Engine::new(config.clone(), 900);
            let trees = [
                RepoTree::new(1_700_000_000, "one"),
                RepoTree::new(1_700_003_600, "two"),
            ];
            for (n, tree) in trees.iter().enumerate() {
                let now = 1000 * (n as i64 + 1);
                for d in DIRS {
                    net.publish_upstream(d, tree);
                    for m in 0..3 {
                        if n == 0 || m < 2 {
                            net.sync(m, d, tree);
                        }
                    }
                }
                engine.poll(now).await;
                for m in ["de", "us", "jp"] {
                    engine.sweep(m, now + 100).await;
                }
            }
            engine.restart(2200);
            let state_file = std::fs::read(config.state.path.as_ref().unwrap()).unwrap();
            (engine.snapshot(2300), config, state_file)
        });
        assert!(
            snapshot
                .upstream
                .iter()
                .all(|u| u.current.is_some() && u.up),
            "{:?}",
            snapshot.upstream
        );
        let (sender, receiver) = tokio::sync::watch::channel(snapshot.clone());
        let state = mirrorwatch::serve::AppState::new(receiver, None);
        Fixture {
            router: mirrorwatch::serve::router(state),
            snapshot,
            trusted: config.serve.trusted_proxies.clone(),
            state_file,
            _sender: sender,
        }
    })
}

/// Percent-encode every byte that is not unreserved.
fn encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A path segment or query value: a name the layout knows (or almost), or anything.
fn request_word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(&[
            "9", "9.8", "10", "10.2", "9.4", "8.9", "8", "10-kitten", "baseos", "appstream",
            "extras-common", "crb", "debug", "BaseOS", "baseos-9", "appstream-9.8",
            "extras-common-10", "extras-common-10.2", "crb-10", "debug-9", "debug-9.4",
            "baseos-8.9", "baseos-", "-9", "x86_64", "aarch64", "ppc64le", "X86_64", "http",
            "https", "ftp", "HTTP", "de", "DE", "us", "jp", "UK", "gb", "ZZ", "", "-", "--",
            "--->", "<!--", "-->",
        ][..]).prop_map(|w| encode(w.as_bytes())),
        2 => vec(any::<u8>(), 0..24).prop_map(|b| encode(&b)),
        1 => any::<String>().prop_map(|s| encode(s.as_bytes())),
        // Raw characters a URI allows in a query, including a stray `%`.
        1 => "[a-zA-Z0-9%+&=;:@!$'()*,/?-]{0,16}",
    ]
}

fn query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        4 => select(&["arch", "country", "protocol", "repo"][..]).prop_map(str::to_string),
        1 => select(&["Arch", "", "arch[]", "x", "repo%00"][..]).prop_map(str::to_string),
        1 => vec(any::<u8>(), 0..6).prop_map(|b| encode(&b)),
    ];
    let pair =
        (key, request_word(), any::<bool>()).prop_map(
            |(k, v, eq)| {
                if eq {
                    format!("{k}={v}")
                } else {
                    k
                }
            },
        );
    (vec(pair, 0..5), any::<bool>()).prop_map(|(pairs, q)| {
        if pairs.is_empty() && !q {
            String::new()
        } else {
            format!("?{}", pairs.join("&"))
        }
    })
}

#[derive(Debug, Clone)]
enum Endpoint {
    Mirrorlist,
    Metalink,
}

fn request_target() -> impl Strategy<Value = (Endpoint, String)> {
    prop_oneof![
        (request_word(), request_word(), query())
            .prop_map(|(v, r, q)| (Endpoint::Mirrorlist, format!("/mirrorlist/{v}/{r}{q}"))),
        query().prop_map(|q| (Endpoint::Metalink, format!("/metalink{q}"))),
    ]
}

/// An address as a proxy might write it, and the address it stands for (`None`: not an
/// address).
fn xff_entry() -> impl Strategy<Value = (String, Option<IpAddr>)> {
    let v4 = prop_oneof![
        Just(Ipv4Addr::new(127, 0, 0, 1)),
        Just(Ipv4Addr::new(10, 9, 8, 7)),
        Just(Ipv4Addr::new(192, 0, 2, 44)),
        Just(Ipv4Addr::new(203, 0, 113, 9)),
        any::<u32>().prop_map(Ipv4Addr::from),
    ];
    let v6 = prop_oneof![
        Just(Ipv6Addr::LOCALHOST),
        Just("2001:db8::77".parse::<Ipv6Addr>().unwrap()),
        Just("2a00:1450::1".parse::<Ipv6Addr>().unwrap()),
        v4.clone().prop_map(|a| a.to_ipv6_mapped()),
        any::<u128>().prop_map(Ipv6Addr::from),
    ];
    let ws = select(&["", " ", "  ", "\t"][..]);
    prop_oneof![
        (v4, any::<u16>(), any::<bool>(), ws.clone(), ws.clone()).prop_map(|(a, port, p, l, r)| {
            let text = if p {
                format!("{a}:{port}")
            } else {
                a.to_string()
            };
            (format!("{l}{text}{r}"), Some(IpAddr::V4(a).to_canonical()))
        }),
        (v6, any::<u16>(), 0..3u8, ws.clone(), ws).prop_map(|(a, port, form, l, r)| {
            let text = match form {
                0 => a.to_string(),
                1 => format!("[{a}]"),
                _ => format!("[{a}]:{port}"),
            };
            (format!("{l}{text}{r}"), Some(IpAddr::V6(a).to_canonical()))
        }),
        select(
            &[
                "",
                "unknown",
                "_hidden",
                "1.2.3",
                "1.2.3.4.5",
                "::ffff:1.2.3",
                "[::1",
                "::1]",
                "1.2.3.4:99999",
                "[1.2.3.4]",
                "[1.2.3.4]:5",
                "fe80::1%eth0",
                "2001:db8::/32"
            ][..]
        )
        .prop_map(|s| (s.to_string(), entry_addr(s))),
        "[ -+\\--~]{0,12}".prop_map(|s| {
            let addr = entry_addr(&s);
            (s, addr)
        }),
    ]
}

/// The forms of an entry `client_addr` documents: an address, an address and port, an
/// address in brackets; surrounding white space ignored.
fn entry_addr(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let addr = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())?;
    Some(addr.to_canonical())
}

/// `X-Forwarded-For` values: each one entry or more joined by commas, or raw header bytes
/// (including bytes that are not text).
fn xff_headers() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let value = prop_oneof![
        4 => vec(xff_entry(), 1..5).prop_map(|es| {
            es.into_iter().map(|(s, _)| s).collect::<Vec<_>>().join(",").into_bytes()
        }),
        1 => vec(prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff], 0..24),
    ];
    vec(value, 0..3)
}

fn peer() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        select(
            &[
                "127.0.0.1",
                "10.0.0.2",
                "::1",
                "::ffff:127.0.0.1",
                "::ffff:10.1.1.1",
                "2001:db8::1",
                "192.0.2.1",
                "2a00:1450::2",
                "0.0.0.0",
                "::",
            ][..]
        )
        .prop_map(|a| a.parse().unwrap()),
        any::<u32>().prop_map(|a| IpAddr::V4(a.into())),
        any::<u128>().prop_map(|a| IpAddr::V6(a.into())),
    ]
}

/// Whether `c` may appear in an XML 1.0 document (the `Char` production).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The name of the element `e` starts; its attributes go to `found` as `name@attribute`.
fn element(
    e: &quick_xml::events::BytesStart<'_>,
    found: &mut Vec<(String, String)>,
) -> Result<String, String> {
    let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let value = a.unescape_value().map_err(|e| e.to_string())?;
        found.push((
            format!("{name}@{}", String::from_utf8_lossy(a.key.as_ref())),
            value.into_owned(),
        ));
    }
    Ok(name)
}

/// Read `xml` event by event to the end; every character must be one XML allows. Returns
/// the text of each element by name, unescaped, and attribute values by name.
fn well_formed_xml(xml: &str) -> Result<Vec<(String, String)>, String> {
    use quick_xml::events::Event;
    if let Some(c) = xml.chars().find(|c| !xml_char(*c)) {
        return Err(format!("character {c:?} is not allowed in XML"));
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut found = Vec::new();
    let mut open: Vec<String> = Vec::new();
    let mut roots = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => {
                if open.is_empty() {
                    roots += 1;
                }
                open.push(element(&e, &mut found)?);
            }
            Ok(Event::Empty(e)) => {
                if open.is_empty() {
                    roots += 1;
                }
                element(&e, &mut found)?;
            }
            Ok(Event::End(_)) => {
                open.pop();
            }
            Ok(Event::Text(t)) => {
                let text = t.decode().map_err(|e| e.to_string())?;
                match open.last() {
                    Some(name) => found.push((name.clone(), text.into_owned())),
                    None if text.trim().is_empty() => {}
                    None => return Err(format!("text outside the root: {text:?}")),
                }
            }
            Ok(Event::GeneralRef(r)) => {
                let c = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| e.to_string())?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| format!("unknown entity &{name};"))?
                            .to_string()
                    }
                };
                let Some(name) = open.last() else {
                    return Err("a reference outside the root".into());
                };
                // References continue the text before them.
                match found.last_mut() {
                    Some((n, text)) if n == name => text.push_str(&c),
                    _ => found.push((name.clone(), c)),
                }
            }
            Ok(Event::Comment(c)) => {
                let text = String::from_utf8_lossy(&c);
                if text.contains("--") || text.ends_with('-') {
                    return Err(format!("`--` in a comment: {text:?}"));
                }
            }
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    if !open.is_empty() {
        return Err(format!("unclosed elements {open:?}"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    // Adjacent text pieces of one element (split by references) are one text.
    let mut merged: Vec<(String, String)> = Vec::new();
    for (name, text) in found {
        match merged.last_mut() {
            Some((n, t)) if *n == name && !name.contains('@') => t.push_str(&text),
            _ => merged.push((name, text)),
        }
    }
    Ok(merged)
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
}

/// One request through the real router, in process.
fn call(target: &str, peer: IpAddr, xff: &[Vec<u8>]) -> (StatusCode, String, Vec<u8>) {
    let mut request = Request::get(target).body(Body::empty()).unwrap();
    for value in xff {
        let value = HeaderValue::from_bytes(value).unwrap();
        request.headers_mut().append("x-forwarded-for", value);
    }
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(peer, 40_000)));
    let mut router = fixture().router.clone();
    RUNTIME.with(|rt| {
        rt.block_on(async {
            let response = router.call(request).await.unwrap();
            let status = response.status();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, content_type, body.to_vec())
        })
    })
}

/// 200, 400 or 404 with a text body. A mirror list's own answers are comment lines and, on
/// a 200, URLs; a metalink's are well-formed XML (a 200 lists at least one `<url>`). Only a
/// query string axum cannot read gets its plain-text 400 instead.
fn check_answer(
    endpoint: &Endpoint,
    target: &str,
    status: StatusCode,
    content_type: &str,
    body: &[u8],
) -> Result<(), TestCaseError> {
    prop_assert!(
        [
            StatusCode::OK,
            StatusCode::BAD_REQUEST,
            StatusCode::NOT_FOUND
        ]
        .contains(&status),
        "{target}: {status} {}",
        String::from_utf8_lossy(body)
    );
    prop_assert!(!body.is_empty(), "{target}: {status} with an empty body");
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(TestCaseError::fail(format!(
            "{target}: a body that is not UTF-8"
        )));
    };
    match (endpoint, content_type) {
        (Endpoint::Mirrorlist, "text/plain; charset=utf-8")
            if text.starts_with('#') || status == StatusCode::OK =>
        {
            for line in text.lines() {
                let url = status == StatusCode::OK
                    && (line.starts_with("http://") || line.starts_with("https://"));
                prop_assert!(
                    line.starts_with('#') || url,
                    "{target}: line {line:?} in\n{text}"
                );
            }
        }
        (Endpoint::Metalink, "application/metalink+xml") => {
            let found = well_formed_xml(text)
                .map_err(|e| TestCaseError::fail(format!("{target}: {e}\n{text}")))?;
            let urls = found.iter().filter(|(n, _)| n == "url").count();
            prop_assert_eq!(status == StatusCode::OK, urls > 0, "{}: {}", target, text);
        }
        // axum's own rejection of a query string or path it cannot decode.
        (_, "text/plain; charset=utf-8") => {
            prop_assert_eq!(status, StatusCode::BAD_REQUEST, "{}: {}", target, text);
            prop_assert!(!text.contains('\n'), "{target}: {text:?}");
        }
        _ => {
            return Err(TestCaseError::fail(format!(
                "{target}: content type {content_type:?}: {text}"
            )))
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]
    #[test]
    fn http_mirrorlist_and_metalink(
        (endpoint, target) in request_target(),
        peer in peer(),
        xff in xff_headers(),
    ) {
        let (status, content_type, body) = call(&target, peer, &xff);
        check_answer(&endpoint, &target, status, &content_type, &body)?;
    }

    /// `client_addr` against a model of it: the right-most entry that is not a trusted
    /// proxy, else the left-most; the peer when the peer is not trusted, without a header,
    /// or when any entry (looked at) is not an address.
    #[test]
    fn http_x_forwarded_for(peer in peer(), entries in proptest::option::of(vec(xff_entry(), 0..5))) {
        let trusted = &fixture().trusted;
        let header = entries.as_ref().map(|es| {
            es.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>().join(",")
        });
        let got = mirrorwatch::select::client_addr(peer, header.as_deref(), trusted);
        let is_trusted = |a: IpAddr| trusted.iter().any(|n| n.contains(&a));
        let canonical = peer.to_canonical();
        let expected = match &entries {
            Some(es) if is_trusted(canonical) => {
                let mut leftmost = None;
                let mut result = None;
                // An empty header is one empty entry.
                let parsed: Vec<Option<IpAddr>> = if es.is_empty() {
                    vec![None]
                } else {
                    es.iter().map(|(_, a)| *a).collect()
                };
                for addr in parsed.iter().rev() {
                    match addr {
                        None => {
                            result = Some(canonical);
                            break;
                        }
                        Some(a) if !is_trusted(*a) => {
                            result = Some(*a);
                            break;
                        }
                        Some(a) => leftmost = Some(*a),
                    }
                }
                result.or(leftmost).unwrap_or(canonical)
            }
            _ => canonical,
        };
        prop_assert_eq!(got, expected, "header {:?}", header);
        prop_assert_eq!(got, got.to_canonical());
    }
}

// ---------------------------------------------------------------------------------------
// The metalink writer, called directly with whatever strings might reach it.

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => any::<String>(),
        1 => select(&["&", "<", ">", "\"", "'", "]]>", "<!--", "-->", "&amp;", "\u{0}", "\u{1b}",
            "\u{FFFE}", "\u{FFFF}", "\u{D7FF}", "\u{10FFFF}", "\r\n", "\t"][..])
            .prop_map(str::to_string),
        1 => vec(select(&["a", "&", "<", "\"", "'", "\u{1}", "\u{FFFF}", "x", " "][..]), 0..12)
            .prop_map(|p| p.concat()),
    ]
}

fn upstream_version() -> impl Strategy<Value = UpstreamVersion> {
    let hash = prop_oneof![
        2 => "[0-9a-f]{64}",
        1 => any_text(),
    ];
    (
        hash.clone(),
        proptest::option::of(hash.clone()),
        proptest::option::of(hash.clone()),
        proptest::option::of(hash),
        any::<u64>(),
        proptest::option::of(any_text()),
        proptest::option::of(any::<i64>()),
        any::<i64>(),
    )
        .prop_map(
            |(sha256, sha512, sha1, md5, size, revision, timestamp, first_seen)| UpstreamVersion {
                sha256,
                sha512,
                sha1,
                md5,
                size,
                revision,
                timestamp,
                first_seen,
            },
        )
}

/// What the writer should print for `text`: itself, with characters XML does not allow
/// replaced by U+FFFD.
fn as_written(text: &str) -> String {
    text.chars()
        .map(|c| {
            if xml_char(c) {
                c
            } else {
                char::REPLACEMENT_CHARACTER
            }
        })
        .collect()
}

/// Line ends are normalized by XML readers, so they are compared as `\n`.
fn normalized(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

proptest! {
    #![proptest_config(config())]
    #[test]
    fn metalink_writer(
        generated_at in any::<i64>(),
        current in upstream_version(),
        alternates in vec(upstream_version(), 0..3),
        urls in vec((any::<bool>(), proptest::option::of(any_text()), any_text()), 0..4),
    ) {
        let snapshot = Snapshot::empty(fixture().snapshot.config.clone(), generated_at);
        let urls: Vec<MetalinkUrl> = urls
            .into_iter()
            .map(|(https, location, url)| MetalinkUrl {
                protocol: if https { "https" } else { "http" },
                location,
                url,
            })
            .collect();
        let xml = mirrorwatch::serve::metalink::render(&snapshot, &current, &alternates, &urls);
        let found = well_formed_xml(&xml).map_err(|e| TestCaseError::fail(format!("{e}\n{xml}")))?;
        // Every value comes back as given (but for characters XML cannot carry).
        let texts = |name: &str| -> Vec<String> {
            found.iter().filter(|(n, _)| n == name).map(|(_, t)| normalized(t)).collect()
        };
        let expected_urls: Vec<String> = urls.iter().map(|u| normalized(&as_written(&u.url))).collect();
        let got_urls: Vec<String> = texts("url");
        // An empty text is no text event at all.
        let expected_urls: Vec<String> = expected_urls.into_iter().filter(|u| !u.is_empty()).collect();
        prop_assert_eq!(got_urls, expected_urls);
        let locations: Vec<String> = urls
            .iter()
            .filter_map(|u| u.location.as_deref())
            .map(|l| normalized(&as_written(l)).replace(['\t', '\n'], " "))
            .collect();
        // XML readers turn white space in attribute values into spaces.
        let got_locations: Vec<String> = texts("url@location").iter().map(|l| l.replace(['\t', '\n'], " ")).collect();
        prop_assert_eq!(got_locations, locations);
        let mut hashes = Vec::new();
        for v in std::iter::once(&current).chain(&alternates) {
            let all = [v.md5.as_deref(), v.sha1.as_deref(), Some(v.sha256.as_str()), v.sha512.as_deref()];
            hashes.extend(all.into_iter().flatten().map(|h| normalized(&as_written(h))).filter(|h| !h.is_empty()));
        }
        prop_assert_eq!(texts("hash"), hashes);
    }
}

// ---------------------------------------------------------------------------------------
// The state file.

const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e999",
    "-0",
    "1.5",
    "18446744073709551616",
    "-9223372036854775809",
    "\"format\":2,",
    "\"format\":1,",
    "\"state\":{},",
    "\\u0000",
    "\\ud800",
    "\\uDFFF",
    "\u{0}",
    "\u{FEFF}",
    " ",
    "\n",
    "NaN",
    "Infinity",
    "{\"a\":",
    "[[[[",
    "]]]]",
    "\"ipv4\"",
    "\"ipv6\"",
    "\"kind\":",
    "\"fetched\"",
    "\"not_found\"",
    "\"failed\"",
    "\"timeout\"",
    "\"sha256\":\"zz\"",
];

const STATE_KEYS: &[&str] = &[
    "format",
    "written_at",
    "state",
    "upstream",
    "mirrors",
    "history",
    "etag",
    "last_modified",
    "polled",
    "health",
    "families",
    "ipv4",
    "ipv6",
    "absent",
    "last_sweep",
    "address",
    "protocols",
    "phases",
    "tls_not_after",
    "last_failure",
    "at",
    "reason",
    "detail",
    "time_file",
    "log",
    "copies",
    "seen",
    "kind",
    "sha256",
    "timestamp",
    "revision",
    "missing",
    "versions",
    "first_seen",
    "size",
    "result",
    "files_ok",
    "files_failed",
    "duration_seconds",
    "state",
    "since",
    "http",
    "https",
    "bogus",
];

const STATE_STRINGS: &[&str] = &[
    "",
    "ok",
    "partial",
    "failed",
    "absent",
    "fetched",
    "not_found",
    "timeout",
    "connect",
    "dns",
    "tls",
    "status",
    "state",
    "up",
    "down",
    "unknown",
    "127.0.0.1",
    "::1",
    "not an ip",
    "ipv4",
    "ipv6",
    "http",
    "https",
    "9.8/BaseOS/x86_64/os/",
    "repodata/a.xml.gz",
    "5f2b0f3b2a1c8d4e6f7a8b9c0d1e2f30415263748596a7b8c9d0e1f203142536",
    "zz",
    "\u{0}",
    "Thu, 20 Nov 2025 00:00:00 GMT",
    "\"etag\"",
];

fn state_seeds() -> &'static Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let full = fixture().state_file.clone();
        // The same with one mirror, and an empty state written by the project's writer.
        let mut one: Json = serde_json::from_slice(&full).unwrap();
        if let Some(mirrors) = one["state"]["mirrors"].as_object_mut() {
            mirrors.retain(|name, _| name == "jp");
        }
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.json");
        persist::save_atomic(&empty, &Records::default()).unwrap();
        vec![
            full,
            serde_json::to_vec(&one).unwrap(),
            std::fs::read(&empty).unwrap(),
        ]
    })
}

fn state_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => vec(any::<u8>(), 0..256).prop_map(Mutation::Random),
        4 => vec(edit(JSON_TOKENS), 1..6).prop_map(Mutation::Bytes),
        5 => vec(tree_edit(STATE_KEYS, STATE_STRINGS), 1..4).prop_map(Mutation::Tree),
        1 => Just(Mutation::None),
    ]
}

/// The reasons a state file is set aside, as `persist` words them.
const SET_ASIDE_REASONS: [&str; 4] = [
    "cannot read: ",
    "not a mirrorwatch state file (",
    "unknown state file format ",
    "the state does not match this build (",
];

proptest! {
    #![proptest_config(config())]
    #[test]
    fn state_file_reader(seed in select((0..state_seeds().len()).collect::<Vec<_>>()), m in state_mutation()) {
        thread_local!(static DIR: tempfile::TempDir = scratch());
        let path = DIR.with(|d| d.path().join("state.json"));
        let bytes = mutate(&state_seeds()[seed], &m, Format::Json);
        std::fs::write(&path, &bytes).unwrap();
        match persist::load_or_set_aside::<Records>(&path, 1_800_000_000) {
            Restore::Restored(records) => {
                prop_assert!(path.is_file());
                // What was restored is written back by the project's format and restores
                // again: nothing read can make the next save unreadable.
                let again = serde_json::json!({"format": persist::FORMAT, "written_at": 0, "state": records});
                std::fs::write(&path, serde_json::to_vec(&again).unwrap()).unwrap();
                match persist::load_or_set_aside::<Records>(&path, 1_800_000_000) {
                    Restore::Restored(_) => {}
                    other => return Err(TestCaseError::fail(format!("written back, then {other:?}"))),
                }
            }
            Restore::SetAside { moved_to, reason } => {
                prop_assert!(
                    SET_ASIDE_REASONS.iter().any(|r| reason.starts_with(r)),
                    "unclassified reason {reason:?}"
                );
                prop_assert_ne!(&moved_to, &path, "{}", reason);
                prop_assert!(moved_to.is_file() && !path.exists(), "{reason}");
                std::fs::remove_file(&moved_to).unwrap();
            }
            Restore::Fresh => return Err(TestCaseError::fail("a file that exists read as no file")),
        }
    }
}

/// The seeds the mutations start from are valid, so that mutated input gets past the first
/// checks.
#[test]
fn seeds_are_valid() {
    for seed in repomd_seeds() {
        mirrorwatch::repomd::parse(&seed).unwrap();
    }
    let seeds = config_seeds();
    let dir = scratch();
    let file = dir.path().join("mirrors.yaml");
    for name in ["mirrors.yaml", "tests/fixtures/config/valid/minimal.yaml"] {
        let text = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap();
        assert!(seeds.ours.contains(&text));
        std::fs::write(&file, text).unwrap();
        mirrorwatch::config::load(&file).unwrap();
    }
    std::fs::write(&file, ALMA_MAIN).unwrap();
    std::fs::write(dir.path().join("config.yml"), ALMA_CONFIG).unwrap();
    std::fs::create_dir(dir.path().join("mirrors.d")).unwrap();
    for (i, text) in ALMA_MIRRORS.iter().enumerate() {
        std::fs::write(dir.path().join(format!("mirrors.d/m{i}.yml")), text).unwrap();
    }
    let loaded = mirrorwatch::config::load(&file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.config.mirrors.len(), 4);
    assert!(
        !loaded.warnings.is_empty(),
        "the quirks are read with warnings"
    );
    let path = dir.path().join("state.json");
    for seed in state_seeds() {
        std::fs::write(&path, seed).unwrap();
        let restored = persist::load_or_set_aside::<Records>(&path, 0);
        assert!(matches!(restored, Restore::Restored(_)), "{restored:?}");
    }
    assert!(fixture().state_file.len() > 1000);
}

/// Found by the fuzz tests: a path the router has no route for (here mirror list URLs with
/// a segment too many or too few) was a 404 with an empty body.
#[test]
fn regression_a_path_without_a_route_is_a_404_with_a_body() {
    for target in [
        "/mirrorlist///9",
        "/mirrorlist/9/baseos/x86_64",
        "/mirrorlist/9",
        "/nope",
    ] {
        let (status, content_type, body) = call(target, IpAddr::V4(Ipv4Addr::LOCALHOST), &[]);
        assert_eq!(status, StatusCode::NOT_FOUND, "{target}");
        assert_eq!(content_type, "text/plain; charset=utf-8", "{target}");
        let body = String::from_utf8(body).unwrap();
        assert!(
            body.starts_with("# not found: ") && body.ends_with('\n'),
            "{target}: {body:?}"
        );
        assert_eq!(body.lines().count(), 1, "{target}: {body:?}");
    }
}
