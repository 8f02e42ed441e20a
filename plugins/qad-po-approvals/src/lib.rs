//! `qad-po-approvals`: asks the approver to approve a QAD purchase order
//! that is pending approval, and follows up.
//!
//! - `purchase_order.pending_approval`: an SMS to the responsible person
//!   (approver, else buyer, from the tenant's `people` map;
//!   `fallback_contact`, default team `purchasing`, when unmapped) with the
//!   PO, supplier, total and due date. Key `{record_id}:pending_approval:alert`.
//! - A follow-up call `follow_up_hours` later (default `2`; `0` turns it
//!   off), cancelled by a reply to the SMS or by `purchase_order.approved`,
//!   which cancels everything unsent about the PO.

use ml_connector_sdk::qad::{self, PO_APPROVED, PO_PENDING_APPROVAL};
use ml_connector_sdk::twilio::MESSAGE_RECEIVED;
use ml_connector_sdk::{Action, Context, Event, Manifest, Plugin, Recipient, sender, time};

/// This plugin's name.
const NAME: &str = "qad-po-approvals";

/// The plugin; see the crate documentation.
pub struct QadPoApprovals;

impl Plugin for QadPoApprovals {
    fn describe() -> Manifest {
        Manifest {
            name: NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Asks the approver to approve pending QAD purchase orders, with a follow-up call.".into(),
            subscribes: vec![PO_PENDING_APPROVAL.into(), PO_APPROVED.into(), MESSAGE_RECEIVED.into()],
        }
    }

    fn handle(event: Event, context: Context) -> Result<Vec<Action>, String> {
        if event.kind == MESSAGE_RECEIVED {
            let answered = context.reply.as_ref().and_then(|r| r.answers(NAME));
            return Ok(match answered {
                Some(m) if m.key.ends_with(":alert") => vec![Action::cancel(qad::follow_up_key(&m.key))],
                _ => Vec::new(),
            });
        }
        let q = context.qad.as_ref().ok_or_else(|| format!("{NAME}: {} {} has no context.qad", event.kind, event.id))?;
        if event.kind == PO_APPROVED {
            return Ok(vec![Action::cancel(qad::cancel_all(q))]);
        }
        if event.kind != PO_PENDING_APPROVAL {
            return Err(format!("{NAME} does not handle {}", event.kind));
        }
        let po = q.purchase_order.as_ref().ok_or_else(|| format!("{NAME}: {} has no purchase order", event.id))?;
        let settings = context.settings();
        let to = q.responsible_contact().unwrap_or(Recipient::Team(settings.get_or("fallback_contact", "purchasing").into()));
        let total = po.total.as_ref().map(|t| [" for ", &t.display()].concat()).unwrap_or_default();
        let due = po.due_date.as_deref().map(|d| [", due ", &time::format_date(d)].concat()).unwrap_or_default();
        let text = ["Purchase order ", &po.number, " to ", &q.supplier_name(), &total, &due, " waits for your approval"].concat();
        let key = qad::alert_key(q);
        let mut actions = vec![Action::sms(to.clone(), [&sender(&context), &text, ". Reply when done."].concat(), key.clone())];
        let hours = settings.parse_or("follow_up_hours", 2u32)?;
        if hours > 0 {
            let at = qad::hours_after(&context.now, hours)?;
            actions.push(Action::call(to, ["Reminder: ", &text, "."].concat(), qad::follow_up_key(&key)).not_before(at));
        }
        Ok(actions)
    }
}

ml_connector_sdk::export_plugin!(QadPoApprovals);

#[cfg(test)]
mod tests {
    use super::*;
    use ml_connector_sdk::testing::check_cases;

    #[test]
    fn describes_itself() {
        assert_eq!(QadPoApprovals::describe().subscribes, [PO_PENDING_APPROVAL, PO_APPROVED, MESSAGE_RECEIVED]);
    }

    #[test]
    fn fixture_cases() {
        check_cases::<QadPoApprovals>(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/cases"), NAME);
    }
}
