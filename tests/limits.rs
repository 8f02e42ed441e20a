//! Bad input and load against the real binary (issue 18): a slow-drip client gets 408 once
//! `server.request_timeout_ms` passes while other requests are answered meanwhile, a client
//! dripping its headers is cut off by the same timeout, an oversized request head gets 431, a
//! 503 says when to retry (`Retry-After`), and a full store (`store.max_size_mib`) answers 503
//! while keeping everything it acknowledged. Also the check every e2e `serve` gets when it
//! stops: no stored secret value in its log.

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use support::site::Site;

fn limited_site() -> Site {
    Site::new("request_timeout_ms = 1500\nmax_header_bytes = 2048\n", "")
}

/// Sends `head` (and no more) on a fresh connection; the raw answer once the server closes or
/// answers.
fn answer_to(addr: &str, head: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn status_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or_default()
}

#[test]
fn a_slow_drip_client_gets_408_and_does_not_hold_the_server() {
    let site = limited_site();
    let server = site.start();
    let addr = server.base.trim_start_matches("http://").to_owned();
    let dripper = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut stream = TcpStream::connect(&addr).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            let head = "POST /webhooks/wave HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n";
            stream.write_all(head.as_bytes()).unwrap();
            // One byte every 100 ms: the body would take 100 s; the server stops waiting first.
            let mut answer = Vec::new();
            stream.set_nonblocking(true).unwrap();
            for _ in 0..600 {
                if stream.write_all(b"{").is_err() {
                    break;
                }
                let mut buf = [0u8; 1024];
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        answer.extend_from_slice(&buf[..n]);
                        break;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
            String::from_utf8_lossy(&answer).into_owned()
        })
    };
    // While it drips, the server answers others.
    std::thread::sleep(Duration::from_millis(300));
    let health = answer_to(&addr, "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert_eq!(status_line(&health), "HTTP/1.1 200 OK", "{health}");
    let dripped = dripper.join().unwrap();
    assert_eq!(status_line(&dripped), "HTTP/1.1 408 Request Timeout", "{dripped}");
}

#[test]
fn a_client_dripping_its_headers_is_cut_off_while_others_are_served() {
    let site = limited_site();
    let server = site.start();
    let addr = server.base.trim_start_matches("http://").to_owned();
    const HEADER: usize = 600;
    let dripper = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut stream = TcpStream::connect(&addr).unwrap();
            // Each read waits 100 ms for an answer: one header byte per 100 ms, a minute in all.
            stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-drip: ").unwrap();
            let mut buf = [0u8; 1024];
            for sent in 0..HEADER {
                if stream.write_all(b"a").is_err() {
                    return (sent, String::new());
                }
                match stream.read(&mut buf) {
                    Ok(n) => return (sent, String::from_utf8_lossy(&buf[..n]).into_owned()),
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                    Err(_) => return (sent, String::new()),
                }
            }
            (HEADER, String::new())
        })
    };
    // While it drips, the server answers others.
    std::thread::sleep(Duration::from_millis(300));
    let health = answer_to(&addr, "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert_eq!(status_line(&health), "HTTP/1.1 200 OK", "{health}");
    let (sent, answer) = dripper.join().unwrap();
    assert!(sent < HEADER, "the server waited for the whole dripped head");
    assert_eq!(answer, "", "the connection is closed without an answer");
}

#[test]
fn an_oversized_request_head_gets_431() {
    let site = limited_site();
    let server = site.start();
    let addr = server.base.trim_start_matches("http://");
    let big = "a".repeat(4096);
    let answer = answer_to(addr, &format!("GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {big}\r\nconnection: close\r\n\r\n"));
    assert_eq!(status_line(&answer), "HTTP/1.1 431 Request Header Fields Too Large", "{answer}");
    let small = answer_to(addr, "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert_eq!(status_line(&small), "HTTP/1.1 200 OK", "{small}");
}

#[test]
fn a_503_tells_the_sender_when_to_retry() {
    // No webhook secret stored: Wave's webhook is refused with 503 (Wave retries 5xx).
    let site = limited_site();
    let server = site.start();
    let addr = server.base.trim_start_matches("http://");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let zeros = "0".repeat(64);
    let head = format!("POST /webhooks/wave HTTP/1.1\r\nhost: x\r\nx-wave-signature: t={now},v1={zeros}\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}");
    let answer = answer_to(addr, &head);
    assert_eq!(status_line(&answer), "HTTP/1.1 503 Service Unavailable", "{answer}");
    assert!(answer.to_ascii_lowercase().contains("\r\nretry-after: 1\r\n"), "{answer}");
}

#[test]
fn a_log_line_holding_a_stored_secret_is_found_and_masked() {
    support::secret_logs::remember("whsec_test_leak_probe");
    let log = vec!["Started.".to_owned(), "Verifying with whsec_test_leak_probe now.".to_owned()];
    assert_eq!(support::secret_logs::leaks(&log), ["Verifying with <SECRET> now."]);
    assert!(support::secret_logs::leaks(&log[..1]).is_empty());
}

#[test]
fn a_served_webhook_logs_no_stored_secret() {
    let site = limited_site();
    site.set_secret("wave.webhook_secret", "whsec_limits_e2e_secret");
    let server = site.start();
    let addr = server.base.trim_start_matches("http://");
    let answer = answer_to(addr, "POST /webhooks/wave HTTP/1.1\r\nhost: x\r\nx-wave-signature: t=1,v1=00\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}");
    assert_eq!(status_line(&answer), "HTTP/1.1 401 Unauthorized", "{answer}");
    drop(server); // checks the captured log against every stored secret
}

/// A signed Wave webhook of an event nothing subscribes to, padded with `pad` bytes of data.
fn padded_event(id: &str, pad: usize) -> (String, String) {
    let body = format!(r#"{{"event_id":"{id}","event_type":"test.padded","business_id":"b","data":{{"pad":"{}"}}}}"#, "x".repeat(pad));
    let header = ml_connector::sources::wave::signature::sign(FULL_SECRET, chrono::Utc::now().timestamp(), body.as_bytes());
    (body, header)
}

const FULL_SECRET: &str = "whsec_limits_full_store";

#[tokio::test(flavor = "multi_thread")]
async fn a_full_store_answers_503_and_keeps_what_it_acknowledged_until_it_has_room_again() {
    // 1 MiB: the schema and a few padded events.
    let site = Site::new("", "max_size_mib = 1\n");
    site.set_secret("wave.webhook_secret", FULL_SECRET);
    let server = site.start();
    let client = reqwest::Client::new();
    let post = |id: String| {
        let (client, base) = (client.clone(), server.base.clone());
        async move {
            let (body, header) = padded_event(&id, 64 * 1024);
            client.post(format!("{base}/webhooks/wave")).header("x-wave-signature", header).body(body).send().await.unwrap()
        }
    };
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for i in 0..64 {
        let id = format!("evt-full-{i}");
        let answer = post(id.clone()).await;
        match answer.status().as_u16() {
            200 => acknowledged.push(id),
            503 => {
                let retry_after = answer.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
                assert_eq!(retry_after.as_deref(), Some("1"));
                refused = Some(id);
                break;
            }
            other => panic!("{id}: {other} {}", answer.text().await.unwrap()),
        }
    }
    let refused = refused.expect("a 1 MiB store filled up");
    assert!(!acknowledged.is_empty(), "some events fit before the store was full");
    // The server is still up, and everything it acknowledged is stored.
    let health = client.get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let stored = site.json(&["events", "list", "--json", "--limit", "1000"]);
    let stored: Vec<&str> = stored.as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    for id in &acknowledged {
        assert!(stored.contains(&id.as_str()), "{id} was acknowledged but is not stored");
    }
    assert!(!stored.contains(&refused.as_str()), "the refused event was half stored");
    server.kill();

    // Room again: the refused event is taken as new, and every event is dispatched.
    let config = std::fs::read_to_string(site.config()).unwrap().replace("max_size_mib = 1\n", "max_size_mib = 64\n");
    std::fs::write(site.config(), config).unwrap();
    let server = site.start();
    let (body, header) = padded_event(&refused, 64 * 1024);
    let answer = client.post(format!("{}/webhooks/wave", server.base)).header("x-wave-signature", header).body(body).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let answer: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(answer["status"], "accepted", "{answer}");
    site.wait_for("every event to be dispatched", || {
        let events = site.json(&["events", "list", "--json", "--limit", "1000"]);
        let events = events.as_array().unwrap();
        events.len() == acknowledged.len() + 1 && events.iter().all(|e| e["status"] == "dispatched")
    });
    drop(server);
}
