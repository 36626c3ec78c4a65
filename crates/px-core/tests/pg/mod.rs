//! A fresh PostgreSQL database per test, created in the server that
//! `PX_TEST_DATABASE_URL` points to (`scripts/with-postgres` starts a
//! throwaway one and sets it). Without that variable these tests fail: run
//! them as `scripts/with-postgres cargo test -p px-core`.

#![allow(dead_code)]

use sqlx::{Connection, Executor, PgConnection};

/// The server URL the tests use; panics with directions when unset.
pub fn server_url() -> String {
    match std::env::var("PX_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "PX_TEST_DATABASE_URL is not set: these tests need PostgreSQL. Run them through \
             `scripts/with-postgres cargo test -p px-core` (it starts a throwaway cluster), \
             or point PX_TEST_DATABASE_URL at a server where you may CREATE DATABASE{}",
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                " (CI=true)"
            } else {
                ""
            }
        ),
    }
}

/// One database of its own, dropped by [`TestDb::drop_db`].
#[derive(Debug)]
pub struct TestDb {
    /// URL of the fresh database.
    pub url: String,
    /// Its name.
    pub name: String,
}

impl TestDb {
    /// `CREATE DATABASE px_test_<random>`.
    pub async fn create() -> TestDb {
        let server = server_url();
        let name = format!("px_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to PX_TEST_DATABASE_URL: {e}"));
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        let _ = admin.close().await;
        let mut url = reqwest::Url::parse(&server).unwrap();
        url.set_path(&format!("/{name}"));
        TestDb {
            url: url.to_string(),
            name,
        }
    }

    /// Kills every connection to this database (as a server restart or a
    /// network cut would); returns how many.
    pub async fn terminate_connections(&self) -> i64 {
        let mut admin = PgConnection::connect(&server_url()).await.unwrap();
        let (killed,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()) AS killed",
        )
        .bind(&self.name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
        let _ = admin.close().await;
        killed
    }

    /// Open connections to this database.
    pub async fn connections(&self) -> i64 {
        let mut admin = PgConnection::connect(&server_url()).await.unwrap();
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1")
                .bind(&self.name)
                .fetch_one(&mut admin)
                .await
                .unwrap();
        let _ = admin.close().await;
        n
    }

    /// `DROP DATABASE … WITH (FORCE)`.
    pub async fn drop_db(self) {
        let mut admin = PgConnection::connect(&server_url()).await.unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .await
            .unwrap();
        let _ = admin.close().await;
    }
}
