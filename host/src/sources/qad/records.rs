//! The three QAD records the source reads, typed: [`RecordKind`] with the
//! roles its browse must map (and the default field names), and
//! [`GoodsReceipt`], [`PurchaseOrder`], [`SupplierInvoice`] read from one
//! browse row through a [`FieldMap`]. Pure: no I/O.
//!
//! Browse rows are flat JSON objects with dotted keys (`po_mstr.po_nbr`).
//! A value may be a string, a number or null; numbers are kept as their
//! decimal text (amounts stay strings). A mapped field that is absent from a
//! row is an error naming the browse and the field: the browse is not the
//! one the field map was written for.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Which QAD record a browse lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A PO receipt (receiver), `prh_hist`.
    GoodsReceipt,
    /// A purchase order header, `po_mstr`.
    PurchaseOrder,
    /// A supplier invoice, `CInvoice`.
    SupplierInvoice,
}

impl RecordKind {
    /// Every kind, in the order a poll cycle reads them (the three-way-match order).
    pub const CYCLE: [RecordKind; 3] = [RecordKind::GoodsReceipt, RecordKind::PurchaseOrder, RecordKind::SupplierInvoice];

    /// `goods_receipt`, `purchase_order`, `supplier_invoice`: the config key and the id segment.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::GoodsReceipt => "goods_receipt",
            RecordKind::PurchaseOrder => "purchase_order",
            RecordKind::SupplierInvoice => "supplier_invoice",
        }
    }

    /// The default browse id (the first two are real legacy browses; the invoice browse is
    /// modelled on `CInvoice`'s fields and will differ per installation).
    pub fn default_browse(self) -> &'static str {
        match self {
            RecordKind::GoodsReceipt => "urn:browse:mfg:po501",
            RecordKind::PurchaseOrder => "urn:browse:mfg:po803",
            RecordKind::SupplierInvoice => "urn:browse:bebrowse:com.qad.erp.financials.supplierInvoices",
        }
    }

    /// `(role, default field)` for every role this record's browse maps. `key` is required;
    /// a role mapped to an empty field is left unmapped (e.g. `modified = ""` turns off the
    /// incremental filter for that browse).
    pub fn default_fields(self) -> &'static [(&'static str, &'static str)] {
        match self {
            RecordKind::GoodsReceipt => &[
                ("key", "prh_hist.prh_receiver"),
                ("po", "prh_hist.prh_nbr"),
                ("supplier", "prh_hist.prh_vend"),
                ("date", "prh_hist.prh_rcp_date"),
                ("modified", "prh_hist.prh_mod_date"),
            ],
            RecordKind::PurchaseOrder => &[
                ("key", "po_mstr.po_nbr"),
                ("supplier", "po_mstr.po_vend"),
                ("buyer", "po_mstr.po_buyer"),
                ("approver", ""),
                ("status", "po_mstr.po_stat"),
                ("amount", "po_mstr.po_total"),
                ("currency", "po_mstr.po_curr"),
                ("due_date", "po_mstr.po_due_date"),
                ("modified", "po_mstr.po_mod_date"),
            ],
            RecordKind::SupplierInvoice => &[
                ("key", "CInvoice.CInvoiceReference"),
                ("po", "CInvoicePORef.CInvoicePOPoNbr"),
                ("supplier", "Creditor.CreditorCode"),
                ("status", "Reason.ReasonCode"),
                ("hold", "CInvoice.CInvoiceHoldAmountTC"),
                ("amount", "CInvoice.CInvoiceOriginalCreditTC"),
                ("currency", "Currency.CurrencyCode"),
                ("due_date", "CInvoice.CInvoiceDueDate"),
                ("modified", "CInvoice.LastModifiedDate"),
            ],
        }
    }

    /// Parses [`RecordKind::as_str`].
    pub fn parse(text: &str) -> Option<RecordKind> {
        RecordKind::CYCLE.into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Role → browse field name for one browse; only mapped (non-empty) roles are present.
pub type FieldMap = BTreeMap<String, String>;

/// A browse row that does not fit its field map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// A mapped field is absent from the row.
    #[error("browse {browse}: field `{field}` (mapped as `{role}`) is not in its rows; fix [qad.browses.{record}] fields.{role}")]
    MissingField {
        /// The browse id.
        browse: String,
        /// The record kind the browse is configured for.
        record: RecordKind,
        /// The role.
        role: String,
        /// The field name.
        field: String,
    },
    /// The row's key is empty.
    #[error("browse {browse}: a row has an empty `{field}` (its key)")]
    EmptyKey {
        /// The browse id.
        browse: String,
        /// The key field.
        field: String,
    },
    /// A row is not a JSON object.
    #[error("browse {browse}: a row is not an object")]
    NotAnObject {
        /// The browse id.
        browse: String,
    },
}

/// One browse row with its field map: reads values by role.
pub struct Row<'a> {
    browse: &'a str,
    record: RecordKind,
    fields: &'a FieldMap,
    row: &'a Map<String, Value>,
}

impl<'a> Row<'a> {
    /// Wraps `row`, read from `browse` (configured for `record`) with `fields`.
    pub fn new(browse: &'a str, record: RecordKind, fields: &'a FieldMap, row: &'a Value) -> Result<Self, RowError> {
        let row = row.as_object().ok_or_else(|| RowError::NotAnObject { browse: browse.to_owned() })?;
        Ok(Row { browse, record, fields, row })
    }

    /// The value of `role` as text: `None` when the role is unmapped or the value is null or
    /// empty; an error when the mapped field is absent from the row.
    pub fn get(&self, role: &str) -> Result<Option<String>, RowError> {
        let Some(field) = self.fields.get(role) else { return Ok(None) };
        match self.row.get(field) {
            None => Err(RowError::MissingField {
                browse: self.browse.to_owned(),
                record: self.record,
                role: role.to_owned(),
                field: field.clone(),
            }),
            Some(value) => Ok(text(value)),
        }
    }

    /// The record's key: mapped, present and non-empty.
    pub fn key(&self) -> Result<String, RowError> {
        self.get("key")?.ok_or_else(|| RowError::EmptyKey {
            browse: self.browse.to_owned(),
            field: self.fields.get("key").cloned().unwrap_or_default(),
        })
    }

    /// Every mapped role with its value (absent fields are errors), for the event's `data`.
    pub fn roles(&self) -> Result<BTreeMap<String, Option<String>>, RowError> {
        self.fields.keys().map(|role| Ok((role.clone(), self.get(role)?))).collect()
    }
}

/// A JSON value as text: strings trimmed, numbers and booleans as written, null and empty as none.
fn text(value: &Value) -> Option<String> {
    let text = match value {
        Value::Null => return None,
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    };
    (!text.is_empty()).then_some(text)
}

/// Whether a decimal amount as text is above zero (`"0"`, `"0.00"`, `"-3"`, none: no).
pub fn is_positive(amount: Option<&str>) -> bool {
    amount.and_then(|a| a.trim().parse::<f64>().ok()).is_some_and(|a| a > 0.0)
}

/// A PO receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoodsReceipt {
    /// The receiver number.
    pub key: String,
    /// The PO it receives against.
    pub po: Option<String>,
    /// The supplier code.
    pub supplier: Option<String>,
    /// The receipt date.
    pub date: Option<String>,
    /// The last modification date.
    pub modified: Option<String>,
}

/// A purchase order header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseOrder {
    /// The PO number.
    pub key: String,
    /// The supplier code.
    pub supplier: Option<String>,
    /// The buyer code.
    pub buyer: Option<String>,
    /// The approver code, when the browse has one.
    pub approver: Option<String>,
    /// The order status, e.g. `P`.
    pub status: Option<String>,
    /// The order total.
    pub amount: Option<String>,
    /// The currency code.
    pub currency: Option<String>,
    /// The due date.
    pub due_date: Option<String>,
    /// The last modification date.
    pub modified: Option<String>,
}

/// A supplier invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupplierInvoice {
    /// The supplier's invoice reference.
    pub key: String,
    /// The PO it matches.
    pub po: Option<String>,
    /// The supplier (creditor) code.
    pub supplier: Option<String>,
    /// The invoice status code, e.g. `AP-INITIAL`.
    pub status: Option<String>,
    /// The amount on hold.
    pub hold: Option<String>,
    /// The invoice amount.
    pub amount: Option<String>,
    /// The currency code.
    pub currency: Option<String>,
    /// The due date.
    pub due_date: Option<String>,
    /// The last modification date.
    pub modified: Option<String>,
}

/// A record of any kind, read from one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A receipt.
    GoodsReceipt(GoodsReceipt),
    /// A purchase order.
    PurchaseOrder(PurchaseOrder),
    /// A supplier invoice.
    SupplierInvoice(SupplierInvoice),
}

impl Record {
    /// Reads a record of `row`'s kind.
    pub fn read(row: &Row<'_>) -> Result<Record, RowError> {
        let key = row.key()?;
        Ok(match row.record {
            RecordKind::GoodsReceipt => Record::GoodsReceipt(GoodsReceipt {
                key,
                po: row.get("po")?,
                supplier: row.get("supplier")?,
                date: row.get("date")?,
                modified: row.get("modified")?,
            }),
            RecordKind::PurchaseOrder => Record::PurchaseOrder(PurchaseOrder {
                key,
                supplier: row.get("supplier")?,
                buyer: row.get("buyer")?,
                approver: row.get("approver")?,
                status: row.get("status")?,
                amount: row.get("amount")?,
                currency: row.get("currency")?,
                due_date: row.get("due_date")?,
                modified: row.get("modified")?,
            }),
            RecordKind::SupplierInvoice => Record::SupplierInvoice(SupplierInvoice {
                key,
                po: row.get("po")?,
                supplier: row.get("supplier")?,
                status: row.get("status")?,
                hold: row.get("hold")?,
                amount: row.get("amount")?,
                currency: row.get("currency")?,
                due_date: row.get("due_date")?,
                modified: row.get("modified")?,
            }),
        })
    }

    /// The record's key.
    pub fn key(&self) -> &str {
        match self {
            Record::GoodsReceipt(r) => &r.key,
            Record::PurchaseOrder(r) => &r.key,
            Record::SupplierInvoice(r) => &r.key,
        }
    }

    /// Its last modification date, when mapped.
    pub fn modified(&self) -> Option<&str> {
        match self {
            Record::GoodsReceipt(r) => r.modified.as_deref(),
            Record::PurchaseOrder(r) => r.modified.as_deref(),
            Record::SupplierInvoice(r) => r.modified.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn defaults(kind: RecordKind) -> FieldMap {
        kind.default_fields().iter().filter(|(_, f)| !f.is_empty()).map(|(r, f)| (r.to_string(), f.to_string())).collect()
    }

    #[test]
    fn a_purchase_order_row_reads_through_the_default_field_map() {
        let fields = defaults(RecordKind::PurchaseOrder);
        let row = json!({"po_mstr.po_nbr": "PO-77", "po_mstr.po_vend": "S100", "po_mstr.po_buyer": "B01",
            "po_mstr.po_stat": "P", "po_mstr.po_total": 1250.5, "po_mstr.po_curr": "USD",
            "po_mstr.po_due_date": "2026-12-01", "po_mstr.po_mod_date": null});
        let row = Row::new("urn:browse:mfg:po803", RecordKind::PurchaseOrder, &fields, &row).unwrap();
        let Record::PurchaseOrder(po) = Record::read(&row).unwrap() else { panic!("not a PO") };
        assert_eq!(po.key, "PO-77");
        assert_eq!(po.amount.as_deref(), Some("1250.5"));
        assert_eq!(po.approver, None, "approver is unmapped by default");
        assert_eq!(po.modified, None, "null reads as none");
    }

    #[test]
    fn a_mapped_field_missing_from_the_row_names_the_browse_and_the_field() {
        let fields = defaults(RecordKind::SupplierInvoice);
        let row = json!({"CInvoice.CInvoiceReference": "SI-1"});
        let browse = RecordKind::SupplierInvoice.default_browse();
        let row = Row::new(browse, RecordKind::SupplierInvoice, &fields, &row).unwrap();
        let err = Record::read(&row).unwrap_err();
        assert_eq!(
            err.to_string(),
            "browse urn:browse:bebrowse:com.qad.erp.financials.supplierInvoices: field `CInvoicePORef.CInvoicePOPoNbr` \
             (mapped as `po`) is not in its rows; fix [qad.browses.supplier_invoice] fields.po"
        );
    }

    #[test]
    fn an_empty_key_is_refused() {
        let fields = defaults(RecordKind::GoodsReceipt);
        let row = json!({"prh_hist.prh_receiver": " ", "prh_hist.prh_nbr": "PO-1", "prh_hist.prh_vend": "S",
            "prh_hist.prh_rcp_date": "2026-01-01", "prh_hist.prh_mod_date": "2026-01-01"});
        let row = Row::new("b", RecordKind::GoodsReceipt, &fields, &row).unwrap();
        assert!(matches!(Record::read(&row), Err(RowError::EmptyKey { .. })));
    }

    #[test]
    fn amounts_above_zero_are_positive_and_nothing_else_is() {
        for (amount, positive) in [(Some("10.00"), true), (Some("0.00"), false), (Some("0"), false), (Some("-5"), false), (Some("x"), false), (None, false)] {
            assert_eq!(is_positive(amount), positive, "{amount:?}");
        }
    }
}
