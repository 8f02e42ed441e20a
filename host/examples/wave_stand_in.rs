//! `cargo run --example wave-stand-in [-- --listen 127.0.0.1:4100]`: a local Wave (OAuth
//! authorize and token endpoints, GraphQL) for trying ml-connector end to end without a Wave
//! account, seeded with the business, customer (with a mobile number) and invoices that Wave's
//! sample events (`ml-connector wave send-test-event`) refer to. The same stand-in the tests
//! use (`tests/support/wave_standin.rs`). Stop it with Ctrl-C.

#[path = "../../tests/support/wave_standin.rs"]
mod wave_standin;

use wave_standin::CLIENT_SECRET;

#[tokio::main]
async fn main() {
    let listen = listen_arg("127.0.0.1:4100");
    let standin = wave_standin::start_on(&listen, "no-access-yet", "no-refresh-yet").await;
    wave_standin::seed_demo(&standin);
    let base = &standin.base;
    println!("Wave stand-in listening on {base}");
    println!("  business \"Acme Plumbing\" (time zone America/Chicago); customer 123 Dana Whitfield,");
    println!("  mobile (415) 555-0123; invoice 123 INV-0042 overdue, 200.00 USD due; invoice 124 paid.");
    println!("Point ml-connector at it (ml-connector.toml):");
    println!("  [wave]");
    println!("  client_id = \"demo-client\"");
    println!("  authorize_url = \"{}\"", standin.authorize_url());
    println!("  token_url = \"{}\"", standin.token_url());
    println!("  graphql_url = \"{}\"", standin.graphql_url());
    println!("and store its client secret: printf '{CLIENT_SECRET}' | ml-connector secrets set wave.client_secret");
    let _ = tokio::signal::ctrl_c().await;
}

/// `--listen ADDR`, else `default`.
fn listen_arg(default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == "--listen").and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_owned())
}
