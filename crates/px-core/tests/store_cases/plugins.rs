//! Plugins, revisions and their bundles.

use px_api::{InstallStatus, Phase, PhaseReport, Reason, ReasonCode};
use px_core::store::plugins::{PluginKind, RevisionRow, RevisionStatus};

use crate::Db;

fn revision(plugin: &str, n: u64) -> RevisionRow {
    RevisionRow {
        plugin_id: plugin.into(),
        revision: n,
        install_id: format!("install-{n}"),
        version: format!("1.0.{n}"),
        digest: format!("sha256:{n:064}"),
        status: RevisionStatus::Installing,
        reason: None,
        phases: vec![PhaseReport {
            name: Phase::Receive,
            ms: 3,
            ok: true,
        }],
        duration_ms: 0,
        created_at: 1_700_000_000_000 + n as i64,
    }
}

fn reason(code: ReasonCode) -> Reason {
    Reason {
        code,
        message: "it broke".into(),
        log_tail: vec!["Traceback".into()],
        details: Vec::new(),
    }
}

pub async fn plugins(db: &Db) {
    let store = &db.store;
    assert!(store.plugins().await.unwrap().is_empty());
    store
        .upsert_plugin("com.b.two", "Two", PluginKind::Static)
        .await
        .unwrap();
    store
        .upsert_plugin("com.a.one", "One", PluginKind::Process)
        .await
        .unwrap();
    store
        .upsert_plugin("com.a.one", "One again", PluginKind::Process)
        .await
        .unwrap();
    let ids: Vec<String> = store
        .plugins()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, ["com.a.one", "com.b.two"]);
    let one = store.plugin("com.a.one").await.unwrap().unwrap();
    assert_eq!(
        (one.name.as_str(), one.kind),
        ("One again", PluginKind::Process)
    );
    assert_eq!(
        (one.stable_revision, one.last_reason, one.last_install_at),
        (None, None, None)
    );

    store
        .set_stable_revision("com.a.one", Some(7))
        .await
        .unwrap();
    let failed = reason(ReasonCode::HealthTimeout);
    store
        .record_outcome("com.a.one", Some(&failed), Some(1234))
        .await
        .unwrap();
    let one = store.plugin("com.a.one").await.unwrap().unwrap();
    assert_eq!(one.stable_revision, Some(7));
    assert_eq!(one.last_reason, Some(failed));
    assert_eq!(one.last_install_ms, Some(1234));
    let at = one.last_install_at.unwrap();
    // a run outcome without timing keeps the last install's time
    store.record_outcome("com.a.one", None, None).await.unwrap();
    let one = store.plugin("com.a.one").await.unwrap().unwrap();
    assert_eq!(
        (one.last_reason, one.last_install_at, one.last_install_ms),
        (None, Some(at), Some(1234))
    );
    store.set_stable_revision("com.a.one", None).await.unwrap();
    assert_eq!(
        store
            .plugin("com.a.one")
            .await
            .unwrap()
            .unwrap()
            .stable_revision,
        None
    );

    store
        .insert_revision(&revision("com.a.one", 1))
        .await
        .unwrap();
    assert!(store.delete_plugin("com.a.one").await.unwrap());
    assert!(!store.delete_plugin("com.a.one").await.unwrap());
    assert_eq!(store.plugin("com.a.one").await.unwrap(), None);
    assert!(store.revisions("com.a.one").await.unwrap().is_empty());
}

pub async fn revisions(db: &Db) {
    let store = &db.store;
    let id = "com.a.one";
    store
        .upsert_plugin(id, "One", PluginKind::Process)
        .await
        .unwrap();
    assert_eq!(store.next_revision(id).await.unwrap(), 1);
    for n in 1..=3 {
        store.insert_revision(&revision(id, n)).await.unwrap();
    }
    assert_eq!(store.next_revision(id).await.unwrap(), 4);
    assert!(
        store.insert_revision(&revision(id, 2)).await.is_err(),
        "numbers are unique"
    );
    assert_eq!(store.revision(id, 2).await.unwrap(), Some(revision(id, 2)));
    assert_eq!(store.revision(id, 9).await.unwrap(), None);
    assert_eq!(
        store.revision(id, 2).await.unwrap().unwrap().info(),
        None,
        "still installing"
    );

    let phases = [
        PhaseReport {
            name: Phase::Receive,
            ms: 3,
            ok: true,
        },
        PhaseReport {
            name: Phase::Health,
            ms: 40,
            ok: false,
        },
    ];
    let failed = reason(ReasonCode::HealthFailed);
    store
        .finish_revision(id, 2, InstallStatus::RolledBack, Some(&failed), &phases, 77)
        .await
        .unwrap();
    store
        .finish_revision(id, 3, InstallStatus::Active, None, &phases[..1], 12)
        .await
        .unwrap();
    let listed = store.revisions(id).await.unwrap();
    let numbers: Vec<u64> = listed.iter().map(|r| r.revision).collect();
    assert_eq!(numbers, [3, 2, 1], "newest first");
    let two = listed[1].info().unwrap();
    assert_eq!(two.status, InstallStatus::RolledBack);
    assert_eq!(
        (two.reason, two.phases.as_slice(), two.duration_ms),
        (Some(failed), &phases[..], 77)
    );
    assert_eq!(listed[0].info().unwrap().status, InstallStatus::Active);

    store.delete_revision(id, 1).await.unwrap();
    assert_eq!(store.revision(id, 1).await.unwrap(), None);
    assert_eq!(store.next_revision(id).await.unwrap(), 4);
    assert_eq!(store.next_revision("com.other").await.unwrap(), 1);
}

pub async fn unfinished_revisions(db: &Db) {
    let store = &db.store;
    for id in ["com.b.two", "com.a.one"] {
        store
            .upsert_plugin(id, "x", PluginKind::Process)
            .await
            .unwrap();
        store.insert_revision(&revision(id, 1)).await.unwrap();
        store.insert_revision(&revision(id, 2)).await.unwrap();
        store
            .finish_revision(id, 1, InstallStatus::Active, None, &[], 1)
            .await
            .unwrap();
    }
    let open: Vec<(String, u64)> = store
        .unfinished_revisions()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.plugin_id, r.revision))
        .collect();
    assert_eq!(
        open,
        [("com.a.one".to_owned(), 2), ("com.b.two".to_owned(), 2)]
    );
}

pub async fn bundles(db: &Db) {
    let store = &db.store;
    let id = "com.a.one";
    store
        .upsert_plugin(id, "One", PluginKind::Process)
        .await
        .unwrap();
    for n in 1..=2 {
        store.insert_revision(&revision(id, n)).await.unwrap();
    }
    assert_eq!(store.bundle(id, 1).await.unwrap(), None);
    // every byte value survives, including NUL and invalid UTF-8
    let bytes: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    store.put_bundle(id, 1, "sha256:one", &bytes).await.unwrap();
    store.put_bundle(id, 2, "sha256:two", b"old").await.unwrap();
    store
        .put_bundle(id, 2, "sha256:two-again", b"new")
        .await
        .unwrap();
    assert_eq!(
        store.bundle(id, 1).await.unwrap(),
        Some(("sha256:one".into(), bytes))
    );
    assert_eq!(
        store.bundle(id, 2).await.unwrap(),
        Some(("sha256:two-again".into(), b"new".to_vec()))
    );
    assert!(
        store.put_bundle(id, 9, "x", b"x").await.is_err(),
        "only for known revisions"
    );
    // bundles go with their revision, and with their plugin
    store.delete_revision(id, 1).await.unwrap();
    assert_eq!(store.bundle(id, 1).await.unwrap(), None);
    store.delete_plugin(id).await.unwrap();
    assert_eq!(store.bundle(id, 2).await.unwrap(), None);
}

pub async fn delete_plugin_is_all_or_nothing(db: &Db) {
    let store = &db.store;
    for id in ["com.a.kept", "com.a.gone"] {
        store
            .upsert_plugin(id, "x", PluginKind::Process)
            .await
            .unwrap();
        for n in 1..=2 {
            store.insert_revision(&revision(id, n)).await.unwrap();
        }
        store
            .put_bundle(id, 1, "sha256:one", b"bytes")
            .await
            .unwrap();
    }
    // the plugin row refuses to go: its revisions, deleted first, must stay
    let refuse = if db.pg.is_some() {
        "CREATE FUNCTION px_test_refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'refused'; END $$; \
         CREATE TRIGGER refuse BEFORE DELETE ON plugins FOR EACH ROW \
         WHEN (OLD.id = 'com.a.kept') EXECUTE FUNCTION px_test_refuse();"
    } else {
        "CREATE TRIGGER refuse BEFORE DELETE ON plugins WHEN OLD.id = 'com.a.kept' \
         BEGIN SELECT RAISE(ABORT, 'refused'); END;"
    };
    db.exec(refuse).await;
    let error = store.delete_plugin("com.a.kept").await.unwrap_err();
    assert!(format!("{error:#}").contains("refused"), "{error:#}");
    assert!(store.plugin("com.a.kept").await.unwrap().is_some());
    assert_eq!(store.revisions("com.a.kept").await.unwrap().len(), 2);
    assert!(store.bundle("com.a.kept", 1).await.unwrap().is_some());

    // otherwise nothing of it is left, and nothing of the others goes
    assert!(store.delete_plugin("com.a.gone").await.unwrap());
    assert_eq!(store.plugin("com.a.gone").await.unwrap(), None);
    assert!(store.revisions("com.a.gone").await.unwrap().is_empty());
    assert_eq!(store.bundle("com.a.gone", 1).await.unwrap(), None);
    assert_eq!(store.revisions("com.a.kept").await.unwrap().len(), 2);
}
