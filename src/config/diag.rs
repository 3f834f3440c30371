//! Configuration diagnostics: errors and warnings that name the file, the line and column, and
//! the field path (`mirrors[3].address.https`).
//!
//! serde_norway reports a location only for syntax errors, so [`LocationIndex`] walks the same
//! text with saphyr-parser's event stream once and remembers where every field path starts.
//! Validation then reports by path and the index supplies the position.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use saphyr_parser::{Event, Parser};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about one place in one configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub location: Option<(usize, usize)>,
    /// The field path, e.g. `mirrors[2].country`; empty for the document as a whole.
    pub path: String,
    pub message: String,
}

/// A diagnostic is one line, whatever the file holds: keys, values and file names (some from
/// third-party `mirrors.d` files) are written with control characters escaped (`\n`,
/// `\u{1b}`), so that a crafted key cannot forge log lines or terminal escapes.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        escaped(f, &self.file.display().to_string())?;
        if let Some((line, col)) = self.location {
            write!(f, ":{line}:{col}")?;
        }
        if !self.path.is_empty() {
            f.write_str(": ")?;
            escaped(f, &self.path)?;
        }
        f.write_str(": ")?;
        escaped(f, &self.message)
    }
}

/// `text` with every control character escaped as Rust writes it.
fn escaped(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for c in text.chars() {
        if c.is_control() {
            write!(f, "{}", c.escape_default())?;
        } else {
            fmt::Write::write_char(f, c)?;
        }
    }
    Ok(())
}

/// Every error found in a configuration (never just the first), plus the warnings seen on the way.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", render(.diagnostics))]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

impl ConfigError {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }
}

fn render(diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// Collections nested deeper than this are refused before the text is indexed or parsed:
/// our format nests five levels, and each level costs the index (and the parser) more.
pub const MAX_DEPTH: usize = 32;

/// Field paths longer than this are not indexed (their nearest indexed ancestor places
/// them), so that the index stays about as large as the text.
const MAX_PATH: usize = 256;

/// Field path → (line, column) of where that field starts in one YAML text.
#[derive(Debug, Default)]
pub struct LocationIndex {
    positions: HashMap<String, (usize, usize)>,
    /// Where the text first nests deeper than [`MAX_DEPTH`]; indexing stopped there.
    too_deep: Option<(usize, usize)>,
}

enum Frame {
    Map {
        prefix: String,
        key: Option<String>,
    },
    Seq {
        prefix: String,
        index: usize,
    },
    /// A complex (non-scalar) mapping key: its insides have no field path.
    Ignored,
}

impl LocationIndex {
    /// Index `text`. A text the event parser rejects yields whatever was indexed before the error:
    /// syntax errors themselves are reported (with their location) by serde_norway.
    pub fn build(text: &str) -> Self {
        let mut index = LocationIndex::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut parser = Parser::new_from_str(text);
        while let Some(Ok((event, span))) = parser.next_event() {
            let pos = (span.start.line(), span.start.col() + 1);
            match event {
                Event::Scalar(..) | Event::Alias(..) => {
                    let key = match &event {
                        Event::Scalar(value, ..) => Some(value.to_string()),
                        _ => None,
                    };
                    index.node(&mut stack, pos, key);
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    if stack.len() >= MAX_DEPTH {
                        index.too_deep = Some(pos);
                        break;
                    }
                    let frame = match index.node_path(&mut stack, pos) {
                        None => Frame::Ignored,
                        Some(prefix) if matches!(event, Event::MappingStart(..)) => {
                            Frame::Map { prefix, key: None }
                        }
                        Some(prefix) => Frame::Seq { prefix, index: 0 },
                    };
                    stack.push(frame);
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                    // The collection was a value: its parent mapping now expects a key again.
                    if let Some(Frame::Map { key, .. }) = stack.last_mut() {
                        *key = None;
                    }
                }
                _ => {}
            }
        }
        index
    }

    /// A scalar (or alias) node: a mapping key, a mapping value or a sequence item.
    fn node(&mut self, stack: &mut [Frame], pos: (usize, usize), text: Option<String>) {
        match stack.last_mut() {
            Some(Frame::Map { prefix, key }) if key.is_none() => {
                let name = text.unwrap_or_default();
                let path = join(prefix, &name);
                if path.len() <= MAX_PATH {
                    self.positions.entry(path).or_insert(pos);
                }
                *key = Some(name);
            }
            Some(Frame::Map { key, .. }) => *key = None,
            Some(Frame::Seq { prefix, index }) => {
                self.positions
                    .entry(format!("{prefix}[{index}]"))
                    .or_insert(pos);
                *index += 1;
            }
            Some(Frame::Ignored) | None => {}
        }
    }

    /// The path of a collection node that starts here; `None` inside complex keys.
    fn node_path(&mut self, stack: &mut [Frame], pos: (usize, usize)) -> Option<String> {
        match stack.last_mut() {
            None => {
                self.positions.entry(String::new()).or_insert(pos);
                Some(String::new())
            }
            Some(Frame::Ignored) => None,
            // A collection used as a mapping key: give it no path, and a placeholder key so that
            // the value after it is not taken for a key.
            Some(Frame::Map { key, .. }) if key.is_none() => {
                *key = Some(String::from("?"));
                None
            }
            Some(Frame::Map { prefix, key }) => {
                Some(join(prefix, key.as_deref().unwrap_or("?"))).filter(|p| p.len() <= MAX_PATH)
            }
            Some(Frame::Seq { prefix, index }) => {
                let path = format!("{prefix}[{index}]");
                *index += 1;
                if path.len() > MAX_PATH {
                    return None;
                }
                self.positions.entry(path.clone()).or_insert(pos);
                Some(path)
            }
        }
    }

    /// Where the text first nests deeper than [`MAX_DEPTH`], if it does.
    pub fn too_deep(&self) -> Option<(usize, usize)> {
        self.too_deep
    }

    /// Where `path` starts, or where its nearest indexed ancestor starts.
    pub fn locate(&self, path: &str) -> Option<(usize, usize)> {
        let mut path = path;
        loop {
            if let Some(pos) = self.positions.get(path) {
                return Some(*pos);
            }
            if path.is_empty() {
                return None;
            }
            path = parent_path(path);
        }
    }
}

/// `a.b[2].c` → `a.b[2]` → `a.b` → `a` → ``.
fn parent_path(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(i) => &path[..i],
        None => "",
    }
}

/// Append a mapping key to a path.
pub fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Collects diagnostics for one file, placing them with its [`LocationIndex`].
pub struct FileDiag<'a> {
    file: PathBuf,
    index: LocationIndex,
    out: &'a mut Vec<Diagnostic>,
}

impl<'a> FileDiag<'a> {
    pub fn new(file: &Path, text: &str, out: &'a mut Vec<Diagnostic>) -> Self {
        FileDiag {
            file: file.to_path_buf(),
            index: LocationIndex::build(text),
            out,
        }
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn locate(&self, path: &str) -> Option<(usize, usize)> {
        self.index.locate(path)
    }

    /// See [`LocationIndex::too_deep`].
    pub fn too_deep(&self) -> Option<(usize, usize)> {
        self.index.too_deep()
    }

    /// Errors collected so far (in every file sharing the output).
    pub fn error_count(&self) -> usize {
        self.out
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    pub fn error(&mut self, path: &str, message: impl Into<String>) {
        self.push(Severity::Error, path, message.into());
    }

    pub fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.push(Severity::Warning, path, message.into());
    }

    /// Add diagnostics collected for other files.
    pub fn extend(&mut self, diagnostics: Vec<Diagnostic>) {
        self.out.extend(diagnostics);
    }

    /// An error at a known position (serde_norway's syntax errors).
    pub fn error_at(&mut self, location: Option<(usize, usize)>, path: &str, message: String) {
        self.out.push(Diagnostic {
            severity: Severity::Error,
            file: self.file.clone(),
            location,
            path: path.to_string(),
            message,
        });
    }

    fn push(&mut self, severity: Severity, path: &str, message: String) {
        self.out.push(Diagnostic {
            severity,
            file: self.file.clone(),
            location: self.index.locate(path),
            path: path.to_string(),
            message,
        });
    }

    /// Report a serde error from deserializing the value at `prefix`, with its inner path.
    pub fn serde_error(
        &mut self,
        prefix: &str,
        err: serde_path_to_error::Error<serde_yaml::Error>,
    ) {
        let mut path = prefix.to_string();
        for segment in err.path().iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => path.push_str(&format!("[{index}]")),
                serde_path_to_error::Segment::Map { key } => path = join(&path, key),
                serde_path_to_error::Segment::Enum { variant } => path = join(&path, variant),
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        let message = err.into_inner().to_string();
        self.push(Severity::Error, &path, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
upstream:
  urls: [\"https://a/\"]
mirrors:
  - name: one
    address:
      https: https://one/
  - name: two
    asn: [1, 2]
";

    #[test]
    fn indexes_keys_and_items() {
        let index = LocationIndex::build(TEXT);
        assert_eq!(index.locate("upstream"), Some((1, 1)));
        assert_eq!(index.locate("upstream.urls"), Some((2, 3)));
        assert_eq!(index.locate("upstream.urls[0]"), Some((2, 10)));
        assert_eq!(index.locate("mirrors[0]"), Some((4, 5)));
        assert_eq!(index.locate("mirrors[0].address.https"), Some((6, 7)));
        assert_eq!(index.locate("mirrors[1].name"), Some((7, 5)));
        assert_eq!(index.locate("mirrors[1].asn[1]"), Some((8, 14)));
    }

    #[test]
    fn unknown_paths_fall_back_to_the_nearest_ancestor() {
        let index = LocationIndex::build(TEXT);
        assert_eq!(index.locate("mirrors[1].country"), Some((7, 5)));
        // A path that is nowhere in the text falls back to the start of the document.
        assert_eq!(index.locate("probe.interval"), Some((1, 1)));
    }

    #[test]
    fn display_has_file_line_column_and_path() {
        let d = Diagnostic {
            severity: Severity::Warning,
            file: PathBuf::from("m.yaml"),
            location: Some((3, 5)),
            path: "mirrors[0].x".into(),
            message: "unknown".into(),
        };
        assert_eq!(d.to_string(), "warning: m.yaml:3:5: mirrors[0].x: unknown");
    }
}
