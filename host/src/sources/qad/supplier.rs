//! Supplier lookups: `GET {base}/api/erp/supplierV2s?supplierCode=…&viewUri=…`
//! (component, view and `sharedSetCode` configurable), answered as
//! `{"data":{"supplierV2s":[{…}]}}`. The phone is the supplier's `telephone`,
//! else the first contact's (`supplierContactV2s[]`, then
//! `remitSupplierContactV2s[]`), normalised to E.164; a number that cannot be
//! is left out with a warning. The name is read from the first of `name`,
//! `supplierName`, `businessRelationName`, `sortName` (the reference saw no
//! name field; an assumption). Answers are cached with `moka` (size and TTL),
//! also "not found", so one cycle's events share one lookup per supplier.

use std::time::Duration;

use moka::future::Cache;
use serde_json::Value;

use crate::sources::qad::client::QadClient;
use crate::sources::qad::error::PollError;
use crate::sources::wave::enrich::{e164, region};

/// Where a supplier's name may be.
const NAME_FIELDS: [&str; 4] = ["name", "supplierName", "businessRelationName", "sortName"];
/// Where a contact's phone may be.
const CONTACT_PHONE_FIELDS: [&str; 3] = ["telephone", "mobilePhone", "phone"];

/// A supplier as the plugin context shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supplier {
    /// The supplier code.
    pub code: String,
    /// Its name, when found.
    pub name: Option<String>,
    /// Its phone, E.164.
    pub phone: Option<String>,
}

/// Reads the supplier from a `supplierV2s` answer; `None` when it lists none.
pub fn from_answer(code: &str, component: &str, answer: &Value, region_code: &str) -> Option<Supplier> {
    let row = answer["data"][component].as_array()?.first()?;
    let text = |v: &Value, field: &str| v.get(field).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let name = NAME_FIELDS.iter().find_map(|f| text(row, f));
    let contacts = ["supplierContactV2s", "remitSupplierContactV2s"].into_iter().filter_map(|list| row.get(list)?.as_array()).flatten();
    let candidates = text(row, "telephone").into_iter().chain(contacts.filter_map(|c| CONTACT_PHONE_FIELDS.iter().find_map(|f| text(c, f))));
    let region = region(region_code)?;
    let phone = candidates.into_iter().find_map(|raw| match e164(&raw, region) {
        Ok(number) => Some(number),
        Err(reason) => {
            tracing::warn!(supplier = code, reason, "Supplier phone number cannot be normalised to E.164; trying the next.");
            None
        }
    });
    Some(Supplier { code: code.to_owned(), name, phone })
}

/// Cached supplier lookups for one tenant.
pub struct Suppliers {
    cache: Cache<String, Option<Supplier>>,
}

impl Suppliers {
    /// A cache of at most `size` suppliers, each kept `ttl`.
    pub fn new(size: u64, ttl: Duration) -> Self {
        Suppliers { cache: Cache::builder().max_capacity(size).time_to_live(ttl).build() }
    }

    /// The supplier `code`, looked up once per TTL; `None` when QAD does not know it.
    pub async fn get(&self, client: &QadClient, code: &str) -> Result<Option<Supplier>, PollError> {
        self.cache
            .try_get_with(code.to_owned(), lookup(client, code))
            .await
            .map_err(|e: std::sync::Arc<PollError>| (*e).clone())
    }
}

async fn lookup(client: &QadClient, code: &str) -> Result<Option<Supplier>, PollError> {
    let settings = &client.config().supplier;
    let mut query = vec![("supplierCode".to_owned(), code.to_owned()), ("viewUri".to_owned(), settings.view_uri.clone())];
    if let Some(shared) = &settings.shared_set_code {
        query.push(("sharedSetCode".to_owned(), shared.clone()));
    }
    let answer = client.get_json(&format!("api/erp/{}", settings.component), &query, &format!("supplier {code}")).await?;
    Ok(from_answer(code, &settings.component, &answer, &settings.default_region))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_supplier_telephone_comes_first_then_its_contacts() {
        let answer = json!({"data": {"supplierV2s": [{"supplierCode": "S100", "name": "Acme Steel", "telephone": "(415) 555-2671",
            "supplierContactV2s": [{"telephone": "+1 212 555 0100"}]}]}});
        let s = from_answer("S100", "supplierV2s", &answer, "US").unwrap();
        assert_eq!((s.name.as_deref(), s.phone.as_deref()), (Some("Acme Steel"), Some("+14155552671")));

        let answer = json!({"data": {"supplierV2s": [{"telephone": "n/a", "supplierContactV2s": [{"mobilePhone": "212-555-0100"}]}]}});
        assert_eq!(from_answer("S1", "supplierV2s", &answer, "US").unwrap().phone.as_deref(), Some("+12125550100"));
    }

    #[test]
    fn an_unknown_supplier_or_no_dialable_number_gives_none() {
        assert_eq!(from_answer("S1", "supplierV2s", &json!({"data": {"supplierV2s": []}}), "US"), None);
        let answer = json!({"data": {"supplierV2s": [{"telephone": ""}]}});
        assert_eq!(from_answer("S1", "supplierV2s", &answer, "US").unwrap().phone, None);
    }
}
