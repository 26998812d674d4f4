//! The single-machine store: SQLite in WAL mode through sqlx, with the
//! migrations in `backend/migrations/sqlite` embedded in the binary.
//!
//! One process per database file ([`ProcessLock`] makes sure of it at
//! start-up): the refresh guard here is optimistic (the write applies only if
//! the row still holds the generation that was read), which keeps a logout
//! during a refresh from bringing the session back. The in-process single
//! flight in `crate::tokens` keeps refreshes to one per session;
//! cross-process locking is the PostgreSQL store's job.

use super::StoreError;
use super::seal::Sealer;
use super::sql::{Dialect, LeaseSql, SqlStore};
use sqlx::Sqlite;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub type SqliteStore = SqlStore<Sqlite>;

impl Dialect for Sqlite {
    const LEASE: Option<LeaseSql> = None;
    const TOUCH: &'static str = "UPDATE sessions SET last_seen_at = $1 WHERE session_key = $2";

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }
}

/// The connect options for `url`, and the database file they name.
fn options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5)))
}

/// The database file `url` names.
///
/// # Errors
/// The URL does not parse.
pub fn database_file(url: &str) -> Result<PathBuf, StoreError> {
    Ok(options(url)?.get_filename().to_path_buf())
}

impl SqlStore<Sqlite> {
    /// Opens (creating the file and its folder if missing) and migrates.
    ///
    /// # Errors
    /// The database cannot be opened or migrated.
    pub async fn connect(url: &str, sealer: Arc<Sealer>) -> Result<Self, StoreError> {
        let options = options(url)?;
        create_parent(options.get_filename())?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self::new(pool, sealer))
    }
}

fn create_parent(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
    }
    Ok(())
}

/// An exclusive lock on `<database>.lock`, held for the life of the process
/// that opened the store: the optimistic refresh above is only sound with one
/// process per file, so a second one refuses to start instead of sharing it.
/// The operating system drops the lock when the process ends, however it
/// ends, so a crash never leaves the file locked.
#[derive(Debug)]
pub struct ProcessLock {
    _file: std::fs::File,
}

impl ProcessLock {
    /// Takes the lock for the database file `url` names, without waiting.
    ///
    /// # Errors
    /// [`StoreError::InUse`] when another process holds it; the lock file
    /// cannot be created.
    pub fn acquire(url: &str) -> Result<Self, StoreError> {
        let database = database_file(url)?;
        create_parent(&database)?;
        let mut name = database.into_os_string();
        name.push(".lock");
        let path = PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse(path)),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Database(sqlx::Error::Io(e))),
        }
    }
}
