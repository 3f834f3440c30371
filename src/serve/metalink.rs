//! The Metalink 3.0 document dnf (librepo) reads from `metalink=`: the upstream repomd.xml's
//! timestamp, size and hashes, the versions still accepted as alternates, and one `<url>` per
//! selected mirror with `preference` from 100 down.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use super::mirrorlist::MetalinkUrl;
use crate::freshness::UpstreamVersion;
use crate::state::Snapshot;

/// XML-escape text for an element or an attribute value.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
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
    let secs = u64::try_from(snapshot.generated_at).unwrap_or(0);
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
}
