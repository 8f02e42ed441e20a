//! The web console over HTTP against the real `serve`: sign-in (a wrong password, a missing
//! CSRF token, too many attempts), the session cookie's flags, CSRF on replay, escaping of
//! outside values, replay through the form, a shadow run's result on the plugins page, and the
//! console off when not on loopback.

mod support;

use std::sync::Arc;

use ml_connector::secrets::{MasterKey, Vault};
use ml_connector::store::sqlite::SqliteStore;
use reqwest::redirect::Policy;
use support::console::*;
use support::site::{MASTER_KEY, Site};

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

/// The sign-in page's token and its double-submit cookie.
async fn sign_in_form(base: &str) -> (String, String) {
    let resp = client().get(format!("{base}/console/login")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let cookie = cookie_pair(&resp, "ml_console_login").expect("sign-in cookie");
    (csrf(&resp.text().await.unwrap()), cookie)
}

async fn sign_in(base: &str, password: &str) -> reqwest::Response {
    let (token, cookie) = sign_in_form(base).await;
    client().post(format!("{base}/console/login")).header("cookie", cookie).form(&[("csrf", token.as_str()), ("password", password)]).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_csrf_escaping_and_replay_work_over_http() {
    // Dry-run: the team call is recorded, not sent; the customer SMS fails (no customer phone).
    let site = console_site("", "[twilio]\nfrom = \"+15005550006\"\n");
    // The console password is stored as an argon2 hash, sealed like every secret.
    let store = Arc::new(SqliteStore::open(&site.dir.path().join("connector.db")).unwrap());
    let vault = Vault::new(store, Some(Arc::new(MasterKey::parse(MASTER_KEY, "test").unwrap())));
    let stored = vault.get("console.password").await.unwrap().unwrap();
    assert!(stored.expose().starts_with("$argon2id$") && !stored.expose().contains(PASSWORD));

    let server = site.start();
    let base = server.base.clone();
    post_overdue(&base, "evt-console-1").await;
    site.wait_for("the overdue event's messages to settle", || {
        let m = site.audit(&["--event", "evt-console-1"]);
        m.len() == 2 && m.iter().all(|m| m["status"] == "failed" || m["status"] == "dry-run")
    });

    // Signed out: every page sends to sign-in.
    for path in ["/console", "/console/messages", "/console/messages/1", "/console/events", "/console/plugins"] {
        let resp = client().get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 303, "{path}");
        assert_eq!(resp.headers()["location"], "/console/login");
    }
    // No token, or another one: refused before the password is looked at.
    let (_, cookie) = sign_in_form(&base).await;
    let resp = client().post(format!("{base}/console/login")).header("cookie", &cookie).form(&[("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert!(cookie_pair(&resp, "ml_console_session").is_none());
    let resp = client().post(format!("{base}/console/login")).header("cookie", &cookie).form(&[("csrf", "0".repeat(64).as_str()), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    // A wrong password.
    let resp = sign_in(&base, "wrong horse").await;
    assert_eq!(resp.status().as_u16(), 401);
    assert!(cookie_pair(&resp, "ml_console_session").is_none());
    assert!(resp.text().await.unwrap().contains("Wrong password."));
    // The right one: a session cookie, HttpOnly and SameSite=Strict, not Secure over http.
    let resp = sign_in(&base, PASSWORD).await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/console");
    let set = set_cookies(&resp).into_iter().find(|c| c.starts_with("ml_console_session=")).unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/console") && !set.contains("Secure"), "{set}");
    let session = cookie_pair(&resp, "ml_console_session").unwrap();
    let get = |path: &str| client().get(format!("{base}{path}")).header("cookie", &session).send();

    let resp = get("/console").await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"), "{csp}");
    let overview = resp.text().await.unwrap();
    assert!(overview.contains("<svg") && overview.contains("id=\"hourly-chart\"") && overview.contains("no customer phone number in context"), "{overview}");
    let messages = site.audit(&["--event", "evt-console-1"]);
    let sms = messages.iter().find(|m| m["channel"] == "sms").unwrap()["id"].as_i64().unwrap();
    let call = messages.iter().find(|m| m["channel"] == "call").unwrap()["id"].as_i64().unwrap();

    // Outside values are escaped: the injected script is text on every page that shows it.
    let escaped = "&lt;script&gt;document.title='pwned';window.pwned=1&lt;/script&gt;";
    for path in [format!("/console/messages/{call}"), "/console/events/evt-console-1".into()] {
        let page = get(&path).await.unwrap().text().await.unwrap();
        assert!(page.contains(escaped), "{path}: {page}");
        assert!(!page.contains("<script"), "{path} carries a script element: {page}");
    }
    let page = get("/console/messages").await.unwrap().text().await.unwrap();
    assert!(page.contains("evt-console-1") && !page.contains("<script"), "{page}");
    // Filters: by number (the team's) and by status.
    let page = get("/console/messages?number=%2B14155552671").await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("href=\"/console/messages/{call}\"")) && !page.contains(&format!("href=\"/console/messages/{sms}\"")));
    let page = get("/console/messages?status=failed").await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("href=\"/console/messages/{sms}\"")) && !page.contains(&format!("href=\"/console/messages/{call}\"")), "{sms} {call} {page}");
    let page = get("/console/plugins").await.unwrap().text().await.unwrap();
    assert!(page.contains("invoice-overdue") && page.contains("invoice.overdue"), "{page}");
    // A shadow run's summary is the plugin's last shadow result on the plugins page.
    let shadow = site.cmd(&["plugin", "shadow", "invoice-overdue", "--against", "invoice-overdue"]).output().unwrap();
    assert!(shadow.status.success(), "{shadow:?}");
    let page = get("/console/plugins").await.unwrap().text().await.unwrap();
    assert!(page.contains("identical on 1 event<"), "{page}");

    // Replay: the confirmation, then the POST, which needs the session's token.
    let confirm = get(&format!("/console/messages/{sms}/replay")).await.unwrap().text().await.unwrap();
    let token = csrf(&confirm);
    let post = |form: Vec<(&'static str, String)>| client().post(format!("{base}/console/messages/{sms}/replay")).header("cookie", &session).form(&form).send();
    assert_eq!(post(vec![]).await.unwrap().status().as_u16(), 403);
    assert_eq!(post(vec![("csrf", "f".repeat(64))]).await.unwrap().status().as_u16(), 403);
    let resp = client().post(format!("{base}/console/messages/{sms}/replay")).form(&[("csrf", token.as_str())]).send().await.unwrap();
    assert_eq!(resp.headers()["location"], "/console/login", "no session, no replay");
    assert_eq!(site.audit(&["--event", "evt-console-1"]).iter().find(|m| m["id"] == sms).unwrap()["series"], 1);
    let resp = post(vec![("csrf", token.clone())]).await.unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"].to_str().unwrap(), format!("/console/messages/{sms}?replayed=2"));
    site.wait_for("the replayed message to fail again", || {
        let m = site.audit(&["--event", "evt-console-1"]).into_iter().find(|m| m["id"] == sms).unwrap();
        m["series"] == 2 && m["status"] == "failed"
    });
    // The same code path as `messages replay`: a dry-run message is refused.
    let resp = client().post(format!("{base}/console/messages/{call}/replay")).header("cookie", &session).form(&[("csrf", token.as_str())]).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 409);
    assert!(resp.text().await.unwrap().contains("only failed and undeliverable messages are replayed"));
    // An event replay.
    let resp = client().post(format!("{base}/console/events/evt-console-1/replay")).header("cookie", &session).form(&[("csrf", token.as_str())]).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 303);

    // Sign-in attempts are limited per address (5 at once, then one per 12 s): wrong ones soon
    // get 429, and then so does the right one, without its password being checked.
    let mut refused = false;
    for _ in 0..8 {
        let status = sign_in(&base, "wrong horse").await.status().as_u16();
        assert!(status == 401 || status == 429, "{status}");
        if status == 429 {
            refused = true;
            break;
        }
    }
    assert!(refused, "eight wrong passwords in a row were all checked");
    let resp = sign_in(&base, PASSWORD).await;
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    // Signing out ends the session.
    let resp = client().post(format!("{base}/console/logout")).header("cookie", &session).form(&[("csrf", token.as_str())]).send().await.unwrap();
    assert_eq!(resp.headers()["location"], "/console/login");
    assert_eq!(get("/console").await.unwrap().status().as_u16(), 303);
    drop(server);
}

/// A site whose `[server]` is exactly `server` (not the loopback listener [`Site::new`] writes).
fn site_listening(server: &str, rest: &str) -> Site {
    let site = console_site("", rest);
    let config = std::fs::read_to_string(site.config()).unwrap().replace("listen = \"127.0.0.1:0\"\n", server);
    std::fs::write(site.config(), config).unwrap();
    site
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_is_off_when_not_on_loopback_unless_enabled() {
    let site = site_listening("listen = \"0.0.0.0:0\"\n", "");
    let server = site.start();
    let base = server.base.replace("0.0.0.0", "127.0.0.1");
    assert_eq!(client().get(format!("{base}/healthz")).send().await.unwrap().status().as_u16(), 200);
    for path in ["/console", "/console/login"] {
        assert_eq!(client().get(format!("{base}{path}")).send().await.unwrap().status().as_u16(), 404, "{path}");
    }
    drop(server);

    let site = site_listening("listen = \"0.0.0.0:0\"\npublic_url = \"https://connector.example.com\"\n", "[console]\nenabled = true\n");
    let server = site.start();
    let base = server.base.replace("0.0.0.0", "127.0.0.1");
    let resp = client().get(format!("{base}/console/login")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let set = set_cookies(&resp).join("\n");
    assert!(set.contains("; Secure") && set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
    drop(server);

    let site = Site::new("", "[console]\nenabled = false\n");
    let server = site.start();
    assert_eq!(client().get(format!("{}/console/login", server.base)).send().await.unwrap().status().as_u16(), 404);
    drop(server);
}
