//! `ml-connector wave send-test-event KIND`: post a signed sample webhook, like Stripe's `trigger`;
//! `wave connect` and `wave status`: the OAuth connection.

use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::Subcommand;
use zeroize::Zeroizing;

use super::common::{load_config, open_store, vault};
use crate::config::Config;
use crate::secrets::SecretString;
use crate::sources::wave::oauth::{self, ConnectionStatus, OAuthSettings, WaveOAuth};
use crate::sources::wave::secrets::{WAVE_CLIENT_SECRET, WAVE_WEBHOOK_SECRET, is_webhook_secret};
use crate::sources::wave::{samples, signature};

/// Wave commands.
#[derive(Debug, Subcommand)]
pub enum WaveCommand {
    /// Sign Wave's sample payload for KIND and POST it, as Wave would.
    ///
    /// Each send gets a fresh event_id, so it is a new event. The body is signed with the
    /// webhook secret stored as wave.webhook_secret (opened with the master key), or with the
    /// secret read from stdin when --secret-stdin is given.
    SendTestEvent {
        /// The event kind, e.g. invoice.paid.
        kind: String,
        /// Where to post it [default: http://<server.listen>/webhooks/wave].
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// The business id to put in the event [default: wave.business_id from the config, or the
        /// sample's].
        #[arg(long, value_name = "ID")]
        business_id: Option<String>,
        /// Read the webhook secret from stdin instead of the store (one trailing newline removed).
        #[arg(long)]
        secret_stdin: bool,
    },
    /// Print the URL that connects ml-connector to a Wave business (OAuth 2.0).
    ///
    /// Open it, approve access, and Wave redirects to
    /// {server.public_url}/oauth/wave/callback, where the running server exchanges the code
    /// and stores the tokens encrypted. Needs [wave] client_id and the secret
    /// wave.client_secret. The scopes cover the event kinds the enabled plugins subscribe to.
    Connect {
        /// Request this scope instead of the computed ones (repeatable).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
    },
    /// Show whether the Wave connection is healthy and when its token expires.
    ///
    /// Exits non-zero when Wave is not connected or the connection is broken.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `wave connect`: the authorization URL.
async fn connect(config: &Config, scopes: Vec<String>) -> anyhow::Result<ExitCode> {
    let settings = OAuthSettings::from_config(config).context("set [wave] client_id (your Wave application's client id) first")?;
    let store = open_store(config)?;
    let vault = vault(config, &store)?;
    if store.get_secret(WAVE_CLIENT_SECRET).await?.is_none() {
        eprintln!("note: no client secret is stored yet; run `ml-connector secrets set {WAVE_CLIENT_SECRET}` before opening the link");
    }
    let scopes: Vec<String> = if scopes.is_empty() {
        let installed = crate::app::plugins::installed(&*store).await?;
        let plugins = crate::app::plugins::load_blocking(config, installed).await?;
        let subscriptions: Vec<String> = plugins.iter().flat_map(|p| p.manifest().subscribes.clone()).collect();
        oauth::scopes_for(&subscriptions).into_iter().map(str::to_owned).collect()
    } else {
        scopes
    };
    let oauth = WaveOAuth::new(settings, vault).await?;
    let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let url = oauth.authorization_url(&scope_refs).await?;
    eprintln!("Open this URL, approve access, and Wave sends you back to {}", oauth.redirect_uri());
    eprintln!("(ml-connector serve must be reachable there). Scopes: {}", scopes.join(" "));
    println!("{url}");
    Ok(ExitCode::SUCCESS)
}

/// `wave status`.
async fn status(config: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_store(config)?;
    let state = oauth::load_state(&vault(config, &store)?).await?;
    let status = ConnectionStatus::of(state.as_ref());
    if json {
        let mut value = serde_json::to_value(&status)?;
        if let Some(business) = state.as_ref().and_then(|s| s.business_id.clone()) {
            value["business_id"] = business.into();
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        match &status {
            ConnectionStatus::NotConnected => println!("Wave: not connected (run `ml-connector wave connect`)"),
            ConnectionStatus::Connected { expires_at, scope } => {
                let left = *expires_at - chrono::Utc::now();
                println!("Wave: connected");
                println!("access token expires: {} ({})", expires_at.to_rfc3339(), if left.num_seconds() > 0 { format!("in {} min", left.num_minutes()) } else { "expired; refreshed on next use".into() });
                println!("scopes: {scope}");
                if let Some(business) = state.as_ref().and_then(|s| s.business_id.as_deref()) {
                    println!("business: {business}");
                }
            }
            ConnectionStatus::Broken { reason } => {
                println!("Wave: BROKEN: {reason}");
                println!("events wait in the store; run `ml-connector wave connect` to repair");
            }
        }
    }
    Ok(if matches!(status, ConnectionStatus::Connected { .. }) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Runs a Wave command.
pub async fn run(config: Option<&Path>, cmd: WaveCommand) -> anyhow::Result<ExitCode> {
    let config = load_config(config)?;
    match cmd {
        WaveCommand::SendTestEvent {
            kind,
            url,
            business_id,
            secret_stdin,
        } => {
            let sample = samples::sample(&kind).ok_or_else(|| {
                anyhow!(
                    "no sample for event kind {kind:?}; known kinds: {}",
                    samples::kinds().join(", ")
                )
            })?;
            let business_id = business_id.or_else(|| config.wave.business_id.clone());
            let (event_id, body) = test_body(sample, business_id.as_deref())?;
            let secret = if secret_stdin {
                secret_from_stdin()?
            } else {
                stored_secret(&config).await?
            };
            let url = url.unwrap_or_else(|| default_url(config.server.listen));

            let t = chrono::Utc::now().timestamp();
            let header = signature::sign(secret.expose(), t, body.as_bytes());
            drop(secret);
            eprintln!("posting {kind} event {event_id} to {url}");
            let (status, text) = post(&url, &header, t, body).await?;
            println!("{status}");
            if !text.is_empty() {
                println!("{text}");
            }
            Ok(if status.is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        WaveCommand::Connect { scopes } => connect(&config, scopes).await,
        WaveCommand::Status { json } => status(&config, json).await,
    }
}

/// The sample with a fresh UUID v4 `event_id` (and `business_id` replaced when given), as the
/// JSON text to send. Returns the new event id too.
fn test_body(sample: &str, business_id: Option<&str>) -> anyhow::Result<(String, String)> {
    let mut event: serde_json::Value =
        serde_json::from_str(sample).context("embedded sample is not JSON")?;
    let object = event
        .as_object_mut()
        .context("embedded sample is not a JSON object")?;
    let event_id = uuid::Uuid::new_v4().to_string();
    object.insert("event_id".into(), event_id.clone().into());
    if let Some(business_id) = business_id {
        object.insert("business_id".into(), business_id.into());
    }
    Ok((event_id, serde_json::to_string(&event)?))
}

/// `http://<listen>/webhooks/wave`, with an unspecified listen address replaced by loopback.
fn default_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!(
        "http://{}/webhooks/wave",
        SocketAddr::new(ip, listen.port())
    )
}

/// Reads a webhook secret from stdin.
fn secret_from_stdin() -> anyhow::Result<SecretString> {
    let mut text = Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the webhook secret from stdin")?;
    let value = text
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&text);
    if value.is_empty() {
        bail!("--secret-stdin: stdin held no secret");
    }
    Ok(SecretString::from(value))
}

/// The stored webhook secret: `wave.webhook_secret`, or else the most recently set
/// `wave.webhook_secret.<suffix>`.
async fn stored_secret(config: &Config) -> anyhow::Result<SecretString> {
    let store = open_store(config)?;
    let name = match store.get_secret(WAVE_WEBHOOK_SECRET).await? {
        Some(_) => WAVE_WEBHOOK_SECRET.to_owned(),
        None => store
            .list_secrets()
            .await?
            .into_iter()
            .filter(|(name, _)| is_webhook_secret(name))
            .max_by_key(|(_, at)| *at)
            .map(|(name, _)| name)
            .with_context(|| {
                format!(
                    "no webhook secret is stored: run `ml-connector secrets set {WAVE_WEBHOOK_SECRET}` \
                     (value on stdin), or pass --secret-stdin"
                )
            })?,
    };
    vault(config, &store)?.get(&name).await?.with_context(|| format!("secret {name} disappeared while reading it"))
}

/// POSTs the signed body; returns the status and the response body.
async fn post(url: &str, header: &str, t: i64, body: String) -> anyhow::Result<(reqwest::StatusCode, String)> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().context("cannot build the HTTP client")?;
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("x-wave-signature", header)
        .header("x-wave-timestamp", t.to_string())
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot POST to {url} (is `ml-connector serve` running there?)"))?;
    let status = response.status();
    let text = response.text().await.context("cannot read the response body")?;
    Ok((status, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_body_gets_a_fresh_event_id_and_the_business_id() {
        let sample = samples::sample("invoice.paid").unwrap();
        let (id1, body1) = test_body(sample, Some("biz-9")).unwrap();
        let (id2, _) = test_body(sample, None).unwrap();
        assert_ne!(id1, id2);
        let parsed: serde_json::Value = serde_json::from_str(&body1).unwrap();
        assert_eq!(parsed["event_id"], id1.as_str());
        assert_eq!(parsed["business_id"], "biz-9");
        assert_eq!(parsed["event_type"], "invoice.paid");
        assert_eq!(parsed["data"]["amount_paid"], "8.98");
        assert_eq!(uuid::Uuid::parse_str(&id1).unwrap().get_version_num(), 4);
    }

    #[test]
    fn an_unspecified_listen_address_posts_to_loopback() {
        assert_eq!(
            default_url("0.0.0.0:9000".parse().unwrap()),
            "http://127.0.0.1:9000/webhooks/wave"
        );
        assert_eq!(
            default_url("[::]:9000".parse().unwrap()),
            "http://[::1]:9000/webhooks/wave"
        );
        assert_eq!(
            default_url("10.0.0.2:80".parse().unwrap()),
            "http://10.0.0.2:80/webhooks/wave"
        );
    }
}
