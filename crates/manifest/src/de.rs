//! Typed deserialization from a [`Node`] tree, reporting *every* error.
//!
//! serde stops at the first error. To list all of them, [`from_tree`] parses,
//! and on an error records it (with its field path and line), cuts the bad
//! node out of the tree, and parses again, up to [`MAX_ERRORS_PER_FILE`]
//! times. When cutting a field leaves its parent without a required field,
//! that follow-on "missing field" error is not reported (it says nothing new)
//! and the parent is cut instead.
//!
//! Scalars are lenient where YAML is: a string field accepts `8080` or
//! `true` as the text `"8080"` / `"true"`, so `env: {PORT: 8080}` works.

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess,
    Visitor,
};

use crate::tree::{Entry, FieldPath, Node, NodeKind, Scalar, Segment};

/// The most errors reported for one file; parsing gives up after this many.
pub const MAX_ERRORS_PER_FILE: usize = 64;

/// What went wrong at one place in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// A field the type does not have.
    UnknownField {
        field: String,
        expected: &'static [&'static str],
    },
    /// A value outside an enum's variants.
    UnknownVariant {
        variant: String,
        expected: &'static [&'static str],
    },
    /// A required field is absent.
    MissingField(&'static str),
    /// Anything else (wrong type, …).
    Message(String),
}

/// One deserialization error with where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: FieldPath,
    pub line: Option<usize>,
    pub kind: ProblemKind,
}

impl Problem {
    fn new(kind: ProblemKind) -> Self {
        Self {
            path: FieldPath::root(),
            line: None,
            kind,
        }
    }

    fn within(mut self, segment: Segment, line: Option<usize>) -> Self {
        self.path.0.insert(0, segment);
        if self.line.is_none() {
            self.line = line;
        }
        self
    }

    fn at_line(mut self, line: Option<usize>) -> Self {
        if self.line.is_none() {
            self.line = line;
        }
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ProblemKind::UnknownField { field, .. } => write!(formatter, "unknown field `{field}`"),
            ProblemKind::UnknownVariant { variant, expected } => write!(
                formatter,
                "unknown value `{variant}`, expected one of {}",
                one_of(expected)
            ),
            ProblemKind::MissingField(field) => write!(formatter, "missing field `{field}`"),
            ProblemKind::Message(message) => formatter.write_str(message),
        }
    }
}

/// `` `a`, `b` or `c` ``.
pub fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.split_last() {
        None => "nothing".to_string(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

impl std::error::Error for Problem {}

impl de::Error for Problem {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self::new(ProblemKind::Message(message.to_string()))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self::new(ProblemKind::UnknownField {
            field: field.to_string(),
            expected,
        })
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::new(ProblemKind::UnknownVariant {
            variant: variant.to_string(),
            expected,
        })
    }

    fn missing_field(field: &'static str) -> Self {
        Self::new(ProblemKind::MissingField(field))
    }
}

/// Deserialize `T` from `tree`, cutting out bad nodes until it succeeds.
/// Returns the value (absent only when even the root had to go) and every
/// problem met, paths counted over the file as written.
pub fn from_tree<T: DeserializeOwned>(tree: &mut Node) -> (Option<T>, Vec<Problem>) {
    let mut problems: Vec<Problem> = Vec::new();
    let mut pruned: Vec<FieldPath> = Vec::new();
    loop {
        match T::deserialize(NodeDeserializer { node: tree }) {
            Ok(value) => return (Some(value), problems),
            Err(problem) => {
                let follow_on = matches!(problem.kind, ProblemKind::MissingField(_))
                    && pruned.iter().any(|cut| problem.path.is_ancestor_of(cut));
                // An unknown field is cut at the field itself; the path
                // already ends with its key.
                let target = problem.path.clone();
                if !follow_on {
                    problems.push(problem);
                }
                if target.is_root() || !tree.prune(&target) || problems.len() >= MAX_ERRORS_PER_FILE
                {
                    return (None, problems);
                }
                pruned.push(target);
            }
        }
    }
}

/// A serde deserializer over one node.
struct NodeDeserializer<'a> {
    node: &'a Node,
}

impl NodeDeserializer<'_> {
    fn line(&self) -> Option<usize> {
        self.node.known_line()
    }

    fn type_error<V>(&self, expected: &dyn de::Expected) -> Result<V, Problem> {
        let unexpected = match &self.node.kind {
            NodeKind::Scalar(Scalar::Null) => de::Unexpected::Unit,
            NodeKind::Scalar(Scalar::Bool(value)) => de::Unexpected::Bool(*value),
            NodeKind::Scalar(Scalar::Int(value)) => de::Unexpected::Signed(*value),
            NodeKind::Scalar(Scalar::UInt(value)) => de::Unexpected::Unsigned(*value),
            NodeKind::Scalar(Scalar::Float(value)) => de::Unexpected::Float(*value),
            NodeKind::Scalar(Scalar::Str(value)) => de::Unexpected::Str(value),
            NodeKind::Seq(_) => de::Unexpected::Seq,
            NodeKind::Map(_) => de::Unexpected::Map,
        };
        Err(<Problem as de::Error>::invalid_type(unexpected, expected).at_line(self.line()))
    }
}

struct Expecting<'a>(&'a str);

impl de::Expected for Expecting<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.0)
    }
}

impl<'de> Deserializer<'de> for NodeDeserializer<'_> {
    type Error = Problem;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        let line = self.line();
        let result = match &self.node.kind {
            NodeKind::Scalar(Scalar::Null) => visitor.visit_unit(),
            NodeKind::Scalar(Scalar::Bool(value)) => visitor.visit_bool(*value),
            NodeKind::Scalar(Scalar::Int(value)) => visitor.visit_i64(*value),
            NodeKind::Scalar(Scalar::UInt(value)) => visitor.visit_u64(*value),
            NodeKind::Scalar(Scalar::Float(value)) => visitor.visit_f64(*value),
            NodeKind::Scalar(Scalar::Str(value)) => visitor.visit_str(value),
            NodeKind::Seq(items) => visitor.visit_seq(NodeSeq::new(items)),
            NodeKind::Map(entries) => visitor.visit_map(NodeMap::new(entries)),
        };
        result.map_err(|problem| problem.at_line(line))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match &self.node.kind {
            NodeKind::Scalar(Scalar::Bool(value)) => visitor.visit_bool(*value),
            _ => self.type_error(&Expecting("`true` or `false`")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        let line = self.line();
        match &self.node.kind {
            NodeKind::Scalar(Scalar::Null) => self.type_error(&Expecting("a string")),
            NodeKind::Scalar(scalar) => visitor
                .visit_string(scalar.text())
                .map_err(|problem: Problem| problem.at_line(line)),
            _ => self.type_error(&Expecting("a string")),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match &self.node.kind {
            NodeKind::Scalar(Scalar::Null) => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        let line = self.line();
        match &self.node.kind {
            NodeKind::Seq(items) => visitor
                .visit_seq(NodeSeq::new(items))
                .map_err(|problem| problem.at_line(line)),
            _ => self.type_error(&Expecting("a list")),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        let line = self.line();
        match &self.node.kind {
            NodeKind::Map(entries) => visitor
                .visit_map(NodeMap::new(entries))
                .map_err(|problem| problem.at_line(line)),
            _ => self.type_error(&Expecting("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Problem> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Problem> {
        let line = self.line();
        match &self.node.kind {
            NodeKind::Scalar(Scalar::Str(text)) => {
                let access: de::value::StrDeserializer<'_, Problem> =
                    text.as_str().into_deserializer();
                visitor
                    .visit_enum(access)
                    .map_err(|problem| problem.at_line(line))
            }
            _ => self.type_error(&Expecting(&format!("one of {}", one_of(variants)))),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Problem> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit
        unit_struct tuple tuple_struct identifier
    }
}

struct NodeSeq<'a> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
}

impl<'a> NodeSeq<'a> {
    fn new(items: &'a [Node]) -> Self {
        Self {
            items: items.iter().enumerate(),
        }
    }
}

impl<'de> SeqAccess<'de> for NodeSeq<'_> {
    type Error = Problem;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Problem> {
        for (index, item) in self.items.by_ref() {
            if item.pruned {
                continue;
            }
            return seed
                .deserialize(NodeDeserializer { node: item })
                .map(Some)
                .map_err(|problem| problem.within(Segment::Index(index), item.known_line()));
        }
        Ok(None)
    }
}

struct NodeMap<'a> {
    entries: std::slice::Iter<'a, Entry>,
    current: Option<&'a Entry>,
}

impl<'a> NodeMap<'a> {
    fn new(entries: &'a [Entry]) -> Self {
        Self {
            entries: entries.iter(),
            current: None,
        }
    }
}

impl<'de> MapAccess<'de> for NodeMap<'_> {
    type Error = Problem;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Problem> {
        for entry in self.entries.by_ref() {
            if entry.value.pruned {
                continue;
            }
            self.current = Some(entry);
            let key: de::value::StrDeserializer<'_, Problem> =
                entry.key.as_str().into_deserializer();
            let line = (entry.key_line > 0).then_some(entry.key_line);
            return seed
                .deserialize(key)
                .map(Some)
                .map_err(|problem| problem.within(Segment::Key(entry.key.clone()), line));
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Problem> {
        let Some(entry) = self.current.take() else {
            return Err(<Problem as de::Error>::custom("a value without a key"));
        };
        let line = entry
            .value
            .known_line()
            .or((entry.key_line > 0).then_some(entry.key_line));
        seed.deserialize(NodeDeserializer { node: &entry.value })
            .map_err(|problem| problem.within(Segment::Key(entry.key.clone()), line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BottleFile;
    use crate::tree;

    fn problems(text: &str) -> Vec<String> {
        let mut node = tree::parse(text).unwrap();
        let (_, problems) = from_tree::<BottleFile>(&mut node);
        problems
            .iter()
            .map(|problem| format!("{}:{}: {problem}", problem.line.unwrap_or(0), problem.path))
            .collect()
    }

    #[test]
    fn every_error_in_a_file_is_reported() {
        let text = "\
supervise: maybe
colour: red
egress:
  routes:
    - host: a.example
      outbound_on_match: explode
    - host: b.example
      methdos: [GET]
";
        assert_eq!(
            problems(text),
            vec![
                "1:supervise: invalid type: string \"maybe\", expected `true` or `false`",
                "2:colour: unknown field `colour`",
                "6:egress.routes[0].outbound_on_match: unknown value `explode`, expected one of `redact`, `block` or `supervise`",
                "8:egress.routes[1].methdos: unknown field `methdos`",
            ]
        );
    }

    #[test]
    fn a_cut_required_field_does_not_report_a_second_error() {
        let text = "git-gate:\n  repos:\n    - name: [x]\n      upstream: https://example.com/x\n";
        assert_eq!(
            problems(text),
            vec!["3:git-gate.repos[0].name: invalid type: sequence, expected a string"]
        );
    }

    #[test]
    fn scalars_are_text_for_string_fields() {
        let mut node = tree::parse("env:\n  PORT: 8080\n  DEBUG: true\n").unwrap();
        let (file, problems) = from_tree::<BottleFile>(&mut node);
        assert!(problems.is_empty(), "{problems:?}");
        let file = file.unwrap();
        assert_eq!(file.env["PORT"], "8080");
        assert_eq!(file.env["DEBUG"], "true");
    }
}
