//! Scratch databases for tests (this crate's and the black-box suites'): a fresh SQLite file,
//! or a fresh Postgres database made from `WEIR_TEST_POSTGRES_URL` and dropped afterwards.

use crate::Store;

/// The environment variable naming the Postgres server tests may use.
pub const POSTGRES_ENV: &str = "WEIR_TEST_POSTGRES_URL";
/// Set (to anything) where skipping a Postgres test is a failure: CI sets it.
pub const REQUIRE_POSTGRES_ENV: &str = "WEIR_REQUIRE_POSTGRES";

/// Set where a Postgres without the pgvector extension is a failure: CI sets it.
pub const REQUIRE_PGVECTOR_ENV: &str = "WEIR_REQUIRE_PGVECTOR";

/// Whether Postgres tests can run. When they cannot, `test` says so loudly on stderr, and
/// panics if [`REQUIRE_POSTGRES_ENV`] is set (a skip there would hide a failure).
pub fn postgres_available(test: &str) -> bool {
    if std::env::var(POSTGRES_ENV).is_ok_and(|u| !u.is_empty()) {
        return true;
    }
    let line = format!("SKIPPED: {test} needs PostgreSQL; set {POSTGRES_ENV} to run it");
    if std::env::var_os(REQUIRE_POSTGRES_ENV).is_some() {
        panic!("{line} ({REQUIRE_POSTGRES_ENV} is set, so a skip is a failure)");
    }
    eprintln!("\n*** {line} ***\n");
    false
}

/// A throwaway database with a migrated [`Store`] on it.
pub struct ScratchDb {
    /// The migrated store.
    pub store: Store,
    /// Its URL (give it to a server under test).
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(#[allow(dead_code)] tempfile_dir::TempDir),
    Postgres { admin_url: String, name: String },
}

mod tempfile_dir {
    /// A directory removed on drop.
    pub struct TempDir(pub std::path::PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl ScratchDb {
    /// A fresh SQLite file in a temporary directory.
    pub async fn sqlite() -> ScratchDb {
        let dir = std::env::temp_dir().join(format!("weir-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}", dir.join("weir.db").display());
        let store = Store::open(&url).await.expect("sqlite scratch store");
        ScratchDb {
            store,
            url,
            cleanup: Cleanup::Dir(tempfile_dir::TempDir(dir)),
        }
    }

    /// A fresh Postgres database, if `WEIR_TEST_POSTGRES_URL` is set (see
    /// [`postgres_available`] for what happens when it is not).
    pub async fn postgres_from_env() -> Option<ScratchDb> {
        if !postgres_available("a Postgres store test") {
            return None;
        }
        let admin_url = std::env::var(POSTGRES_ENV).ok().filter(|s| !s.is_empty())?;
        let name = format!("weir_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Store::connect(&admin_url)
            .await
            .expect("connect WEIR_TEST_POSTGRES_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(admin.pool())
            .await
            .expect("create scratch database");
        admin.close().await;
        let url = with_database(&admin_url, &name);
        let store = Store::open(&url).await.expect("postgres scratch store");
        Some(ScratchDb {
            store,
            url,
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }
}

impl ScratchDb {
    /// Whether this database keeps vectors in pgvector. When it does not, `test` says so
    /// loudly on stderr, and panics if [`REQUIRE_PGVECTOR_ENV`] is set.
    pub fn pgvector(&self, test: &str) -> bool {
        if self.store.vectors_in_database() {
            return true;
        }
        let line =
            format!("SKIPPED: {test} needs the pgvector extension in {POSTGRES_ENV}'s server");
        if std::env::var_os(REQUIRE_PGVECTOR_ENV).is_some() {
            panic!("{line} ({REQUIRE_PGVECTOR_ENV} is set, so a skip is a failure)");
        }
        eprintln!("\n*** {line} ***\n");
        false
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside a runtime; do the async cleanup on a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let admin = Store::connect(&admin_url).await.ok()?;
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(admin.pool())
                        .await;
                    admin.close().await;
                    Some(())
                })
            })
            .join();
        }
    }
}

/// `url` with its database path replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database() {
        assert_eq!(
            with_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(
            with_database("postgres://h/db?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
    }
}
