//! `invoice-sent`: texts the customer a new invoice and schedules a
//! reminder before it is due.
//!
//! On the event named by `notify_on` (default `invoice.sent`), it sends an
//! SMS with the invoice number, total, due date and view link, all from the
//! host's lookup (`context.invoice`; Wave's `invoice.sent` carries no
//! amount). Without that lookup it fails with a clear message: the host
//! records it, and the event can be replayed once the lookup works.
//!
//! It also schedules a reminder SMS (key `invoice:{id}:reminder`) for
//! `lead_days` days before the due date at `reminder_time`, in the UTC offset
//! of `context.now`. No reminder when the invoice has no due date, nothing is
//! due (`amount_due` zero or negative), or that moment has already passed.
//!
//! **It owns the reminder's lifecycle.** The host lets a plugin cancel only
//! its own unsent messages, so this plugin also subscribes to
//! `invoice.paid`, `invoice.partially_paid` and `invoice.overpaid`, and for
//! them returns only `cancel("invoice:{id}:reminder")`: once the customer
//! pays anything the reminder is dropped (the thank-you is `invoice-paid`'s
//! job, a lapsed balance `invoice-overdue`'s).
//!
//! **`invoice.created` vs `invoice.sent`.** In Wave an invoice is created
//! as a draft, approved, then sent; texting at creation would announce
//! drafts, and texting at both would text twice (and schedule two
//! reminders). So only `invoice.sent` notifies by default; a business that
//! shares invoices outside Wave can set `notify_on = "invoice.created"`.
//! Events not in `notify_on` produce nothing.
//!
//! | setting         | default        | meaning                                   |
//! |-----------------|----------------|-------------------------------------------|
//! | `notify_on`     | `invoice.sent` | comma-separated: `invoice.sent`, `invoice.created` |
//! | `lead_days`     | `3`            | days before the due date to remind        |
//! | `reminder_time` | `09:00`        | time of day of the reminder, `HH:MM`      |

use ml_connector_sdk::wave::WaveEvent;
use ml_connector_sdk::{Action, Context, Event, Manifest, Plugin, Recipient, log, money, sender, time};

/// The plugin; see the crate documentation.
pub struct InvoiceSent;

impl Plugin for InvoiceSent {
    fn describe() -> Manifest {
        Manifest {
            name: "invoice-sent".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Texts new invoices to the customer and reminds them before the due date."
                .into(),
            subscribes: vec![
                "invoice.sent".into(),
                "invoice.created".into(),
                "invoice.paid".into(),
                "invoice.partially_paid".into(),
                "invoice.overpaid".into(),
            ],
        }
    }

    fn handle(event: Event, context: Context) -> Result<Vec<Action>, String> {
        let invoice_id = match WaveEvent::parse(&event)? {
            WaveEvent::InvoiceSent(sent) => sent.invoice_id,
            WaveEvent::InvoiceCreated(created) => created.invoice_id,
            WaveEvent::InvoicePaid(p)
            | WaveEvent::InvoicePartiallyPaid(p)
            | WaveEvent::InvoiceOverpaid(p) => {
                return Ok(vec![Action::cancel(reminder_key(&p.invoice_id))]);
            }
            _ => return Err(format!("invoice-sent does not handle {}", event.kind)),
        };
        let settings = context.settings();
        if !settings
            .list_or("notify_on", "invoice.sent")
            .contains(&event.kind.as_str())
        {
            log::debug(&format!(
                "{} is not in notify_on; nothing to send",
                event.kind
            ));
            return Ok(vec![]);
        }
        let lead_days: u32 = settings.parse_or("lead_days", 3)?;
        let reminder_time = settings.get_or("reminder_time", "09:00");
        let Some(invoice) = &context.invoice else {
            return Err(format!(
                "no details for invoice {invoice_id}: the host's lookup (context.invoice) is missing, \
                 so amount and due date are unknown; replay the event once the lookup works"
            ));
        };

        let sender = sender(&context);
        let number = match invoice.number.as_str() {
            "" => String::new(),
            number => [" ", number].concat(),
        };
        let link = match &invoice.view_url {
            Some(url) => [" View and pay: ", url].concat(),
            None => String::new(),
        };
        let total = invoice.total.display();
        let notice = match &invoice.due_date {
            Some(due) => [&sender, "Your invoice", &number, " for ", &total, " is due ", &time::format_date(due), ".", &link].concat(),
            None => [&sender, "Your invoice", &number, " for ", &total, " is ready.", &link].concat(),
        };
        let mut actions = vec![Action::sms(
            Recipient::Customer,
            notice,
            ["invoice:", &invoice_id, ":sent"].concat(),
        )];

        let owed = &invoice.amount_due.amount;
        if let Some(due) = &invoice.due_date
            && !money::is_zero(owed)
            && !money::is_negative(owed)
            && let Some(at) = time::reminder_at(due, lead_days, reminder_time, &context.now)?
        {
            let reminder = [
                &sender,
                "Reminder: your invoice",
                &number,
                " is due ",
                &time::format_date(due),
                ". Amount due: ",
                &invoice.amount_due.display(),
                ".",
                &link,
            ]
            .concat();
            actions.push(
                Action::sms(Recipient::Customer, reminder, reminder_key(&invoice_id))
                    .not_before(at),
            );
        }
        Ok(actions)
    }
}

fn reminder_key(invoice_id: &str) -> String {
    ["invoice:", invoice_id, ":reminder"].concat()
}


ml_connector_sdk::export_plugin!(InvoiceSent);

#[cfg(test)]
mod tests {
    use super::*;
    use ml_connector_sdk::testing::{check_cases, run};

    const SENT: &str = include_str!("../../../tests/fixtures/events/wave/invoice.sent.json");
    const CREATED: &str = include_str!("../../../tests/fixtures/events/wave/invoice.created.json");
    const LINK: &str = "https://next.waveapps.com/63c77f29/invoices/2496756670638588934/view";
    const NOTICE: &str = "Acme Plumbing: Your invoice INV-0042 for $8.98 is due May 15, 2026. \
        View and pay: https://next.waveapps.com/63c77f29/invoices/2496756670638588934/view";
    const REMINDER: &str = "Acme Plumbing: Reminder: your invoice INV-0042 is due May 15, 2026. \
        Amount due: $8.98. View and pay: https://next.waveapps.com/63c77f29/invoices/2496756670638588934/view";

    /// A context.json whose invoice is due `due` (a JSON value) with `settings`.
    fn context(now: &str, due: &str, amount_due: &str, settings: &str) -> String {
        format!(
            r#"{{"business_name": "Acme Plumbing", "now": "{now}", "settings": {settings},
                "invoice": {{"id": "2496756670638588934", "number": "INV-0042", "status": "SENT",
                    "total": {{"amount": "8.98", "currency": "USD"}},
                    "amount_due": {{"amount": "{amount_due}", "currency": "USD"}},
                    "due_date": {due}, "view_url": "{LINK}"}}}}"#
        )
    }

    const NOW: &str = "2026-04-29T12:58:36-04:00";

    fn notice() -> Action {
        Action::sms(
            Recipient::Customer,
            NOTICE,
            "invoice:2496756670638588934:sent",
        )
    }

    #[test]
    fn sent_texts_and_schedules_a_reminder() {
        assert_eq!(
            run::<InvoiceSent>(SENT, &context(NOW, r#""2026-05-15""#, "8.98", "{}")),
            Ok(vec![
                notice(),
                Action::sms(
                    Recipient::Customer,
                    REMINDER,
                    "invoice:2496756670638588934:reminder"
                )
                .not_before("2026-05-12T09:00:00-04:00"),
            ])
        );
    }

    #[test]
    fn reminder_settings() {
        let settings = r#"{"lead_days": "1", "reminder_time": "16:30"}"#;
        let actions =
            run::<InvoiceSent>(SENT, &context(NOW, r#""2026-05-15""#, "8.98", settings)).unwrap();
        let Action::Sms(reminder) = &actions[1] else {
            panic!("{actions:?}")
        };
        assert_eq!(
            reminder.not_before.as_deref(),
            Some("2026-05-14T16:30:00-04:00")
        );

        let bad = context(NOW, r#""2026-05-15""#, "8.98", r#"{"lead_days": "three"}"#);
        assert_eq!(
            run::<InvoiceSent>(SENT, &bad),
            Err("setting `lead_days` = \"three\": invalid digit found in string".into())
        );
        let bad = context(
            NOW,
            r#""2026-05-15""#,
            "8.98",
            r#"{"reminder_time": "9am"}"#,
        );
        assert!(
            run::<InvoiceSent>(SENT, &bad)
                .unwrap_err()
                .starts_with("time \"9am\" is not HH:MM")
        );
    }

    #[test]
    fn no_reminder_when_too_late_undated_or_nothing_due() {
        let too_late = context("2026-05-13T08:00:00-04:00", r#""2026-05-15""#, "8.98", "{}");
        assert_eq!(run::<InvoiceSent>(SENT, &too_late), Ok(vec![notice()]));

        let nothing_due = context(NOW, r#""2026-05-15""#, "0.00", "{}");
        assert_eq!(run::<InvoiceSent>(SENT, &nothing_due), Ok(vec![notice()]));
        let credit = context(NOW, r#""2026-05-15""#, "-1.00", "{}");
        assert_eq!(run::<InvoiceSent>(SENT, &credit), Ok(vec![notice()]));

        let undated = context(NOW, "null", "8.98", "{}");
        assert_eq!(
            run::<InvoiceSent>(SENT, &undated),
            Ok(vec![Action::sms(
                Recipient::Customer,
                format!(
                    "Acme Plumbing: Your invoice INV-0042 for $8.98 is ready. View and pay: {LINK}"
                ),
                "invoice:2496756670638588934:sent"
            )])
        );
    }

    #[test]
    fn missing_lookup_is_an_error() {
        let err = run::<InvoiceSent>(SENT, &format!(r#"{{"now": "{NOW}"}}"#)).unwrap_err();
        assert!(
            err.starts_with("no details for invoice 2496756670638588934: the host's lookup"),
            "{err}"
        );
    }

    #[test]
    fn created_only_when_configured() {
        assert_eq!(
            run::<InvoiceSent>(CREATED, &context(NOW, r#""2026-05-15""#, "8.98", "{}")),
            Ok(vec![])
        );
        let both = r#"{"notify_on": "invoice.created, invoice.sent"}"#;
        let actions =
            run::<InvoiceSent>(CREATED, &context(NOW, r#""2026-05-15""#, "8.98", both)).unwrap();
        assert_eq!(actions[0], notice());
        assert_eq!(actions.len(), 2);
        let created_only = r#"{"notify_on": "invoice.created"}"#;
        assert_eq!(
            run::<InvoiceSent>(SENT, &context(NOW, r#""2026-05-15""#, "8.98", created_only)),
            Ok(vec![])
        );
    }

    #[test]
    fn payments_cancel_the_reminder() {
        for (json, id) in [
            (
                include_str!("../../../tests/fixtures/events/wave/invoice.paid.json"),
                "2496756670638588934",
            ),
            (
                include_str!("../../../tests/fixtures/events/wave/invoice.partially_paid.json"),
                "2496760399374844951",
            ),
            (
                include_str!("../../../tests/fixtures/events/wave/invoice.overpaid.json"),
                "2496760399374844951",
            ),
        ] {
            assert_eq!(
                run::<InvoiceSent>(json, &format!(r#"{{"now": "{NOW}"}}"#)),
                Ok(vec![Action::cancel(format!("invoice:{id}:reminder"))])
            );
        }
    }

    #[test]
    fn describes_itself() {
        let manifest = InvoiceSent::describe();
        assert_eq!(manifest.name, "invoice-sent");
        assert_eq!(manifest.subscribes.len(), 5);
    }

    #[test]
    fn fixture_cases() {
        check_cases::<InvoiceSent>(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/cases"),
            "invoice-sent",
        );
    }
}
