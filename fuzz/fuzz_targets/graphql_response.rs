//! Wave GraphQL answers decoded the way the enricher and the reconciliation sweep read them:
//! the response envelope, error codes, `business.customer` and `business.invoice` (phone numbers
//! to E.164, the invoice as plugins see it), and the sweep's invoice pages with their ids read
//! back to raw ids. Never a panic on any body.
//! Input: the raw response body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ml_connector::sources::wave::enrich::{e164, invoice_from, region};
use ml_connector::sources::wave::graphql::{CustomerNode, InvoiceNode, Response};
use ml_connector::sources::wave::ids;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(response) = serde_json::from_slice::<Response>(data) else { return };
    for error in &response.errors {
        let _ = error.code();
    }
    let Some(business) = response.data.as_ref().and_then(|d| d.get("business")).filter(|b| !b.is_null()) else {
        return;
    };
    let _ = business.get("name").and_then(Value::as_str);
    let us = region("US").expect("US is a region");
    if let Some(Ok(customer)) = business.get("customer").map(|c| serde_json::from_value::<CustomerNode>(c.clone())) {
        for number in [customer.mobile, customer.phone].into_iter().flatten() {
            if let Ok(e164) = e164(&number, us) {
                assert!(e164.starts_with('+'), "{number:?} gave {e164:?}");
            }
        }
        let _ = ids::raw(&customer.id, "Customer");
    }
    if let Some(Ok(invoice)) = business.get("invoice").map(|i| serde_json::from_value::<InvoiceNode>(i.clone())) {
        let raw = ids::raw(&invoice.id, "Invoice").unwrap_or_default();
        let _ = invoice_from(&raw, invoice);
    }
    let edges = business.pointer("/invoices/edges").and_then(Value::as_array).cloned().unwrap_or_default();
    for edge in edges {
        if let Ok(node) = serde_json::from_value::<InvoiceNode>(edge.get("node").cloned().unwrap_or(Value::Null)) {
            let _ = ids::raw(&node.id, "Invoice");
            let _ = node.customer.as_ref().and_then(|c| ids::raw(&c.id, "Customer"));
        }
    }
    let _ = business.pointer("/invoices/pageInfo/totalPages").and_then(Value::as_u64);
});
