//! A database of its own on the throwaway PostgreSQL that `scripts/postgres` starts
//! (`ML_CONNECTOR_TEST_POSTGRES_URL`), so tests run in parallel. Without the variable a test
//! fails under `CI=true` and otherwise prints `SKIPPED: …` and returns early. Shared by the
//! library's tests (included by path) and the end-to-end tests.

use std::io::Write as _;

/// The variable naming the test server: a URL whose user may create databases.
pub const URL_VAR: &str = "ML_CONNECTOR_TEST_POSTGRES_URL";

/// A URL of a new, empty database on the test server, or `None` after saying why (outside CI;
/// under `CI=true` a missing server fails `test`).
pub async fn fresh_database(test: &str) -> Option<String> {
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
    let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await.expect("connect to the test server");
    let driver = tokio::spawn(connection);
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create a test database");
    drop(client);
    driver.await.ok();
    let prefix = base.split_once('?').map_or(base.as_str(), |(p, _)| p);
    let root = prefix.rsplit_once('/').map_or(prefix, |(root, _)| root);
    Some(format!("{root}/{name}"))
}
