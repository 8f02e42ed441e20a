//! The web console's test helpers: a site with a console password and a Wave secret, Wave's
//! sample `invoice.overdue` carrying an injected `<script>`, and reading forms and cookies.

use serde_json::{Value, json};

use super::site::Site;

/// The console password every console test sets.
pub const PASSWORD: &str = "correct horse battery staple";
/// The Wave webhook secret.
pub const SECRET: &str = "whsec-console-tests";
/// What the tests inject as the invoice id: it reaches the call's body and the event's payload.
pub const INJECTED: &str = "<script>document.title='pwned';window.pwned=1</script>";
/// The team number the overdue call goes to.
pub const TEAM: &str = "+14155552671";

/// A site with the Wave secret and the console password stored; `server` and `rest` as in
/// [`Site::new`].
pub fn console_site(server: &str, rest: &str) -> Site {
    let site = Site::new(server, &format!("[team]\naccounting = \"{TEAM}\"\n{rest}"));
    site.set_secret("wave.webhook_secret", SECRET);
    site.set_secret("console.password", PASSWORD);
    site
}

/// Wave's sample `invoice.overdue` as `event_id`, its invoice id [`INJECTED`].
pub fn overdue(event_id: &str) -> String {
    let path = super::tests_dir().join("fixtures/events/wave/invoice.overdue.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["event_id"] = json!(event_id);
    v["data"]["invoice_id"] = json!(INJECTED);
    v.to_string()
}

/// Posts [`overdue`] signed to `base`'s Wave webhook; asserts 200.
pub async fn post_overdue(base: &str, event_id: &str) {
    let body = overdue(event_id);
    let header = ml_connector::sources::wave::signature::sign(SECRET, chrono::Utc::now().timestamp(), body.as_bytes());
    let resp = reqwest::Client::new().post(format!("{base}/webhooks/wave")).header("x-wave-signature", header).body(body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

/// The value of the first `name="csrf"` field in `html`.
pub fn csrf(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).unwrap_or_else(|| panic!("no csrf field in {html}"));
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// Every `Set-Cookie` header of `resp`.
pub fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// `name=value` of cookie `name` set by `resp`.
pub fn cookie_pair(resp: &reqwest::Response, name: &str) -> Option<String> {
    set_cookies(resp).into_iter().find(|c| c.starts_with(&format!("{name}="))).map(|c| c.split(';').next().unwrap().to_owned())
}
