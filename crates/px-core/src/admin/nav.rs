//! The plugins' menus as Admin shows them: each plugin's `admin.menus` tree
//! cut down to what the user may see, titled in the user's language, sorted
//! by `order` then title at every level.
//!
//! A menu needs every key of its `permission`; a menu the user cannot see is
//! hidden with everything below it, so seeing an entry takes the permissions
//! of its ancestors too. The entry page checks the same rule (see [`access`]).

use px_manifest::Menu;

use super::language::Languages;
use crate::auth::Caller;

/// One plugin menu entry in the sidebar, with the visible entries below it.
#[derive(Debug, Clone)]
pub struct NavMenu {
    /// Plugin the entry belongs to.
    pub plugin_id: String,
    /// `<plugin id>/<menu id>`, unique in the sidebar (keeps a group's
    /// open state across live redraws).
    pub key: String,
    /// Entry title, in the user's language when the plugin has it.
    pub title: String,
    /// The locale of `title` when it is a translation.
    pub lang: Option<String>,
    /// Plugin display name, on top-level entries whose title is not already
    /// the plugin's name.
    pub plugin_name: Option<String>,
    /// Admin URL of the entry (`/admin/p/<id><path>`).
    pub href: String,
    /// Sort order (`order`, 0 when missing); lower first.
    pub order: i64,
    /// Whether it is the page being shown.
    pub active: bool,
    /// Whether an entry below it is the page being shown.
    pub open: bool,
    /// Visible entries below it, in order.
    pub children: Vec<NavMenu>,
}

/// One line of the sidebar tree, in document order: the template opens a
/// group for an entry with children and closes `closes` groups after it.
#[derive(Debug, Clone, Copy)]
pub struct NavRow<'a> {
    /// The entry.
    pub menu: &'a NavMenu,
    /// How many groups end after this entry.
    pub closes: usize,
}

/// Who is looking, for picking and titling entries.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    /// Permissions.
    pub caller: &'a Caller,
    /// Languages, most wanted first.
    pub languages: &'a Languages,
}

impl Viewer<'_> {
    /// Whether the user holds every permission the entry names.
    pub fn may_see(&self, menu: &Menu) -> bool {
        menu.permission.iter().all(|p| self.caller.can(p))
    }

    /// The entry's title in the user's language, and its locale when translated.
    pub fn title(&self, menu: &Menu) -> (String, Option<String>) {
        match self.languages.pick(&menu.title_i18n) {
            Some((locale, text)) => (text.to_owned(), Some(locale.to_owned())),
            None => (menu.title.clone(), None),
        }
    }
}

/// A plugin's menus as the viewer sees them, sorted.
pub fn plugin_tree(
    menus: &[Menu],
    plugin_id: &str,
    plugin_name: &str,
    viewer: Viewer<'_>,
) -> Vec<NavMenu> {
    let mut tree = visible(menus, plugin_id, viewer);
    for top in &mut tree {
        if !top.title.trim().eq_ignore_ascii_case(plugin_name.trim()) {
            top.plugin_name = Some(plugin_name.to_owned());
        }
    }
    tree
}

fn visible(menus: &[Menu], plugin_id: &str, viewer: Viewer<'_>) -> Vec<NavMenu> {
    let mut entries: Vec<NavMenu> = menus
        .iter()
        .filter(|m| viewer.may_see(m))
        .map(|m| {
            let (title, lang) = viewer.title(m);
            NavMenu {
                plugin_id: plugin_id.to_owned(),
                key: format!("{plugin_id}/{}", m.id),
                title,
                lang,
                plugin_name: None,
                href: entry_href(plugin_id, &m.path),
                order: m.order.unwrap_or(0),
                active: false,
                open: false,
                children: visible(&m.children, plugin_id, viewer),
            }
        })
        .collect();
    sort(&mut entries);
    entries
}

/// Sorts entries by order, then title; ties keep their order.
pub fn sort(entries: &mut [NavMenu]) {
    entries.sort_by(|a, b| (a.order, &a.title).cmp(&(b.order, &b.title)));
}

/// Marks the entries whose href is `href` (a trailing `/` aside) active and
/// their ancestors open; returns whether one below or at `menus` is active.
pub fn activate(menus: &mut [NavMenu], href: &str) -> bool {
    let mut any = false;
    for menu in menus {
        menu.open = activate(&mut menu.children, href);
        menu.active = same_path(&menu.href, href);
        any |= menu.active || menu.open;
    }
    any
}

/// The tree in document order.
pub fn rows(menus: &[NavMenu]) -> Vec<NavRow<'_>> {
    fn walk<'a>(menus: &'a [NavMenu], out: &mut Vec<NavRow<'a>>) {
        for menu in menus {
            out.push(NavRow { menu, closes: 0 });
            if !menu.children.is_empty() {
                walk(&menu.children, out);
                if let Some(last) = out.last_mut() {
                    last.closes += 1;
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(menus, &mut out);
    out
}

/// Whether the viewer may open the plugin page at `path`, and which menu it is.
#[derive(Debug, PartialEq)]
pub enum Access<'a> {
    /// A menu the viewer may see points there (`None`: no menu does, and the
    /// page is open to anyone who may read plugins).
    Open(Option<&'a Menu>),
    /// Every menu that points there needs a permission the viewer lacks:
    /// the first one missing.
    Refused(&'a str),
}

/// The menus anywhere in the tree whose path is `path` decide: the page is
/// open when one of them is visible (it and its ancestors), refused when
/// none is.
pub fn access<'a>(menus: &'a [Menu], path: &str, viewer: Viewer<'_>) -> Access<'a> {
    fn walk<'a>(
        menus: &'a [Menu],
        path: &str,
        ancestors: &mut Vec<&'a Menu>,
        found: &mut Vec<Vec<&'a Menu>>,
    ) {
        for menu in menus {
            ancestors.push(menu);
            if same_path(&menu.path, path) {
                found.push(ancestors.clone());
            }
            walk(&menu.children, path, ancestors, found);
            ancestors.pop();
        }
    }
    let mut found = Vec::new();
    walk(menus, path, &mut Vec::new(), &mut found);
    if found.is_empty() {
        return Access::Open(None);
    }
    if let Some(chain) = found.iter().find(|c| c.iter().all(|m| viewer.may_see(m))) {
        return Access::Open(chain.last().copied());
    }
    let missing = found[0]
        .iter()
        .flat_map(|m| &m.permission)
        .find(|p| !viewer.caller.can(p))
        .map_or("", String::as_str);
    Access::Refused(missing)
}

/// Admin URL of a plugin page: `/admin/p/<id>` + the menu path.
pub fn entry_href(plugin_id: &str, path: &str) -> String {
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    format!("/admin/p/{plugin_id}{path}")
}

fn same_path(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn menu(id: &str, path: &str, order: i64, permission: &[&str], children: Vec<Menu>) -> Menu {
        Menu {
            id: id.to_owned(),
            title: id.to_owned(),
            title_i18n: Default::default(),
            path: path.to_owned(),
            icon: None,
            order: Some(order),
            permission: permission.iter().map(|p| (*p).to_owned()).collect(),
            children,
        }
    }

    fn caller(permissions: &[&str]) -> Caller {
        Caller {
            actor: "u".to_owned(),
            role: "r".to_owned(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            plugin_id: None,
            csrf: None,
        }
    }

    fn titles(menus: &[NavMenu]) -> Vec<String> {
        rows(menus)
            .iter()
            .map(|r| format!("{}{}", r.menu.title, ")".repeat(r.closes)))
            .collect()
    }

    fn tree() -> Vec<Menu> {
        vec![
            menu(
                "b",
                "/b",
                2,
                &["x:read"],
                vec![
                    menu("b2", "/b/2", 0, &["x:read", "y:read"], vec![]),
                    menu(
                        "b1",
                        "/b/1",
                        0,
                        &[],
                        vec![menu("deep", "/b/1/deep", 0, &[], vec![])],
                    ),
                ],
            ),
            menu("a", "/", 1, &[], vec![]),
            menu(
                "hidden",
                "/h",
                0,
                &["z:read"],
                vec![menu("c", "/c", 0, &[], vec![])],
            ),
        ]
    }

    #[test]
    fn sorted_filtered_and_flattened() {
        let languages = Languages::default();
        let all = caller(&["x:read", "y:read", "z:read"]);
        let viewer = Viewer {
            caller: &all,
            languages: &languages,
        };
        let t = plugin_tree(&tree(), "p", "P", viewer);
        assert_eq!(titles(&t), ["hidden", "c)", "a", "b", "b1", "deep)", "b2)"]);

        let some = caller(&["x:read"]);
        let viewer = Viewer {
            caller: &some,
            languages: &languages,
        };
        let mut t = plugin_tree(&tree(), "p", "P", viewer);
        assert_eq!(titles(&t), ["a", "b", "b1", "deep))"]);
        assert!(activate(&mut t, "/admin/p/p/b/1/deep/"));
        assert!(t[1].open && !t[1].active && t[1].children[0].open);
        assert!(t[1].children[0].children[0].active && !t[0].active);
        assert_eq!(t[0].plugin_name.as_deref(), Some("P"));
    }

    #[test]
    fn access_takes_the_ancestors_permissions() {
        let languages = Languages::default();
        let some = caller(&["x:read"]);
        let viewer = Viewer {
            caller: &some,
            languages: &languages,
        };
        let menus = tree();
        assert_eq!(access(&menus, "/nowhere", viewer), Access::Open(None));
        assert!(
            matches!(access(&menus, "/b/1/deep/", viewer), Access::Open(Some(m)) if m.id == "deep")
        );
        assert_eq!(access(&menus, "/b/2", viewer), Access::Refused("y:read"));
        assert_eq!(access(&menus, "/c", viewer), Access::Refused("z:read"));
    }
}
