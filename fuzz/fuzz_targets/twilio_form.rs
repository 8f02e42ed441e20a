//! Twilio webhook form bodies, decoded and read as the status and inbound routes read them:
//! never a panic, and the stored JSON keeps every parameter.
//! Input: the raw `application/x-www-form-urlencoded` body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ml_connector::sources::twilio::callbacks::{call_rank, event_id, message_rank, opt_change, param, params_json, parse_form};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let params = parse_form(data);
    for name in ["MessageStatus", "SmsStatus"] {
        if let Some(status) = param(&params, name) {
            let _ = message_rank(status);
        }
    }
    if let Some(status) = param(&params, "CallStatus") {
        let _ = call_rank(status);
    }
    if let Some(sid) = param(&params, "MessageSid") {
        assert!(event_id(sid).ends_with(sid));
    }
    let _ = opt_change(param(&params, "Body").unwrap_or(""), param(&params, "OptOutType"));
    let _ = param(&params, "ErrorCode").and_then(|c| c.parse::<i64>().ok());

    let stored: Value = serde_json::from_str(&params_json(&params)).expect("params_json writes JSON");
    let object = stored.as_object().expect("params_json writes an object");
    let kept: usize = object.values().map(|v| v.as_array().map_or(1, Vec::len)).sum();
    assert_eq!(kept, params.len(), "a parameter was lost: {params:?}");
});
