//! `ml-connector secrets set|list|rotate-key`: credentials sealed with the master key in the store.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use chrono::SecondsFormat;
use clap::Subcommand;
use zeroize::Zeroizing;

use super::common::{load_config, open_store, require_master_key};
use crate::secrets::{MASTER_KEY_ENV, MasterKey, SecretString, validate_name};
use crate::store::{Cause, Store};

/// Secret commands.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Store a secret, read from stdin, sealed with the master key.
    ///
    /// The value is never echoed. One trailing newline is removed, so
    /// `printf '%s' "$TOKEN" | ml-connector secrets set twilio.auth_token` and
    /// `echo "$TOKEN" | …` store the same value. Names in use: wave.webhook_secret
    /// (and wave.webhook_secret.<suffix> during rotation), wave.client_secret,
    /// twilio.auth_token, twilio.api_key_sid, twilio.api_key_secret.
    Set {
        /// The secret's name: 1 to 64 of a-z 0-9 _ . : -
        name: String,
    },
    /// List stored secrets by name with when each was set; never their values.
    List,
    /// Re-encrypt every secret under a new master key, all or nothing.
    ///
    /// The current key comes from ML_CONNECTOR_MASTER_KEY or [secrets] master_key_file as usual.
    /// The new key is read from --new-key-file, or else generated and printed once.
    RotateKey {
        /// A file holding the new key (base64 of 32 bytes, or 64 hex digits). Without it a new
        /// key is generated and printed to stdout.
        #[arg(long, value_name = "PATH")]
        new_key_file: Option<PathBuf>,
    },
}

/// Runs a secrets command.
pub async fn run(config: Option<&Path>, cmd: SecretsCommand) -> anyhow::Result<ExitCode> {
    let config = load_config(config)?;
    match cmd {
        SecretsCommand::Set { name } => {
            validate_name(&name)?;
            let key = require_master_key(&config)?;
            // The console password is kept as its argon2 hash, never as typed.
            let value = crate::console::auth::stored_form(&name, read_value(&name)?)?;
            let store = open_store(&config)?;
            check_key_opens_existing(store.as_ref(), &key).await?;
            let sealed = key.seal(&name, value.expose())?;
            store.put_secret(&name, sealed).await?;
            println!("stored {name}");
        }
        SecretsCommand::List => {
            // Names and dates are not sealed: no master key needed.
            let store = open_store(&config)?;
            let secrets = store.list_secrets().await?;
            if secrets.is_empty() {
                println!("no secrets stored");
            } else {
                let width = secrets
                    .iter()
                    .map(|(name, _)| name.len())
                    .max()
                    .unwrap_or(0)
                    .max(4);
                println!("{:<width$}  SET AT", "NAME");
                for (name, at) in &secrets {
                    println!(
                        "{name:<width$}  {}",
                        at.to_rfc3339_opts(SecondsFormat::Secs, true)
                    );
                }
            }
        }
        SecretsCommand::RotateKey { new_key_file } => {
            let old = Arc::new(require_master_key(&config)?);
            let store = open_store(&config)?;
            let new = Arc::new(match &new_key_file {
                Some(path) => MasterKey::from_file(path)?,
                None => {
                    let new = MasterKey::generate();
                    // Shown before anything changes, so a crash after the commit cannot lose it.
                    let mut out = std::io::stdout().lock();
                    writeln!(
                        out,
                        "New master key (shown only this once, keep it somewhere safe):"
                    )?;
                    writeln!(out)?;
                    writeln!(out, "{}", new.to_base64().expose())?;
                    writeln!(out)?;
                    out.flush()?;
                    new
                }
            });
            let (from, to) = (old.clone(), new.clone());
            let reseal = move |name: &str, sealed: &[u8]| -> Result<Vec<u8>, Cause> { from.reseal(&to, name, sealed).map_err(|e| Arc::new(e) as Cause) };
            let count = store.rotate_secrets(Box::new(reseal)).await.with_context(|| {
                if new_key_file.is_none() {
                    "nothing was changed and the key printed above was NOT applied; keep using the current key"
                } else {
                    "nothing was changed; keep using the current key"
                }
            })?;
            let noun = if count == 1 { "secret" } else { "secrets" };
            println!("re-encrypted {count} {noun} under the new master key");
            let hint = match (&new_key_file, &config.secrets.master_key_file) {
                (Some(path), _) => format!(
                    "point {MASTER_KEY_ENV} or [secrets] master_key_file at the key in {}",
                    path.display()
                ),
                (None, Some(file)) => format!(
                    "write the new key to {} (or set {MASTER_KEY_ENV} to it)",
                    file.display()
                ),
                (None, None) => format!("set {MASTER_KEY_ENV} to the new key"),
            };
            println!(
                "From now on {hint}; the old key no longer opens them. \
                 Restart a running `ml-connector serve` with the new key."
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads the secret value from stdin, removing one trailing newline. Refuses an empty value.
fn read_value(name: &str) -> anyhow::Result<SecretString> {
    let mut stdin = std::io::stdin().lock();
    if stdin.is_terminal() {
        eprintln!(
            "Reading the value of {name} from stdin; end with Ctrl-D. \
             (Piping it in keeps it off the screen.)"
        );
    }
    let mut bytes = Zeroizing::new(Vec::new());
    stdin
        .read_to_end(&mut bytes)
        .context("cannot read the secret from stdin")?;
    let newline = if bytes.ends_with(b"\r\n") {
        2
    } else {
        usize::from(bytes.ends_with(b"\n"))
    };
    let len = bytes.len() - newline;
    bytes.truncate(len);
    if bytes.is_empty() {
        bail!("refusing to store an empty value for {name}: pipe the value on stdin");
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| anyhow::anyhow!("the value of {name} is not UTF-8"))?;
    Ok(SecretString::from(text))
}

/// Refuses to mix master keys: if secrets are stored, `key` must open one of them.
async fn check_key_opens_existing(store: &dyn Store, key: &MasterKey) -> anyhow::Result<()> {
    let Some((name, _)) = store.list_secrets().await?.into_iter().next() else {
        return Ok(());
    };
    let Some(sealed) = store.get_secret(&name).await? else {
        return Ok(());
    };
    key.open(&name, &sealed).map(drop).with_context(|| {
        format!(
            "the master key does not open the secrets already stored (tried `{name}`); \
             use the key they were sealed with, or `secrets rotate-key` to change keys"
        )
    })
}
