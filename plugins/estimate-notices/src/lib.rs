//! `estimate-notices`: SMS notices along an estimate's life.
//!
//! | event               | to                        | says                                  |
//! |---------------------|---------------------------|---------------------------------------|
//! | `estimate.sent`     | customer                  | estimate ready: amount, valid-until date, link |
//! | `estimate.approved` | customer, if in `notify_on` | the same notice                     |
//! | `estimate.paid`     | customer                  | deposit received, thank you           |
//! | `estimate.accepted` | team (`team_contact`)     | who accepted which estimate, amount   |
//! | `estimate.expired`  | team (`team_contact`)     | which estimate lapsed, to follow up   |
//!
//! **Approved vs sent.** In Wave, "approved" is the business approving a
//! draft estimate, before it is sent (an accepted estimate that is reset goes
//! back to approved), while "accepted" is the customer's yes. So by default
//! the customer hears about an estimate when it is sent; a business that
//! shares estimates outside Wave can set `notify_on = "estimate.approved"`
//! (both would text twice). Accepted and expired estimates are the team's to
//! act on, so those go to `team_contact`, default `accounting` like the
//! other default plugins; set it to e.g. `sales` if that contact exists, or
//! to an empty string for no team notices.
//!
//! The estimate's number and link come from the host's lookup
//! (`context.estimate`), the amounts from the event. Keys:
//! `estimate:{id}:notice`, `estimate:{id}:deposit:{event id}`,
//! `estimate:{id}:accepted`, `estimate:{id}:expired`.
//!
//! | setting        | default         | meaning                                        |
//! |----------------|-----------------|------------------------------------------------|
//! | `notify_on`    | `estimate.sent` | comma-separated: `estimate.sent`, `estimate.approved` |
//! | `team_contact` | `accounting`    | team contact for accepted and expired estimates |

use ml_connector_sdk::wave::{EstimateChange, WaveEvent};
use ml_connector_sdk::{Action, Context, Event, Manifest, Plugin, Recipient, log, money, sender, time};

/// The plugin; see the crate documentation.
pub struct EstimateNotices;

impl Plugin for EstimateNotices {
    fn describe() -> Manifest {
        Manifest {
            name: "estimate-notices".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Texts customers about sent and paid estimates, and the team about accepted and expired ones."
                .into(),
            subscribes: ["estimate.sent", "estimate.approved", "estimate.paid", "estimate.accepted", "estimate.expired"]
                .map(String::from)
                .into(),
        }
    }

    fn handle(event: Event, context: Context) -> Result<Vec<Action>, String> {
        let settings = context.settings();
        let sender = sender(&context);
        let number = context
            .estimate
            .as_ref()
            .map(|e| e.number.as_str())
            .filter(|n| !n.is_empty());
        // " EST-7", or nothing without a number. Texts are joined with `concat` rather than
        // `format!`: in a fresh instance that is cheaper (see the SDK's README, "Fast plugins").
        let numbered = number.map(|n| [" ", n].concat()).unwrap_or_default();
        let action = match WaveEvent::parse(&event)? {
            WaveEvent::EstimateSent(e) | WaveEvent::EstimateApproved(e) => {
                if !settings
                    .list_or("notify_on", "estimate.sent")
                    .contains(&event.kind.as_str())
                {
                    log::debug(&format!(
                        "{} is not in notify_on; nothing to send",
                        event.kind
                    ));
                    return Ok(vec![]);
                }
                let link = match context.estimate.as_ref().and_then(|e| e.view_url.as_ref()) {
                    Some(url) => [" View it: ", url].concat(),
                    None => String::new(),
                };
                let body = [
                    &sender,
                    "Your estimate",
                    &numbered,
                    " for ",
                    &money::format(&e.amount, &e.currency_code),
                    " is ready, valid until ",
                    &time::format_date(&e.due_date),
                    ".",
                    &link,
                ]
                .concat();
                Some(Action::sms(
                    Recipient::Customer,
                    body,
                    ["estimate:", &e.estimate_id, ":notice"].concat(),
                ))
            }
            WaveEvent::EstimatePaid(p) => {
                let body = [
                    &sender,
                    "Thank you! We received your deposit of ",
                    &money::format(&p.deposit_amount_paid, &p.currency_code),
                    " for your estimate",
                    &numbered,
                    ".",
                ]
                .concat();
                Some(Action::sms(
                    Recipient::Customer,
                    body,
                    ["estimate:", &p.estimate_id, ":deposit:", &event.id].concat(),
                ))
            }
            WaveEvent::EstimateAccepted(e) => {
                let body = [
                    &sender,
                    &describe_estimate(&e, number, &context),
                    " was accepted. Valid until ",
                    &time::format_date(&e.due_date),
                    ".",
                ]
                .concat();
                team_sms(
                    &context,
                    body,
                    ["estimate:", &e.estimate_id, ":accepted"].concat(),
                )
            }
            WaveEvent::EstimateExpired(e) => {
                let body = [
                    &sender,
                    &describe_estimate(&e, number, &context),
                    " expired without being accepted. Consider following up.",
                ]
                .concat();
                team_sms(
                    &context,
                    body,
                    ["estimate:", &e.estimate_id, ":expired"].concat(),
                )
            }
            _ => return Err(format!("estimate-notices does not handle {}", event.kind)),
        };
        Ok(action.into_iter().collect())
    }
}

/// "Estimate EST-7 for Jane Doe ($200.00)", falling back to Wave's ids.
fn describe_estimate(e: &EstimateChange, number: Option<&str>, context: &Context) -> String {
    let estimate = match number {
        Some(number) => ["Estimate ", number].concat(),
        None => ["Estimate ID ", &e.estimate_id].concat(),
    };
    let customer = match &context.customer {
        Some(customer) if !customer.name.is_empty() => customer.name.clone(),
        _ => ["customer ID ", &e.customer_id].concat(),
    };
    [&estimate, " for ", &customer, " (", &money::format(&e.amount, &e.currency_code), ")"].concat()
}

/// An SMS to the `team_contact` team; none when that setting is empty.
fn team_sms(context: &Context, body: String, key: String) -> Option<Action> {
    match context
        .settings()
        .get_or("team_contact", "accounting")
        .trim()
    {
        "" => None,
        team => Some(Action::sms(Recipient::Team(team.into()), body, key)),
    }
}


ml_connector_sdk::export_plugin!(EstimateNotices);

#[cfg(test)]
mod tests {
    use super::*;
    use ml_connector_sdk::testing::{check_cases, run};

    macro_rules! fixture {
        ($kind:literal) => {
            include_str!(concat!(
                "../../../tests/fixtures/events/wave/",
                $kind,
                ".json"
            ))
        };
    }

    const CONTEXT: &str = r#"{"business_name": "Acme Plumbing", "now": "2026-03-30T09:00:00-04:00",
        "customer": {"id": "21840161", "name": "Jane Doe"},
        "estimate": {"id": "123", "number": "EST-7", "status": "SENT", "total": {"amount": "200.00", "currency": "USD"},
            "view_url": "https://next.waveapps.com/e/123"}}"#;
    const BARE: &str = r#"{"now": "2026-03-30T09:00:00-04:00"}"#;

    fn with_settings(settings: &str) -> String {
        CONTEXT.replace(r#""now""#, &format!(r#""settings": {settings}, "now""#))
    }

    #[test]
    fn sent_notifies_the_customer() {
        let notice = "Acme Plumbing: Your estimate EST-7 for $200.00 is ready, valid until Apr 30, 2026. \
                      View it: https://next.waveapps.com/e/123";
        assert_eq!(
            run::<EstimateNotices>(fixture!("estimate.sent"), CONTEXT),
            Ok(vec![Action::sms(
                Recipient::Customer,
                notice,
                "estimate:123:notice"
            )])
        );
        assert_eq!(
            run::<EstimateNotices>(fixture!("estimate.sent"), BARE),
            Ok(vec![Action::sms(
                Recipient::Customer,
                "Your estimate for $200.00 is ready, valid until Apr 30, 2026.",
                "estimate:123:notice"
            )])
        );
    }

    #[test]
    fn approved_only_when_configured() {
        assert_eq!(
            run::<EstimateNotices>(fixture!("estimate.approved"), CONTEXT),
            Ok(vec![])
        );
        let approved = with_settings(r#"{"notify_on": "estimate.approved"}"#);
        let actions = run::<EstimateNotices>(fixture!("estimate.approved"), &approved).unwrap();
        let Action::Sms(sms) = &actions[0] else {
            panic!("{actions:?}")
        };
        assert!(
            sms.body
                .starts_with("Acme Plumbing: Your estimate EST-7 for $200.00 is ready")
        );
        assert_eq!(
            run::<EstimateNotices>(fixture!("estimate.sent"), &approved),
            Ok(vec![])
        );
    }

    #[test]
    fn paid_thanks_for_the_deposit() {
        assert_eq!(
            run::<EstimateNotices>(fixture!("estimate.paid"), CONTEXT),
            Ok(vec![Action::sms(
                Recipient::Customer,
                "Acme Plumbing: Thank you! We received your deposit of $100.00 for your estimate EST-7.",
                "estimate:123:deposit:7a8b9c0d-1e2f-3a4b-5c6d-7e8f90011223"
            )])
        );
    }

    #[test]
    fn accepted_and_expired_tell_the_team() {
        assert_eq!(
            run::<EstimateNotices>(fixture!("estimate.accepted"), CONTEXT),
            Ok(vec![Action::sms(
                Recipient::Team("accounting".into()),
                "Acme Plumbing: Estimate EST-7 for Jane Doe ($200.00) was accepted. Valid until Apr 30, 2026.",
                "estimate:123:accepted"
            )])
        );
        assert_eq!(
            run::<EstimateNotices>(
                fixture!("estimate.expired"),
                &with_settings(r#"{"team_contact": "sales"}"#)
            ),
            Ok(vec![Action::sms(
                Recipient::Team("sales".into()),
                "Acme Plumbing: Estimate EST-7 for Jane Doe ($200.00) expired without being accepted. \
                 Consider following up.",
                "estimate:123:expired"
            )])
        );
        assert_eq!(
            run::<EstimateNotices>(fixture!("estimate.expired"), BARE),
            Ok(vec![Action::sms(
                Recipient::Team("accounting".into()),
                "Estimate ID 123 for customer ID 21840161 ($200.00) expired without being accepted. \
                 Consider following up.",
                "estimate:123:expired"
            )])
        );
        let empty = with_settings(r#"{"team_contact": ""}"#);
        assert_eq!(
            run::<EstimateNotices>(fixture!("estimate.accepted"), &empty),
            Ok(vec![])
        );
        assert_eq!(
            run::<EstimateNotices>(fixture!("estimate.expired"), &empty),
            Ok(vec![])
        );
    }

    #[test]
    fn other_kinds_are_errors() {
        assert_eq!(
            run::<EstimateNotices>(fixture!("estimate.viewed"), CONTEXT),
            Err("estimate-notices does not handle estimate.viewed".into())
        );
    }

    #[test]
    fn describes_itself() {
        assert_eq!(EstimateNotices::describe().subscribes.len(), 5);
    }

    #[test]
    fn fixture_cases() {
        check_cases::<EstimateNotices>(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/cases"),
            "estimate-notices",
        );
    }
}
