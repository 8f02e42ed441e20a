//! `cargo run -p ml-connector --example qad-stand-in [-- ADDR]`: the QAD
//! stand-in the tests use (`tests/support/qad_standin.rs`, the same file),
//! seeded with a demo tenant, on `ADDR` (default `127.0.0.1:8091`). Prints
//! the tenant URL, the credentials and the data; admin endpoints under
//! `/_standin/` post receipts, change records and inject faults.

#[path = "../../tests/support/qad_standin.rs"]
mod qad_standin;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8091".into());
    let standin = qad_standin::start_on(&addr, "clouderp").await;
    standin.with(qad_standin::seed_demo);
    let root = standin.base.trim_end_matches("/clouderp").to_owned();
    println!("QAD stand-in: base_url = \"{}\"", standin.base);
    println!("user {:?}, password {:?} (store it: ml-connector secrets set qad.<name>.password), client id from securityControl", qad_standin::USERNAME, qad_standin::PASSWORD);
    standin.with(|q| {
        for (kind, rows) in [("goods receipts (po501)", &q.receipts), ("purchase orders (po803)", &q.orders), ("supplier invoices", &q.invoices)] {
            println!("{kind}:");
            for row in rows {
                println!("  {row}");
            }
        }
        let mut suppliers: Vec<_> = q.suppliers.iter().collect();
        suppliers.sort_by_key(|(code, _)| code.as_str());
        for (code, s) in suppliers {
            println!("supplier {code}: {} telephone {:?}", s["name"], s["telephone"]);
        }
    });
    println!("admin: POST {root}/_standin/receipt {{\"receiver\",\"po\",\"supplier\"}} | /_standin/set {{\"record\",\"key\",\"field\",\"value\"}} | /_standin/faults | GET /_standin/requests, /_standin/writes");
    tokio::signal::ctrl_c().await.expect("wait for Ctrl-C");
}
