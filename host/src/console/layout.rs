//! The pages' frame (head, navigation, sign-out form, notices), the embedded stylesheet, error
//! pages and small formatting helpers shared by the pages.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

use super::auth::Session;
use crate::store::StoreError;

/// The stylesheet, compiled into the binary.
const STYLESHEET: &str = include_str!("console.css");

/// A line shown above a page's content.
#[derive(Debug, Clone)]
pub(crate) struct Notice {
    class: &'static str,
    text: String,
}

impl Notice {
    /// Something went wrong.
    pub fn error(text: impl Into<String>) -> Self {
        Notice { class: "notice error", text: text.into() }
    }

    /// Something was done.
    pub fn done(text: impl Into<String>) -> Self {
        Notice { class: "notice done", text: text.into() }
    }
}

/// A whole page: `body` under the navigation (shown with a session).
pub(crate) fn page(title: &str, session: Option<&Session>, notice: Option<Notice>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · ml-connector console" }
                link rel="stylesheet" href="/console/console.css";
            }
            body {
                header {
                    span.brand { "ml-connector" }
                    @if let Some(session) = session {
                        nav {
                            a href="/console" { "Overview" }
                            a href="/console/messages" { "Messages" }
                            a href="/console/events" { "Events" }
                            a href="/console/plugins" { "Plugins" }
                        }
                        form.signout method="post" action="/console/logout" {
                            (csrf_field(session))
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    @if let Some(notice) = notice {
                        p class=(notice.class) role="status" { (notice.text) }
                    }
                    (body)
                }
            }
        }
    }
}

/// The hidden CSRF field every POST form carries.
pub(crate) fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// An error page with `status`.
pub(crate) fn error(status: StatusCode, text: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    (status, page(title, None, Some(Notice::error(text)), html! { p { a href="/console" { "Back to the console" } } })).into_response()
}

/// A store failure as a page: 503 (the console shows what it can read).
pub(crate) fn store_error(error: &StoreError) -> Response {
    tracing::error!(error = %error, "Console page failed: the store did not answer.");
    self::error(StatusCode::SERVICE_UNAVAILABLE, &format!("The store did not answer: {error}"))
}

/// `GET /console/console.css`.
pub(crate) async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], STYLESHEET)
}

/// A time as `2026-03-31 14:05:09` (UTC).
pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A status as a coloured label.
pub(crate) fn status(text: &str) -> Markup {
    html! { span class={ "status s-" (text) } { (text) } }
}

/// `text` cut to `max` characters on one line, with an ellipsis when cut.
pub(crate) fn short(text: &str, max: usize) -> String {
    let line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    match line.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

/// `text` as one URL path segment (everything but unreserved characters percent-encoded).
pub(crate) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Links to the newer and older pages around `page` (0-based); `more` when an older one exists.
pub(crate) fn pager(page: usize, more: bool, link: impl Fn(usize) -> String) -> Markup {
    html! {
        div.pager {
            @if page > 0 { a href=(link(page - 1)) { "← Newer" } }
            span.muted { "Page " (page + 1) }
            @if more { a href=(link(page + 1)) { "Older →" } }
        }
    }
}

/// A query string from the non-empty `pairs`.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        out.append_pair(name, value);
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_text_is_escaped_in_a_page() {
        let html = page("<t>", None, Some(Notice::error("<b>")), html! { p { ("<script>alert(1)</script>") } }).into_string();
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;t&gt;") && html.contains("&lt;b&gt;"));
    }

    #[test]
    fn segments_and_short_texts_are_safe_to_show() {
        assert_eq!(segment("qad:acme:po/77 x"), "qad%3Aacme%3Apo%2F77%20x");
        assert_eq!(short("a\nbcdef", 3), "a b…");
        assert_eq!(short("abc", 3), "abc");
        assert_eq!(query(&[("status", "failed"), ("plugin", ""), ("number", "+1 555")]), "status=failed&number=%2B1+555");
    }
}
