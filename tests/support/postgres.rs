//! A database of its own on the throwaway PostgreSQL that `scripts/postgres` starts
//! (`ML_CONNECTOR_TEST_POSTGRES_URL`), so tests run in parallel. Without the variable a test
//! fails under `CI=true` and otherwise prints `SKIPPED: …` and returns early. Shared by the
//! library's tests (included by path) and the end-to-end tests.
//!
//! `scripts/postgres stop` deletes the whole throwaway server; against a longer-lived server
//! (a developer's own, run after run) each test's database is dropped when its
//! [`TestDatabase`] goes out of scope after the test passed. A failed test's database is kept
//! for a look and named on stderr.

use std::io::Write as _;

/// The variable naming the test server: a URL whose user may create databases.
pub const URL_VAR: &str = "ML_CONNECTOR_TEST_POSTGRES_URL";

/// A test's own database, dropped (with whatever is still connected to it) when this goes out
/// of scope, unless the test is failing.
pub struct TestDatabase {
    /// `postgres://…/t_<uuid>`: the database.
    pub url: String,
    /// The server URL it was created through.
    admin: String,
    /// `t_<uuid>`.
    name: String,
}

/// A new, empty database on the test server, or `None` after saying why (outside CI; under
/// `CI=true` a missing server fails `test`).
pub async fn fresh_database(test: &str) -> Option<TestDatabase> {
    let Some(base) = std::env::var(URL_VAR).ok().filter(|u| !u.is_empty()) else {
        let reason = format!("{URL_VAR} is not set (`scripts/test` starts a throwaway PostgreSQL with `scripts/postgres start`)");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{test} needs PostgreSQL: {reason}");
        }
        // Straight to stderr, past the test harness's capture: a skip must show.
        let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {reason}");
        return None;
    };
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    execute(&base, &format!("CREATE DATABASE {name}")).await.expect("create a test database");
    let prefix = base.split_once('?').map_or(base.as_str(), |(p, _)| p);
    let root = prefix.rsplit_once('/').map_or(prefix, |(root, _)| root);
    Some(TestDatabase { url: format!("{root}/{name}"), admin: base.clone(), name })
}

/// Runs `sql` on its own connection to `url`.
async fn execute(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    let done = client.batch_execute(sql).await;
    drop(client);
    driver.await.ok();
    done
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = writeln!(std::io::stderr(), "kept the failed test's database {} on the test server", self.name);
            return;
        }
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own
        // with a runtime of its own. FORCE ends the connections the test's stores and replicas
        // left open (PostgreSQL 13+).
        let (admin, sql) = (self.admin.clone(), format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(execute(&admin, &sql))
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = writeln!(std::io::stderr(), "could not drop the test database {}: {e}", self.name);
            }
            Err(_) => {
                let _ = writeln!(std::io::stderr(), "could not drop the test database {}", self.name);
            }
        }
    }
}
