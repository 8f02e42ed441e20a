//! Wave API ids: the raw ids of webhook payloads, prefixed and base64-encoded
//! the way Wave's GraphQL API expects (`Business:{id};Invoice:{id}`), and back.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The GraphQL id of a business: base64 of `Business:{business_id}`.
pub fn business(business_id: &str) -> String {
    STANDARD.encode(format!("Business:{business_id}"))
}

/// The GraphQL id of a customer: base64 of `Business:{business_id};Customer:{customer_id}`.
pub fn customer(business_id: &str, customer_id: &str) -> String {
    child(business_id, "Customer", customer_id)
}

/// The GraphQL id of an invoice: base64 of `Business:{business_id};Invoice:{invoice_id}`.
pub fn invoice(business_id: &str, invoice_id: &str) -> String {
    child(business_id, "Invoice", invoice_id)
}

/// The GraphQL id of an estimate: base64 of `Business:{business_id};Estimate:{estimate_id}`.
pub fn estimate(business_id: &str, estimate_id: &str) -> String {
    child(business_id, "Estimate", estimate_id)
}

fn child(business_id: &str, kind: &str, id: &str) -> String {
    STANDARD.encode(format!("Business:{business_id};{kind}:{id}"))
}

/// The raw id of `kind` (e.g. `Invoice`) inside a GraphQL id, if it holds one.
/// Ids Wave returns are decoded this way to match them with webhook payloads.
pub fn raw(graphql_id: &str, kind: &str) -> Option<String> {
    let bytes = STANDARD.decode(graphql_id).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.split(';').find_map(|part| part.strip_prefix(kind)?.strip_prefix(':').map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked examples of Wave's webhook guide (seed 002, "Encoding IDs for API Requests").
    #[test]
    fn ids_encode_exactly_as_the_seed_worked_examples() {
        assert_eq!(business("test-business-id"), "QnVzaW5lc3M6dGVzdC1idXNpbmVzcy1pZA==");
        assert_eq!(
            invoice("test-business-id", "test-invoice-id"),
            "QnVzaW5lc3M6dGVzdC1idXNpbmVzcy1pZDtJbnZvaWNlOnRlc3QtaW52b2ljZS1pZA=="
        );
        assert_eq!(
            estimate("test-business-id", "test-estimate-id"),
            "QnVzaW5lc3M6dGVzdC1idXNpbmVzcy1pZDtFc3RpbWF0ZTp0ZXN0LWVzdGltYXRlLWlk"
        );
    }

    #[test]
    fn customer_ids_follow_the_seed_format() {
        let id = customer("test-business-id", "21840161");
        assert_eq!(STANDARD.decode(&id).unwrap(), b"Business:test-business-id;Customer:21840161");
    }

    #[test]
    fn raw_ids_are_read_back_out_of_graphql_ids() {
        let id = invoice("63c77f29-875c-4cdc-947d-07430f628043", "2496756670638588934");
        assert_eq!(raw(&id, "Invoice").as_deref(), Some("2496756670638588934"));
        assert_eq!(raw(&id, "Business").as_deref(), Some("63c77f29-875c-4cdc-947d-07430f628043"));
        assert_eq!(raw(&id, "Customer"), None);
        assert_eq!(raw("not base64!", "Invoice"), None);
    }
}
