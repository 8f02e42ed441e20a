//! The web console in a real browser: Debian's headless Chromium driven through chromedriver
//! by `fantoccini`, against the real `serve` in live mode with the Twilio stand-in. Sign in (a
//! wrong password first), find a failed call by its number, open it, see the injected
//! `<script>` shown as text and not run, try the replay without its CSRF token (refused), then
//! replay it and see the new attempt with Twilio's SID. Screenshots go to
//! `target/console-screenshots/`. When Chromium or chromedriver is missing the test fails under
//! `CI=true` (`scripts/test` installs them) and otherwise prints `SKIPPED: …`.

mod support;
#[path = "support/twilio_standin.rs"]
mod twilio_standin;

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use support::console::*;
use twilio_standin::{Reply, Twilio};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

/// A program on the PATH.
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|p| p.is_file()))
}

/// Chromium and chromedriver, or why not (failing under CI, else `SKIPPED`).
fn browser() -> Option<(PathBuf, PathBuf)> {
    let found = (which("chromium").or_else(|| which("chromium-browser")), which("chromedriver"));
    if let (Some(chromium), Some(driver)) = found {
        return Some((chromium, driver));
    }
    let reason = "Chromium and chromedriver (Debian: `apt-get install -y chromium chromium-driver`; `scripts/test` installs them)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the browser test needs {reason}");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED: console_browser: {reason} are missing");
    None
}

/// chromedriver on a free port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver(driver: &Path) -> Driver {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(driver).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::get(format!("{url}/status")).await.is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not answer on {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver { child, url }
}

async fn open_browser(driver: &Driver, chromium: &Path, profile: &Path) -> Client {
    let profile = format!("--user-data-dir={}", profile.display());
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--window-size=1280,1000",
        &profile,
    ];
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), json!({ "binary": chromium, "args": args }));
    // chromedriver listens on loopback over plain HTTP.
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(caps).connect(&driver.url).await.expect("a Chromium session")
}

/// Saves a screenshot as `target/console-screenshots/{name}.png`.
async fn screenshot(browser: &Client, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), browser.screenshot().await.unwrap()).unwrap();
}

/// The text of the first element matching `css`, once the page (which a click may still be
/// loading) has one.
async fn text_of(browser: &Client, css: &str) -> String {
    browser.wait().for_element(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

/// Clicks `css` and waits until the browser has left the page it was on (its root element is
/// gone), so that what is looked up next is on the new page, not on the one being left.
async fn click_and_load(browser: &Client, css: &str) {
    let old = browser.find(Locator::Css("html")).await.unwrap();
    browser.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while old.tag_name().await.is_ok() {
        assert!(Instant::now() < deadline, "clicking {css} did not load a page");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sign_in(browser: &Client, base: &str, password: &str) {
    browser.goto(&format!("{base}/console/login")).await.unwrap();
    browser.find(Locator::Css("#password")).await.unwrap().send_keys(password).await.unwrap();
    click_and_load(browser, "form.signin button").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_finds_a_failed_call_by_number_and_replays_it_in_a_real_browser() {
    let Some((chromium, driver_path)) = browser() else { return };
    let (twilio, api) = Twilio::start().await;
    // The team call is refused once (a 4xx: failed, not retried); the replay's request succeeds.
    twilio.script([Reply::error(400, 21211, "The 'To' number is not a valid phone number.")]);
    let site = console_site(
        "",
        &format!(
            "[twilio]\naccount_sid = \"{ACCOUNT}\"\nfrom = \"+15005550006\"\napi_base = \"{api}\"\nlookups_base = \"{api}\"\nmode = \"live\"\nretry_base_ms = 5\n"
        ),
    );
    site.set_secret("twilio.auth_token", "token-console");
    let server = site.start();
    let base = server.base.clone();
    post_overdue(&base, "evt-browser-1").await;
    site.wait_for("the team call to fail", || {
        site.audit(&["--event", "evt-browser-1"]).iter().any(|m| m["channel"] == "call" && m["status"] == "failed")
    });

    let driver = start_driver(&driver_path).await;
    let profile = tempfile::tempdir().unwrap();
    let browser = open_browser(&driver, &chromium, profile.path()).await;

    // A wrong password is refused.
    sign_in(&browser, &base, "wrong horse").await;
    assert!(text_of(&browser, "p.notice").await.contains("Wrong password."));
    screenshot(&browser, "01-wrong-password").await;
    assert!(browser.current_url().await.unwrap().path().ends_with("/console/login"));

    sign_in(&browser, &base, PASSWORD).await;
    browser.wait().for_element(Locator::Css("#hourly-chart")).await.unwrap();
    screenshot(&browser, "02-overview").await;

    // Find the call by the number it went to and open it.
    browser.goto(&format!("{base}/console/messages")).await.unwrap();
    browser.find(Locator::Css("input[name=number]")).await.unwrap().send_keys(TEAM).await.unwrap();
    click_and_load(&browser, "form.filters button").await;
    let links = browser.wait().for_element(Locator::Css("#messages")).await.unwrap().find_all(Locator::Css("a.message-link")).await.unwrap();
    assert_eq!(links.len(), 1, "one message went to {TEAM}");
    screenshot(&browser, "03-messages-by-number").await;
    click_and_load(&browser, "#messages a.message-link").await;
    let body = browser.wait().for_element(Locator::Css("pre#body")).await.unwrap().text().await.unwrap();

    // The injected script is shown as text and did not run.
    assert!(body.contains(INJECTED), "{body}");
    assert_ne!(browser.title().await.unwrap(), "pwned");
    let ran = browser.execute("return [window.pwned === undefined, document.querySelectorAll('script').length];", vec![]).await.unwrap();
    assert_eq!(ran, json!([true, 0]));
    assert_eq!(browser.find_all(Locator::Css("#attempts tbody tr")).await.unwrap().len(), 2, "a Lookups and a refused call");
    screenshot(&browser, "04-failed-call").await;

    // The replay form without its CSRF token is refused, and nothing is replayed.
    let message_url = browser.current_url().await.unwrap();
    click_and_load(&browser, "#replay").await;
    browser.wait().for_element(Locator::Css("#confirm-replay")).await.unwrap();
    browser.execute("document.querySelector('form[action$=replay] input[name=csrf]').remove();", vec![]).await.unwrap();
    click_and_load(&browser, "#confirm-replay").await;
    assert!(text_of(&browser, "p.notice").await.contains("Missing or wrong CSRF token"));
    screenshot(&browser, "05-csrf-refused").await;

    // Replayed through the confirmation: the new attempt appears with Twilio's SID.
    browser.goto(message_url.as_str()).await.unwrap();
    click_and_load(&browser, "#replay").await;
    click_and_load(&browser, "#confirm-replay").await;
    assert!(text_of(&browser, "p.notice").await.contains("re-queued as attempt series 2"));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let rows = browser.find_all(Locator::Css("#attempts tbody tr")).await.unwrap();
        if rows.len() > 2 {
            let last = rows.last().unwrap().text().await.unwrap();
            if last.contains("201") && last.contains("CA") {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the replayed call's attempt did not appear");
        tokio::time::sleep(Duration::from_millis(300)).await;
        browser.refresh().await.unwrap();
    }
    assert_eq!(text_of(&browser, "#series").await, "2");
    screenshot(&browser, "06-replayed").await;
    assert_eq!(twilio.posts().len(), 2, "the refused call and the replayed one");

    browser.close().await.unwrap();
    drop(driver);
    drop(server);
}
