//! Advisory locks and change notifications: real on PostgreSQL, free and
//! silent on SQLite (one Core owns it).

use std::time::{Duration, Instant};

use px_core::Store;
use px_core::store::cluster::{ChangeAction, ChangeFeed, FeedItem, PluginChange};

use crate::Db;

async fn eventually_locks(store: &Store, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.try_lock_plugin(id).await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "lock of {id} was never released");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn plugin_locks(db: &Db) {
    let core_a = &db.store;
    let core_b = Store::connect(&db.url).await.unwrap();
    let held = core_a.lock_plugin("com.a.one").await.unwrap();
    let other = core_b.try_lock_plugin("com.a.one").await.unwrap();
    if db.pg.is_none() {
        assert!(other.is_some(), "SQLite: one Core, no cluster lock");
        return;
    }
    assert!(other.is_none(), "held by the other Core");
    assert!(
        core_b.try_lock_plugin("com.a.two").await.unwrap().is_some(),
        "per plugin"
    );

    let waiter = tokio::spawn(async move {
        let start = Instant::now();
        let lock = core_b.lock_plugin("com.a.one").await.unwrap();
        (start.elapsed(), lock, core_b)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "waits while the other Core holds it");
    drop(held);
    let (waited, lock, core_b) = waiter.await.unwrap();
    assert!(waited >= Duration::from_millis(280), "{waited:?}");
    assert!(core_a.try_lock_plugin("com.a.one").await.unwrap().is_none());
    drop(lock);
    eventually_locks(core_a, "com.a.one").await;

    // a Core that goes away releases its locks with its connections
    let _lost = core_b.lock_plugin("com.a.three").await.unwrap();
    assert!(
        core_a
            .try_lock_plugin("com.a.three")
            .await
            .unwrap()
            .is_none()
    );
    db.pg.as_ref().unwrap().terminate_connections().await;
    eventually_locks(core_a, "com.a.three").await;
}

async fn next(feed: &mut ChangeFeed) -> FeedItem {
    tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .expect("the feed said nothing within 10 s")
}

pub async fn change_feed(db: &Db) {
    let change = PluginChange {
        plugin_id: "com.a.one".into(),
        origin: "core-a".into(),
        action: ChangeAction::Install,
    };
    let Some(mut feed) = db.store.plugin_changes() else {
        assert!(db.pg.is_none(), "PostgreSQL has a feed");
        db.store.notify_plugin_changed(&change).await.unwrap();
        return;
    };
    assert_eq!(
        next(&mut feed).await,
        FeedItem::Resync,
        "connecting means resync"
    );
    let other = Store::connect(&db.url).await.unwrap();
    let sent = Instant::now();
    other.notify_plugin_changed(&change).await.unwrap();
    assert_eq!(next(&mut feed).await, FeedItem::Changed(change.clone()));
    let latency = sent.elapsed();
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    eprintln!("notification latency: {latency:?}");

    // the server drops every connection: the feed comes back and says so
    db.pg.as_ref().unwrap().terminate_connections().await;
    assert_eq!(next(&mut feed).await, FeedItem::Resync);
    other.notify_plugin_changed(&change).await.unwrap();
    assert_eq!(next(&mut feed).await, FeedItem::Changed(change));
}
