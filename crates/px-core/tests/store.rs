//! The store test suite, run against SQLite and PostgreSQL alike: every case
//! in `store_cases` runs once per backend, each on a database of its own (a
//! temporary SQLite file, or a fresh PostgreSQL database; see `pg`).

mod pg;
mod store_cases;

use px_core::Store;

/// One store under test and what it takes to clean it up.
#[derive(Debug)]
pub struct Db {
    pub store: Store,
    pub url: String,
    pub pg: Option<pg::TestDb>,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    async fn sqlite() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        Db {
            store: Store::connect(&url).await.unwrap(),
            url,
            pg: None,
            _dir: Some(dir),
        }
    }

    async fn postgres() -> Db {
        let db = pg::TestDb::create().await;
        Db {
            store: Store::connect(&db.url).await.unwrap(),
            url: db.url.clone(),
            pg: Some(db),
            _dir: None,
        }
    }

    /// Runs raw SQL on the same database (to fake the passing of time).
    pub async fn exec(&self, sql: &str) {
        let pool = sqlx::AnyPool::connect(&self.url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }

    async fn finish(self) {
        self.store.close().await;
        if let Some(pg) = self.pg {
            pg.drop_db().await;
        }
    }
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = super::Db::sqlite().await;
                    super::store_cases::$case(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = super::Db::postgres().await;
                    super::store_cases::$case(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

on_both_backends!(
    migrations_are_idempotent,
    users,
    passwords,
    user_tokens,
    plugin_tokens,
    core_plugin_tokens,
    sessions,
    audit_filters_and_pages,
    audit_prune,
    plugins,
    delete_plugin_is_all_or_nothing,
    revisions,
    unfinished_revisions,
    bundles,
    plugin_locks,
    change_feed,
);

/// The pool notices connections the server dropped and opens new ones.
#[tokio::test]
async fn postgres_reconnects_after_connections_are_killed() {
    let db = Db::postgres().await;
    let store = &db.store;
    store.add_user("before", "viewer", None).await.unwrap();
    let pg = db.pg.as_ref().unwrap();
    assert!(pg.terminate_connections().await >= 1);
    store.add_user("after", "viewer", None).await.unwrap();
    assert_eq!(store.user_count().await.unwrap(), 2);
    for _ in 0..3 {
        pg.terminate_connections().await;
        assert_eq!(store.users().await.unwrap().len(), 2);
    }
    db.finish().await;
}

/// Nothing listens: the error says where Core tried, not the password.
#[tokio::test]
async fn postgres_unreachable_at_start_is_a_clear_error() {
    let port = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    let url = format!("postgres://px:hunter2secret@127.0.0.1:{port}/powerx");
    let options = px_core::store::StoreOptions {
        acquire_timeout: std::time::Duration::from_millis(700),
        ..Default::default()
    };
    let start = std::time::Instant::now();
    let error = Store::connect_with(&url, &options).await.unwrap_err();
    let text = format!("{error:#}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("\"powerx\""), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    eprintln!("{text}");
}

/// A wrong password is refused at once, and still says where.
#[tokio::test]
async fn postgres_wrong_password_is_a_clear_error() {
    let mut url = reqwest::Url::parse(&pg::server_url()).unwrap();
    url.set_password(Some("not-the-password")).unwrap();
    let error = Store::connect(url.as_str()).await.unwrap_err();
    let text = format!("{error:#}");
    assert!(
        text.contains(&format!(
            "{}:{}",
            url.host_str().unwrap(),
            url.port().unwrap()
        )),
        "{text}"
    );
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");
}
