//! Store cases shared by both backends: users, tokens, sessions, audit here;
//! plugins, revisions and bundles in `plugins`; locks and notifications in `cluster`.

mod cluster;
mod plugins;

pub use cluster::*;
pub use plugins::*;

use px_core::Store;
use px_core::store::audit::{AuditAction, AuditEntry, AuditFilter, AuditResult};
use px_core::store::tokens::{TOKEN_PREFIX, TokenOwner};

use super::Db;

pub async fn migrations_are_idempotent(db: &Db) {
    db.store.add_user("kept", "viewer", None).await.unwrap();
    // connecting again (another Core, a `powerx users` run) applies nothing twice
    let again = Store::connect(&db.url).await.unwrap();
    assert_eq!(again.user_count().await.unwrap(), 1);
    // several at once take turns on the migrations
    let racers = (0..4).map(|_| Store::connect(&db.url));
    for store in futures_util::future::join_all(racers).await {
        assert!(store.unwrap().user_by_name("kept").await.unwrap().is_some());
    }
}

pub async fn users(db: &Db) {
    let store = &db.store;
    assert_eq!(store.user_count().await.unwrap(), 0);
    let bob = store.add_user("bob", "developer", None).await.unwrap();
    let ann = store.add_user("ann", "viewer", None).await.unwrap();
    assert!(bob.created_at > 0);
    assert_eq!(store.user_count().await.unwrap(), 2);
    assert_eq!(store.user_by_name("bob").await.unwrap(), Some(bob.clone()));
    assert_eq!(store.user_by_name("nobody").await.unwrap(), None);
    let names: Vec<String> = store
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["ann", "bob"]);
    let taken = store.add_user("bob", "admin", None).await.unwrap_err();
    assert!(format!("{taken:#}").contains("bob"), "{taken:#}");

    let token = store.create_user_token("bob", "laptop").await.unwrap();
    assert!(store.remove_user("bob").await.unwrap());
    assert!(!store.remove_user("bob").await.unwrap());
    assert_eq!(store.authenticate_token(&token).await.unwrap(), None);
    assert_eq!(store.users().await.unwrap(), vec![ann]);
}

pub async fn passwords(db: &Db) {
    let store = &db.store;
    store
        .add_user("alice", "admin", Some("s3cret pass"))
        .await
        .unwrap();
    store.add_user("nopass", "admin", None).await.unwrap();
    let alice = store.verify_password("alice", "s3cret pass").await.unwrap();
    assert_eq!(alice.map(|u| u.role), Some("admin".to_owned()));
    assert_eq!(store.verify_password("alice", "wrong").await.unwrap(), None);
    assert_eq!(store.verify_password("nobody", "x").await.unwrap(), None);
    assert_eq!(store.verify_password("nopass", "").await.unwrap(), None);
}

pub async fn user_tokens(db: &Db) {
    let store = &db.store;
    store.add_user("dev", "developer", None).await.unwrap();
    assert!(store.create_user_token("ghost", "x").await.is_err());
    let secret = store.create_user_token("dev", "ci").await.unwrap();
    assert!(secret.starts_with(TOKEN_PREFIX));
    let owner = store.authenticate_token(&secret).await.unwrap();
    let expected = TokenOwner::User {
        name: "dev".into(),
        role: "developer".into(),
    };
    assert_eq!(owner, Some(expected));
    assert_eq!(store.authenticate_token("pxt_unknown").await.unwrap(), None);
    assert_eq!(store.authenticate_token("no-prefix").await.unwrap(), None);

    let listed = store.tokens(Some("dev")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].owner.as_str()),
        ("ci", "dev")
    );
    assert!(
        listed[0].last_used_at.is_some(),
        "authenticating records the use"
    );
    assert!(store.tokens(Some("someone")).await.unwrap().is_empty());

    assert!(store.revoke_token(&listed[0].id).await.unwrap());
    assert!(!store.revoke_token(&listed[0].id).await.unwrap());
    assert_eq!(store.authenticate_token(&secret).await.unwrap(), None);
    assert!(store.tokens(None).await.unwrap()[0].revoked_at.is_some());
}

pub async fn plugin_tokens(db: &Db) {
    let store = &db.store;
    let first = store.rotate_plugin_token("com.acme.a").await.unwrap();
    let second = store.rotate_plugin_token("com.acme.a").await.unwrap();
    assert_eq!(store.authenticate_token(&first).await.unwrap(), None);
    let owner = TokenOwner::Plugin {
        plugin_id: "com.acme.a".into(),
    };
    assert_eq!(
        store.authenticate_token(&second).await.unwrap(),
        Some(owner)
    );
    let all = store.tokens(None).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].owner, "plugin:com.acme.a");
    store.delete_plugin_token("com.acme.a").await.unwrap();
    assert_eq!(store.authenticate_token(&second).await.unwrap(), None);
}

pub async fn core_plugin_tokens(db: &Db) {
    // every Core of a shared database holds its own token for a plugin
    let store = &db.store;
    let a1 = store
        .rotate_core_plugin_token("com.acme.a", "core-a")
        .await
        .unwrap();
    let b = store
        .rotate_core_plugin_token("com.acme.a", "core-b")
        .await
        .unwrap();
    let a2 = store
        .rotate_core_plugin_token("com.acme.a", "core-a")
        .await
        .unwrap();
    assert_eq!(
        store.authenticate_token(&a1).await.unwrap(),
        None,
        "rotated"
    );
    assert!(store.authenticate_token(&a2).await.unwrap().is_some());
    assert!(store.authenticate_token(&b).await.unwrap().is_some());
    store.delete_plugin_token("com.acme.a").await.unwrap();
    assert_eq!(store.authenticate_token(&b).await.unwrap(), None);
}

pub async fn sessions(db: &Db) {
    let store = &db.store;
    store.add_user("ann", "viewer", None).await.unwrap();
    assert!(store.create_session("ghost").await.is_err());
    let (secret, csrf) = store.create_session("ann").await.unwrap();
    let session = store.session(&secret).await.unwrap().unwrap();
    assert_eq!(
        (session.user.as_str(), session.role.as_str()),
        ("ann", "viewer")
    );
    assert_eq!(session.csrf, csrf);
    assert_eq!(store.session("pxt_nope").await.unwrap(), None);
    assert_eq!(store.prune_sessions().await.unwrap(), 0);

    let (old, _) = store.create_session("ann").await.unwrap();
    store.delete_session(&secret).await.unwrap();
    assert_eq!(store.session(&secret).await.unwrap(), None);
    db.exec("UPDATE sessions SET expires_at = 1").await;
    assert_eq!(store.session(&old).await.unwrap(), None, "expired");
    assert_eq!(store.prune_sessions().await.unwrap(), 1);
}

fn entry(
    at: i64,
    actor: &str,
    action: AuditAction,
    plugin: Option<&str>,
    result: AuditResult,
) -> AuditEntry {
    AuditEntry {
        at,
        plugin_id: plugin.map(Into::into),
        version: Some("1.0.0".into()),
        revision: Some(3),
        install_id: Some("inst".into()),
        reason: None,
        remote_addr: Some("127.0.0.1".into()),
        ..AuditEntry::new(actor, action, result)
    }
}

pub async fn audit_filters_and_pages(db: &Db) {
    let store = &db.store;
    use AuditAction as A;
    use AuditResult as R;
    let rows = [
        entry(1_000, "alice", A::Install, Some("com.a.x"), R::Success),
        entry(2_000, "bob", A::Reload, Some("com.a.x"), R::Failure),
        entry(3_000, "alice", A::Login, None, R::Success),
        entry(4_000, "eve", A::Denied, Some("com.a.y"), R::Denied),
    ];
    for row in rows.clone() {
        store.audit_insert(row).await.unwrap();
    }
    let filter = |f: AuditFilter| AuditFilter { limit: 100, ..f };
    let actions = |rows: Vec<AuditEntry>| {
        rows.into_iter()
            .map(|r| r.action.as_str())
            .collect::<Vec<_>>()
    };
    let all = store.audit(&filter(AuditFilter::default())).await.unwrap();
    assert_eq!(
        actions(all.clone()),
        ["denied", "login", "reload", "install"]
    );
    let stored = AuditEntry {
        id: all[3].id.clone(),
        ..rows[0].clone()
    };
    assert_eq!(all[3], stored, "every field round-trips");
    let by = |f| async { actions(store.audit(&filter(f)).await.unwrap()) };
    let plugin = AuditFilter {
        plugin_id: Some("com.a.x".into()),
        ..AuditFilter::default()
    };
    assert_eq!(by(plugin).await, ["reload", "install"]);
    let actor = AuditFilter {
        actor: Some("alice".into()),
        ..AuditFilter::default()
    };
    assert_eq!(by(actor).await, ["login", "install"]);
    let action = AuditFilter {
        action: Some(A::Denied),
        result: Some(R::Denied),
        ..AuditFilter::default()
    };
    assert_eq!(by(action).await, ["denied"]);
    let window = AuditFilter {
        since: Some(2_000),
        until: Some(4_000),
        ..AuditFilter::default()
    };
    assert_eq!(by(window).await, ["login", "reload"]);
    let page = AuditFilter {
        limit: 2,
        offset: 1,
        ..AuditFilter::default()
    };
    assert_eq!(
        actions(store.audit(&page).await.unwrap()),
        ["login", "reload"]
    );

    // the same text in the database as before the enums: old rows read back
    db.exec(
        "INSERT INTO audit (id, at, actor, action, result) \
         VALUES ('old', 5000, 'ops', 'token_create', 'success')",
    )
    .await;
    let newest = &store.audit(&filter(AuditFilter::default())).await.unwrap()[0];
    assert_eq!((newest.action, newest.result), (A::TokenCreate, R::Success));
    // a text this Core does not know is an error that names it
    db.exec("INSERT INTO audit (id, at, actor, action, result) VALUES ('new', 6000, 'x', 'teleport', 'success')")
        .await;
    let error = store
        .audit(&filter(AuditFilter::default()))
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("unknown audit action \"teleport\""),
        "{error:#}"
    );
}

pub async fn audit_prune(db: &Db) {
    let store = &db.store;
    for at in [10, 20, 30] {
        store
            .audit_insert(entry(
                at,
                "a",
                AuditAction::Install,
                None,
                AuditResult::Success,
            ))
            .await
            .unwrap();
    }
    store
        .audit_insert(entry(
            0,
            "a",
            AuditAction::Login,
            None,
            AuditResult::Success,
        ))
        .await
        .unwrap();
    assert_eq!(store.audit_prune(25).await.unwrap(), 2);
    let left = store
        .audit(&AuditFilter {
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(left.len(), 2);
    assert!(left[0].at > 1_000_000, "at 0 means now");
}
