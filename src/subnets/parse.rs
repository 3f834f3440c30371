//! The text of a published list: one CIDR (or a single address) per line, read like
//! `mirrors[].subnets` entries; `#` starts a comment, anywhere on a line; blank lines and
//! surrounding spaces are ignored; lines end in `\n` or `\r\n`. A line that is not a CIDR is
//! skipped and reported with its number, so that one typo does not throw away the list.

use ipnet::IpNet;

use crate::config::validate::parse_subnet;

/// How much of a bad line a report keeps.
const SHOWN_CHARS: usize = 80;

/// What a list says.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    /// The subnets, sorted, without duplicates.
    pub nets: Vec<IpNet>,
    /// The lines skipped, in order.
    pub bad: Vec<BadLine>,
}

/// A line that is not a CIDR.
#[derive(Debug, PartialEq)]
pub struct BadLine {
    /// 1-based.
    pub line: usize,
    /// The line without its comment, escaped (no control character, so it cannot forge log
    /// lines) and cut to a few dozen characters.
    pub text: String,
}

/// Reads a list. Bytes that are not UTF-8 spoil only their own line.
pub fn parse(body: &[u8]) -> Parsed {
    let mut parsed = Parsed::default();
    for (index, raw) in body.split(|&b| b == b'\n').enumerate() {
        let raw = String::from_utf8_lossy(raw);
        let text = raw.split('#').next().unwrap_or_default().trim();
        if text.is_empty() {
            continue;
        }
        // `parse_subnet` also takes a bare address (its /32 or /128) and clears host bits.
        match parse_subnet(text) {
            Ok(net) if !raw.contains('\u{FFFD}') => parsed.nets.push(net),
            _ => parsed.bad.push(BadLine {
                line: index + 1,
                text: escape(text),
            }),
        }
    }
    parsed.nets.sort_unstable();
    parsed.nets.dedup();
    parsed
}

/// `text` cut to [`SHOWN_CHARS`] characters with every control or non-ASCII character
/// escaped, Rust-style: safe to put in a log line, whatever a remote server sent.
pub fn escape(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == SHOWN_CHARS {
            out.push('…');
            break;
        }
        if c.is_ascii_graphic() || c == ' ' {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}
