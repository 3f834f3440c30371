//! Unit tests for the repomd.xml parser: real createrepo_c output and hostile input.

use super::*;

/// Shaped like `createrepo_c` + `modifyrepo_c` output (including the `rpm:` namespace,
/// the repoid tag and a decimal timestamp as some mirroring tools rewrite them).
const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1726456208</revision>
  <tags>
    <distro cpeid="cpe:/o:almalinux:almalinux:9">AlmaLinux 9</distro>
  </tags>
  <data type="primary">
    <checksum type="sha256">6A3E0D8C3E5A5B8E0B0F7D0D6F2A1C9E8B7A6F5E4D3C2B1A0918273645546372</checksum>
    <open-checksum type="sha256">1f2e3d4c5b6a79880716253443526170f8e9dacbbcadfe0f1e2d3c4b5a697887</open-checksum>
    <location href="repodata/6a3e0d8c3e5a5b8e0b0f7d0d6f2a1c9e8b7a6f5e4d3c2b1a0918273645546372-primary.xml.gz"/>
    <timestamp>1726456201</timestamp>
    <size>2716408</size>
    <open-size>23564471</open-size>
  </data>
  <data type="filelists">
    <checksum type="sha256">aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44</checksum>
    <open-checksum type="sha256">bb11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44</open-checksum>
    <location href="repodata/aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44-filelists.xml.gz"/>
    <timestamp>1726456203.741</timestamp>
    <size>3971523</size>
    <open-size>55912845</open-size>
  </data>
  <data type="other">
    <checksum type="sha256">cc11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44</checksum>
    <open-checksum type="sha256">dd11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44</open-checksum>
    <location href="repodata/cc11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44-other.xml.gz"/>
    <timestamp>1726456202</timestamp>
    <size>1108112</size>
    <open-size>12843251</open-size>
  </data>
  <data type="updateinfo">
    <checksum type="sha256">ee11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44</checksum>
    <open-checksum type="sha256">ff11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44</open-checksum>
    <location href="repodata/ee11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44-updateinfo.xml.gz"/>
    <timestamp>1726456208.123</timestamp>
    <size>912345</size>
    <open-size>8123456</open-size>
  </data>
  <data type="primary_zck">
    <checksum type="sha256">0011bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44</checksum>
    <open-checksum type="sha256">1f2e3d4c5b6a79880716253443526170f8e9dacbbcadfe0f1e2d3c4b5a697887</open-checksum>
    <header-checksum type="sha256">2211bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44</header-checksum>
    <location href="repodata/0011bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44-primary.xml.zck"/>
    <timestamp>1726456201</timestamp>
    <size>3112233</size>
    <open-size>23564471</open-size>
    <header-size>1234</header-size>
  </data>
</repomd>
"#;

/// A repomd.xml around the given `<data>` entries (and anything else at top level).
fn doc(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><repomd xmlns="http://linux.duke.edu/metadata/repo">{body}</repomd>"#
    )
}

const ONE_ENTRY: &str = r#"<data type="primary"><location href="repodata/p.xml.gz"/></data>"#;

#[test]
fn parses_createrepo_c_output() {
    let md = parse(SAMPLE.as_bytes()).unwrap();
    assert_eq!(md.revision.as_deref(), Some("1726456208"));
    let kinds: Vec<&str> = md.data.iter().map(|d| d.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["primary", "filelists", "other", "updateinfo", "primary_zck"]
    );

    let primary = &md.data[0];
    assert_eq!(
        primary.href,
        "repodata/6a3e0d8c3e5a5b8e0b0f7d0d6f2a1c9e8b7a6f5e4d3c2b1a0918273645546372-primary.xml.gz"
    );
    assert_eq!(primary.location_base, None);
    assert_eq!(primary.size, Some(2_716_408));
    assert_eq!(primary.open_size, Some(23_564_471));
    assert_eq!(primary.timestamp, Some(1_726_456_201));
    let checksum = primary.checksum.as_ref().unwrap();
    assert_eq!(checksum.algo, "sha256");
    // Upper-case hex is normalised so it compares equal to our own digests.
    assert_eq!(
        checksum.hex,
        "6a3e0d8c3e5a5b8e0b0f7d0d6f2a1c9e8b7a6f5e4d3c2b1a0918273645546372"
    );
    assert_eq!(
        primary.open_checksum.as_ref().unwrap().hex,
        "1f2e3d4c5b6a79880716253443526170f8e9dacbbcadfe0f1e2d3c4b5a697887"
    );
    // Decimal timestamps are truncated to whole seconds.
    assert_eq!(md.data[1].timestamp, Some(1_726_456_203));
    assert_eq!(md.data[3].timestamp, Some(1_726_456_208));
    assert_eq!(md.newest_timestamp(), Some(1_726_456_208));
    // zchunk's extra elements are ignored, the entry itself is kept.
    assert_eq!(md.data[4].size, Some(3_112_233));
}

#[test]
fn all_repodata_entries_are_checked() {
    let md = parse(SAMPLE.as_bytes()).unwrap();
    assert_eq!(md.data_files_to_check().count(), 5);
}

#[test]
fn entries_outside_repodata_are_not_checked() {
    let body = r#"
      <data type="primary"><location href="repodata/p.xml.gz"/></data>
      <data type="a"><location href="../../etc/passwd"/></data>
      <data type="b"><location href="repodata/../../x"/></data>
      <data type="c"><location href="https://evil.example/repodata/x"/></data>
      <data type="d"><location xml:base="https://other.example/" href="repodata/d.xml.gz"/></data>
      <data type="e"><location href="repodata/e.xml.gz?x=1"/></data>
      <data type="f"><location href="repodata//f.xml.gz"/></data>
      <data type="g"><location href="repodata/"/></data>
      <data type="h"><location href="repodata/h%2e%2e"/></data>
      <data type="i"><location href="Repodata/i.xml.gz"/></data>"#;
    let md = parse(doc(body).as_bytes()).unwrap();
    assert_eq!(md.data.len(), 10);
    let checked: Vec<&str> = md.data_files_to_check().map(|d| d.kind.as_str()).collect();
    assert_eq!(checked, ["primary"]);
    assert_eq!(
        md.data[4].location_base.as_deref(),
        Some("https://other.example/")
    );
}

#[test]
fn optional_fields_may_be_absent() {
    let md = parse(doc(ONE_ENTRY).as_bytes()).unwrap();
    assert_eq!(md.revision, None);
    let d = &md.data[0];
    assert_eq!((d.size, d.open_size, d.timestamp), (None, None, None));
    assert!(d.checksum.is_none() && d.open_checksum.is_none());
    assert_eq!(md.newest_timestamp(), None);
}

#[test]
fn revision_is_any_string_and_entities_are_resolved() {
    let body = format!("<revision> AlmaLinux 9.4 &amp; friends &#x263A; </revision>{ONE_ENTRY}");
    let md = parse(doc(&body).as_bytes()).unwrap();
    assert_eq!(
        md.revision.as_deref(),
        Some("AlmaLinux 9.4 & friends \u{263A}")
    );
    let blank = parse(doc(&format!("<revision/>{ONE_ENTRY}")).as_bytes()).unwrap();
    assert_eq!(blank.revision, None);
}

#[test]
fn namespaces_and_prefixes_are_tolerated() {
    let prefixed = r#"<repo:repomd xmlns:repo="http://linux.duke.edu/metadata/repo">
        <repo:revision>7</repo:revision>
        <repo:data repo:type="primary">
          <repo:location repo:href="repodata/p.xml.gz"/>
          <repo:timestamp>12</repo:timestamp>
        </repo:data></repo:repomd>"#;
    let md = parse(prefixed.as_bytes()).unwrap();
    assert_eq!(md.revision.as_deref(), Some("7"));
    assert_eq!(md.data[0].href, "repodata/p.xml.gz");
    assert_eq!(md.data[0].timestamp, Some(12));

    let no_namespace =
        r#"<repomd><data type="other"><location href="repodata/o.xml.gz"/></data></repomd>"#;
    assert_eq!(
        parse(no_namespace.as_bytes()).unwrap().data[0].kind,
        "other"
    );

    let foreign = r#"<repomd xmlns="urn:something-else"><data type="x"><location href="repodata/x"/></data></repomd>"#;
    assert!(parse(foreign.as_bytes()).is_ok());
}

#[test]
fn unknown_elements_and_nested_lookalikes_are_ignored() {
    let body = r#"<tags><data type="fake"><location href="repodata/fake"/></data></tags>
        <data type="primary"><location href="repodata/p.xml.gz"/>
          <extra><timestamp>99</timestamp><size>nonsense</size></extra>
          <timestamp>5<!-- comment -->0</timestamp></data>"#;
    let md = parse(doc(body).as_bytes()).unwrap();
    assert_eq!(md.data.len(), 1);
    assert_eq!(md.data[0].timestamp, Some(50));
}

#[test]
fn fingerprint_hashes_the_exact_bytes() {
    let fp = fingerprint(b"abc");
    assert_eq!(
        fp.sha256,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        fp.sha512,
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
         2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
    );
    assert_eq!(fp.size, 3);
    assert_ne!(fingerprint(b"abc ").sha256, fp.sha256);
}

#[test]
fn rejects_non_xml() {
    assert!(matches!(
        parse(b"Service Unavailable"),
        Err(RepomdError::Xml(_))
    ));
    assert!(matches!(
        parse(b"\x1f\x8b\x08\x00\xff\xfe\xfd"),
        Err(RepomdError::Xml(_))
    ));
    assert!(matches!(
        parse(b"<repomd><data type=\"p\"></repomd>"),
        Err(RepomdError::Xml(_))
    ));
    assert!(matches!(
        parse(b"<repomd>&bogus;</repomd>"),
        Err(RepomdError::Xml(_))
    ));
}

#[test]
fn rejects_html_pages() {
    let page = "<!DOCTYPE html>\n<html lang=\"en\"><head><title>404 Not Found</title>\
                <meta charset=utf-8></head><body><h1>Not Found</h1></body></html>";
    assert_eq!(
        parse(page.as_bytes()),
        Err(RepomdError::NotRepomd("html".into()))
    );
    let xhtml = r#"<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>"#;
    assert!(matches!(
        parse(xhtml.as_bytes()),
        Err(RepomdError::NotRepomd(_))
    ));
}

#[test]
fn rejects_empty_input() {
    for input in [
        "",
        "   \n\t",
        "<?xml version=\"1.0\"?>",
        "<!-- only a comment -->",
        "\u{feff}",
    ] {
        assert_eq!(
            parse(input.as_bytes()),
            Err(RepomdError::Empty),
            "{input:?}"
        );
    }
}

#[test]
fn rejects_truncated_documents() {
    // Cut the real sample at many places: never a success, never a panic.
    for cut in (1..SAMPLE.len() - 10).step_by(7) {
        let result = parse(&SAMPLE.as_bytes()[..cut]);
        assert!(result.is_err(), "cut at {cut} parsed");
    }
    let cut_between_tags = SAMPLE.find("<data type=\"other\">").unwrap();
    assert_eq!(
        parse(&SAMPLE.as_bytes()[..cut_between_tags]),
        Err(RepomdError::Truncated)
    );
    let cut_inside_tag = SAMPLE.find("type=\"other\"").unwrap();
    assert_eq!(
        parse(&SAMPLE.as_bytes()[..cut_inside_tag]),
        Err(RepomdError::Truncated)
    );
}

#[test]
fn rejects_trailing_content() {
    let two_roots = format!("{}<repomd/>", doc(ONE_ENTRY));
    assert_eq!(
        parse(two_roots.as_bytes()),
        Err(RepomdError::TrailingContent)
    );
    let trailing_text = format!("{}garbage", doc(ONE_ENTRY));
    assert_eq!(
        parse(trailing_text.as_bytes()),
        Err(RepomdError::TrailingContent)
    );
    let trailing_space = format!("{}\n\n", doc(ONE_ENTRY));
    assert!(parse(trailing_space.as_bytes()).is_ok());
}

#[test]
fn rejects_zero_data_entries() {
    assert_eq!(parse(b"<repomd/>"), Err(RepomdError::NoData));
    assert_eq!(
        parse(doc("<revision>1</revision>").as_bytes()),
        Err(RepomdError::NoData)
    );
}

#[test]
fn rejects_data_without_type_or_location() {
    assert_eq!(
        parse(doc(r#"<data><location href="repodata/x"/></data>"#).as_bytes()),
        Err(RepomdError::MissingType)
    );
    assert_eq!(
        parse(doc(r#"<data type="primary"><size>1</size></data>"#).as_bytes()),
        Err(RepomdError::MissingLocation("primary".into()))
    );
    assert_eq!(
        parse(doc(r#"<data type="primary"><location/></data>"#).as_bytes()),
        Err(RepomdError::MissingLocation("primary".into()))
    );
    assert_eq!(
        parse(doc(r#"<data type="primary"/>"#).as_bytes()),
        Err(RepomdError::MissingLocation("primary".into()))
    );
}

#[test]
fn rejects_bad_numbers_and_checksums() {
    let with = |inner: &str| {
        parse(
            doc(&format!(
                r#"<data type="primary"><location href="repodata/p"/>{inner}</data>"#
            ))
            .as_bytes(),
        )
    };
    for inner in [
        "<timestamp>soon</timestamp>",
        "<timestamp>1.5e9</timestamp>",
        "<timestamp>.5</timestamp>",
        "<timestamp>99999999999999999999</timestamp>",
        "<size>-1</size>",
        "<size>12.0</size>",
        "<open-size></open-size>",
    ] {
        assert!(
            matches!(with(inner), Err(RepomdError::BadNumber { .. })),
            "{inner}"
        );
    }
    assert!(matches!(
        with(r#"<checksum>abcd</checksum>"#),
        Err(RepomdError::BadChecksum {
            problem: "has no type attribute",
            ..
        })
    ));
    assert!(matches!(
        with(r#"<open-checksum type="sha256">not-hex</open-checksum>"#),
        Err(RepomdError::BadChecksum {
            field: "open-checksum",
            ..
        })
    ));
    assert_eq!(
        with("<timestamp> -3 </timestamp>").unwrap().data[0].timestamp,
        Some(-3)
    );
    assert_eq!(
        with("<timestamp>17.</timestamp>").unwrap().data[0].timestamp,
        Some(17)
    );
}

#[test]
fn entry_count_is_bounded() {
    let at_limit = ONE_ENTRY.repeat(MAX_DATA_ENTRIES);
    assert_eq!(
        parse(doc(&at_limit).as_bytes()).unwrap().data.len(),
        MAX_DATA_ENTRIES
    );
    let over = ONE_ENTRY.repeat(MAX_DATA_ENTRIES + 1);
    assert_eq!(
        parse(doc(&over).as_bytes()),
        Err(RepomdError::TooManyEntries)
    );
}

#[test]
fn depth_and_text_length_are_bounded() {
    let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    assert_eq!(parse(doc(&deep).as_bytes()), Err(RepomdError::TooDeep));
    let long = format!(
        "<revision>{}</revision>{ONE_ENTRY}",
        "9".repeat(MAX_TEXT_LEN + 1)
    );
    assert_eq!(
        parse(doc(&long).as_bytes()),
        Err(RepomdError::TextTooLong("revision"))
    );
}

#[test]
fn error_messages_clip_untrusted_text() {
    let name = "x".repeat(10_000);
    let err = parse(format!("<{name}/>").as_bytes()).unwrap_err();
    assert!(err.to_string().len() < 200, "{err}");
}
