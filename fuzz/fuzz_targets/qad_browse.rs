//! QAD browse pages decoded the way the poller reads them: the page's `data` list and
//! `auxillaryData.HasMoreParams`, then every row read as each record kind through its default
//! field map (keys, roles, the typed record, the amount check). Never a panic on any body.
//! Input: the raw response body of one browse page.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ml_connector::sources::qad::browse::has_more;
use ml_connector::sources::qad::records::{FieldMap, Record, RecordKind, Row, is_positive};
use serde_json::Value;



fuzz_target!(|data: &[u8]| {
    let Ok(page) = serde_json::from_slice::<Value>(data) else { return };
    let _ = has_more(&page);
    let Value::Array(rows) = &page["data"] else { return };
    for kind in RecordKind::CYCLE {
        let fields: FieldMap = kind.default_fields().iter().filter(|(_, field)| !field.is_empty()).map(|(role, field)| (role.to_string(), field.to_string())).collect();
        for row in rows {
            let Ok(row) = Row::new(kind.default_browse(), kind, &fields, row) else { continue };
            let _ = row.roles();
            if let Ok(record) = Record::read(&row) {
                assert!(!record.key().is_empty(), "a record read with an empty key");
                let _ = record.modified();
                if let Record::PurchaseOrder(po) = &record {
                    let _ = is_positive(po.amount.as_deref());
                }
            }
        }
    }
});
