//! [`QadPoller::poll`]: one cycle for one tenant. Reads goods receipts, then
//! purchase orders, then supplier invoices (each incrementally by its
//! modification-date field, or in full when a rescan is due or the browse
//! maps no such field), checks whether invoices still waiting have a
//! receipt for their PO, plans the events ([`states::plan`]) and returns them
//! in dispatch order with the next cursor. The poll driver stores the cursor
//! only after it has committed the events, so a crash re-reads and the
//! deterministic ids deduplicate.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use serde::de::DeserializeOwned;
use serde_json::Value;

use async_trait::async_trait;

use crate::sources::poll::{PollBatch, Poller, Schedule};
use crate::sources::qad::SOURCE;
use crate::sources::qad::browse::{self, Filter, Op};
use crate::sources::qad::client::QadClient;
use crate::sources::qad::cursor::Cursor;
use crate::sources::qad::error::PollError;
use crate::sources::qad::records::{Record, RecordKind, Row};
use crate::sources::qad::states::{self, Read, Reads};
use crate::store::NewEvent;

/// Polls one tenant.
pub struct QadPoller {
    client: Arc<QadClient>,
    name: String,
}

#[async_trait]
impl Poller for QadPoller {
    fn name(&self) -> &str {
        &self.name
    }

    fn schedule(&self) -> Schedule {
        self.client.config().schedule.clone()
    }

    async fn poll(&self, cursor: Option<String>) -> Result<PollBatch, PollError> {
        QadPoller::poll(self, cursor).await
    }
}

impl QadPoller {
    /// A poller over `client`'s tenant, named `qad:{tenant}` (its cursor, health and metrics).
    pub fn new(client: Arc<QadClient>) -> Self {
        let name = format!("{SOURCE}:{}", client.config().name);
        QadPoller { client, name }
    }

    /// The tenant's client.
    pub fn client(&self) -> &Arc<QadClient> {
        &self.client
    }

    /// One cycle from `cursor` (none: the first, a full scan).
    pub async fn poll(&self, cursor: Option<String>) -> Result<PollBatch, PollError> {
        let config = self.client.config();
        let mut cursor = Cursor::parse(cursor.as_deref());
        let now = Utc::now();
        let rescan = chrono::Duration::from_std(config.rescan_every).unwrap_or(chrono::Duration::MAX);
        let full_scan = cursor.last_full_scan.is_none_or(|at| now - at >= rescan);
        let mut reads = Reads { full_scan, ..Reads::default() };
        for kind in RecordKind::CYCLE {
            let browse = config.browse(kind);
            if !browse.enabled {
                reads.full_scan = false;
                continue;
            }
            let modified = browse.fields.get("modified");
            let filters = match (modified, cursor.watermarks.get(&kind)) {
                (Some(field), Some(mark)) if !full_scan => vec![Filter::compare(field, Op::Ge, mark)],
                _ => Vec::new(),
            };
            for record in self.read(kind, &filters).await? {
                if let Some(seen) = record.0.modified() {
                    cursor.raise(kind, seen);
                }
                match record {
                    (Record::GoodsReceipt(r), row) => reads.receipts.push(Read { record: r, row }),
                    (Record::PurchaseOrder(r), row) => reads.orders.push(Read { record: r, row }),
                    (Record::SupplierInvoice(r), row) => reads.invoices.push(Read { record: r, row }),
                }
            }
        }
        reads.received_orders = reads.receipts.iter().filter_map(|r| r.record.po.clone()).collect();
        if !reads.full_scan {
            let statuses = &config.statuses;
            let unknown: BTreeSet<String> = reads
                .invoices
                .iter()
                .filter(|i| i.record.status.as_ref().is_some_and(|s| statuses.invoice_awaiting_receipt.contains(s)))
                .filter_map(|i| i.record.po.clone())
                .filter(|po| !reads.received_orders.contains(po))
                .collect();
            for po in unknown {
                if self.has_receipt(&po).await? {
                    reads.received_orders.insert(po);
                }
            }
        }
        let planned = states::plan(&config.name, &config.statuses, &reads, &mut cursor);
        if full_scan {
            cursor.last_full_scan = Some(now);
        }
        let events = planned
            .into_iter()
            .map(|p| {
                let data = p.data.to_string();
                NewEvent {
                    id: p.id,
                    source: SOURCE.into(),
                    kind: p.kind,
                    business_id: Some(config.name.clone()),
                    record: p.data.get("record_id").and_then(Value::as_str).map(str::to_owned),
                    received_at: now,
                    body: data.clone().into_bytes(),
                    data,
                }
            })
            .collect();
        Ok(PollBatch { events, cursor: Some(cursor.render()) })
    }

    /// Every row of `kind`'s browse matching `filters`, typed; a row that does not fit the
    /// field map breaks the tenant (the configuration must change).
    async fn read(&self, kind: RecordKind, filters: &[Filter]) -> Result<Vec<(Record, Value)>, PollError> {
        let browse = self.client.config().browse(kind);
        let rows = browse::read_all(&self.client, &browse.id, filters).await?;
        let typed = rows
            .into_iter()
            .map(|row| {
                let record = Record::read(&Row::new(&browse.id, kind, &browse.fields, &row)?)?;
                Ok((record, row))
            })
            .collect::<Result<Vec<_>, crate::sources::qad::records::RowError>>()
            .map_err(|e| PollError::broken(e.to_string()));
        self.client.note(typed)
    }

    /// Whether a goods receipt for `po` exists (the receipt browse filtered on its PO field).
    async fn has_receipt(&self, po: &str) -> Result<bool, PollError> {
        let browse = self.client.config().browse(RecordKind::GoodsReceipt);
        let Some(field) = browse.fields.get("po").filter(|_| browse.enabled) else { return Ok(false) };
        let rows = browse::read_all(&self.client, &browse.id, &[Filter::compare(field, Op::Eq, po)]).await?;
        Ok(!rows.is_empty())
    }
}

/// The typed record a QAD event's `data` carries under its record name.
pub fn record_in<T: DeserializeOwned>(data: &Value, record: RecordKind) -> Option<T> {
    serde_json::from_value(data.get(record.as_str())?.clone()).ok()
}
