//! Bad input and load against the real binary (issue 18): a slow-drip client gets 408 once
//! `server.request_timeout_ms` passes while other requests are answered meanwhile, an oversized
//! request head gets 431, and a 503 says when to retry (`Retry-After`). Also the check every e2e
//! `serve` gets when it stops: no stored secret value in its log.

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
