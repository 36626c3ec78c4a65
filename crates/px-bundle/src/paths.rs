//! Relative bundle paths: `/`-separated, no `.`/empty components, no `..`.

/// Why a path is not a usable relative bundle path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathFault {
    /// Has a `..` component.
    DotDot,
    /// Starts with `/`.
    Absolute,
    /// Empty (or only `.`), or not UTF-8.
    Bad,
}

/// Normalizes a raw path (from a tar header or a manifest) into
/// `a/b/c` form, dropping `.` and empty components.
pub(crate) fn normalize(raw: &[u8]) -> Result<String, PathFault> {
    let text = std::str::from_utf8(raw).map_err(|_| PathFault::Bad)?;
    if text.starts_with('/') {
        return Err(PathFault::Absolute);
    }
    let mut parts = Vec::new();
    for comp in text.split('/') {
        match comp {
            "" | "." => {}
            ".." => return Err(PathFault::DotDot),
            comp => parts.push(comp),
        }
    }
    if parts.is_empty() {
        return Err(PathFault::Bad);
    }
    Ok(parts.join("/"))
}

/// Whether `path` (normalized) lies in the reserved `.pxp/` metadata directory.
pub(crate) fn is_reserved(path: &str) -> bool {
    path == ".pxp" || path.starts_with(".pxp/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(normalize(b"./a//b/./c/"), Ok("a/b/c".to_owned()));
        assert_eq!(normalize(b"a/../b"), Err(PathFault::DotDot));
        assert_eq!(normalize(b"/etc/passwd"), Err(PathFault::Absolute));
        assert_eq!(normalize(b"./"), Err(PathFault::Bad));
        assert_eq!(normalize(b"\xff"), Err(PathFault::Bad));
    }

    #[test]
    fn reserves_pxp_dir() {
        assert!(is_reserved(".pxp"));
        assert!(is_reserved(".pxp/checksums.json"));
        assert!(!is_reserved(".pxpx"));
    }
}
