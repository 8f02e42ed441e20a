//! `cargo run --example twilio-stand-in [-- --listen 127.0.0.1:4200]`: a local Twilio (Messages,
//! Calls, Lookups) for trying ml-connector's live mode without a Twilio account: it accepts any
//! credentials, answers every SMS and call with 201 and a fresh SID, every Lookup with a valid
//! mobile, and prints each request it receives (form fields included). The same stand-in the
//! tests use (`tests/support/twilio_standin.rs`). Stop it with Ctrl-C.

#[path = "../../tests/support/twilio_standin.rs"]
mod twilio_standin;

use std::time::Duration;

use twilio_standin::Twilio;

#[tokio::main]
async fn main() {
    let listen = listen_arg("127.0.0.1:4200");
    let (twilio, base) = Twilio::start_on(&listen).await;
    println!("Twilio stand-in listening on {base}");
    println!("Point ml-connector at it (ml-connector.toml):");
    println!("  [twilio]");
    println!("  mode = \"live\"");
    println!("  account_sid = \"AC0123456789abcdef0123456789abcdef\"");
    println!("  api_base = \"{base}\"");
    println!("  lookups_base = \"{base}\"");
    println!("and store any auth token: printf 'stand-in-token' | ml-connector secrets set twilio.auth_token");
    let mut shown = 0;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        let requests = twilio.requests();
        for r in &requests[shown..] {
            let form: Vec<String> = r.form.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            println!("{} {} {}", r.method, r.path, form.join(" "));
        }
        shown = requests.len();
    }
}

/// `--listen ADDR`, else `default`.
fn listen_arg(default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == "--listen").and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_owned())
}
