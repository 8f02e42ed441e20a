//! PostgreSQL backend of the store, the engine several `serve` replicas share: a
//! deadpool-postgres pool of tokio-postgres connections, claims with
//! `FOR UPDATE SKIP LOCKED` under leases, `NOTIFY` after commits that give other replicas work
//! (see `listen.rs`), and a send-rate reservation row so `twilio.messages_per_second` holds for
//! the whole deployment. Times are unix milliseconds in `BIGINT` columns, as in SQLite.

mod cursors;
mod inbox;
mod listen;
mod migrations;
mod outbox;
mod plugins;
mod rate;
mod runs;
mod secrets;
mod twilio;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use super::sqlite::{from_millis, millis, sql_limit};
use super::{Result, Store, StoreError};

/// Connections kept by one process's pool.
const POOL_SIZE: usize = 16;
/// How long a caller waits for a pooled connection before the store counts as unavailable.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// Channel notified when events are stored (wakes dispatchers).
pub(crate) const EVENTS_CHANNEL: &str = "ml_connector_events";
/// Channel notified when outbox rows become due (wakes sink drivers).
pub(crate) const OUTBOX_CHANNEL: &str = "ml_connector_outbox";

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    config: tokio_postgres::Config,
    location: Arc<str>,
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and brings the schema
    /// up to date. A database written by a newer build is refused with
    /// [`StoreError::SchemaTooNew`].
    pub async fn connect(url: &str) -> Result<Self> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|cause| StoreError::Open { path: redact(url), cause: Arc::new(cause) })?;
        let location: Arc<str> = describe(&config).into();
        let manager = Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|cause| StoreError::Open { path: location.to_string(), cause: Arc::new(cause) })?;
        let store = PgStore { pool, config, location };
        let mut client = store.client("open store").await.map_err(|e| StoreError::Open { path: store.location(), cause: Arc::new(e) })?;
        migrations::migrate(&mut client, &store.location).await?;
        Ok(store)
    }

    /// [`PgStore::connect`] from synchronous code running on a multi-threaded tokio runtime
    /// (the CLI's), blocking this worker thread meanwhile.
    pub fn open_blocking(url: &str) -> Result<Self> {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| handle.block_on(Self::connect(url)))
            }
            _ => Err(StoreError::Open { path: redact(url), cause: Arc::new(NeedsRuntime) }),
        }
    }

    /// A pooled connection.
    async fn client(&self, op: &'static str) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| StoreError::unavailable(op, e))
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<()> {
        self.client("ping").await?.simple_query("SELECT 1").await.op("ping").map(drop)
    }

    fn location(&self) -> String {
        self.location.to_string()
    }

    fn watch(&self, wakes: super::Wakes) {
        listen::spawn(self.config.clone(), wakes);
    }
}

/// Why [`PgStore::open_blocking`] refused.
#[derive(Debug, thiserror::Error)]
#[error("opening a PostgreSQL store needs a multi-threaded tokio runtime")]
struct NeedsRuntime;

/// `postgres://user@host:port/database`: where the store is, without its password.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("postgres://{}@{host}:{port}/{}", config.get_user().unwrap_or(""), config.get_dbname().unwrap_or(""))
}

/// A URL that did not parse, with anything between `://` and `@` (credentials) hidden.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => format!("{}://…{}", &url[..start], &url[at..]),
        _ => url.to_owned(),
    }
}

/// Converts tokio-postgres errors into [`StoreError`], naming the operation and telling
/// temporary conditions (connection lost, server shutting down or out of resources, a
/// serialization failure or deadlock) apart.
pub(crate) trait PgResultExt<T> {
    /// Maps the error for operation `op`.
    fn op(self, op: &'static str) -> Result<T>;
}

impl<T> PgResultExt<T> for std::result::Result<T, tokio_postgres::Error> {
    fn op(self, op: &'static str) -> Result<T> {
        self.map_err(|err| {
            let temporary = match err.code() {
                None => err.is_closed() || std::error::Error::source(&err).is_some_and(|s| s.is::<std::io::Error>()),
                Some(code) => {
                    let class = &code.code()[..2];
                    matches!(class, "08" | "53" | "57") || *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
                }
            };
            if temporary { StoreError::unavailable(op, err) } else { StoreError::backend(op, err) }
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
