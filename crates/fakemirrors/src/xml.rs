//! A strict little XML tree for test assertions, on top of quick-xml's
//! tokenizer: `parse` fails on anything not well-formed (mismatched or
//! unclosed tags, several roots, stray text, unknown entities, duplicate
//! attributes). Used to check repomd.xml and metadata, and later metalinks.
//! Uses the crate's own quick-xml dependency (0.38 API).

use quick_xml::events::Event;
use quick_xml::Reader;

/// An element: qualified name as written, attributes (unescaped), the text
/// directly inside it (entities resolved, not trimmed), and child elements.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first child element with this name.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All child elements with this name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Trimmed text of the first child with this name.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))
}

fn resolve_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

/// Parses a complete document into its root element, or says why it is not
/// well-formed.
pub fn parse(xml: &[u8]) -> Result<Node, String> {
    let text = std::str::from_utf8(xml).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let pos = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| format!("at byte {pos}: {e}"))?;
        let open = |e: &quick_xml::events::BytesStart| -> Result<Node, String> {
            let mut node = Node {
                name: utf8(e.name().as_ref())?.to_string(),
                ..Node::default()
            };
            for attr in e.attributes() {
                let attr = attr.map_err(|e| format!("at byte {pos}: {e}"))?;
                let value = attr
                    .unescape_value()
                    .map_err(|e| format!("at byte {pos}: {e}"))?;
                let key = utf8(attr.key.as_ref())?.to_string();
                node.attrs.push((key, value.into_owned()));
            }
            Ok(node)
        };
        let finished = match event {
            Event::Start(e) => {
                stack.push(open(&e)?);
                None
            }
            Event::Empty(e) => Some(open(&e)?),
            Event::End(_) => stack.pop(),
            Event::Text(t) => {
                let t = utf8(&t)?;
                match stack.last_mut() {
                    Some(node) => node.text.push_str(t),
                    None if t.trim().is_empty() => {}
                    None => return Err(format!("text outside the root at byte {pos}")),
                }
                None
            }
            Event::CData(t) => {
                let node = stack.last_mut().ok_or("CDATA outside the root")?;
                node.text.push_str(utf8(&t)?);
                None
            }
            Event::GeneralRef(r) => {
                let ch = if r.is_char_ref() {
                    r.resolve_char_ref().map_err(|e| e.to_string())?
                } else {
                    resolve_entity(utf8(&r)?)
                };
                let ch =
                    ch.ok_or_else(|| format!("unknown entity &{};", String::from_utf8_lossy(&r)))?;
                let node = stack.last_mut().ok_or("entity outside the root")?;
                node.text.push(ch);
                None
            }
            Event::Decl(_) | Event::DocType(_) | Event::Comment(_) | Event::PI(_) => None,
            Event::Eof => break,
        };
        if let Some(node) = finished {
            match stack.last_mut() {
                Some(parent) => parent.children.push(node),
                None if root.is_none() => root = Some(node),
                None => return Err(format!("second root element <{}>", node.name)),
            }
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("unclosed element <{}> at end of input", open.name));
    }
    root.ok_or_else(|| "no root element".to_string())
}
