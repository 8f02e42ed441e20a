//! `qad-receipts`: tells accounts payable when a goods receipt posts in QAD
//! for a purchase order whose supplier invoice was waiting on it, so the
//! invoice can be matched and paid.
//!
//! - `goods_receipt.posted` with `context.qad.waiting_invoices`: an SMS to
//!   `ap_contact` (default team `ap`) naming the receipt, the PO, the supplier
//!   and the waiting invoices. Key `{record_id}:posted:alert`. A receipt no
//!   invoice waited on sends nothing.

use ml_connector_sdk::qad::{self, RECEIPT_POSTED};
use ml_connector_sdk::{Action, Context, Event, Manifest, Plugin, Recipient, sender};

/// This plugin's name.
const NAME: &str = "qad-receipts";

/// The plugin; see the crate documentation.
pub struct QadReceipts;

impl Plugin for QadReceipts {
    fn describe() -> Manifest {
        Manifest {
            name: NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Tells AP when a QAD goods receipt posts for an invoice that was waiting on it.".into(),
            subscribes: vec![RECEIPT_POSTED.into()],
        }
    }

    fn handle(event: Event, context: Context) -> Result<Vec<Action>, String> {
        if event.kind != RECEIPT_POSTED {
            return Err(format!("{NAME} does not handle {}", event.kind));
        }
        let q = context.qad.as_ref().ok_or_else(|| format!("{NAME}: {} has no context.qad", event.id))?;
        let receipt = q.goods_receipt.as_ref().ok_or_else(|| format!("{NAME}: {} has no goods receipt", event.id))?;
        if q.waiting_invoices.is_empty() {
            return Ok(Vec::new());
        }
        let po = receipt.po_number.as_deref().map(|po| [" for ", po].concat()).unwrap_or_default();
        let (noun, verb) = if q.waiting_invoices.len() == 1 { ("Invoice", "was") } else { ("Invoices", "were") };
        let body = [
            &sender(&context),
            "Goods receipt ",
            &receipt.receiver,
            &po,
            " from ",
            &q.supplier_name(),
            " posted. ",
            noun,
            " ",
            &q.waiting_invoices.join(", "),
            " ",
            verb,
            " waiting on it and can be matched now.",
        ]
        .concat();
        let to = Recipient::Team(context.settings().get_or("ap_contact", "ap").into());
        Ok(vec![Action::sms(to, body, qad::alert_key(q))])
    }
}

ml_connector_sdk::export_plugin!(QadReceipts);

#[cfg(test)]
mod tests {
    use super::*;
    use ml_connector_sdk::testing::check_cases;

    #[test]
    fn describes_itself() {
        assert_eq!(QadReceipts::describe().subscribes, [RECEIPT_POSTED]);
    }

    #[test]
    fn fixture_cases() {
        check_cases::<QadReceipts>(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/cases"), NAME);
    }
}
