//! Sign-in for the console: the password is the secret `console.password`, kept as an argon2
//! hash (sealed like every secret; `secrets set console.password` stores [`stored_form`]). A
//! right password gives a session cookie (HttpOnly, SameSite=Strict, Secure when `public_url`
//! is https, 12 h); every POST must carry the session's CSRF token (the sign-in form a token
//! double-submitted in a cookie). Sign-in attempts are limited per client address by
//! `governor` (5 at once, then one per 12 s): the next is refused with 429 before any password
//! is checked. Sessions live in memory: restarting `serve` signs everyone out.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::Argon2;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use maud::html;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

use super::ConsoleState;
use super::layout::{self, Notice};
use crate::secrets::{SecretString, Vault};

/// The secret holding the console password's hash.
pub const PASSWORD_SECRET: &str = "console.password";
/// How long a session lasts.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// The session cookie.
const SESSION_COOKIE: &str = "ml_console_session";
/// The sign-in form's double-submitted CSRF cookie.
const LOGIN_COOKIE: &str = "ml_console_login";
/// Largest POST body a console form may send.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// An empty password.
    #[error("the console password must not be empty")]
    Empty,
    /// The stored value is not an argon2 hash (set before hashing existed, or by hand).
    #[error("the stored console.password is not a password hash; set it again with `ml-connector secrets set console.password`")]
    NotAHash,
    /// argon2 failed.
    #[error("password hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
}

/// The argon2id hash (PHC string, fresh salt) of `plain`.
pub fn hash_password(plain: &str) -> Result<String, PasswordError> {
    if plain.is_empty() {
        return Err(PasswordError::Empty);
    }
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default().hash_password(plain.as_bytes(), &salt).map_err(PasswordError::Hash)?.to_string())
}

/// What `secrets set NAME` stores for `value`: the password hash for [`PASSWORD_SECRET`], the
/// value itself for every other secret.
pub fn stored_form(name: &str, value: SecretString) -> Result<SecretString, PasswordError> {
    if name == PASSWORD_SECRET { Ok(SecretString::from(hash_password(value.expose())?)) } else { Ok(value) }
}

/// Whether `plain` matches the stored `hash`.
fn verify(hash: &str, plain: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(hash).map_err(|_| PasswordError::NotAHash)?;
    match Argon2::default().verify_password(plain.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(PasswordError::Hash(e)),
    }
}

/// A signed-in session, as the pages see it.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The token every POST form carries.
    pub csrf: String,
    expires: Instant,
}

/// Sessions, the password's vault and the sign-in limiter.
pub(crate) struct Auth {
    vault: Vault,
    secure: bool,
    sessions: Mutex<HashMap<String, Session>>,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl Auth {
    /// Sessions checked against the password in `vault`; cookies marked Secure when `secure`.
    pub fn new(vault: Vault, secure: bool) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(5).expect("non-zero"));
        Auth { vault, secure, sessions: Mutex::new(HashMap::new()), limiter: RateLimiter::keyed(quota) }
    }

    /// The live session whose cookie `headers` carry.
    fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let token = cookie(headers, SESSION_COOKIE)?;
        let mut sessions = self.sessions.lock().expect("sessions lock");
        match sessions.get(&token) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                sessions.remove(&token);
                None
            }
            None => None,
        }
    }

    /// Starts a session; its cookie.
    fn start(&self) -> String {
        let token = random_token();
        let now = Instant::now();
        let mut sessions = self.sessions.lock().expect("sessions lock");
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(token.clone(), Session { csrf: random_token(), expires: now + SESSION_TTL });
        self.cookie(SESSION_COOKIE, &token, SESSION_TTL.as_secs())
    }

    /// A `Set-Cookie` value for the console's paths; `max_age` 0 deletes it.
    fn cookie(&self, name: &str, value: &str, max_age: u64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
    }
}

/// 32 random bytes as hex.
fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// The value of cookie `name` in `headers`.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

/// Compares tokens in constant time.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Middleware for every page but sign-in: no session, to the sign-in page; a POST without the
/// session's CSRF token, 403.
pub(crate) async fn require_session(State(state): State<ConsoleState>, request: Request, next: Next) -> Response {
    let Some(session) = state.auth.session(request.headers()) else {
        return Redirect::to("/console/login").into_response();
    };
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(session.clone());
    if parts.method != Method::POST {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return layout::error(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.");
    };
    let token = form_urlencoded::parse(&bytes).find(|(name, _)| name == "csrf").map(|(_, value)| value.into_owned());
    if !token.is_some_and(|t| same(&t, &session.csrf)) {
        tracing::warn!(path = %parts.uri.path(), "Console form refused: missing or wrong CSRF token.");
        return layout::error(StatusCode::FORBIDDEN, "Missing or wrong CSRF token: reload the page and try again.");
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// `GET /console/login`.
pub(crate) async fn sign_in_page(State(state): State<ConsoleState>, headers: HeaderMap) -> Response {
    if state.auth.session(&headers).is_some() {
        return Redirect::to("/console").into_response();
    }
    form_page(&state, StatusCode::OK, None)
}

/// The sign-in form with a fresh double-submitted token, and an optional notice.
fn form_page(state: &ConsoleState, status: StatusCode, notice: Option<Notice>) -> Response {
    let token = random_token();
    let body = html! {
        h1 { "Sign in" }
        form.signin method="post" action="/console/login" {
            input type="hidden" name="csrf" value=(token);
            label for="password" { "Console password" }
            input #password type="password" name="password" autocomplete="current-password" autofocus;
            button type="submit" { "Sign in" }
        }
        p.hint { "The password is set with " code { "ml-connector secrets set console.password" } "." }
    };
    let mut response = (status, layout::page("Sign in", None, notice, body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&state.auth.cookie(LOGIN_COOKIE, &token, 3600)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct SignIn {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

/// `POST /console/login`.
pub(crate) async fn sign_in(
    State(state): State<ConsoleState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    let ip = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(ConnectInfo(addr))| addr.ip());
    if !cookie(&headers, LOGIN_COOKIE).is_some_and(|c| same(&c, &form.csrf)) {
        tracing::warn!(%ip, "Console sign-in refused: missing or wrong CSRF token.");
        return layout::error(StatusCode::FORBIDDEN, "Missing or wrong CSRF token: reload the sign-in page and try again.");
    }
    state.auth.limiter.retain_recent();
    if let Err(not_until) = state.auth.limiter.check_key(&ip) {
        let wait = not_until.wait_time_from(DefaultClock::default().now()).as_secs() + 1;
        tracing::warn!(%ip, wait_secs = wait, "Console sign-in refused: too many attempts.");
        let mut response = form_page(&state, StatusCode::TOO_MANY_REQUESTS, Some(Notice::error(format!("Too many sign-in attempts: try again in {wait} s."))));
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return response;
    }
    let hash = match state.auth.vault.get(PASSWORD_SECRET).await {
        Ok(Some(hash)) => hash,
        Ok(None) => {
            let notice = Notice::error("No console password is set: run `ml-connector secrets set console.password`.");
            return form_page(&state, StatusCode::SERVICE_UNAVAILABLE, Some(notice));
        }
        Err(e) => {
            tracing::error!(error = %e, "Cannot read the console password.");
            return form_page(&state, StatusCode::SERVICE_UNAVAILABLE, Some(Notice::error("The console password cannot be read; see the server log.")));
        }
    };
    let password = SecretString::from(form.password);
    let checked = tokio::task::spawn_blocking(move || verify(hash.expose(), password.expose())).await;
    match checked {
        Ok(Ok(true)) => {
            tracing::info!(%ip, "Console sign-in.");
            let mut response = Redirect::to("/console").into_response();
            for value in [state.auth.start(), state.auth.cookie(LOGIN_COOKIE, "", 0)] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            response
        }
        Ok(Ok(false)) => {
            tracing::warn!(%ip, "Console sign-in refused: wrong password.");
            form_page(&state, StatusCode::UNAUTHORIZED, Some(Notice::error("Wrong password.")))
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "Cannot check the console password.");
            form_page(&state, StatusCode::SERVICE_UNAVAILABLE, Some(Notice::error(e.to_string())))
        }
        Err(e) => layout::error(StatusCode::INTERNAL_SERVER_ERROR, &format!("The password check failed: {e}")),
    }
}

/// `POST /console/logout`.
pub(crate) async fn sign_out(State(state): State<ConsoleState>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.auth.sessions.lock().expect("sessions lock").remove(&token);
    }
    let mut response = Redirect::to("/console/login").into_response();
    if let Ok(value) = HeaderValue::from_str(&state.auth.cookie(SESSION_COOKIE, "", 0)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_password_verifies_and_another_does_not() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(verify(&hash, "correct horse").unwrap());
        assert!(!verify(&hash, "wrong horse").unwrap());
        assert!(matches!(verify("correct horse", "correct horse"), Err(PasswordError::NotAHash)));
    }

    #[test]
    fn only_the_console_password_is_stored_as_a_hash() {
        let stored = stored_form(PASSWORD_SECRET, SecretString::from("pw")).unwrap();
        assert!(stored.expose().starts_with("$argon2id$"));
        assert_eq!(stored_form("twilio.auth_token", SecretString::from("tok")).unwrap().expose(), "tok");
        assert!(matches!(stored_form(PASSWORD_SECRET, SecretString::from("")), Err(PasswordError::Empty)));
    }

    #[test]
    fn cookies_are_found_by_name_and_tokens_compared_whole() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; ml_console_session=abc; b=2"));
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, LOGIN_COOKIE), None);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
