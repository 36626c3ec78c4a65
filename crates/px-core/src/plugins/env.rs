//! `${VAR}` / `${VAR:-default}` in a plugin's `runtime.env` and
//! `admin.process.env` values (SPEC §2.1a), and the dynamic-port placeholders.
//!
//! A reference may be the whole value or part of it (`${BASE:-/api/v1}/x`);
//! a default may hold references itself. An empty value counts as unset, as
//! in PowerX. Only `${NAME}` with `NAME` = `[A-Za-z_][A-Za-z0-9_]*` is a
//! reference: `$NAME`, `${}` and an unclosed `${` stay as written. Values
//! come from what the caller's `lookup` knows, never from Core's environment.

/// Placeholders replaced by the process's port (`0` when it has none).
pub(crate) const PORT_PLACEHOLDERS: [&str; 2] = ["__PX_DYNAMIC_PORT__", "__POWERX_DYNAMIC_PORT__"];

/// `value` with its references resolved through `lookup`; the names of
/// references that had neither a value nor a default (they became empty)
/// are added to `unresolved`.
pub(crate) fn expand(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unresolved: &mut Vec<String>,
) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let inside = &rest[start + 2..];
        let Some(end) = closing(inside) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let reference = &inside[..end];
        let (name, default) = match reference.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (reference, None),
        };
        if !is_name(name) {
            // not a reference: keep `${` and read on inside it
            out.push_str("${");
            rest = inside;
            continue;
        }
        match (lookup(name).filter(|v| !v.is_empty()), default) {
            (Some(found), _) => out.push_str(&found),
            (None, Some(default)) => out.push_str(&expand(default, lookup, unresolved)),
            (None, None) => {
                if !unresolved.iter().any(|n| n == name) {
                    unresolved.push(name.to_owned());
                }
            }
        }
        rest = &inside[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `value` with the dynamic-port placeholders replaced by `port`.
pub(crate) fn with_port(value: String, port: Option<u16>) -> String {
    if !PORT_PLACEHOLDERS.iter().any(|p| value.contains(p)) {
        return value;
    }
    let port = port.unwrap_or(0).to_string();
    PORT_PLACEHOLDERS.iter().fold(value, |value, placeholder| {
        value.replace(placeholder, &port)
    })
}

/// Where the `}` closing a reference is in `inside` (what follows its `${`),
/// skipping the references nested in it.
fn closing(inside: &str) -> Option<usize> {
    let bytes = inside.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(value: &str) -> (String, Vec<String>) {
        let lookup = |name: &str| match name {
            "HOST" => Some("127.0.0.1".to_owned()),
            "PORT" => Some("8080".to_owned()),
            "EMPTY" => Some(String::new()),
            "BRACES" => Some("${HOST}".to_owned()),
            _ => None,
        };
        let mut unresolved = Vec::new();
        let out = expand(value, &lookup, &mut unresolved);
        (out, unresolved)
    }

    fn ok(value: &str) -> String {
        let (out, unresolved) = run(value);
        assert!(unresolved.is_empty(), "{value}: {unresolved:?}");
        out
    }

    #[test]
    fn whole_values() {
        assert_eq!(ok("${HOST}"), "127.0.0.1");
        assert_eq!(ok("${MISSING:-fallback}"), "fallback");
        assert_eq!(ok("${HOST:-fallback}"), "127.0.0.1");
        assert_eq!(ok("${MISSING:-}"), "");
        assert_eq!(ok("plain"), "plain");
        assert_eq!(ok(""), "");
    }

    #[test]
    fn embedded_references() {
        assert_eq!(ok("http://${HOST}:${PORT}/x"), "http://127.0.0.1:8080/x");
        assert_eq!(ok("${BASE:-/api/v1}/notes"), "/api/v1/notes");
        assert_eq!(ok("a${MISSING:-}b"), "ab");
        assert_eq!(ok("${A:-x}${B:-y}"), "xy");
    }

    #[test]
    fn an_empty_value_counts_as_unset() {
        assert_eq!(ok("${EMPTY:-d}"), "d");
        assert_eq!(run("${EMPTY}"), (String::new(), vec!["EMPTY".to_owned()]));
    }

    #[test]
    fn defaults_may_hold_references() {
        assert_eq!(ok("${MISSING:-${HOST}:9}"), "127.0.0.1:9");
        assert_eq!(ok("${MISSING:-${ALSO:-z}}"), "z");
        assert_eq!(ok("${MISSING:-a:-b}"), "a:-b");
    }

    #[test]
    fn unresolved_references_are_empty_and_named_once() {
        assert_eq!(
            run("${NOPE}/${NOPE}/${OTHER}"),
            ("//".to_owned(), vec!["NOPE".to_owned(), "OTHER".to_owned()])
        );
        assert_eq!(
            run("${MISSING:-${NOPE}}"),
            (String::new(), vec!["NOPE".to_owned()])
        );
    }

    #[test]
    fn found_values_are_not_expanded_again() {
        assert_eq!(ok("${BRACES}"), "${HOST}");
    }

    #[test]
    fn what_is_no_reference_stays() {
        for literal in [
            "$HOST",
            "${",
            "abc${HOST",
            "${}",
            "${1X}",
            "${A B}",
            "pa$$word",
            "}",
        ] {
            assert_eq!(ok(literal), literal);
        }
        assert_eq!(ok("${ ${HOST}}"), "${ 127.0.0.1}");
    }

    #[test]
    fn port_placeholders() {
        assert_eq!(
            with_port(":__POWERX_DYNAMIC_PORT__".to_owned(), Some(4100)),
            ":4100"
        );
        assert_eq!(
            with_port("127.0.0.1:__PX_DYNAMIC_PORT__".to_owned(), Some(7)),
            "127.0.0.1:7"
        );
        assert_eq!(with_port(":__POWERX_DYNAMIC_PORT__".to_owned(), None), ":0");
        assert_eq!(with_port("none".to_owned(), Some(1)), "none");
    }
}
