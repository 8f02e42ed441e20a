//! Sealed secrets at rest: the store only ever sees ciphertext (see `crate::secrets`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Cause, Result};

/// The callback [`SecretStore::rotate_secrets`] applies to each sealed secret: `(name, sealed)`
/// in, the value sealed with the new key out.
pub type ResealFn = dyn Fn(&str, &[u8]) -> std::result::Result<Vec<u8>, Cause> + Send + Sync;

/// Sealed secrets by name.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Stores (or replaces) a sealed secret.
    async fn put_secret(&self, name: &str, sealed: Vec<u8>) -> Result<()>;

    /// A sealed secret by name.
    async fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>>;

    /// Names of all stored secrets with when each was last written, sorted by name.
    async fn list_secrets(&self) -> Result<Vec<(String, DateTime<Utc>)>>;

    /// Whether any secret is stored (so the host knows a master key is required).
    async fn has_secrets(&self) -> Result<bool>;

    /// Re-encrypts every secret with `reseal` in one transaction: all rows change or none.
    /// Returns how many were rewritten.
    async fn rotate_secrets(&self, reseal: Box<ResealFn>) -> Result<usize>;
}
