//! Source positions of the values in a document, by JSON pointer, and a scanner
//! that records them for JSON text.

use std::collections::HashMap;

use crate::fault::{Anchor, join};

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

/// Where one value sits in the source.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// Pointer shown to the user, when it differs from the manifest pointer
    /// (a `plugin.yaml` key spelled differently).
    pub source: Option<String>,
    /// Position of the key naming the value, for object members.
    pub key: Option<Pos>,
    /// Position of the value.
    pub value: Pos,
    /// Where the value really is when it was merged in from another file
    /// (a `plugin.d/*.yaml` catalog): `value` is then the place in the main
    /// file that pulled it in, and this says `in <file> at line L, column C`.
    pub note: Option<String>,
}

/// Positions of the values of one document, by manifest JSON pointer.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceMap {
    nodes: HashMap<String, Node>,
}

impl SourceMap {
    pub fn insert(&mut self, pointer: String, node: Node) {
        self.nodes.insert(pointer, node);
    }

    /// The pointer to show and the position for a fault at `pointer`. A pointer
    /// without a node (a missing field) resolves to its nearest recorded parent,
    /// and keeps the unmatched tail in the pointer shown.
    pub fn locate(&self, pointer: &str, anchor: Anchor) -> (String, Pos) {
        let mut base = pointer;
        loop {
            if let Some(node) = self.nodes.get(base) {
                let tail = &pointer[base.len()..];
                let shown = match &node.source {
                    Some(source) => format!("{source}{tail}"),
                    None => pointer.to_owned(),
                };
                let pos = match anchor {
                    Anchor::Key if tail.is_empty() => node.key.unwrap_or(node.value),
                    _ => node.value,
                };
                return (shown, pos);
            }
            match base.rfind('/') {
                Some(slash) => base = &base[..slash],
                None if base.is_empty() => return (pointer.to_owned(), Pos { line: 1, column: 1 }),
                None => base = "",
            }
        }
    }

    /// The note of the node [`SourceMap::locate`] resolves `pointer` to: where
    /// the value really is when it came from another file.
    pub fn note(&self, pointer: &str) -> Option<&str> {
        let mut base = pointer;
        loop {
            if let Some(node) = self.nodes.get(base) {
                return node.note.as_deref();
            }
            base = &base[..base.rfind('/')?];
        }
    }
}

/// Records the position of every value in `text`, which must be valid JSON
/// (it has been parsed already). Also returns the pointers of duplicate keys,
/// each with the position of its second occurrence.
pub(crate) fn scan_json(text: &str) -> (SourceMap, Vec<(String, Pos)>) {
    let mut scanner = Scanner {
        text,
        at: 0,
        line: 1,
        column: 1,
        map: SourceMap::default(),
        duplicates: Vec::new(),
    };
    scanner.value(String::new(), None);
    (scanner.map, scanner.duplicates)
}

struct Scanner<'a> {
    text: &'a str,
    at: usize,
    line: usize,
    column: usize,
    map: SourceMap,
    duplicates: Vec<(String, Pos)>,
}

impl Scanner<'_> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn bump(&mut self) {
        let Some(c) = self.text[self.at..].chars().next() else {
            return;
        };
        self.at += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.bump();
        }
    }

    fn value(&mut self, pointer: String, key: Option<Pos>) {
        self.skip_ws();
        let node = Node {
            source: None,
            key,
            value: self.pos(),
            note: None,
        };
        self.map.insert(pointer.clone(), node);
        match self.peek() {
            Some(b'{') => self.object(&pointer),
            Some(b'[') => self.array(&pointer),
            Some(b'"') => {
                self.string();
            }
            _ => {
                while self.peek().is_some_and(|b| {
                    !matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
                }) {
                    self.bump();
                }
            }
        }
    }

    fn object(&mut self, pointer: &str) {
        self.bump();
        let mut seen = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                break;
            }
            let key_pos = self.pos();
            let key = self.string();
            let child = join(pointer, &key);
            if seen.contains(&key) {
                self.duplicates.push((child.clone(), key_pos));
            } else {
                seen.push(key);
            }
            self.skip_ws();
            self.bump(); // ':'
            self.value(child, Some(key_pos));
            self.skip_ws();
            if self.peek() == Some(b',') {
                self.bump();
            }
        }
        self.bump(); // '}'
    }

    fn array(&mut self, pointer: &str) {
        self.bump();
        let mut index = 0;
        loop {
            self.skip_ws();
            if matches!(self.peek(), Some(b']') | None) {
                break;
            }
            self.value(format!("{pointer}/{index}"), None);
            index += 1;
            self.skip_ws();
            if self.peek() == Some(b',') {
                self.bump();
            }
        }
        self.bump(); // ']'
    }

    /// Consumes a string token and returns its decoded text.
    fn string(&mut self) -> String {
        let start = self.at;
        self.bump();
        while let Some(b) = self.peek() {
            match b {
                b'\\' => {
                    self.bump();
                    self.bump();
                }
                b'"' => {
                    self.bump();
                    break;
                }
                _ => self.bump(),
            }
        }
        serde_json::from_str(&self.text[start..self.at]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn records_values_keys_and_duplicates() {
        let text = "{\n  \"a\": [1, {\"b/c\": \"x\"}],\n  \"é\": true, \"a\": null\n}";
        let (map, duplicates) = scan_json(text);
        assert_eq!(map.locate("", Anchor::Value).1, Pos { line: 1, column: 1 });
        assert_eq!(
            map.locate("/a/1/b~1c", Anchor::Value).1,
            Pos {
                line: 2,
                column: 20
            }
        );
        assert_eq!(
            map.locate("/a/1/b~1c", Anchor::Key).1,
            Pos {
                line: 2,
                column: 13
            }
        );
        assert_eq!(
            map.locate("/é", Anchor::Value).1,
            Pos { line: 3, column: 8 }
        );
        assert_eq!(
            map.locate("/a/1/missing", Anchor::Missing),
            (
                "/a/1/missing".to_owned(),
                Pos {
                    line: 2,
                    column: 12
                }
            )
        );
        assert_eq!(
            duplicates,
            vec![(
                "/a".to_owned(),
                Pos {
                    line: 3,
                    column: 14
                }
            )]
        );
    }

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e9f64..1e9).prop_map(Value::from),
            "[a-z\\\\\"/~é👋\\n ]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-z/~\\\\\"é ]{0,6}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// The character at a 1-based line and column.
    fn char_at(text: &str, pos: Pos) -> Option<char> {
        text.split('\n')
            .nth(pos.line - 1)?
            .chars()
            .nth(pos.column - 1)
    }

    fn check_all(value: &serde_json::Value, pointer: &str, text: &str, map: &SourceMap) {
        let node = map
            .nodes
            .get(pointer)
            .unwrap_or_else(|| panic!("no node for {pointer:?}"));
        let first = value.to_string().chars().next();
        assert_eq!(
            char_at(text, node.value),
            first,
            "value of {pointer:?} in {text}"
        );
        if let Some(key) = node.key {
            assert_eq!(char_at(text, key), Some('"'), "key of {pointer:?}");
        }
        match value {
            serde_json::Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    check_all(item, &format!("{pointer}/{index}"), text, map);
                }
            }
            serde_json::Value::Object(members) => {
                for (name, member) in members {
                    check_all(member, &join(pointer, name), text, map);
                }
            }
            _ => {}
        }
    }

    proptest! {
        #[test]
        fn every_value_is_located(value in arb_json(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&value).unwrap() } else { value.to_string() };
            let (map, duplicates) = scan_json(&text);
            prop_assert!(duplicates.is_empty());
            check_all(&value, "", &text, &map);
        }

        #[test]
        fn parsing_never_panics(text in "[{}\\[\\]\":,a-z0-9 \n.-]{0,60}") {
            let _ = crate::parse_json(&text, std::path::Path::new("m.json"), None);
            let _ = crate::parse_plugin_yaml(&text, std::path::Path::new("p.yaml"), None);
        }
    }
}
