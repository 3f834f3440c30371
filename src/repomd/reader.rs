//! The event loop behind [`super::parse`]: a small state machine over quick-xml events
//! that tracks depth and picks out the few elements repomd.xml consumers need.

use quick_xml::errors::{Error as XmlError, SyntaxError};
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{
    Checksum, DataFile, Repomd, RepomdError, MAX_DATA_ENTRIES, MAX_DEPTH, MAX_QUOTE, MAX_TEXT_LEN,
};

/// The text fields we collect; the element names double as labels in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Revision,
    Checksum,
    OpenChecksum,
    Timestamp,
    Size,
    OpenSize,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Revision => "revision",
            Field::Checksum => "checksum",
            Field::OpenChecksum => "open-checksum",
            Field::Timestamp => "timestamp",
            Field::Size => "size",
            Field::OpenSize => "open-size",
        }
    }
}

/// The element whose text is being collected, and the depth it was opened at.
struct Collecting {
    field: Field,
    depth: usize,
    /// The `type` attribute of a checksum element.
    algo: Option<String>,
    text: String,
}

/// Parser state between events; `depth` counts the currently open elements.
#[derive(Default)]
struct Parser {
    depth: usize,
    seen_root: bool,
    revision: Option<String>,
    data: Vec<DataFile>,
    /// The `<data>` being read (it is always at depth 2).
    entry: Option<DataFile>,
    collecting: Option<Collecting>,
}

/// Parse a whole document; see [`super::parse`].
pub(super) fn parse(bytes: &[u8]) -> Result<Repomd, RepomdError> {
    let mut reader = Reader::from_reader(bytes);
    let mut parser = Parser::default();
    loop {
        let event = reader.read_event().map_err(xml_error)?;
        match event {
            Event::Eof => break,
            Event::Start(e) => parser.open(&e)?,
            Event::Empty(e) => {
                parser.open(&e)?;
                parser.close()?;
            }
            Event::End(_) => parser.close()?,
            Event::Text(t) => parser.text(&t.decode().map_err(|e| xml_error(e.into()))?)?,
            Event::CData(t) => parser.text(&t.decode().map_err(|e| xml_error(e.into()))?)?,
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(xml_error)? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| xml_error(e.into()))?;
                        // Only XML's five predefined entities: a DTD could declare more,
                        // but expanding declared entities is how "billion laughs" works.
                        resolve_predefined_entity(&name)
                            .ok_or_else(|| {
                                RepomdError::Xml(format!("unknown entity &{};", clip(&name)))
                            })?
                            .to_string()
                    }
                };
                parser.text(&c)?;
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    parser.finish()
}

impl Parser {
    fn open(&mut self, e: &BytesStart<'_>) -> Result<(), RepomdError> {
        if self.depth >= MAX_DEPTH {
            return Err(RepomdError::TooDeep);
        }
        self.depth += 1;
        let local = e.local_name();
        let name = local.as_ref();
        match self.depth {
            1 => {
                if self.seen_root {
                    return Err(RepomdError::TrailingContent);
                }
                self.seen_root = true;
                if name != b"repomd" {
                    let shown = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    return Err(RepomdError::NotRepomd(clip(&shown)));
                }
            }
            2 if name == b"revision" => self.collect(Field::Revision, None),
            2 if name == b"data" => {
                if self.data.len() >= MAX_DATA_ENTRIES {
                    return Err(RepomdError::TooManyEntries);
                }
                let kind = attribute(e, b"type")?.ok_or(RepomdError::MissingType)?;
                self.entry = Some(DataFile {
                    kind,
                    ..DataFile::default()
                });
            }
            3 => {
                let Some(entry) = self.entry.as_mut() else {
                    return Ok(()); // a child of some element we ignore
                };
                match name {
                    b"location" => {
                        // A second <location> replaces the first, as in librepo.
                        entry.href = attribute(e, b"href")?.unwrap_or_default();
                        entry.location_base = attribute(e, b"base")?;
                    }
                    b"checksum" => self.collect(Field::Checksum, attribute(e, b"type")?),
                    b"open-checksum" => {
                        self.collect(Field::OpenChecksum, attribute(e, b"type")?);
                    }
                    b"timestamp" => self.collect(Field::Timestamp, None),
                    b"size" => self.collect(Field::Size, None),
                    b"open-size" => self.collect(Field::OpenSize, None),
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn collect(&mut self, field: Field, algo: Option<String>) {
        self.collecting = Some(Collecting {
            field,
            depth: self.depth,
            algo,
            text: String::new(),
        });
    }

    fn text(&mut self, text: &str) -> Result<(), RepomdError> {
        if self.depth == 0 {
            // Text outside the root: whitespace is fine, anything else means this is
            // not an XML document at all (a plain-text error page, say).
            if text.trim().is_empty() {
                return Ok(());
            }
            return Err(if self.seen_root {
                RepomdError::TrailingContent
            } else {
                RepomdError::Xml("text before the root element".into())
            });
        }
        if let Some(c) = self.collecting.as_mut() {
            // Only the element's own text, not that of anything nested inside it.
            if c.depth == self.depth {
                if c.text.len().saturating_add(text.len()) > MAX_TEXT_LEN {
                    return Err(RepomdError::TextTooLong(c.field.name()));
                }
                c.text.push_str(text);
            }
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), RepomdError> {
        if let Some(c) = self.collecting.take_if(|c| c.depth == self.depth) {
            self.store(c)?;
        }
        if self.depth == 2 {
            if let Some(entry) = self.entry.take() {
                if entry.href.trim().is_empty() {
                    return Err(RepomdError::MissingLocation(clip(&entry.kind)));
                }
                self.data.push(entry);
            }
        }
        // quick-xml rejects an end tag that matches no start tag, so depth is at least 1
        // here; saturating keeps that assumption from ever becoming a panic.
        self.depth = self.depth.saturating_sub(1);
        Ok(())
    }

    /// Store a finished text field into the revision or the current data entry.
    fn store(&mut self, c: Collecting) -> Result<(), RepomdError> {
        let text = c.text.trim();
        if c.field == Field::Revision {
            self.revision = (!text.is_empty()).then(|| text.to_string());
            return Ok(());
        }
        let Some(entry) = self.entry.as_mut() else {
            return Ok(());
        };
        let bad_number = || RepomdError::BadNumber {
            kind: clip(&entry.kind),
            field: c.field.name(),
            value: clip(text),
        };
        // Later duplicates overwrite earlier ones: createrepo_c never writes any.
        match c.field {
            Field::Revision => {}
            Field::Timestamp => {
                entry.timestamp = Some(parse_timestamp(text).ok_or_else(bad_number)?)
            }
            Field::Size => entry.size = Some(text.parse().map_err(|_| bad_number())?),
            Field::OpenSize => entry.open_size = Some(text.parse().map_err(|_| bad_number())?),
            Field::Checksum | Field::OpenChecksum => {
                let checksum = make_checksum(&entry.kind, c.field, c.algo, text)?;
                if c.field == Field::Checksum {
                    entry.checksum = Some(checksum);
                } else {
                    entry.open_checksum = Some(checksum);
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Repomd, RepomdError> {
        if !self.seen_root {
            return Err(RepomdError::Empty);
        }
        if self.depth > 0 {
            return Err(RepomdError::Truncated);
        }
        if self.data.is_empty() {
            return Err(RepomdError::NoData);
        }
        Ok(Repomd {
            revision: self.revision,
            data: self.data,
        })
    }
}

/// Map a quick-xml error; running out of input inside markup is a truncated file.
fn xml_error(e: XmlError) -> RepomdError {
    match e {
        XmlError::Syntax(
            SyntaxError::UnclosedTag
            | SyntaxError::UnclosedComment
            | SyntaxError::UnclosedCData
            | SyntaxError::UnclosedDoctype
            | SyntaxError::UnclosedPIOrXmlDecl,
        ) => RepomdError::Truncated,
        other => RepomdError::Xml(clip(&other.to_string())),
    }
}

/// The unescaped value of the attribute whose local name is `local` (so `type`,
/// `xml:base` and any prefixed variant are all found), if present.
fn attribute(e: &BytesStart<'_>, local: &[u8]) -> Result<Option<String>, RepomdError> {
    for attr in e.attributes() {
        let attr = attr.map_err(|err| xml_error(err.into()))?;
        if attr.key.local_name().as_ref() == local {
            let value = attr.unescape_value().map_err(xml_error)?;
            if value.len() > MAX_TEXT_LEN {
                return Err(RepomdError::TextTooLong("attribute"));
            }
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

/// Seconds since the epoch: an integer, or a decimal whose fraction is dropped
/// (`1726456208.123` → `1726456208`), as some repository tools write them.
fn parse_timestamp(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    whole.parse().ok()
}

fn make_checksum(
    kind: &str,
    field: Field,
    algo: Option<String>,
    hex: &str,
) -> Result<Checksum, RepomdError> {
    let bad = |problem| RepomdError::BadChecksum {
        kind: clip(kind),
        field: field.name(),
        problem,
    };
    let algo = algo
        .map(|a| a.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if algo.is_empty() {
        return Err(bad("has no type attribute"));
    }
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("is not a hex digest"));
    }
    Ok(Checksum {
        algo,
        hex: hex.to_ascii_lowercase(),
    })
}

/// Clip an untrusted string for an error message (on a character boundary).
fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTE) {
        Some((end, _)) => format!("{}…", s.get(..end).unwrap_or_default()),
        None => s.to_string(),
    }
}
