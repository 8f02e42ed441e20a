//! Outbox row to Twilio request: the path, query and form body of each request the sender makes.
//! Pure (no I/O, no clock), so every request shape is fixture-tested here and checked against
//! Twilio's OpenAPI specs by the Prism conformance test.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::twiml;
use crate::model::Channel;

/// Which Twilio API a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `api_base`: the 2010-04-01 REST API (Messages, Calls).
    Rest,
    /// `lookups_base`: Lookups v2.
    Lookups,
}

/// What a request does; also the `kind` of its audit attempt row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// Create Message.
    Message,
    /// Create Call.
    Call,
    /// Lookups v2 fetch.
    Lookup,
    /// List messages or calls to a number (ambiguous-send reconciliation).
    List,
}

impl RequestKind {
    /// The audit name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Call => "call",
            Self::Lookup => "lookup",
            Self::List => "list",
        }
    }
}

/// One request to Twilio, before credentials and base URL are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioRequest {
    /// What it does.
    pub kind: RequestKind,
    /// Which base URL it goes to.
    pub api: Api,
    /// `true` for POST (form body), `false` for GET.
    pub post: bool,
    /// The path, starting with `/`.
    pub path: String,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// Form parameters (POST only), in order.
    pub form: Vec<(String, String)>,
}

impl TwilioRequest {
    /// The audit record of the request: method, path, query and form as JSON (a repeated name,
    /// such as `StatusCallbackEvent`, as an array of its values). Holds no credentials (those
    /// are only ever in the `Authorization` header).
    pub fn describe(&self) -> String {
        let pairs = |list: &[(String, String)]| {
            let mut map = serde_json::Map::new();
            for (k, v) in list {
                match map.get_mut(k) {
                    None => {
                        map.insert(k.clone(), json!(v));
                    }
                    Some(serde_json::Value::Array(values)) => values.push(json!(v)),
                    Some(first) => *first = json!([first.take(), v]),
                }
            }
            map
        };
        let mut out = json!({
            "method": if self.post { "POST" } else { "GET" },
            "path": self.path,
        });
        if !self.query.is_empty() {
            out["query"] = pairs(&self.query).into();
        }
        if !self.form.is_empty() {
            out["form"] = pairs(&self.form).into();
        }
        out.to_string()
    }

    /// A form parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The sending side of every request: account, sender and callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Account SID (in every REST path, also with API-key auth).
    pub account_sid: String,
    /// Sender number; required for calls, used for SMS when there is no messaging service.
    pub from: Option<String>,
    /// Messaging service SID, preferred for SMS when set.
    pub messaging_service_sid: Option<String>,
    /// `{public_url}/webhooks/twilio/status`.
    pub status_callback: String,
}

/// Why a request cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// Calls need a `From` number; a messaging service cannot place calls.
    #[error("calls need `twilio.from` (a messaging service cannot place calls)")]
    NoCallerId,
    /// Neither `from` nor `messaging_service_sid` is configured.
    #[error("SMS needs `twilio.from` or `twilio.messaging_service_sid`")]
    NoSender,
}

/// The call progress events every call asks Twilio to call back with (`StatusCallbackEvent`,
/// one form field per value): each callback carries the message tag in its URL, so any one of
/// them reaching the host links the call to its message even when the create answer was lost.
/// Twilio sends only `completed` when none is asked for.
pub const CALL_EVENTS: [&str; 4] = ["initiated", "ringing", "answered", "completed"];

fn account_path(identity: &Identity, resource: &str) -> String {
    format!("/2010-04-01/Accounts/{}/{resource}.json", identity.account_sid)
}

/// Create Message (SMS) or Create Call (voice, the body spoken through escaped TwiML) to `to`
/// (E.164).
pub fn send(
    channel: Channel,
    to: &str,
    body: &str,
    identity: &Identity,
) -> Result<TwilioRequest, BuildError> {
    let mut form = vec![("To".to_owned(), to.to_owned())];
    let (kind, resource) = match channel {
        Channel::Sms => {
            match (&identity.messaging_service_sid, &identity.from) {
                (Some(sid), _) => form.push(("MessagingServiceSid".into(), sid.clone())),
                (None, Some(from)) => form.push(("From".into(), from.clone())),
                (None, None) => return Err(BuildError::NoSender),
            }
            form.push(("Body".into(), body.to_owned()));
            (RequestKind::Message, "Messages")
        }
        Channel::Call => {
            let from = identity.from.as_ref().ok_or(BuildError::NoCallerId)?;
            form.push(("From".into(), from.clone()));
            form.push(("Twiml".into(), twiml::say(body)));
            (RequestKind::Call, "Calls")
        }
    };
    form.push(("StatusCallback".into(), identity.status_callback.clone()));
    if kind == RequestKind::Call {
        form.extend(CALL_EVENTS.iter().map(|event| ("StatusCallbackEvent".to_owned(), (*event).to_owned())));
    }
    Ok(TwilioRequest {
        kind,
        api: Api::Rest,
        post: true,
        path: account_path(identity, resource),
        query: Vec::new(),
        form,
    })
}

/// Lookups v2 with line type intelligence for an E.164 number.
pub fn lookup(e164: &str) -> TwilioRequest {
    TwilioRequest {
        kind: RequestKind::Lookup,
        api: Api::Lookups,
        post: false,
        path: format!("/v2/PhoneNumbers/{e164}"),
        query: vec![("Fields".into(), "line_type_intelligence".into())],
        form: Vec::new(),
    }
}

/// Messages (or calls) to `to` since the day `since` falls on: what Twilio has of an attempt
/// whose answer was lost. Twilio filters by date only; the sender compares times itself.
pub fn list_recent(
    channel: Channel,
    to: &str,
    since: DateTime<Utc>,
    identity: &Identity,
) -> TwilioRequest {
    let day = since.format("%Y-%m-%d").to_string();
    let (resource, filter) = match channel {
        Channel::Sms => ("Messages", "DateSent>"),
        Channel::Call => ("Calls", "StartTime>"),
    };
    TwilioRequest {
        kind: RequestKind::List,
        api: Api::Rest,
        post: false,
        path: account_path(identity, resource),
        query: vec![
            ("To".into(), to.to_owned()),
            (filter.into(), day),
            ("PageSize".into(), "50".into()),
        ],
        form: Vec::new(),
    }
}

/// The next page of a list, from the `next_page_uri` of the last (a path and query under
/// `api_base`).
pub fn next_page(uri: &str) -> TwilioRequest {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    TwilioRequest {
        kind: RequestKind::List,
        api: Api::Rest,
        post: false,
        path: path.to_owned(),
        query: form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect(),
        form: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(from: Option<&str>, service: Option<&str>) -> Identity {
        Identity {
            account_sid: "AC00000000000000000000000000000000".into(),
            from: from.map(Into::into),
            messaging_service_sid: service.map(Into::into),
            status_callback: "https://hooks.example.com/webhooks/twilio/status".into(),
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn an_sms_with_a_from_number_posts_to_messages() {
        let req = send(Channel::Sms, "+14155552671", "Paid, thanks!", &identity(Some("+15005550006"), None)).unwrap();
        assert_eq!(req.path, "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json");
        assert!(req.post);
        assert_eq!(
            req.form,
            pairs(&[
                ("To", "+14155552671"),
                ("From", "+15005550006"),
                ("Body", "Paid, thanks!"),
                ("StatusCallback", "https://hooks.example.com/webhooks/twilio/status"),
            ])
        );
    }

    #[test]
    fn an_sms_prefers_the_messaging_service_when_configured() {
        let service = "MG00000000000000000000000000000000";
        let req = send(Channel::Sms, "+14155552671", "hi", &identity(Some("+15005550006"), Some(service))).unwrap();
        assert_eq!(req.param("MessagingServiceSid"), Some(service));
        assert_eq!(req.param("From"), None);
    }

    #[test]
    fn a_call_speaks_escaped_twiml_so_a_plugin_cannot_inject_verbs() {
        let req = send(Channel::Call, "+14155552671", "Hi</Say><Dial>+1900</Dial>", &identity(Some("+15005550006"), None)).unwrap();
        assert_eq!(req.path, "/2010-04-01/Accounts/AC00000000000000000000000000000000/Calls.json");
        assert_eq!(
            req.param("Twiml"),
            Some("<Response><Say>Hi&lt;/Say&gt;&lt;Dial&gt;+1900&lt;/Dial&gt;</Say></Response>")
        );
        assert_eq!(req.param("Body"), None);
    }

    #[test]
    fn a_call_asks_for_every_progress_event_one_field_each_and_an_sms_for_none() {
        let req = send(Channel::Call, "+14155552671", "hi", &identity(Some("+15005550006"), None)).unwrap();
        let events: Vec<&str> = req.form.iter().filter(|(k, _)| k == "StatusCallbackEvent").map(|(_, v)| v.as_str()).collect();
        assert_eq!(events, ["initiated", "ringing", "answered", "completed"]);
        assert_eq!(req.param("StatusCallback"), Some("https://hooks.example.com/webhooks/twilio/status"));
        let sms = send(Channel::Sms, "+14155552671", "hi", &identity(Some("+15005550006"), None)).unwrap();
        assert_eq!(sms.param("StatusCallbackEvent"), None);
    }

    #[test]
    fn a_call_without_a_from_number_cannot_be_built() {
        let err = send(Channel::Call, "+14155552671", "hi", &identity(None, Some("MG00000000000000000000000000000000")));
        assert_eq!(err, Err(BuildError::NoCallerId));
    }

    #[test]
    fn the_next_page_keeps_twilios_path_and_decoded_query() {
        let req = next_page("/2010-04-01/Accounts/AC1/Calls.json?To=%2B14155552671&StartTime%3E=2026-03-31&PageSize=50&Page=1&PageToken=PA1");
        assert_eq!((req.kind, req.api, req.post, req.path.as_str()), (RequestKind::List, Api::Rest, false, "/2010-04-01/Accounts/AC1/Calls.json"));
        assert_eq!(req.query, pairs(&[("To", "+14155552671"), ("StartTime>", "2026-03-31"), ("PageSize", "50"), ("Page", "1"), ("PageToken", "PA1")]));
    }

    #[test]
    fn a_lookup_asks_for_line_type_intelligence() {
        let req = lookup("+14155552671");
        assert_eq!((req.api, req.post, req.path.as_str()), (Api::Lookups, false, "/v2/PhoneNumbers/+14155552671"));
        assert_eq!(req.query, pairs(&[("Fields", "line_type_intelligence")]));
    }

    #[test]
    fn the_audit_description_holds_the_form_but_no_credentials() {
        let req = send(Channel::Sms, "+14155552671", "hi", &identity(Some("+15005550006"), None)).unwrap();
        let described: serde_json::Value = serde_json::from_str(&req.describe()).unwrap();
        assert_eq!(described["method"], "POST");
        assert_eq!(described["form"]["Body"], "hi");
        let call = send(Channel::Call, "+14155552671", "hi", &identity(Some("+15005550006"), None)).unwrap();
        let described: serde_json::Value = serde_json::from_str(&call.describe()).unwrap();
        assert_eq!(described["form"]["StatusCallbackEvent"], json!(["initiated", "ringing", "answered", "completed"]));
    }
}
