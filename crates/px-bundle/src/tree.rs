//! An in-memory model of a bundle's tree, used to decide where symlinks lead
//! without ever following one on disk.

use std::collections::HashMap;

/// Most symlinks followed while resolving one target (as Linux's `MAXSYMLINKS`).
const MAX_HOPS: u32 = 40;

/// What a path in the bundle is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Dir,
    File,
    Symlink(String),
}

/// Why a symlink is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Resolution leaves the bundle root (absolute target or too many `..`).
    Escape,
    /// Resolution follows more than [`MAX_HOPS`] symlinks.
    Loop,
}

/// Why a path's parents are unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParentFault {
    /// A parent is a symlink.
    Symlink,
    /// A parent is a regular file.
    File,
}

/// Paths of the bundle (relative, `/`-separated, normalized) and what they are.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    nodes: HashMap<String, Node>,
}

impl Tree {
    pub(crate) fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    pub(crate) fn insert(&mut self, path: String, node: Node) {
        self.nodes.insert(path, node);
    }

    /// The proper ancestors of `path` that are not in the tree yet (outermost
    /// first), or why an existing ancestor cannot hold `path`.
    pub(crate) fn missing_parents(&self, path: &str) -> Result<Vec<String>, ParentFault> {
        let mut missing = Vec::new();
        for (i, _) in path.match_indices('/') {
            let parent = &path[..i];
            match self.nodes.get(parent) {
                None => missing.push(parent.to_owned()),
                Some(Node::Dir) => {}
                Some(Node::Symlink(_)) => return Err(ParentFault::Symlink),
                Some(Node::File) => return Err(ParentFault::File),
            }
        }
        Ok(missing)
    }

    /// Checks that the symlink at `path` pointing at `target` stays inside the
    /// bundle, following symlinks already in the tree. Paths not in the tree
    /// are taken as plain names.
    pub(crate) fn check_symlink(&self, path: &str, target: &str) -> Result<(), Fault> {
        let mut dir: Vec<String> = path.split('/').map(str::to_owned).collect();
        dir.pop();
        let mut hops = 0;
        self.resolve(dir, target, &mut hops).map(drop)
    }

    /// Checks every symlink in the tree (a later entry can change where an
    /// earlier symlink leads); returns the first faulty one in path order.
    pub(crate) fn check_all_symlinks(&self) -> Result<(), (String, String, Fault)> {
        let mut links: Vec<(&String, &String)> = self
            .nodes
            .iter()
            .filter_map(|(path, node)| match node {
                Node::Symlink(target) => Some((path, target)),
                _ => None,
            })
            .collect();
        links.sort();
        for (path, target) in links {
            self.check_symlink(path, target)
                .map_err(|fault| (path.clone(), target.clone(), fault))?;
        }
        Ok(())
    }

    fn resolve(
        &self,
        mut cur: Vec<String>,
        target: &str,
        hops: &mut u32,
    ) -> Result<Vec<String>, Fault> {
        if target.starts_with('/') {
            return Err(Fault::Escape);
        }
        for comp in target.split('/') {
            match comp {
                "" | "." => {}
                ".." => {
                    cur.pop().ok_or(Fault::Escape)?;
                }
                name => {
                    cur.push(name.to_owned());
                    if let Some(Node::Symlink(next)) = self.nodes.get(&cur.join("/")) {
                        *hops += 1;
                        if *hops > MAX_HOPS {
                            return Err(Fault::Loop);
                        }
                        cur.pop();
                        cur = self.resolve(cur, next, hops)?;
                    }
                }
            }
        }
        Ok(cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(entries: &[(&str, Node)]) -> Tree {
        let mut tree = Tree::default();
        for (path, node) in entries {
            tree.insert((*path).to_owned(), node.clone());
        }
        tree
    }

    #[test]
    fn relative_targets_inside_are_fine() {
        let t = tree(&[("a", Node::Dir), ("a/b", Node::File)]);
        assert_eq!(t.check_symlink("a/link", "b"), Ok(()));
        assert_eq!(t.check_symlink("a/link", "../a/b"), Ok(()));
        assert_eq!(t.check_symlink("link", "./a//b"), Ok(()));
    }

    #[test]
    fn escapes_are_refused() {
        let t = Tree::default();
        assert_eq!(t.check_symlink("link", "/etc/passwd"), Err(Fault::Escape));
        assert_eq!(t.check_symlink("link", ".."), Err(Fault::Escape));
        assert_eq!(t.check_symlink("a/link", "../../x"), Err(Fault::Escape));
        assert_eq!(t.check_symlink("link", "a/../../x"), Err(Fault::Escape));
    }

    #[test]
    fn chains_are_followed() {
        // sub/up -> .. is the root; top -> sub/up/.. is then one above the root.
        let t = tree(&[("sub", Node::Dir), ("sub/up", Node::Symlink("..".into()))]);
        assert_eq!(t.check_symlink("top", "sub/up"), Ok(()));
        assert_eq!(t.check_symlink("top", "sub/up/.."), Err(Fault::Escape));
    }

    #[test]
    fn loops_are_refused() {
        let t = tree(&[
            ("a", Node::Symlink("b".into())),
            ("b", Node::Symlink("a".into())),
        ]);
        assert_eq!(t.check_symlink("c", "a"), Err(Fault::Loop));
        assert!(matches!(t.check_all_symlinks(), Err((_, _, Fault::Loop))));
    }

    #[test]
    fn parents_must_be_dirs() {
        let t = tree(&[
            ("d", Node::Dir),
            ("l", Node::Symlink("d".into())),
            ("f", Node::File),
        ]);
        assert_eq!(t.missing_parents("d/x/y"), Ok(vec!["d/x".to_owned()]));
        assert_eq!(t.missing_parents("l/x"), Err(ParentFault::Symlink));
        assert_eq!(t.missing_parents("f/x"), Err(ParentFault::File));
    }
}
