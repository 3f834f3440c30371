//! The Metalink 3.0 document dnf (librepo) reads from `metalink=`: the upstream repomd.xml's
//! timestamp, size and hashes, the versions still accepted as alternates, and one `<url>` per
//! selected mirror with `preference` from 100 down.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use super::mirrorlist::MetalinkUrl;
use crate::freshness::UpstreamVersion;
use crate::state::Snapshot;

/// 9999-12-31T23:59:59Z, the last moment an RFC 1123 date can write.
const LAST_HTTP_DATE: u64 = 253_402_300_799;

/// XML-escape text for an element or an attribute value. Characters XML does not allow at
/// all (controls other than tab, newline and return, U+FFFE, U+FFFF) cannot be escaped: they
/// become U+FFFD, so that no value (a hash read back from a damaged state file, say) makes
/// the document unreadable.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                out.push(char::REPLACEMENT_CHARACTER)
            }
            c => out.push(c),
        }
    }
    out
}

/// `<mm0:timestamp>`, `<size>` and `<verification>` of one version.
fn describe(out: &mut String, indent: &str, version: &UpstreamVersion) {
    if let Some(ts) = version.timestamp {
        let _ = writeln!(out, "{indent}<mm0:timestamp>{ts}</mm0:timestamp>");
    }
    let _ = writeln!(out, "{indent}<size>{}</size>", version.size);
    let _ = writeln!(out, "{indent}<verification>");
    let hashes = [
        ("md5", version.md5.as_deref()),
        ("sha1", version.sha1.as_deref()),
        ("sha256", Some(version.sha256.as_str())),
        ("sha512", version.sha512.as_deref()),
    ];
    for (kind, value) in hashes {
        if let Some(hex) = value {
            let _ = writeln!(out, "{indent} <hash type=\"{kind}\">{}</hash>", escape(hex));
        }
    }
    let _ = writeln!(out, "{indent}</verification>");
}

/// The metalink for one repomd.xml.
pub fn render(
    snapshot: &Snapshot,
    current: &UpstreamVersion,
    alternates: &[UpstreamVersion],
    urls: &[MetalinkUrl],
) -> String {
    // An HTTP date has four digits of year: a clock past 9999 gives that year's last second
    // rather than a panic.
    let secs = u64::try_from(snapshot.generated_at)
        .unwrap_or(0)
        .min(LAST_HTTP_DATE);
    let pubdate = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    let _ = writeln!(
        out,
        "<metalink version=\"3.0\" xmlns=\"http://www.metalinker.org/\" type=\"dynamic\" pubdate=\"{pubdate}\" generator=\"mirrorwatch/{}\" xmlns:mm0=\"http://fedorahosted.org/mirrormanager\">",
        env!("CARGO_PKG_VERSION")
    );
    out.push_str(" <files>\n  <file name=\"repomd.xml\">\n");
    describe(&mut out, "   ", current);
    if !alternates.is_empty() {
        out.push_str("   <mm0:alternates>\n");
        for alternate in alternates {
            out.push_str("    <mm0:alternate>\n");
            describe(&mut out, "     ", alternate);
            out.push_str("    </mm0:alternate>\n");
        }
        out.push_str("   </mm0:alternates>\n");
    }
    let _ = writeln!(out, "   <resources maxconnections=\"1\">");
    for (i, url) in urls.iter().enumerate() {
        // librepo accepts preferences 0–100; past 100 mirrors they all stay at 1.
        let preference = 100usize.saturating_sub(i).max(1);
        let location = url
            .location
            .as_deref()
            .map(|c| format!(" location=\"{}\"", escape(c)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    <url protocol=\"{p}\" type=\"{p}\"{location} preference=\"{preference}\">{}</url>",
            escape(&url.url),
            p = url.protocol,
        );
    }
    out.push_str("   </resources>\n  </file>\n </files>\n</metalink>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_characters() {
        assert_eq!(escape("a&b<c>\"'"), "a&amp;b&lt;c&gt;&quot;&apos;");
    }

    /// Found by the fuzz tests: a snapshot time past the year 9999 (a clock gone wrong)
    /// panicked while writing the `pubdate`.
    #[test]
    fn a_time_past_the_year_9999_is_written_as_its_last_second() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/config/valid/minimal.yaml");
        let config = std::sync::Arc::new(crate::config::load(&path).unwrap().config);
        let version = UpstreamVersion {
            sha256: "00".into(),
            sha512: None,
            sha1: None,
            md5: None,
            size: 1,
            revision: None,
            timestamp: None,
            first_seen: 0,
        };
        for (now, pubdate) in [
            (i64::MAX, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (253_402_300_800, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (-1, "Thu, 01 Jan 1970 00:00:00 GMT"),
        ] {
            let xml = render(&Snapshot::empty(config.clone(), now), &version, &[], &[]);
            assert!(xml.contains(&format!("pubdate=\"{pubdate}\"")), "{xml}");
        }
    }

    /// Found by the fuzz tests: a control character in a hash (the upstream history is read
    /// back from the state file as plain strings) went into the document as it was, and an
    /// XML reader refuses the whole metalink.
    #[test]
    fn characters_xml_does_not_allow_are_replaced() {
        assert_eq!(
            escape("a\u{1}b\u{0}\u{1b}[0m\u{FFFE}\u{FFFF}"),
            "a\u{FFFD}b\u{FFFD}\u{FFFD}[0m\u{FFFD}\u{FFFD}"
        );
        // Tab, newline and return are allowed, and so is everything else.
        assert_eq!(
            escape("\t\n\r\u{7f}\u{FFFD}\u{10FFFF}"),
            "\t\n\r\u{7f}\u{FFFD}\u{10FFFF}"
        );
    }
}
