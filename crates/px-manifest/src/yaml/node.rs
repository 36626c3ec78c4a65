//! A YAML document as a tree of nodes that remember where they are.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::span::Pos;

/// A YAML node and its position.
pub(crate) type Located = Spanned<Node>;

/// A YAML value; keys of mappings keep their positions too.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Located>),
    Map(Vec<(Located, Located)>),
}

/// Position of a located node.
pub(crate) fn pos(node: &Located) -> Pos {
    let line = usize::try_from(node.referenced.line())
        .unwrap_or(usize::MAX)
        .max(1);
    let column = usize::try_from(node.referenced.column())
        .unwrap_or(usize::MAX)
        .max(1);
    Pos { line, column }
}

impl Node {
    /// The node as a JSON value (mapping keys as text).
    pub fn to_json(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::from(*i),
            Node::UInt(u) => Value::from(*u),
            Node::Float(f) => serde_json::Number::from_f64(*f)
                .map_or_else(|| Value::String(f.to_string()), Value::Number),
            Node::Str(s) => Value::String(s.clone()),
            Node::Seq(items) => {
                Value::Array(items.iter().map(|item| item.value.to_json()).collect())
            }
            Node::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(key, value)| (key.value.key_text(), value.value.to_json()))
                    .collect(),
            ),
        }
    }

    /// The node's text when used as a mapping key.
    pub fn key_text(&self) -> String {
        match self {
            Node::Str(s) => s.clone(),
            other => other.to_json().to_string(),
        }
    }

    /// How the node reads in "found …" messages.
    pub fn found(&self) -> String {
        match self {
            Node::Seq(_) => "a sequence".to_owned(),
            Node::Map(_) => "a mapping".to_owned(),
            scalar => crate::fault::found(&scalar.to_json()),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any yaml value")
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Located>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Located>()? {
            let value = map.next_value::<Located>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let text = "id: com.acme.x\nruntime:\n  args: [a, 2]\n  health: {http: /h}\n";
        let root: Located = serde_saphyr::from_str(text).unwrap();
        let Node::Map(entries) = &root.value else {
            panic!("not a map: {root:?}")
        };
        assert_eq!(pos(&entries[0].0), Pos { line: 1, column: 1 });
        assert_eq!(pos(&entries[0].1), Pos { line: 1, column: 5 });
        let Node::Map(runtime) = &entries[1].1.value else {
            panic!()
        };
        let Node::Seq(args) = &runtime[0].1.value else {
            panic!()
        };
        assert_eq!(
            pos(&args[1]),
            Pos {
                line: 3,
                column: 13
            }
        );
        assert!(matches!(args[1].value, Node::UInt(2) | Node::Int(2)));
        assert_eq!(pos(&runtime[1].0), Pos { line: 4, column: 3 });
        assert_eq!(root.value.to_json()["runtime"]["health"]["http"], "/h");
    }
}
