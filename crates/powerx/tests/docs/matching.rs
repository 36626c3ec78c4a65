//! Expected output with wildcards, as in `trycmd`: `[..]` matches any text
//! within a line, a line `...` matches any number of lines (none included).

/// Whether one output line matches one expected line.
pub fn line_matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split("[..]").collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !line.starts_with(first) || line.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &line[first.len()..];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// How many lines of `lines` the whole of `expected` matches as a prefix
/// (the shortest such prefix), or `None`.
pub fn match_prefix(expected: &[String], lines: &[String]) -> Option<usize> {
    match expected.split_first() {
        None => Some(0),
        Some((first, rest)) if first == "..." => {
            (0..=lines.len()).find_map(|skip| match_prefix(rest, &lines[skip..]).map(|n| n + skip))
        }
        Some((first, rest)) => {
            let line = lines.first()?;
            if !line_matches(first, line) {
                return None;
            }
            match_prefix(rest, &lines[1..]).map(|n| n + 1)
        }
    }
}

/// Whether `expected` matches all of `lines` (trailing empty expected lines ignored).
pub fn matches_all(expected: &[String], lines: &[String]) -> bool {
    let mut expected = expected;
    while let Some((last, rest)) = expected.split_last()
        && last.is_empty()
    {
        expected = rest;
    }
    full(expected, lines)
}

fn full(expected: &[String], lines: &[String]) -> bool {
    match expected.split_first() {
        None => lines.is_empty(),
        Some((first, rest)) if first == "..." => {
            (0..=lines.len()).any(|skip| full(rest, &lines[skip..]))
        }
        Some((first, rest)) => lines
            .split_first()
            .is_some_and(|(line, more)| line_matches(first, line) && full(rest, more)),
    }
}

/// Output as lines: trailing spaces and trailing empty lines removed.
pub fn lines_of(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(|l| l.trim_end().to_owned()).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

#[test]
fn wildcards() {
    assert!(line_matches("a [..] c", "a b c"));
    assert!(line_matches("a [..] c", "a  c"));
    assert!(!line_matches("a [..] c", "a b d"));
    assert!(line_matches("[..]", "anything"));
    assert!(line_matches("x[..]y[..]z", "x1y2z"));
    assert!(!line_matches("x[..]y[..]z", "xz"));
    assert!(!line_matches("ab[..]ba", "aba"));
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(matches_all(
        &s(&["a", "...", "c"]),
        &s(&["a", "b", "b", "c"])
    ));
    assert!(matches_all(&s(&["a", "...", "c"]), &s(&["a", "c"])));
    assert!(!matches_all(&s(&["a", "c"]), &s(&["a", "b", "c"])));
    assert!(!matches_all(&s(&["a"]), &s(&["a", "b"])));
    assert!(matches_all(&s(&["a", "..."]), &s(&["a", "b"])));
    assert_eq!(
        match_prefix(&s(&["a", "...", "c"]), &s(&["a", "c", "c", "d"])),
        Some(2)
    );
}
