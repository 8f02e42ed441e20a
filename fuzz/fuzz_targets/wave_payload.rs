//! Wave webhook bodies: `payload::parse` never panics, and what it accepts is an event with a
//! short non-empty id and kind and a JSON object as `data`.
//! Input: the raw body.
#![no_main]

use chrono::DateTime;
use libfuzzer_sys::fuzz_target;
use ml_connector::sources::wave::payload::{SOURCE, parse};

fuzz_target!(|data: &[u8]| {
    let received_at = DateTime::from_timestamp(1_700_000_000, 0).expect("a valid instant");
    let Ok(event) = parse(data, received_at) else { return };
    assert_eq!(event.source, SOURCE);
    for field in [&event.id, &event.kind] {
        assert!(!field.trim().is_empty() && field.len() <= 200, "{field:?}");
    }
    let object: Result<serde_json::Map<String, serde_json::Value>, _> = serde_json::from_str(&event.data);
    assert!(object.is_ok(), "data is not a JSON object: {}", event.data);
});
