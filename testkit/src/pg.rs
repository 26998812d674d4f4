//! A PostgreSQL database of its own per test, on the server named by
//! `TEST_DATABASE_URL` (the test command starts a throwaway cluster and sets
//! it). Without that variable a PostgreSQL test fails, so it can never pass
//! without having run — unless `SKIP_POSTGRES_TESTS=1` says to skip, which
//! the test then reports by name.

use sqlx::{Connection, PgConnection};
use url::Url;

/// A database created for one test; [`TestDb::drop_database`] removes it.
#[derive(Debug)]
pub struct TestDb {
    admin_url: String,
    /// The database's name (`t_<random>`).
    pub name: String,
    /// `postgres://…/<name>`, for `DATABASE_URL`.
    pub url: String,
}

impl TestDb {
    /// A fresh database, or `None` when `SKIP_POSTGRES_TESTS=1` and there is
    /// no server (the skip is printed with `test`'s name).
    ///
    /// # Panics
    /// `TEST_DATABASE_URL` is unset (and skipping was not asked for), or the
    /// server refuses the database.
    pub async fn create(test: &str) -> Option<Self> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            if std::env::var("SKIP_POSTGRES_TESTS").is_ok_and(|v| v == "1") {
                crate::notice(&format!(
                    "skipped: {test} (SKIP_POSTGRES_TESTS=1, no TEST_DATABASE_URL)"
                ));
                return None;
            }
            panic!(
                "{test} needs PostgreSQL: set TEST_DATABASE_URL (scripts/test.sh starts a \
                 throwaway server), or SKIP_POSTGRES_TESTS=1 to skip it"
            );
        };
        let name = format!("t_{:016x}", rand::random::<u64>());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("connect to TEST_DATABASE_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        admin.close().await.ok();
        let mut url = Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        Some(Self {
            admin_url,
            name,
            url: url.into(),
        })
    }

    /// A connection to the server's maintenance database.
    ///
    /// # Panics
    /// The server does not answer.
    pub async fn admin(&self) -> PgConnection {
        PgConnection::connect(&self.admin_url)
            .await
            .expect("connect to TEST_DATABASE_URL")
    }

    /// Connections to this database matching a `pg_stat_activity` condition.
    ///
    /// # Panics
    /// The query fails.
    pub async fn count_connections(&self, admin: &mut PgConnection, condition: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND {condition}"
        )))
        .bind(&self.name)
        .fetch_one(admin)
        .await
        .expect("pg_stat_activity answers")
    }

    /// Drops the database, ending any connection still open to it.
    ///
    /// # Panics
    /// The server refuses.
    pub async fn drop_database(self) {
        let mut admin = self.admin().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await
        .expect("drop the test database");
    }
}
