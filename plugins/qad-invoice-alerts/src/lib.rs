//! `qad-invoice-alerts`: tells the buyer when a QAD supplier invoice is
//! blocked, follows up when nobody answers, and stands down once it clears.
//!
//! - `supplier_invoice.awaiting_receipt` and `supplier_invoice.on_hold`: an
//!   SMS to the responsible person (the PO's approver, else its buyer, from
//!   the tenant's `people` map; `fallback_contact`, default team `ap`, when
//!   the code is not mapped) with the supplier, the amount and what blocks
//!   it. Above `call_above` (default `10000`, in the invoice's currency) a
//!   voice call instead. Key `{record_id}:{state}:alert`.
//! - A follow-up call `follow_up_hours` later (default `4`; `0` turns it
//!   off), key `{record_id}:{state}:follow-up`, cancelled by a reply to the
//!   alert (`message.received` answering this plugin's message) or by the
//!   invoice's `supplier_invoice.matched`, which cancels everything unsent
//!   about the invoice.

use ml_connector_sdk::qad::{self, INVOICE_AWAITING_RECEIPT, INVOICE_MATCHED, INVOICE_ON_HOLD};
use ml_connector_sdk::twilio::MESSAGE_RECEIVED;
use ml_connector_sdk::{Action, Context, Event, Manifest, Plugin, Recipient, sender};

/// This plugin's name (the `plugin` a reply's original message carries).
const NAME: &str = "qad-invoice-alerts";

/// The plugin; see the crate documentation.
pub struct QadInvoiceAlerts;

impl Plugin for QadInvoiceAlerts {
    fn describe() -> Manifest {
        Manifest {
            name: NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Tells the buyer about blocked QAD supplier invoices, with a follow-up call.".into(),
            subscribes: vec![INVOICE_AWAITING_RECEIPT.into(), INVOICE_ON_HOLD.into(), INVOICE_MATCHED.into(), MESSAGE_RECEIVED.into()],
        }
    }

    fn handle(event: Event, context: Context) -> Result<Vec<Action>, String> {
        if event.kind == MESSAGE_RECEIVED {
            return Ok(stand_down_on_reply(&context));
        }
        let q = context.qad.as_ref().ok_or_else(|| format!("{NAME}: {} {} has no context.qad", event.kind, event.id))?;
        if event.kind == INVOICE_MATCHED {
            return Ok(vec![Action::cancel(qad::cancel_all(q))]);
        }
        if event.kind != INVOICE_AWAITING_RECEIPT && event.kind != INVOICE_ON_HOLD {
            return Err(format!("{NAME} does not handle {}", event.kind));
        }
        let invoice = q.supplier_invoice.as_ref().ok_or_else(|| format!("{NAME}: {} has no supplier invoice", event.id))?;
        let settings = context.settings();
        let fallback = Recipient::Team(settings.get_or("fallback_contact", "ap").into());
        let to = q.responsible_contact().unwrap_or(fallback);
        // Texts are joined with `concat` rather than `format!`: this plugin runs on every blocked
        // invoice, and in a fresh instance `format!` costs more (see the SDK's README, "Fast plugins").
        let amount = invoice.amount.as_ref().map(|a| [" for ", &a.display()].concat()).unwrap_or_default();
        let text = ["Invoice ", &invoice.reference, " from ", &q.supplier_name(), &amount, " ", &invoice.blocker()].concat();
        let key = qad::alert_key(q);
        let big = invoice.amount.as_ref().is_some_and(|a| qad::above(&a.amount, settings.get_or("call_above", "10000")));
        let mut actions = vec![if big {
            Action::call(to.clone(), [&call_intro(&context), ". ", &text, ". Please check it in QAD."].concat(), key.clone())
        } else {
            Action::sms(to.clone(), [&sender(&context), &text, ". Reply when it is handled."].concat(), key.clone())
        }];
        let hours = settings.parse_or("follow_up_hours", 4u32)?;
        if hours > 0 {
            let at = qad::hours_after(&context.now, hours)?;
            let follow_up = [&call_intro(&context), ". Reminder: ", &text, ", and nobody has answered yet."].concat();
            actions.push(Action::call(to, follow_up, qad::follow_up_key(&key)).not_before(at));
        }
        Ok(actions)
    }
}

/// How a call starts: "Supplier invoice alert from Acme Manufacturing".
fn call_intro(context: &Context) -> String {
    match context.business_name.trim() {
        "" => "Supplier invoice alert".into(),
        name => ["Supplier invoice alert from ", name].concat(),
    }
}

/// A reply to one of this plugin's alerts cancels that alert's follow-up.
fn stand_down_on_reply(context: &Context) -> Vec<Action> {
    let answered = context.reply.as_ref().and_then(|r| r.answers(NAME));
    match answered {
        Some(message) if message.key.ends_with(":alert") => vec![Action::cancel(qad::follow_up_key(&message.key))],
        _ => Vec::new(),
    }
}

ml_connector_sdk::export_plugin!(QadInvoiceAlerts);

#[cfg(test)]
mod tests {
    use super::*;
    use ml_connector_sdk::testing::check_cases;

    #[test]
    fn describes_itself() {
        assert_eq!(QadInvoiceAlerts::describe().subscribes, [INVOICE_AWAITING_RECEIPT, INVOICE_ON_HOLD, INVOICE_MATCHED, MESSAGE_RECEIVED]);
    }

    #[test]
    fn fixture_cases() {
        check_cases::<QadInvoiceAlerts>(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/cases"), NAME);
    }
}
