//! Secrets at rest: the master key, redacted secret strings, and XChaCha20-Poly1305 sealing.
//!
//! Every credential the host keeps (webhook secrets, OAuth client secret, Twilio tokens) is sealed
//! with the operator's master key before it reaches the store. A sealed value is
//! `version (1 byte) || nonce (24 bytes) || ciphertext+tag`, with the secret's name as associated
//! data, so a ciphertext copied to another name fails to open.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub mod vault;

pub use self::vault::{SecretSet, Vault, VaultError};

/// Environment variable holding the master key (base64 of 32 bytes, or 64 hex digits).
pub const MASTER_KEY_ENV: &str = "ML_CONNECTOR_MASTER_KEY";

/// Format version of sealed values; the first byte of every sealed value.
const SEALED_VERSION: u8 = 1;
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const MAX_NAME_LEN: usize = 64;

/// Errors from loading the master key or sealing and opening secrets. Never carries secret bytes.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A secret name is outside `[a-z0-9_.:-]{1,64}`.
    #[error("invalid secret name {name:?}: use 1 to 64 of a-z 0-9 _ . : -")]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// The master key text does not decode to 32 bytes.
    #[error("master key from {origin} is not 32 bytes written as base64 or 64 hex digits")]
    MasterKeyEncoding {
        /// Where the key came from: the environment variable or the key file.
        origin: String,
    },
    /// The master key file cannot be read.
    #[error("cannot read master key file {}: {cause}", path.display())]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// The I/O failure.
        cause: std::io::Error,
    },
    /// Encryption failed (only possible for absurdly large values).
    #[error("cannot encrypt secret `{name}`")]
    Encrypt {
        /// The secret's name.
        name: String,
    },
    /// Authentication failed: the master key is wrong, or the value was altered or stored under
    /// another name.
    #[error(
        "cannot decrypt secret `{name}`: wrong master key, or the stored value was altered or moved"
    )]
    Decrypt {
        /// The secret's name.
        name: String,
    },
    /// The stored value is not in a format this build reads.
    #[error("stored secret `{name}` is unreadable: {reason}")]
    Format {
        /// The secret's name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A string that must not leak: zeroized on drop, and printed as `[redacted]` by `Debug` and
/// `Display`. Read it with [`SecretString::expose`] at the point of use.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretString(String);

impl SecretString {
    /// The secret text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The 32-byte key that seals every stored secret. Zeroized on drop; `Debug` shows nothing.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; KEY_LEN]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// A fresh random key from the thread-local CSPRNG (seeded by the OS).
    pub fn generate() -> Self {
        let mut key = Self([0; KEY_LEN]);
        rand::rng().fill_bytes(&mut key.0);
        key
    }

    /// Decodes a key written as 64 hex digits or as base64 of 32 bytes; surrounding whitespace
    /// is ignored. `origin` names the source in the error.
    pub fn parse(text: &str, origin: &str) -> Result<Self, SecretsError> {
        let text = text.trim();
        let encoding_error = || SecretsError::MasterKeyEncoding {
            origin: origin.to_owned(),
        };
        let mut key = Self([0; KEY_LEN]);
        if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode_to_slice(text, &mut key.0).map_err(|_| encoding_error())?;
            return Ok(key);
        }
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| encoding_error())?,
        );
        if decoded.len() != KEY_LEN {
            return Err(encoding_error());
        }
        key.0.copy_from_slice(&decoded);
        Ok(key)
    }

    /// Reads a key file holding the key as base64 or hex.
    pub fn from_file(path: &Path) -> Result<Self, SecretsError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|cause| {
            SecretsError::KeyFile {
                path: path.to_owned(),
                cause,
            }
        })?);
        Self::parse(&text, &format!("key file {}", path.display()))
    }

    /// Finds the master key: [`MASTER_KEY_ENV`] wins over `key_file` (the `secrets.master_key_file`
    /// setting). `Ok(None)` when neither is set, so the caller decides whether secrets are needed.
    pub fn load(
        env: &impl Fn(&str) -> Option<String>,
        key_file: Option<&Path>,
    ) -> Result<Option<Self>, SecretsError> {
        if let Some(text) = env(MASTER_KEY_ENV).map(Zeroizing::new) {
            return Self::parse(&text, &format!("environment variable {MASTER_KEY_ENV}")).map(Some);
        }
        key_file.map(Self::from_file).transpose()
    }

    /// The key as standard base64, for writing a new key file.
    pub fn to_base64(&self) -> SecretString {
        SecretString(base64::engine::general_purpose::STANDARD.encode(self.0))
    }

    /// Encrypts `plaintext` for storage under `name` (which must pass [`validate_name`]).
    pub fn seal(&self, name: &str, plaintext: &str) -> Result<Vec<u8>, SecretsError> {
        validate_name(name)?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: name.as_bytes(),
        };
        let ciphertext = self
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), payload)
            .map_err(|_| SecretsError::Encrypt {
                name: name.to_owned(),
            })?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(SEALED_VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Decrypts a value sealed under `name`.
    pub fn open(&self, name: &str, sealed: &[u8]) -> Result<SecretString, SecretsError> {
        validate_name(name)?;
        let format_error = |reason| SecretsError::Format {
            name: name.to_owned(),
            reason,
        };
        let (&version, rest) = sealed.split_first().ok_or(format_error("empty"))?;
        if version != SEALED_VERSION {
            return Err(format_error("unknown format version"));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(format_error("too short"));
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad: name.as_bytes(),
        };
        let plaintext = self
            .cipher()
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| SecretsError::Decrypt {
                name: name.to_owned(),
            })?;
        match String::from_utf8(plaintext) {
            Ok(text) => Ok(SecretString(text)),
            Err(not_utf8) => {
                not_utf8.into_bytes().zeroize();
                Err(format_error("not UTF-8"))
            }
        }
    }

    /// Opens `sealed` with this key and seals it again with `new_key`: one step of key rotation,
    /// shaped for [`crate::store::Store::rotate_secrets`].
    pub fn reseal(
        &self,
        new_key: &MasterKey,
        name: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, SecretsError> {
        let plaintext = self.open(name, sealed)?;
        new_key.seal(name, plaintext.expose())
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&self.0))
    }
}

/// Checks a secret name against `[a-z0-9_.:-]{1,64}`.
pub fn validate_name(name: &str) -> Result<(), SecretsError> {
    let allowed = |b: u8| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b':' | b'-');
    if (1..=MAX_NAME_LEN).contains(&name.len()) && name.bytes().all(allowed) {
        Ok(())
    } else {
        Err(SecretsError::InvalidName {
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests;
