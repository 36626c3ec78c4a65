//! A plugin's real PowerX-shaped menus in Admin: a nested tree, titles in the
//! user's language (`title_i18n` by `Accept-Language`), and `permission`
//! lists that hide an entry with everything below it. Over HTTP (the
//! sidebar's HTML, the entry and detail pages) and in headless Chromium
//! (open a group, click a child, at phone and desktop width).

mod admin_support;
mod common;

use std::path::PathBuf;

use admin_support::http::{add_user, login, page, page_in, raw};
use admin_support::{Browser, Driver};
use common::{Core, Options};
use reqwest::StatusCode;
use serde_json::json;

const MENUS: &str = "com.example.menus";

/// Roles beside the default ones: a reader of templates who cannot edit them
/// nor read the plugin's audit page, and one who may only see the settings.
async fn start() -> Core {
    let core = Core::start_configured(Options::default(), |config| {
        let roles = &mut config.policy.roles;
        roles.insert(
            "template-reader".into(),
            ["plugin:read", "menus:read", "menus:template:read"]
                .map(String::from)
                .to_vec(),
        );
        roles.insert(
            "settings-only".into(),
            ["plugin:read", "menus:settings:read"]
                .map(String::from)
                .to_vec(),
        );
    })
    .await;
    add_user(&core, "ada", "admin", "ada-pass").await;
    add_user(&core, "rita", "template-reader", "rita-pass").await;
    add_user(&core, "sam", "settings-only", "sam-pass").await;
    add_user(&core, "vic", "viewer", "vic-pass").await;
    core
}

/// hello-python named "Menus" with this tree (order in brackets):
///
/// ```text
/// Menus [1] /              menus:read
/// ├── Audit [1] /audit      menus:audit:read
/// ├── Templates [2] /templates   menus:read + menus:template:read
/// │   └── Edit templates /templates/edit   menus:template:read + menus:template:write
/// └── About [9] /about
/// Settings [5] /settings    menus:settings:read
/// ```
fn menus_plugin(core: &Core) -> PathBuf {
    let dir = core.plugin("menus", MENUS, "1.0.0", |m| {
        m["name"] = "Menus".into();
        m["permissions"] = json!([
            { "key": "menus:read" },
            { "key": "menus:audit:read" },
            { "key": "menus:template:read" },
            { "key": "menus:template:write" },
            { "key": "menus:settings:read" },
        ]);
        m["admin"]["menus"] = json!([
            {
                "id": "settings", "title": "Settings", "path": "/settings", "order": 5,
                "title_i18n": { "zh-CN": "设置" }, "permission": "menus:settings:read"
            },
            {
                "id": "console", "title": "Menus", "path": "/", "order": 1,
                "title_i18n": { "zh-CN": "菜单" }, "permission": "menus:read",
                "children": [
                    { "id": "about", "title": "About", "path": "/about", "order": 9 },
                    {
                        "id": "templates", "title": "Templates", "path": "/templates", "order": 2,
                        "title_i18n": { "zh-CN": "模板", "en": "Templates" },
                        "permission": ["menus:read", "menus:template:read"],
                        "children": [{
                            "id": "template-edit", "title": "Edit templates", "path": "/templates/edit",
                            "title_i18n": { "zh": "编辑模板" },
                            "permission": ["menus:template:read", "menus:template:write"]
                        }]
                    },
                    {
                        "id": "audit", "title": "Audit", "path": "/audit", "order": 1,
                        "title_i18n": { "zh_CN": "审计" }, "permission": "menus:audit:read"
                    }
                ]
            }
        ]);
    });
    for (path, text) in [
        ("templates", "the templates page"),
        ("templates/edit", "the template editor"),
    ] {
        let folder = dir.join("admin").join(path);
        std::fs::create_dir_all(&folder).unwrap();
        let html = format!("<!doctype html><title>{text}</title><p id=\"answer\">{text}</p>");
        std::fs::write(folder.join("index.html"), html).unwrap();
    }
    dir
}

/// The plugin menus part of the sidebar ("" when there is none).
fn sidebar(html: &str) -> &str {
    let Some(start) = html.find("id=\"plugin-menus\"") else {
        return "";
    };
    let end = start + html[start..].find("</nav>").unwrap();
    &html[start..end]
}

/// Asserts that `needles` all occur in `hay`, in this order.
fn in_order(hay: &str, needles: &[&str]) {
    let mut from = 0;
    for needle in needles {
        let at = hay[from..]
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing after {from} in\n{hay}"));
        from += at + needle.len();
    }
}

/// The link of one menu entry (its opening tag up to the title).
fn link(menu: &str) -> String {
    format!("data-menu=\"{MENUS}/{menu}\"")
}

#[tokio::test]
async fn nested_translated_and_gated_menus_over_http() {
    let core = start().await;
    let (status, report) = core.install_dir(&menus_plugin(&core)).await;
    assert_eq!(status, 200, "{report:?}");
    let ada = login(&core, "ada", "ada-pass").await;

    // Chinese first: every title from title_i18n (zh_CN and zh match zh-CN),
    // About has none; nested groups in order (order, then title) at every level
    let (_, html) = page_in(&core, &ada, "/admin/plugins", "zh-CN,zh;q=0.9,en;q=0.5").await;
    let nav = sidebar(&html);
    in_order(
        nav,
        &[
            "<details data-menu=\"com.example.menus/console\">",
            "菜单",
            "<small>Menus</small>",
            "<ul class=\"nav sub\">",
            "审计",
            "<details data-menu=\"com.example.menus/templates\">",
            "模板",
            "编辑模板",
            "</ul></details></li>",
            "About",
            "</ul></details></li>",
            "设置",
        ],
    );
    assert!(nav.contains("lang=\"zh_CN\">审计</span>"), "{nav}");
    assert!(nav.contains("lang=\"zh\">编辑模板</span>"), "{nav}");
    // nothing is current on the plugins page, so every group starts closed
    assert!(
        !nav.contains(" open") && !nav.contains("aria-current"),
        "{nav}"
    );

    // q-values decide: English first, so Templates (which has it) is in
    // English and the others fall back to the Chinese the user accepts too
    let (_, html) = page_in(&core, &ada, "/admin/plugins", "zh-CN;q=0.3, en-US").await;
    let nav = sidebar(&html);
    in_order(
        nav,
        &[
            "菜单",
            "审计",
            "lang=\"en\">Templates",
            "编辑模板",
            "About",
            "设置",
        ],
    );

    // English: the English titles; the top entry's title is the plugin's
    // name and shows once
    let (_, html) = page_in(&core, &ada, "/admin/plugins", "en").await;
    let nav = sidebar(&html);
    in_order(
        nav,
        &[
            "Menus</span></a>",
            "Audit",
            "Templates",
            "Edit templates",
            "About",
            "Settings</span><small>Menus</small>",
        ],
    );
    assert!(!nav.contains("菜单") && !nav.contains("lang=\"zh"), "{nav}");
    assert!(!nav.contains("Menus</span><small>Menus</small>"), "{nav}");
    // no Accept-Language at all: the plain titles
    let (_, plain) = page(&core, &ada, "/admin/plugins").await;
    assert!(sidebar(&plain).contains("Templates") && !plain.contains("模板"));

    // the entry page of a nested child: its title, the entry current, its ancestors open
    let (status, html) = page_in(
        &core,
        &ada,
        &format!("/admin/p/{MENUS}/templates/edit"),
        "zh-CN",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Menus · 编辑模板</h1>"), "{html}");
    let nav = sidebar(&html);
    assert!(
        nav.contains(&format!("{} aria-current=\"page\"", link("template-edit"))),
        "{nav}"
    );
    assert_eq!(nav.matches("aria-current").count(), 1, "{nav}");
    assert!(
        nav.contains("<details data-menu=\"com.example.menus/console\" open>"),
        "{nav}"
    );
    assert!(
        nav.contains("<details data-menu=\"com.example.menus/templates\" open>"),
        "{nav}"
    );
    assert_eq!(
        nav.matches("class=\"group has-active\"").count(),
        2,
        "{nav}"
    );
    // the top entry's own page: "Menus · Menus" would say it twice
    let (_, html) = page_in(&core, &ada, &format!("/admin/p/{MENUS}/"), "en").await;
    assert!(html.contains("<h1>Menus</h1>"), "{html}");
    // the detail page's button opens the first entry, titled in the user's language
    let (_, html) = page_in(&core, &ada, &format!("/admin/plugins/{MENUS}"), "zh-CN").await;
    assert!(
        html.contains(&format!(
            "href=\"/admin/p/{MENUS}/\" id=\"open-entry\">Open <span lang=\"zh-CN\">菜单</span>"
        )),
        "{html}"
    );

    // a menu path naming a folder of the static admin: its redirect to the
    // folder's `/` stays below the plugin's prefix (the frame would 404)
    let response = raw()
        .get(format!("{}/_p/{MENUS}/admin/templates/edit", core.url))
        .header("cookie", &ada)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let location = &response.headers()[reqwest::header::LOCATION];
    assert_eq!(location, &format!("/_p/{MENUS}/admin/templates/edit/"));

    // a reader of templates: no editor (the child alone goes, its parent stays), no audit
    let rita = login(&core, "rita", "rita-pass").await;
    let (_, html) = page_in(&core, &rita, "/admin/plugins", "en").await;
    let nav = sidebar(&html);
    in_order(nav, &["Menus</span>", "Templates", "About"]);
    assert!(
        !nav.contains("Edit templates") && !nav.contains(&link("audit")),
        "{nav}"
    );
    // Templates has no visible child left: a plain entry, not a group
    assert!(
        !nav.contains("<details data-menu=\"com.example.menus/templates\""),
        "{nav}"
    );
    // Settings needs a permission rita lacks
    assert!(!nav.contains(&link("settings")), "{nav}");
    for (path, missing) in [
        ("templates/edit", "menus:template:write"),
        ("audit", "menus:audit:read"),
        ("settings", "menus:settings:read"),
    ] {
        let (status, html) = page(&core, &rita, &format!("/admin/p/{MENUS}/{path}")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            html.contains(&format!("rita lacks the {missing} permission")),
            "{path}: {html}"
        );
    }
    let (status, html) = page_in(&core, &rita, &format!("/admin/p/{MENUS}/templates/"), "zh").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Menus · 模板</h1>"), "{html}");

    // only the settings: the parent's whole subtree is hidden (About needs
    // nothing itself) and refused, and the detail page opens the settings
    let sam = login(&core, "sam", "sam-pass").await;
    let (_, html) = page(&core, &sam, "/admin/plugins").await;
    let nav = sidebar(&html);
    assert!(nav.contains(&link("settings")), "{nav}");
    for hidden in ["console", "about", "templates", "audit"] {
        assert!(!nav.contains(&link(hidden)), "{hidden} shown: {nav}");
    }
    let (status, html) = page(&core, &sam, &format!("/admin/p/{MENUS}/about")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        html.contains("sam lacks the menus:read permission"),
        "{html}"
    );
    let (_, html) = page(&core, &sam, &format!("/admin/plugins/{MENUS}")).await;
    assert!(
        html.contains(&format!(
            "href=\"/admin/p/{MENUS}/settings\" id=\"open-entry\">Open <span>Settings</span>"
        )),
        "{html}"
    );

    // a viewer sees no plugin menu at all, and the detail page offers no
    // entry (its root is a menu the viewer may not see)
    let vic = login(&core, "vic", "vic-pass").await;
    let (_, html) = page(&core, &vic, "/admin/plugins").await;
    assert_eq!(sidebar(&html), "");
    let (status, html) = page(&core, &vic, &format!("/admin/plugins/{MENUS}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("open-entry"), "{html}");
    core.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_child_opens_in_chromium_at_phone_and_desktop_width() {
    let core = start().await;
    let (status, report) = core.install_dir(&menus_plugin(&core)).await;
    assert_eq!(status, 200, "{report:?}");
    let driver = Driver::start().await;
    for (width, height, name) in [(390, 844, "phone"), (1280, 860, "desktop")] {
        let b = driver.browser(width, height, false).await;
        b.login(&core.url, "ada", "ada-pass").await;
        open_the_editor(&b, name).await;
        b.close().await;
    }
    core.stop().await;
}

async fn open_the_editor(b: &Browser, name: &str) {
    let group = |menu: &str| format!("details[data-menu='{MENUS}/{menu}']");
    let editor = format!("#plugin-menus a[data-menu='{MENUS}/template-edit']");
    // closed <details> content keeps its boxes in Chromium (content-visibility: hidden)
    let shown = "const el = document.querySelector(arguments[0]); \
                 return !!el && el.checkVisibility();";
    // groups start closed: the editor is in the page but not shown
    assert!(b.exists(&editor).await);
    assert_eq!(
        b.js(shown, vec![json!(editor)]).await,
        json!(false),
        "{name}: editor shown while closed"
    );
    no_overflow(b, &format!("{name}: plugins page")).await;

    // the twisty opens a group (the summary's link would navigate)
    b.click(&format!("{} > summary > .twisty", group("console")))
        .await;
    b.click(&format!("{} > summary > .twisty", group("templates")))
        .await;
    b.until(
        &format!("{name}: the editor link to show"),
        shown,
        vec![json!(editor)],
    )
    .await;
    no_overflow(b, &format!("{name}: groups open")).await;
    b.screenshot(&format!("menus-open-{name}")).await;

    b.click(&editor).await;
    b.until(
        &format!("{name}: the editor's entry page"),
        "return location.pathname === '/admin/p/com.example.menus/templates/edit' \
         && document.readyState === 'complete';",
        vec![],
    )
    .await;
    b.until_text("h1", "Menus · Edit templates").await;
    // the page is the editor's, in the frame; the entry current, its groups open
    b.until(
        &format!("{name}: the editor in the frame"),
        "const f = document.getElementById('entry-frame'); const d = f && f.contentDocument; \
         const el = d && d.getElementById('answer'); \
         return !!el && el.textContent === 'the template editor';",
        vec![],
    )
    .await;
    let state = b
        .js(
            "const q = (s) => document.querySelector(s); \
             return [q(arguments[0]).getAttribute('aria-current'), q(arguments[1]).open, q(arguments[2]).open];",
            vec![json!(editor), json!(group("console")), json!(group("templates"))],
        )
        .await;
    assert_eq!(state, json!(["page", true, true]), "{name}");
    assert_eq!(
        b.js(shown, vec![json!(editor)]).await,
        json!(true),
        "{name}"
    );
    no_overflow(b, &format!("{name}: entry page")).await;
    b.screenshot(&format!("menus-entry-{name}")).await;
}

/// The page is no wider than the window.
async fn no_overflow(b: &Browser, what: &str) {
    let widths = b
        .js(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await;
    let (scroll, inner) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
    assert!(
        scroll <= inner,
        "{what}: the page is {scroll} px wide in a {inner} px window"
    );
}
