//! A YAML document as a tree of nodes that remember their line.
//!
//! serde-saphyr parses the text (YAML 1.2, with its alias and size budget on)
//! into this tree; [`crate::de`] then turns the tree into the typed model. The
//! detour exists for three reasons: every error can name a field path *and* a
//! line, a bad field can be cut out of the tree so that parsing continues and
//! reports every error in a file rather than the first, and provenance
//! (`manifest show --explain`) can look up the line of any resolved value.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A sequence index, counted from 0 in the file as written.
    Index(usize),
}

/// Where a value sits in a manifest, e.g. `egress.routes[2].outbound_on_match`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    /// The document root.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path with a key appended.
    pub fn key(&self, key: &str) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.to_string()));
        next
    }

    /// This path with an index appended.
    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }

    /// Whether this is the document root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `self` is a strict ancestor of `other`.
    pub fn is_ancestor_of(&self, other: &FieldPath) -> bool {
        other.0.len() > self.0.len() && other.0.starts_with(&self.0)
    }

    /// Parse the display form back (`a.b[2]."x.y"`); used by tests.
    pub fn parse(text: &str) -> Self {
        let mut segments = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']').unwrap_or(after.len());
                if let Ok(index) = after[..end].parse() {
                    segments.push(Segment::Index(index));
                }
                rest = after.get(end + 1..).unwrap_or("");
            } else if let Some(after) = rest.strip_prefix('.') {
                rest = after;
            } else if let Some(after) = rest.strip_prefix('"') {
                let end = after.find('"').unwrap_or(after.len());
                segments.push(Segment::Key(after[..end].to_string()));
                rest = after.get(end + 1..).unwrap_or("");
            } else {
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                segments.push(Segment::Key(rest[..end].to_string()));
                rest = &rest[end..];
            }
        }
        Self(segments)
    }
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || matches!(character, '_' | '-'))
}

impl fmt::Display for FieldPath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return formatter.write_str("(top level)");
        }
        for (position, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(index) => write!(formatter, "[{index}]")?,
                Segment::Key(key) => {
                    if position > 0 {
                        formatter.write_str(".")?;
                    }
                    if is_plain_key(key) {
                        formatter.write_str(key)?;
                    } else {
                        write!(formatter, "{key:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A scalar as YAML 1.2's core schema typed it.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
}

impl Scalar {
    /// The scalar as text, for string-typed fields (`PORT: 8080` is the
    /// string `"8080"`).
    pub fn text(&self) -> String {
        match self {
            Self::Null => "null".to_string(),
            Self::Bool(value) => value.to_string(),
            Self::Int(value) => value.to_string(),
            Self::UInt(value) => value.to_string(),
            Self::Float(value) => value.to_string(),
            Self::Str(value) => value.clone(),
        }
    }
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    /// Line of the key (1-based; 0 when unknown).
    pub key_line: usize,
    pub value: Node,
}

/// A YAML node with its line.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    /// 1-based line; 0 when the parser could not say.
    pub line: usize,
    /// Cut out after an error so that parsing can go on (see [`crate::de`]).
    pub pruned: bool,
}

impl Node {
    /// An empty mapping (the tree of an empty file).
    pub fn empty_map() -> Self {
        Self {
            kind: NodeKind::Map(Vec::new()),
            line: 1,
            pruned: false,
        }
    }

    /// The line, if known.
    pub fn known_line(&self) -> Option<usize> {
        (self.line > 0).then_some(self.line)
    }

    /// The node at `path`, if there is one.
    pub fn get(&self, path: &FieldPath) -> Option<&Node> {
        let mut node = self;
        for segment in &path.0 {
            node = match (segment, &node.kind) {
                (Segment::Key(key), NodeKind::Map(entries)) => {
                    &entries.iter().find(|entry| &entry.key == key)?.value
                }
                (Segment::Index(index), NodeKind::Seq(items)) => items.get(*index)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The line of the value at `path`, else of its nearest ancestor that
    /// has one.
    pub fn line_of(&self, path: &FieldPath) -> Option<usize> {
        let mut best = self.known_line();
        let mut node = self;
        for segment in &path.0 {
            let next = match (segment, &node.kind) {
                (Segment::Key(key), NodeKind::Map(entries)) => {
                    match entries.iter().find(|entry| &entry.key == key) {
                        Some(entry) => {
                            if entry.key_line > 0 {
                                best = Some(entry.key_line);
                            }
                            &entry.value
                        }
                        None => break,
                    }
                }
                (Segment::Index(index), NodeKind::Seq(items)) => match items.get(*index) {
                    Some(item) => item,
                    None => break,
                },
                _ => break,
            };
            if let Some(line) = next.known_line() {
                best = Some(line);
            }
            node = next;
        }
        best
    }

    /// Mark the node at `path` as pruned; `false` when there is none.
    pub fn prune(&mut self, path: &FieldPath) -> bool {
        let mut node = self;
        for segment in &path.0 {
            node = match (segment, &mut node.kind) {
                (Segment::Key(key), NodeKind::Map(entries)) => {
                    match entries.iter_mut().find(|entry| &entry.key == key) {
                        Some(entry) => &mut entry.value,
                        None => return false,
                    }
                }
                (Segment::Index(index), NodeKind::Seq(items)) => match items.get_mut(*index) {
                    Some(item) => item,
                    None => return false,
                },
                _ => return false,
            };
        }
        if node.pruned {
            return false;
        }
        node.pruned = true;
        true
    }

    /// Translate a path counted over the *unpruned* elements (as the typed
    /// model sees them) into one counted over the file as written.
    pub fn unpruned_to_written(&self, path: &FieldPath) -> FieldPath {
        let mut written = Vec::with_capacity(path.0.len());
        let mut node = Some(self);
        for segment in &path.0 {
            let current = node.take();
            match (segment, current.map(|node| &node.kind)) {
                (Segment::Index(index), Some(NodeKind::Seq(items))) => {
                    let found = items
                        .iter()
                        .enumerate()
                        .filter(|(_, item)| !item.pruned)
                        .nth(*index);
                    match found {
                        Some((original, item)) => {
                            written.push(Segment::Index(original));
                            node = Some(item);
                        }
                        None => written.push(segment.clone()),
                    }
                }
                (Segment::Key(key), Some(NodeKind::Map(entries))) => {
                    written.push(segment.clone());
                    node = entries
                        .iter()
                        .find(|entry| &entry.key == key)
                        .map(|entry| &entry.value);
                }
                _ => written.push(segment.clone()),
            }
        }
        FieldPath(written)
    }
}

/// The parser options: YAML 1.2 booleans only (`yes`, `no`, `on` and `off`
/// are strings, so `egress.log: off` means `off`), numbers with leading
/// zeros or underscores kept as written, and plain error messages (the
/// caller prints file, field and line itself). Duplicate keys are refused
/// and the alias budget is on (serde-saphyr's defaults).
fn options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.leading_zero_numbers_as_strings = true;
    options.underscored_numbers_as_strings = true;
    options.with_snippet = false;
    options
}

/// Parse YAML text into a tree. An empty document is an empty mapping.
pub fn parse(text: &str) -> Result<Node, serde_saphyr::Error> {
    let spanned: Option<Spanned<RawNode>> = serde_saphyr::from_str_with_options(text, options())?;
    Ok(match spanned {
        Some(spanned) => spanned_into_node(spanned),
        None => Node::empty_map(),
    })
}

/// The tree as serde hands it over; [`Spanned`] supplies the lines.
enum RawNode {
    Scalar(Scalar),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<RawNode>, Spanned<RawNode>)>),
}

fn line_of_location(spanned_line: u64) -> usize {
    usize::try_from(spanned_line).unwrap_or(0)
}

fn spanned_into_node(spanned: Spanned<RawNode>) -> Node {
    let line = line_of_location(spanned.referenced.line());
    let kind = match spanned.value {
        RawNode::Scalar(scalar) => NodeKind::Scalar(scalar),
        RawNode::Seq(items) => NodeKind::Seq(items.into_iter().map(spanned_into_node).collect()),
        RawNode::Map(entries) => NodeKind::Map(
            entries
                .into_iter()
                .map(|(key, value)| {
                    let key_line = line_of_location(key.referenced.line());
                    let key = match key.value {
                        RawNode::Scalar(scalar) => scalar.text(),
                        RawNode::Seq(_) | RawNode::Map(_) => "<complex key>".to_string(),
                    };
                    Entry {
                        key,
                        key_line,
                        value: spanned_into_node(value),
                    }
                })
                .collect(),
        ),
    };
    Node {
        kind,
        line,
        pruned: false,
    }
}

struct RawNodeVisitor;

impl<'de> Visitor<'de> for RawNodeVisitor {
    type Value = RawNode;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(Scalar::Bool(value)))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(Scalar::Int(value)))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(Scalar::UInt(value)))
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(Scalar::Str(value.to_string())))
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(Scalar::Str(value.to_string())))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(Scalar::Float(value)))
    }

    fn visit_char<E: de::Error>(self, value: char) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(Scalar::Str(value.to_string())))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(Scalar::Str(value.to_string())))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(Scalar::Str(value)))
    }

    fn visit_bytes<E: de::Error>(self, value: &[u8]) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(Scalar::Str(
            String::from_utf8_lossy(value).into_owned(),
        )))
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(Scalar::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(Scalar::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawNode, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<RawNode, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<RawNode>>()? {
            items.push(item);
        }
        Ok(RawNode::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNode, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<RawNode>>()? {
            let value = map.next_value::<Spanned<RawNode>>()?;
            entries.push((key, value));
        }
        Ok(RawNode::Map(entries))
    }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawNodeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_recorded_for_keys_and_values() {
        let tree = parse("a: 1\nb:\n  c: x\n  d:\n    - p\n    - q\n").unwrap();
        assert_eq!(tree.line_of(&FieldPath::parse("a")), Some(1));
        assert_eq!(tree.line_of(&FieldPath::parse("b.c")), Some(3));
        assert_eq!(tree.line_of(&FieldPath::parse("b.d[1]")), Some(6));
        // A missing leaf falls back to its nearest ancestor.
        assert_eq!(tree.line_of(&FieldPath::parse("b.d[7]")), Some(5));
    }

    #[test]
    fn empty_document_is_an_empty_map() {
        assert_eq!(parse("").unwrap(), Node::empty_map());
        assert_eq!(parse("# only a comment\n").unwrap(), Node::empty_map());
    }

    #[test]
    fn path_display_round_trips() {
        for text in [
            "egress.routes[2].outbound_on_match",
            "env.\"A.B\"",
            "x[0][1]",
        ] {
            assert_eq!(FieldPath::parse(text).to_string(), text);
        }
    }
}
