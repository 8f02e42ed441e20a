//! The backend conformance suite: one generic test body per behaviour that every [`Store`]
//! backend must show. A backend runs it with [`conformance_suite!`], giving a function that
//! returns a fresh, empty store (and whatever keeps it alive).
//!
//! Kept in one file on purpose (about 600 lines): it is the store's specification, read top to
//! bottom, and each backend's tests are the one line that runs it.

#![allow(clippy::missing_panics_doc)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};

use super::*;
use crate::model::Channel;
use crate::sinks::twilio::message_tag::MessageTag;
use crate::sinks::twilio::state::{CallbackOutcome, InboundMessage, LookupRecord, OptChange, StatusCallback};

/// Runs every behaviour of the suite against the stores `$fresh` makes: an async fn returning
/// `(guard, Arc<dyn Store>)`, the guard dropped after the test, or an `Option` of that when the
/// backend may be unavailable (`None`: the test returns at once, having said why).
macro_rules! conformance_suite {
    ($fresh:path) => {
        $crate::store::conformance::conformance_suite!(@tests $fresh;
            a_repeated_event_is_a_duplicate_and_changes_nothing,
            a_batch_reports_one_outcome_per_event_in_order,
            pending_events_are_claimed_oldest_first,
            a_dispatch_writes_the_outbox_once_even_when_replayed,
            plugin_failures_mark_the_event_failed_and_are_kept,
            a_long_failure_summary_is_capped,
            cancels_match_the_prefix_exactly_within_the_plugin,
            a_plugin_can_replace_its_scheduled_messages_in_one_answer,
            a_batch_of_dispatches_commits_in_order_and_all_or_nothing,
            completing_an_unknown_event_fails_and_writes_nothing,
            events_are_listed_newest_first_by_kind_and_record,
            two_claimers_never_get_the_same_event_while_a_lease_is_live,
            an_expired_event_lease_is_taken_over_and_finished_exactly_once,
            released_and_replayed_events_are_claimable_again,
            two_claimers_never_get_the_same_message_while_a_lease_is_live,
            an_expired_message_lease_is_taken_over_and_finished_exactly_once,
            due_messages_follow_not_before_the_retry_schedule_and_their_channel,
            updates_keep_attempts_and_history_and_skip_cancelled_rows,
            a_failed_message_is_requeued_as_a_new_series,
            messages_are_listed_by_event_status_and_record,
            messages_are_filtered_by_plugin_number_and_time_paged_and_counted,
            recent_plugin_failures_are_listed_newest_first_with_their_event,
            secrets_are_stored_listed_and_replaced,
            rotation_rewrites_every_secret_or_none,
            cursors_are_saved_replaced_and_listed,
            plugin_runs_are_recorded_with_the_dispatch_and_the_latest_per_event_is_listed,
            old_plugin_runs_and_their_unused_contexts_are_pruned,
            installed_plugins_are_upgraded_rolled_back_and_switched,
            the_last_shadow_result_per_plugin_is_kept,
            one_claimer_at_a_time_polls_a_source,
            a_late_status_is_kept_in_history_without_moving_the_message_back,
            a_repeated_callback_is_a_duplicate_unless_its_sequence_number_differs,
            a_callback_for_an_unknown_sid_is_stored_without_history,
            a_callback_that_arrives_before_the_sid_is_recorded_is_adopted_with_it,
            a_reply_is_linked_to_the_last_message_sent_to_its_sender_once,
            a_records_history_is_listed_by_prefix_after_a_cursor_with_replies_and_added_lines,
            stop_opts_the_sender_out_and_start_clears_it,
            lookups_are_cached_and_replaced,
            clearing_an_opt_out_by_hand_removes_it_and_records_who_and_when,
            one_sid_is_never_held_by_two_messages,
            a_tagged_callback_links_an_unrecorded_sid_to_its_sending_message,
            a_tagged_callback_moves_a_sid_from_a_message_that_adopted_it_from_the_list,
            a_moved_sid_releases_the_one_its_message_had_adopted_for_its_owner,
            call_progress_callbacks_out_of_order_never_move_a_call_back,
            another_message_in_flight_to_a_number_is_seen_until_it_holds_a_sid,
        );
    };
    (@tests $fresh:path; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some((_guard, store)) = $crate::store::conformance::Fresh::fresh($fresh().await) else { return };
                $crate::store::conformance::$name(store).await;
            }
        )+
    };
}
pub(crate) use conformance_suite;

/// What a backend's `fresh` may return: a store, or maybe one.
pub(crate) trait Fresh<G> {
    /// The store, if there is one.
    fn fresh(self) -> Option<(G, Arc<dyn Store>)>;
}

impl<G> Fresh<G> for (G, Arc<dyn Store>) {
    fn fresh(self) -> Option<(G, Arc<dyn Store>)> {
        Some(self)
    }
}

impl<G> Fresh<G> for Option<(G, Arc<dyn Store>)> {
    fn fresh(self) -> Option<(G, Arc<dyn Store>)> {
        self
    }
}

// ---- fixtures ----

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn event(id: &str, secs: i64) -> NewEvent {
    NewEvent {
        id: id.to_owned(),
        source: "wave".into(),
        kind: "invoice.overdue".into(),
        business_id: Some("biz-1".into()),
        record: None,
        received_at: at(secs),
        body: format!(r#"{{"event_id": "{id}"}}"#).into_bytes(),
        data: format!(r#"{{"invoice_id":"{id}"}}"#),
    }
}

fn message(plugin: &str, key: &str) -> NewMessage {
    NewMessage { plugin: plugin.into(), key: key.into(), channel: Channel::Sms, to: "customer".into(), body: format!("body of {key}"), not_before: None }
}

fn sends(messages: Vec<NewMessage>) -> DispatchResult {
    DispatchResult { messages, ..DispatchResult::default() }
}

fn cancels(plugin: &str, prefix: &str) -> DispatchResult {
    DispatchResult { cancels: vec![(plugin.into(), prefix.into())], ..DispatchResult::default() }
}

fn lease(holder: &str) -> Lease {
    Lease::new(holder, Duration::from_secs(600))
}

/// A lease that has already run out when the next claim looks: its holder "was killed".
fn dead_lease(holder: &str) -> Lease {
    Lease::new(holder, Duration::ZERO)
}

async fn insert(store: &Arc<dyn Store>, events: &[NewEvent]) {
    store.insert_events(events.to_vec()).await.unwrap();
}

async fn complete(store: &Arc<dyn Store>, id: &str, result: DispatchResult) {
    let lost = store.complete_dispatches(&lease("test"), vec![(id.to_owned(), result)]).await.unwrap();
    assert!(lost.is_empty(), "{id} lost");
}

async fn all_messages(store: &Arc<dyn Store>) -> Vec<OutboxMessage> {
    let mut rows = store.list_messages(&MessageFilter { limit: 1000, ..MessageFilter::default() }).await.unwrap();
    rows.reverse();
    rows
}

/// `(plugin, key, status)` of every outbox row, oldest first.
async fn outbox(store: &Arc<dyn Store>) -> Vec<(String, String, OutboxStatus)> {
    all_messages(store).await.into_iter().map(|m| (m.row.plugin, m.row.key, m.row.status)).collect()
}

fn ids(events: &[StoredEvent]) -> Vec<&str> {
    events.iter().map(|e| e.id.as_str()).collect()
}

/// One dispatched SMS for `event_id` under `key`; returns its outbox id.
async fn one_message(store: &Arc<dyn Store>, event_id: &str, key: &str) -> i64 {
    if store.get_event(event_id).await.unwrap().is_none() {
        insert(store, &[event(event_id, 0)]).await;
    } else {
        assert!(store.replay_event(event_id).await.unwrap());
    }
    complete(store, event_id, sends(vec![message("p", key)])).await;
    all_messages(store).await.into_iter().find(|m| m.row.event_id == event_id && m.row.key == key).unwrap().row.id
}

fn update(id: i64, status: OutboxStatus) -> MessageUpdate {
    MessageUpdate {
        id,
        status,
        attempts: 1,
        next_attempt_at: None,
        sending_since: None,
        to_number: Some("+14155550100".into()),
        sid: None,
        error_code: None,
        error_message: None,
        history: Some(status.to_string()),
    }
}

/// Marks message `id` sent to `+14155550100` as `sid`.
async fn mark_sent(store: &Arc<dyn Store>, id: i64, sid: &str) {
    let sent = MessageUpdate { sid: Some(sid.into()), ..update(id, OutboxStatus::Sent) };
    assert!(store.update_message(&lease("sender"), &sent, &[]).await.unwrap());
}

// ---- inbox ----

pub(crate) async fn a_repeated_event_is_a_duplicate_and_changes_nothing(store: Arc<dyn Store>) {
    let first = event("e1", 0);
    assert_eq!(store.insert_events(vec![first.clone()]).await.unwrap(), [InsertOutcome::Inserted]);
    let mut again = event("e1", 60);
    again.data = r#"{"changed":true}"#.into();
    assert_eq!(store.insert_events(vec![again]).await.unwrap(), [InsertOutcome::Duplicate]);
    let stored = store.get_event("e1").await.unwrap().unwrap();
    assert_eq!((stored.data.as_str(), stored.received_at), (first.data.as_str(), first.received_at));
    assert_eq!((stored.status, stored.attempts), (EventStatus::Pending, 0));
    assert_eq!(store.get_event("nope").await.unwrap(), None);
}

pub(crate) async fn a_batch_reports_one_outcome_per_event_in_order(store: Arc<dyn Store>) {
    insert(&store, &[event("old", 0)]).await;
    let batch = vec![event("a", 1), event("old", 2), event("b", 3), event("a", 4)];
    use InsertOutcome::{Duplicate, Inserted};
    assert_eq!(store.insert_events(batch).await.unwrap(), [Inserted, Duplicate, Inserted, Duplicate]);
    assert!(store.insert_events(vec![]).await.unwrap().is_empty());
}

pub(crate) async fn pending_events_are_claimed_oldest_first(store: Arc<dyn Store>) {
    insert(&store, &[event("first", 0), event("second", 1), event("third", 2)]).await;
    let a = lease("a");
    assert_eq!(ids(&store.claim_events(&a, 2).await.unwrap()), ["first", "second"]);
    assert_eq!(store.complete_dispatches(&a, vec![("first".into(), DispatchResult::default())]).await.unwrap(), Vec::<String>::new());
    store.release_events(&a, vec!["second".into()]).await.unwrap();
    assert_eq!(ids(&store.claim_events(&a, 10).await.unwrap()), ["second", "third"]);
    assert_eq!(ids(&store.list_events(&EventFilter::newest(10)).await.unwrap()), ["third", "second", "first"]);
}

pub(crate) async fn a_dispatch_writes_the_outbox_once_even_when_replayed(store: Arc<dyn Store>) {
    insert(&store, &[event("e1", 0)]).await;
    let mut reminder = message("reminders", "inv-1:day-3");
    reminder.channel = Channel::Call;
    reminder.to = "team:billing".into();
    reminder.not_before = Some(at(3 * 86_400));
    let result = sends(vec![message("reminders", "inv-1:now"), reminder.clone()]);
    complete(&store, "e1", result.clone()).await;
    // Completed once: a second completion without a replay is refused, and writes nothing.
    assert_eq!(store.complete_dispatches(&lease("late"), vec![("e1".into(), result.clone())]).await.unwrap(), ["e1"]);
    assert!(store.replay_event("e1").await.unwrap());
    complete(&store, "e1", result).await;

    let rows = all_messages(&store).await;
    assert_eq!(rows.len(), 2);
    let newest = &rows[1].row;
    assert_eq!((newest.event_id.as_str(), newest.key.as_str(), newest.channel), ("e1", "inv-1:day-3", Channel::Call));
    assert_eq!(newest.to.to_string(), "team:billing");
    assert_eq!((newest.not_before, newest.status), (reminder.not_before, OutboxStatus::Pending));
    let stored = store.get_event("e1").await.unwrap().unwrap();
    assert_eq!((stored.status, stored.attempts, stored.last_error), (EventStatus::Dispatched, 2, None));
    assert!(stored.dispatched_at.is_some());
}

pub(crate) async fn plugin_failures_mark_the_event_failed_and_are_kept(store: Arc<dyn Store>) {
    insert(&store, &[event("e1", 0)]).await;
    let result = DispatchResult {
        messages: vec![message("ok-plugin", "k")],
        failures: vec![
            PluginFailure { plugin: "slow".into(), cause: "deadline exceeded after 50 ms".into() },
            PluginFailure { plugin: "big".into(), cause: "memory limit 16 MiB".into() },
        ],
        ..DispatchResult::default()
    };
    complete(&store, "e1", result).await;
    let stored = store.get_event("e1").await.unwrap().unwrap();
    assert_eq!(stored.status, EventStatus::Failed);
    assert_eq!(stored.last_error.as_deref(), Some("slow: deadline exceeded after 50 ms; big: memory limit 16 MiB"));
    let failures = store.list_failures("e1").await.unwrap();
    assert_eq!(failures.iter().map(|f| f.plugin.as_str()).collect::<Vec<_>>(), ["slow", "big"]);
    assert_eq!(outbox(&store).await.len(), 1);
    // Failed events are not claimed again until replayed.
    assert!(store.claim_events(&lease("a"), 10).await.unwrap().is_empty());
    assert!(store.replay_event("e1").await.unwrap());
    assert_eq!(store.claim_events(&lease("a"), 10).await.unwrap().len(), 1);
    assert!(store.complete_dispatches(&lease("a"), vec![("e1".into(), sends(vec![]))]).await.unwrap().is_empty());
    let stored = store.get_event("e1").await.unwrap().unwrap();
    assert_eq!((stored.status, stored.last_error), (EventStatus::Dispatched, None));
}

pub(crate) async fn a_long_failure_summary_is_capped(store: Arc<dyn Store>) {
    insert(&store, &[event("e1", 0)]).await;
    let result = DispatchResult { failures: vec![PluginFailure { plugin: "p".into(), cause: "é".repeat(5000) }], ..DispatchResult::default() };
    complete(&store, "e1", result).await;
    let last_error = store.get_event("e1").await.unwrap().unwrap().last_error.unwrap();
    assert_eq!(last_error.chars().count(), 1000);
    assert_eq!(store.list_failures("e1").await.unwrap()[0].cause.len(), 10_000);
}

pub(crate) async fn cancels_match_the_prefix_exactly_within_the_plugin(store: Arc<dyn Store>) {
    insert(&store, &[event("e1", 0), event("e2", 1)]).await;
    let keys = ["a%b1", "axb1", "a_c", "abc", "Abc", "b"];
    let mut messages: Vec<_> = keys.iter().map(|k| message("p", k)).collect();
    messages.push(message("other", "abc"));
    complete(&store, "e1", sends(messages)).await;
    for (prefix, expected_cancelled) in
        [("a%", vec!["a%b1"]), ("a_", vec!["a%b1", "a_c"]), ("ab", vec!["a%b1", "a_c", "abc"]), ("zzz", vec!["a%b1", "a_c", "abc"])]
    {
        store.replay_event("e2").await.unwrap();
        complete(&store, "e2", cancels("p", prefix)).await;
        let cancelled: Vec<_> = outbox(&store)
            .await
            .into_iter()
            .filter(|(_, _, status)| *status == OutboxStatus::Cancelled)
            .map(|(plugin, key, _)| {
                assert_eq!(plugin, "p");
                key
            })
            .collect();
        assert_eq!(cancelled, expected_cancelled, "after cancelling {prefix:?}");
    }
}

pub(crate) async fn a_plugin_can_replace_its_scheduled_messages_in_one_answer(store: Arc<dyn Store>) {
    insert(&store, &[event("sent", 0), event("resent", 1)]).await;
    complete(&store, "sent", sends(vec![message("p", "inv-1:reminder")])).await;
    let replace = DispatchResult { messages: vec![message("p", "inv-1:reminder")], cancels: vec![("p".into(), "inv-1:".into())], ..DispatchResult::default() };
    complete(&store, "resent", replace.clone()).await;
    // Replaying must not cancel the replacement the same event wrote.
    store.replay_event("resent").await.unwrap();
    complete(&store, "resent", replace).await;
    let states: Vec<_> = all_messages(&store).await.into_iter().map(|m| (m.row.event_id, m.row.status)).collect();
    assert_eq!(states, [("sent".to_owned(), OutboxStatus::Cancelled), ("resent".to_owned(), OutboxStatus::Pending)]);
}

pub(crate) async fn a_batch_of_dispatches_commits_in_order_and_all_or_nothing(store: Arc<dyn Store>) {
    insert(&store, &[event("sent", 0), event("paid", 1)]).await;
    let sent = sends(vec![message("p", "invoice:1:reminder")]);
    let paid = cancels("p", "invoice:1:reminder");
    // A later event in the same batch sees the rows of an earlier one.
    let a = lease("a");
    assert!(store.complete_dispatches(&a, vec![("sent".into(), sent.clone()), ("paid".into(), paid)]).await.unwrap().is_empty());
    assert_eq!(outbox(&store).await, vec![("p".into(), "invoice:1:reminder".into(), OutboxStatus::Cancelled)]);
    assert!(store.claim_events(&a, 10).await.unwrap().is_empty());
    // One unknown event rolls back the whole batch.
    insert(&store, &[event("third", 2)]).await;
    let err = store.complete_dispatches(&a, vec![("third".into(), sends(vec![message("p", "x")])), ("nope".into(), sent)]).await.unwrap_err();
    assert!(matches!(err, StoreError::UnknownEvent { .. }), "{err}");
    assert_eq!(outbox(&store).await.len(), 1);
    assert_eq!(store.claim_events(&a, 10).await.unwrap().len(), 1);
}

pub(crate) async fn completing_an_unknown_event_fails_and_writes_nothing(store: Arc<dyn Store>) {
    let err = store.complete_dispatches(&lease("a"), vec![("ghost".into(), sends(vec![message("p", "k")]))]).await.unwrap_err();
    assert!(matches!(err, StoreError::UnknownEvent { .. }), "{err}");
    assert!(all_messages(&store).await.is_empty());
    assert!(!store.replay_event("ghost").await.unwrap());
}

pub(crate) async fn events_are_listed_newest_first_by_kind_and_record(store: Arc<dyn Store>) {
    let mut paid = event("paid", 1);
    paid.kind = "invoice.paid".into();
    let mut po = event("po", 2);
    po.record = Some("qad:acme:purchase_order:PO-77".into());
    insert(&store, &[event("overdue", 0), paid, po]).await;
    let kind = EventFilter { kind: Some("invoice.overdue".into()), limit: 10, ..EventFilter::default() };
    assert_eq!(ids(&store.list_events(&kind).await.unwrap()), ["po", "overdue"]);
    let record = EventFilter { record: Some("qad:acme:purchase_order:PO-77".into()), limit: 10, ..EventFilter::default() };
    let found = store.list_events(&record).await.unwrap();
    assert_eq!(ids(&found), ["po"]);
    assert_eq!(found[0].record.as_deref(), Some("qad:acme:purchase_order:PO-77"));
    assert_eq!(ids(&store.list_events(&EventFilter::newest(2)).await.unwrap()), ["po", "paid"]);
}

// ---- leases ----

pub(crate) async fn two_claimers_never_get_the_same_event_while_a_lease_is_live(store: Arc<dyn Store>) {
    let events: Vec<_> = (0..200).map(|i| event(&format!("e{i:03}"), i)).collect();
    insert(&store, &events).await;
    // Two claimers race for small batches until nothing is left.
    let claim = |holder: &'static str| {
        let store = store.clone();
        tokio::spawn(async move {
            let mine = lease(holder);
            let mut got = Vec::new();
            loop {
                let batch = store.claim_events(&mine, 7).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|e| e.id));
            }
        })
    };
    let (a, b) = (claim("a"), claim("b"));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let mut all: Vec<_> = a.iter().chain(&b).cloned().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 200, "every event claimed");
    assert_eq!(a.len() + b.len(), 200, "no event claimed twice");
    // Nothing is claimable while those leases live.
    assert!(store.claim_events(&lease("c"), 10).await.unwrap().is_empty());
}

pub(crate) async fn an_expired_event_lease_is_taken_over_and_finished_exactly_once(store: Arc<dyn Store>) {
    insert(&store, &[event("e1", 0), event("e2", 1)]).await;
    let killed = dead_lease("killed");
    assert_eq!(store.claim_events(&killed, 10).await.unwrap().len(), 2);
    // The killed claimer's lease ran out: another takes its events over.
    let heir = lease("heir");
    assert_eq!(ids(&store.claim_events(&heir, 10).await.unwrap()), ["e1", "e2"]);
    assert!(store.claim_events(&lease("third"), 10).await.unwrap().is_empty());
    // The old holder comes back late: its work is refused and writes nothing.
    let late = sends(vec![message("p", "from-the-dead")]);
    let lost = store.complete_dispatches(&killed, vec![("e1".into(), late.clone()), ("e2".into(), late)]).await.unwrap();
    assert_eq!(lost, ["e1", "e2"]);
    assert!(all_messages(&store).await.is_empty());
    // The heir finishes them, once.
    let done = sends(vec![message("p", "k")]);
    assert!(store.complete_dispatches(&heir, vec![("e1".into(), done.clone()), ("e2".into(), done.clone())]).await.unwrap().is_empty());
    assert_eq!(store.complete_dispatches(&heir, vec![("e1".into(), done)]).await.unwrap(), ["e1"]);
    let keys: Vec<_> = outbox(&store).await.into_iter().map(|(_, key, _)| key).collect();
    assert_eq!(keys, ["k", "k"]);
    for id in ["e1", "e2"] {
        assert_eq!(store.get_event(id).await.unwrap().unwrap().attempts, 1);
    }
}

pub(crate) async fn released_and_replayed_events_are_claimable_again(store: Arc<dyn Store>) {
    insert(&store, &[event("e1", 0)]).await;
    let a = lease("a");
    assert_eq!(store.claim_events(&a, 10).await.unwrap().len(), 1);
    // Another holder cannot release what it does not hold.
    store.release_events(&lease("b"), vec!["e1".into()]).await.unwrap();
    assert!(store.claim_events(&lease("b"), 10).await.unwrap().is_empty());
    store.release_events(&a, vec!["e1".into()]).await.unwrap();
    assert_eq!(store.claim_events(&lease("b"), 10).await.unwrap().len(), 1);
    // A replay releases a live lease too (the operator asked for it).
    assert!(store.replay_event("e1").await.unwrap());
    assert_eq!(store.claim_events(&lease("c"), 10).await.unwrap().len(), 1);
}

pub(crate) async fn two_claimers_never_get_the_same_message_while_a_lease_is_live(store: Arc<dyn Store>) {
    insert(&store, &[event("e1", 0)]).await;
    complete(&store, "e1", sends((0..100).map(|i| message("p", &format!("k{i:03}"))).collect())).await;
    let claim = |holder: &'static str| {
        let store = store.clone();
        tokio::spawn(async move {
            let mine = lease(holder);
            let mut got = Vec::new();
            loop {
                let batch = store.claim_due_messages(&mine, Utc::now(), &Channel::ALL, 5).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|m| m.row.id));
            }
        })
    };
    let (a, b) = (claim("a"), claim("b"));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let mut all: Vec<_> = a.iter().chain(&b).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!((all.len(), a.len() + b.len()), (100, 100));
    assert!(store.claim_due_messages(&lease("c"), Utc::now(), &Channel::ALL, 10).await.unwrap().is_empty());
}

pub(crate) async fn an_expired_message_lease_is_taken_over_and_finished_exactly_once(store: Arc<dyn Store>) {
    let id = one_message(&store, "e1", "k").await;
    let killed = dead_lease("killed");
    let claimed = store.claim_due_messages(&killed, Utc::now(), &Channel::ALL, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    // It marked the row sending, then died before recording an answer.
    let sending = MessageUpdate { sending_since: Some(Utc::now()), ..update(id, OutboxStatus::Sending) };
    assert!(store.update_message(&killed, &sending, &[]).await.unwrap());
    let heir = lease("heir");
    let taken = store.claim_due_messages(&heir, Utc::now(), &Channel::ALL, 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].row.status, OutboxStatus::Sending, "the heir sees the ambiguous send and reconciles");
    // The dead holder's late answer is refused; the heir's counts, once.
    assert!(!store.update_message(&killed, &update(id, OutboxStatus::Sent), &[]).await.unwrap());
    assert!(store.update_message(&heir, &MessageUpdate { sid: Some("SM1".into()), ..update(id, OutboxStatus::Sent) }, &[]).await.unwrap());
    assert!(!store.update_message(&heir, &update(id, OutboxStatus::Failed), &[]).await.unwrap());
    let m = store.get_message(id).await.unwrap().unwrap();
    assert_eq!((m.row.status, m.sid.as_deref()), (OutboxStatus::Sent, Some("SM1")));
    assert!(store.claim_due_messages(&lease("c"), Utc::now(), &Channel::ALL, 10).await.unwrap().is_empty());
}

// ---- outbox ----

pub(crate) async fn due_messages_follow_not_before_the_retry_schedule_and_their_channel(store: Arc<dyn Store>) {
    insert(&store, &[event("e1", 0)]).await;
    let mut later = message("p", "later");
    later.not_before = Some(at(100));
    let mut call = message("p", "call");
    call.channel = Channel::Call;
    complete(&store, "e1", sends(vec![message("p", "now"), later, call])).await;
    let claimer = lease("a");
    let keys = |ms: Vec<OutboxMessage>| ms.into_iter().map(|m| m.row.key).collect::<Vec<_>>();
    assert_eq!(keys(store.claim_due_messages(&claimer, at(10), &[Channel::Sms], 10).await.unwrap()), ["now"]);
    assert_eq!(store.next_due_at(&[Channel::Sms]).await.unwrap(), Some(at(100)));
    assert_eq!(keys(store.claim_due_messages(&claimer, at(100), &[Channel::Sms], 10).await.unwrap()), ["later"]);
    assert_eq!(keys(store.claim_due_messages(&claimer, at(10), &[Channel::Call], 10).await.unwrap()), ["call"]);
    // A retry scheduled for later hands the row back, due at its new time.
    let now_id = all_messages(&store).await[0].row.id;
    let retry = MessageUpdate { next_attempt_at: Some(at(500)), history: None, ..update(now_id, OutboxStatus::Pending) };
    assert!(store.update_message(&claimer, &retry, &[]).await.unwrap());
    assert!(store.claim_due_messages(&lease("b"), at(499), &[Channel::Sms], 10).await.unwrap().is_empty());
    assert_eq!(keys(store.claim_due_messages(&lease("b"), at(500), &[Channel::Sms], 10).await.unwrap()), ["now"]);
}

pub(crate) async fn updates_keep_attempts_and_history_and_skip_cancelled_rows(store: Arc<dyn Store>) {
    let id = one_message(&store, "e1", "invoice:1:reminder").await;
    let claimer = lease("a");
    let attempt = Attempt {
        outbox_id: id,
        series: 1,
        started_at: at(5),
        kind: "message".into(),
        request: r#"{"method":"POST"}"#.into(),
        http_status: Some(201),
        sid: Some("SM1".into()),
        error_code: None,
        error_message: None,
        latency_ms: 42,
    };
    let sending = MessageUpdate { sending_since: Some(at(5)), history: None, ..update(id, OutboxStatus::Sending) };
    assert!(store.update_message(&claimer, &sending, &[]).await.unwrap());
    assert!(store.update_message(&claimer, &MessageUpdate { sid: Some("SM1".into()), ..update(id, OutboxStatus::Sent) }, std::slice::from_ref(&attempt)).await.unwrap());
    assert_eq!(store.list_attempts(id).await.unwrap(), [attempt]);
    let history: Vec<_> = store.list_history(id).await.unwrap().into_iter().map(|h| h.status).collect();
    assert_eq!(history, ["sent"]);
    let m = store.get_message(id).await.unwrap().unwrap();
    assert_eq!((m.row.status, m.sid.as_deref(), m.to_number.as_deref(), m.attempts), (OutboxStatus::Sent, Some("SM1"), Some("+14155550100"), 1));
    // A cancelled row is not updated.
    let other = one_message(&store, "e2", "invoice:2:reminder").await;
    insert(&store, &[event("e3", 0)]).await;
    complete(&store, "e3", cancels("p", "invoice:2:")).await;
    assert!(!store.update_message(&claimer, &update(other, OutboxStatus::Sent), &[]).await.unwrap());
    assert_eq!(store.get_message(other).await.unwrap().unwrap().row.status, OutboxStatus::Cancelled);
    assert_eq!(store.get_message(9999).await.unwrap(), None);
}

pub(crate) async fn a_failed_message_is_requeued_as_a_new_series(store: Arc<dyn Store>) {
    let id = one_message(&store, "e1", "k").await;
    let failed = MessageUpdate { error_code: Some(21211), error_message: Some("invalid To".into()), ..update(id, OutboxStatus::Failed) };
    assert!(store.update_message(&lease("a"), &failed, &[]).await.unwrap());
    assert!(store.requeue_message(id, at(50)).await.unwrap());
    assert!(!store.requeue_message(id, at(51)).await.unwrap(), "only failed or undeliverable messages are requeued");
    let m = store.get_message(id).await.unwrap().unwrap();
    assert_eq!((m.row.status, m.series, m.attempts, m.error_code), (OutboxStatus::Pending, 2, 0, None));
    let history: Vec<_> = store.list_history(id).await.unwrap().into_iter().map(|h| h.status).collect();
    assert_eq!(history, ["failed", "pending"]);
    assert_eq!(store.claim_due_messages(&lease("b"), Utc::now(), &Channel::ALL, 10).await.unwrap().len(), 1);
}

pub(crate) async fn messages_are_listed_by_event_status_and_record(store: Arc<dyn Store>) {
    let mut po = event("po", 0);
    po.record = Some("qad:acme:purchase_order:PO-77".into());
    insert(&store, &[po, event("wave", 1)]).await;
    complete(&store, "po", sends(vec![message("p", "a"), message("p", "b")])).await;
    complete(&store, "wave", sends(vec![message("p", "c")])).await;
    let first = all_messages(&store).await[0].row.id;
    assert!(store.update_message(&lease("a"), &update(first, OutboxStatus::Failed), &[]).await.unwrap());
    let keys = |ms: Vec<OutboxMessage>| ms.into_iter().map(|m| m.row.key).collect::<Vec<_>>();
    let list = |filter: MessageFilter| {
        let store = store.clone();
        async move { keys(store.list_messages(&MessageFilter { limit: 10, ..filter }).await.unwrap()) }
    };
    assert_eq!(list(MessageFilter::default()).await, ["c", "b", "a"]);
    assert_eq!(list(MessageFilter { event_id: Some("wave".into()), ..MessageFilter::default() }).await, ["c"]);
    assert_eq!(list(MessageFilter { status: Some(OutboxStatus::Failed), ..MessageFilter::default() }).await, ["a"]);
    assert_eq!(list(MessageFilter { record: Some("qad:acme:purchase_order:PO-77".into()), ..MessageFilter::default() }).await, ["b", "a"]);
    assert_eq!(list(MessageFilter { since: Some(Utc::now() + chrono::TimeDelta::hours(1)), ..MessageFilter::default() }).await, Vec::<String>::new());
}

/// The keys of the messages `filter` lists (at most 10), newest first.
async fn listed(store: &Arc<dyn Store>, filter: MessageFilter) -> Vec<String> {
    store.list_messages(&MessageFilter { limit: 10, ..filter }).await.unwrap().into_iter().map(|m| m.row.key).collect()
}

pub(crate) async fn messages_are_filtered_by_plugin_number_and_time_paged_and_counted(store: Arc<dyn Store>) {
    insert(&store, &[event("e1", 0)]).await;
    let team = NewMessage { to: "team:accounting".into(), ..message("q", "t") };
    complete(&store, "e1", sends(vec![message("p", "a"), message("p", "b"), team])).await;
    let failed = all_messages(&store).await[0].row.id;
    assert!(store.update_message(&lease("a"), &update(failed, OutboxStatus::Failed), &[]).await.unwrap());
    let hour = chrono::TimeDelta::hours(1);
    assert_eq!(listed(&store, MessageFilter { plugin: Some("p".into()), ..MessageFilter::default() }).await, ["b", "a"]);
    // By the number it was sent to, or by the recipient as the plugin wrote it.
    assert_eq!(listed(&store, MessageFilter { number: Some("+14155550100".into()), ..MessageFilter::default() }).await, ["a"]);
    assert_eq!(listed(&store, MessageFilter { number: Some("team:accounting".into()), ..MessageFilter::default() }).await, ["t"]);
    assert!(listed(&store, MessageFilter { until: Some(Utc::now() - hour), ..MessageFilter::default() }).await.is_empty());
    assert_eq!(listed(&store, MessageFilter { until: Some(Utc::now() + hour), ..MessageFilter::default() }).await, ["t", "b", "a"]);
    for (offset, keys) in [(0, vec!["t", "b"]), (2, vec!["a"])] {
        let page = store.list_messages(&MessageFilter { limit: 2, offset, ..MessageFilter::default() }).await.unwrap();
        assert_eq!(page.into_iter().map(|m| m.row.key).collect::<Vec<_>>(), keys, "offset {offset}");
    }
    assert_eq!(store.count_messages(OutboxStatus::Pending).await.unwrap(), 2);
    assert_eq!(store.count_messages(OutboxStatus::Failed).await.unwrap(), 1);
    let hours = store.count_messages_by_hour(Utc::now() - hour * 24).await.unwrap();
    let counts: Vec<_> = hours.iter().map(|h| (h.status, h.count)).collect();
    assert_eq!(counts, [(OutboxStatus::Failed, 1), (OutboxStatus::Pending, 2)]);
    assert!(hours[0].hour <= Utc::now() && Utc::now() - hours[0].hour < hour);
    assert!(store.count_messages_by_hour(Utc::now() + hour).await.unwrap().is_empty());
    insert(&store, &[event("e2", 1), event("e3", 2)]).await;
    let events = store.list_events(&EventFilter { offset: 1, limit: 2, ..EventFilter::default() }).await.unwrap();
    assert_eq!(ids(&events), ["e2", "e1"]);
}

pub(crate) async fn recent_plugin_failures_are_listed_newest_first_with_their_event(store: Arc<dyn Store>) {
    insert(&store, &[event("e1", 0), event("e2", 1)]).await;
    let failing = |plugin: &str, cause: &str| DispatchResult { failures: vec![PluginFailure { plugin: plugin.into(), cause: cause.into() }], ..DispatchResult::default() };
    complete(&store, "e1", failing("slow", "deadline exceeded")).await;
    complete(&store, "e2", failing("big", "memory limit")).await;
    let recent = store.recent_failures(10).await.unwrap();
    let seen: Vec<_> = recent.iter().map(|(event, f)| (event.as_str(), f.plugin.as_str(), f.cause.as_str())).collect();
    assert_eq!(seen, [("e2", "big", "memory limit"), ("e1", "slow", "deadline exceeded")]);
    assert_eq!(store.recent_failures(1).await.unwrap().len(), 1);
}

// ---- secrets and cursors ----

pub(crate) async fn secrets_are_stored_listed_and_replaced(store: Arc<dyn Store>) {
    assert!(!store.has_secrets().await.unwrap());
    assert_eq!(store.get_secret("twilio.auth_token").await.unwrap(), None);
    store.put_secret("twilio.auth_token", b"sealed-1".to_vec()).await.unwrap();
    store.put_secret("wave.client_secret", b"sealed-2".to_vec()).await.unwrap();
    store.put_secret("twilio.auth_token", b"sealed-3".to_vec()).await.unwrap();
    assert!(store.has_secrets().await.unwrap());
    assert_eq!(store.get_secret("twilio.auth_token").await.unwrap().unwrap(), b"sealed-3");
    let names: Vec<_> = store.list_secrets().await.unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["twilio.auth_token", "wave.client_secret"]);
}

pub(crate) async fn rotation_rewrites_every_secret_or_none(store: Arc<dyn Store>) {
    use crate::secrets::MasterKey;
    let (old, new) = (Arc::new(MasterKey::generate()), Arc::new(MasterKey::generate()));
    for (name, value) in [("twilio.auth_token", "tok"), ("wave.webhook_secret", "whsec")] {
        store.put_secret(name, old.seal(name, value).unwrap()).await.unwrap();
    }
    // A callback failing on the second row leaves the first unchanged too.
    let before = store.get_secret("twilio.auth_token").await.unwrap();
    let (o, n) = (old.clone(), new.clone());
    let err = store
        .rotate_secrets(Box::new(move |name, sealed| {
            if name == "wave.webhook_secret" {
                return Err(Arc::new(std::io::Error::other("boom")) as _);
            }
            o.reseal(&n, name, sealed).map_err(|e| Arc::new(e) as _)
        }))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rotate { ref name, .. } if name == "wave.webhook_secret"));
    assert_eq!(store.get_secret("twilio.auth_token").await.unwrap(), before);
    let (o, n) = (old.clone(), new.clone());
    let rotated = store.rotate_secrets(Box::new(move |name, sealed| o.reseal(&n, name, sealed).map_err(|e| Arc::new(e) as _))).await.unwrap();
    assert_eq!(rotated, 2);
    let sealed = store.get_secret("wave.webhook_secret").await.unwrap().unwrap();
    assert_eq!(new.open("wave.webhook_secret", &sealed).unwrap().expose(), "whsec");
}

pub(crate) async fn cursors_are_saved_replaced_and_listed(store: Arc<dyn Store>) {
    assert_eq!(store.get_cursor("qad:acme").await.unwrap(), None);
    store.put_cursor("qad:acme", r#"{"po":"2026-01-01"}"#).await.unwrap();
    store.put_cursor("wave:reconcile", "1").await.unwrap();
    store.put_cursor("qad:acme", r#"{"po":"2026-02-01"}"#).await.unwrap();
    assert_eq!(store.get_cursor("qad:acme").await.unwrap().unwrap().value, r#"{"po":"2026-02-01"}"#);
    let names: Vec<_> = store.list_cursors().await.unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["qad:acme", "wave:reconcile"]);
}

pub(crate) async fn one_claimer_at_a_time_polls_a_source(store: Arc<dyn Store>) {
    let (a, b) = (lease("a"), lease("b"));
    assert!(store.lease_cursor("qad:acme", &a).await.unwrap());
    assert!(store.lease_cursor("qad:acme", &a).await.unwrap(), "the holder renews");
    assert!(!store.lease_cursor("qad:acme", &b).await.unwrap());
    assert!(store.lease_cursor("wave:reconcile", &b).await.unwrap(), "other sources are free");
    assert_eq!(store.get_cursor("qad:acme").await.unwrap(), None, "a lease alone saves no cursor");
    store.put_cursor("qad:acme", "7").await.unwrap();
    store.release_cursor("qad:acme", &b).await.unwrap();
    assert!(!store.lease_cursor("qad:acme", &b).await.unwrap(), "only the holder releases");
    store.release_cursor("qad:acme", &a).await.unwrap();
    assert!(store.lease_cursor("qad:acme", &b).await.unwrap());
    // A holder that died: its lease runs out and another takes over.
    assert!(store.lease_cursor("other", &dead_lease("killed")).await.unwrap());
    assert!(store.lease_cursor("other", &a).await.unwrap());
    assert_eq!(store.get_cursor("qad:acme").await.unwrap().unwrap().value, "7");
}

// ---- plugin runs ----

fn ran(plugin: &str, outcome: std::result::Result<&str, &str>) -> NewRun {
    NewRun { plugin: plugin.into(), digest: format!("digest-of-{plugin}"), outcome: outcome.map(str::to_owned).map_err(str::to_owned) }
}

fn with_runs(context: &str, runs: Vec<NewRun>) -> DispatchResult {
    DispatchResult { context: Some(RecordedContext::new(context.into())), runs, ..DispatchResult::default() }
}

fn runs_of(plugin: &str) -> RunFilter {
    RunFilter { plugin: plugin.into(), limit: 100, ..RunFilter::default() }
}

pub(crate) async fn plugin_runs_are_recorded_with_the_dispatch_and_the_latest_per_event_is_listed(store: Arc<dyn Store>) {
    let mut paid = event("e2", 1);
    paid.kind = "invoice.paid".into();
    insert(&store, &[event("e1", 0), paid]).await;
    complete(&store, "e1", with_runs(r#"{"now":"1"}"#, vec![ran("a", Ok("[]")), ran("b", Err("boom"))])).await;
    complete(&store, "e2", with_runs(r#"{"now":"2"}"#, vec![ran("a", Ok(r#"[{"sms":1}]"#))])).await;

    let a = store.list_runs(&runs_of("a")).await.unwrap();
    assert_eq!(a.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>(), ["e2", "e1"], "newest first");
    assert_eq!((a[0].kind.as_str(), a[0].context.as_str(), a[0].outcome.as_deref()), ("invoice.paid", r#"{"now":"2"}"#, Ok(r#"[{"sms":1}]"#)));
    assert_eq!(a[1].digest, "digest-of-a");
    let b = store.list_runs(&runs_of("b")).await.unwrap();
    assert_eq!((b.len(), b[0].outcome.clone()), (1, Err("boom".to_owned())));

    // A replayed event's new run replaces the old one in the listing; the kind filter applies.
    assert!(store.replay_event("e1").await.unwrap());
    complete(&store, "e1", with_runs(r#"{"now":"3"}"#, vec![ran("a", Ok(r#"["again"]"#))])).await;
    let a = store.list_runs(&runs_of("a")).await.unwrap();
    assert_eq!(a.iter().map(|r| (r.event_id.as_str(), r.context.as_str())).collect::<Vec<_>>(), [("e1", r#"{"now":"3"}"#), ("e2", r#"{"now":"2"}"#)]);
    let overdue = store.list_runs(&RunFilter { kind: Some("invoice.overdue".into()), ..runs_of("a") }).await.unwrap();
    assert_eq!(overdue.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>(), ["e1"]);
    let one = store.list_runs(&RunFilter { limit: 1, ..runs_of("a") }).await.unwrap();
    assert_eq!(one.len(), 1);
    let future = store.list_runs(&RunFilter { since: Some(Utc::now() + chrono::Duration::hours(1)), ..runs_of("a") }).await.unwrap();
    assert!(future.is_empty());
    // A dispatch taken over by another claimer records nothing of its runs.
    insert(&store, &[event("e3", 2)]).await;
    store.claim_events(&lease("other"), 10).await.unwrap();
    let lost = store.complete_dispatches(&lease("late"), vec![("e3".into(), with_runs("{}", vec![ran("a", Ok("[]"))]))]).await.unwrap();
    assert_eq!(lost, ["e3"]);
    assert!(store.list_runs(&runs_of("a")).await.unwrap().iter().all(|r| r.event_id != "e3"));
}

pub(crate) async fn old_plugin_runs_and_their_unused_contexts_are_pruned(store: Arc<dyn Store>) {
    insert(&store, &[event("e1", 0)]).await;
    complete(&store, "e1", with_runs("{}", vec![ran("a", Ok("[]"))])).await;
    assert_eq!(store.prune_runs(Utc::now() - chrono::Duration::hours(1)).await.unwrap(), 0);
    assert_eq!(store.list_runs(&runs_of("a")).await.unwrap().len(), 1);
    assert_eq!(store.prune_runs(Utc::now() + chrono::Duration::seconds(1)).await.unwrap(), 1);
    assert!(store.list_runs(&runs_of("a")).await.unwrap().is_empty());
    // The same context recorded again after its runs were pruned is stored again.
    assert!(store.replay_event("e1").await.unwrap());
    complete(&store, "e1", with_runs("{}", vec![ran("a", Ok("[]"))])).await;
    assert_eq!(store.list_runs(&runs_of("a")).await.unwrap()[0].context, "{}");
}

// ---- installed plugins ----

pub(crate) async fn installed_plugins_are_upgraded_rolled_back_and_switched(store: Arc<dyn Store>) {
    store.put_plugin_wasm("d1", b"v1".to_vec()).await.unwrap();
    store.put_plugin_wasm("d1", b"v1".to_vec()).await.unwrap();
    store.put_plugin_wasm("d2", b"v2".to_vec()).await.unwrap();
    assert_eq!(store.get_plugin_wasm("d2").await.unwrap().as_deref(), Some(&b"v2"[..]));
    assert_eq!(store.get_plugin_wasm("nope").await.unwrap(), None);
    let state = |e: &InstalledPlugin| (e.digest.clone(), e.previous.clone(), e.enabled);
    let some = |s: &str| Some(s.to_owned());

    let first = store.install_plugin("echo", "d1").await.unwrap();
    assert_eq!(state(&first), (some("d1"), None, true));
    assert_eq!(store.rollback_plugin("echo").await.unwrap(), None, "nothing to roll back to");
    // Installing the same version again keeps what it replaced.
    assert_eq!(state(&store.install_plugin("echo", "d2").await.unwrap()), (some("d2"), some("d1"), true));
    assert_eq!(state(&store.install_plugin("echo", "d2").await.unwrap()), (some("d2"), some("d1"), true));
    assert_eq!(state(&store.rollback_plugin("echo").await.unwrap().unwrap()), (some("d1"), some("d2"), true));
    assert_eq!(state(&store.set_plugin_enabled("echo", false).await.unwrap()), (some("d1"), some("d2"), false));
    // A rollback or an install runs the plugin again.
    assert_eq!(state(&store.rollback_plugin("echo").await.unwrap().unwrap()), (some("d2"), some("d1"), true));
    // A switch for a plugin that was never installed (a built-in) has no version.
    assert_eq!(state(&store.set_plugin_enabled("invoice-paid", false).await.unwrap()), (None, None, false));
    let listed: Vec<_> = store.list_installed_plugins().await.unwrap().iter().map(|e| (e.name.clone(), state(e))).collect();
    assert_eq!(listed, [("echo".to_owned(), (some("d2"), some("d1"), true)), ("invoice-paid".to_owned(), (None, None, false))]);
}

pub(crate) async fn the_last_shadow_result_per_plugin_is_kept(store: Arc<dyn Store>) {
    assert!(store.last_shadows().await.unwrap().is_empty());
    let result = |plugin: &str, digest: &str, different: u64, secs: i64| ShadowResult {
        plugin: plugin.into(),
        candidate: format!("{plugin}-new.wasm"),
        digest: digest.into(),
        events: 40,
        different,
        ran_at: at(secs),
    };
    store.record_shadow(&result("echo", "d1", 3, 10)).await.unwrap();
    store.record_shadow(&result("alpha", "d9", 0, 11)).await.unwrap();
    store.record_shadow(&result("echo", "d2", 0, 12)).await.unwrap();
    assert_eq!(store.last_shadows().await.unwrap(), [result("alpha", "d9", 0, 11), result("echo", "d2", 0, 12)]);
}

// ---- the Twilio sink's state ----

fn callback(sid: &str, status: &str, rank: u8) -> StatusCallback {
    StatusCallback { sid: sid.into(), status: status.into(), sequence: None, rank: Some(rank), error_code: None, detail: None, params: "{}".into(), received_at: at(10), tag: None }
}

fn inbound(sid: &str, body: &str, opt_change: Option<OptChange>) -> InboundMessage {
    InboundMessage {
        sid: sid.into(),
        from: "+14155550100".into(),
        to: "+15005550006".into(),
        body: body.into(),
        opt_out_type: None,
        opt_change,
        params: "{}".into(),
        received_at: at(20),
    }
}

async fn history(store: &Arc<dyn Store>, id: i64) -> Vec<String> {
    store.list_history(id).await.unwrap().into_iter().map(|h| h.status).collect()
}

pub(crate) async fn a_late_status_is_kept_in_history_without_moving_the_message_back(store: Arc<dyn Store>) {
    let id = one_message(&store, "e1", "k").await;
    mark_sent(&store, id, "SM1").await;
    assert_eq!(store.record_status_callback(&callback("SM1", "delivered", 3)).await.unwrap(), CallbackOutcome::Recorded { outbox_id: Some(id), advanced: true });
    assert_eq!(store.record_status_callback(&callback("SM1", "sent", 2)).await.unwrap(), CallbackOutcome::Recorded { outbox_id: Some(id), advanced: false });
    assert_eq!(store.delivery_status(id).await.unwrap().as_deref(), Some("delivered"));
    assert_eq!(history(&store, id).await, ["sent", "delivered", "sent"]);
}

pub(crate) async fn a_repeated_callback_is_a_duplicate_unless_its_sequence_number_differs(store: Arc<dyn Store>) {
    let id = one_message(&store, "e1", "k").await;
    mark_sent(&store, id, "SM1").await;
    let cb = callback("SM1", "delivered", 3);
    store.record_status_callback(&cb).await.unwrap();
    assert_eq!(store.record_status_callback(&cb).await.unwrap(), CallbackOutcome::Duplicate);
    let next = StatusCallback { sequence: Some("2".into()), ..cb };
    assert!(matches!(store.record_status_callback(&next).await.unwrap(), CallbackOutcome::Recorded { .. }));
    assert_eq!(history(&store, id).await.len(), 3);
}

pub(crate) async fn a_callback_for_an_unknown_sid_is_stored_without_history(store: Arc<dyn Store>) {
    let id = one_message(&store, "e1", "k").await;
    mark_sent(&store, id, "SM1").await;
    assert_eq!(store.record_status_callback(&callback("SMother", "delivered", 3)).await.unwrap(), CallbackOutcome::Recorded { outbox_id: None, advanced: false });
    assert_eq!(store.record_status_callback(&callback("SMother", "delivered", 3)).await.unwrap(), CallbackOutcome::Duplicate);
    assert_eq!(history(&store, id).await.len(), 1);
}

pub(crate) async fn a_callback_that_arrives_before_the_sid_is_recorded_is_adopted_with_it(store: Arc<dyn Store>) {
    let early = store.record_status_callback(&callback("SM2", "delivered", 3)).await.unwrap();
    assert_eq!(early, CallbackOutcome::Recorded { outbox_id: None, advanced: false });
    store.record_status_callback(&callback("SM2", "sent", 2)).await.unwrap();
    let id = one_message(&store, "e1", "k2").await;
    mark_sent(&store, id, "SM2").await;
    assert_eq!(store.delivery_status(id).await.unwrap().as_deref(), Some("delivered"));
    assert_eq!(history(&store, id).await, ["sent", "delivered", "sent"]);
}

pub(crate) async fn a_reply_is_linked_to_the_last_message_sent_to_its_sender_once(store: Arc<dyn Store>) {
    let older = one_message(&store, "e0", "k0").await;
    mark_sent(&store, older, "SM0").await;
    let id = one_message(&store, "e1", "k").await;
    mark_sent(&store, id, "SM1").await;
    let (outcome, record) = store.record_inbound(&inbound("SMr1", "PAID?", None)).await.unwrap();
    assert_eq!(outcome, InsertOutcome::Inserted);
    assert_eq!((record.outbox_id, record.event_id.as_deref()), (Some(id), Some("e1")));
    let (again, _) = store.record_inbound(&inbound("SMr1", "PAID?", None)).await.unwrap();
    assert_eq!(again, InsertOutcome::Duplicate);
    let replies = store.list_replies(id).await.unwrap();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].message.body, "PAID?");
    assert!(store.list_replies(older).await.unwrap().is_empty());
}

pub(crate) async fn a_records_history_is_listed_by_prefix_after_a_cursor_with_replies_and_added_lines(store: Arc<dyn Store>) {
    let about = |id: &str, record: &str| NewEvent { record: Some(record.into()), ..event(id, 0) };
    insert(&store, &[about("q1", "qad:acme:purchase_order:PO-77"), about("q2", "qad:other:purchase_order:PO-1"), event("w1", 0)]).await;
    for id in ["q1", "q2", "w1"] {
        complete(&store, id, sends(vec![message("p", &format!("k-{id}"))])).await;
    }
    let id_of = |rows: Vec<OutboxMessage>, event: &str| rows.into_iter().find(|m| m.row.event_id == event).unwrap().row.id;
    let po = id_of(all_messages(&store).await, "q1");
    let (other_po, wave) = (id_of(all_messages(&store).await, "q2"), id_of(all_messages(&store).await, "w1"));
    store.add_history(other_po, "note", "another tenant's").await.unwrap();
    store.add_history(wave, "note", "no record").await.unwrap();
    mark_sent(&store, po, "SMpo").await;
    store.record_inbound(&inbound("SMr", "Approved", None)).await.unwrap();
    store.add_history(po, "qad-writeback", "written to PO-77").await.unwrap();

    let lines = store.list_record_history("qad:acme:", 0, 100).await.unwrap();
    let seen: Vec<(&str, &str, i64)> = lines.iter().map(|l| (l.record.as_str(), l.history.status.as_str(), l.outbox_id)).collect();
    assert_eq!(
        seen,
        [
            ("qad:acme:purchase_order:PO-77", "sent", po),
            ("qad:acme:purchase_order:PO-77", "reply", po),
            ("qad:acme:purchase_order:PO-77", "qad-writeback", po),
        ]
    );
    assert!(lines.windows(2).all(|w| w[0].id < w[1].id), "ids increase");
    assert_eq!((lines[0].sid.as_deref(), lines[0].to_number.as_deref()), (Some("SMpo"), Some("+14155550100")));
    assert!(lines[1].history.detail.as_deref().is_some_and(|d| d.contains("Approved")), "{:?}", lines[2]);
    // After a cursor, at most `limit`; another tenant's prefix sees only its own.
    let after = store.list_record_history("qad:acme:", lines[0].id, 1).await.unwrap();
    assert_eq!(after.iter().map(|l| l.id).collect::<Vec<_>>(), [lines[1].id]);
    let other = store.list_record_history("qad:other:", 0, 100).await.unwrap();
    assert_eq!(other.iter().map(|l| (l.record.as_str(), l.outbox_id)).collect::<Vec<_>>(), [("qad:other:purchase_order:PO-1", other_po)]);
}

pub(crate) async fn stop_opts_the_sender_out_and_start_clears_it(store: Arc<dyn Store>) {
    store.record_inbound(&inbound("SMs", "STOP", Some(OptChange::OptOut))).await.unwrap();
    assert!(store.opted_out(&["+14155550100"]).await.unwrap().contains("+14155550100"));
    store.record_inbound(&inbound("SMt", "START", Some(OptChange::OptIn))).await.unwrap();
    assert!(store.opted_out(&["+14155550100"]).await.unwrap().is_empty());
    assert!(!store.clear_opt_out("+14155550100").await.unwrap());
    store.record_opt_out("+14155550100", "21610", at(30)).await.unwrap();
    assert!(store.opted_out(&["+14155550100"]).await.unwrap().contains("+14155550100"));
    assert!(store.clear_opt_out("+14155550100").await.unwrap());
}

pub(crate) async fn lookups_are_cached_and_replaced(store: Arc<dyn Store>) {
    assert_eq!(store.get_lookup("+14155550100").await.unwrap(), None);
    let first = LookupRecord { number: "+14155550100".into(), valid: true, line_type: Some("mobile".into()), detail: None, fetched_at: at(0) };
    store.put_lookup(&first).await.unwrap();
    let second = LookupRecord { line_type: Some("landline".into()), fetched_at: at(60), ..first.clone() };
    store.put_lookup(&second).await.unwrap();
    assert_eq!(store.get_lookup("+14155550100").await.unwrap(), Some(second));
}

pub(crate) async fn clearing_an_opt_out_by_hand_removes_it_and_records_who_and_when(store: Arc<dyn Store>) {
    let (stop, later) = (at(0), at(3600));
    store.record_opt_out("+14155550100", "replied STOP", stop).await.unwrap();
    store.record_opt_out("+14155550101", "Twilio 21610", later).await.unwrap();
    let listed: Vec<String> = store.list_opt_outs().await.unwrap().into_iter().map(|o| o.number).collect();
    assert_eq!(listed, ["+14155550101", "+14155550100"]);
    let cleared = store.clear_opt_out_by_hand("+14155550100", "alice", later).await.unwrap().unwrap();
    assert_eq!((cleared.by.as_str(), cleared.at, cleared.cleared.at), ("alice", later, stop));
    assert_eq!(cleared.cleared.reason, "replied STOP");
    assert!(store.opted_out(&["+14155550100"]).await.unwrap().is_empty());
    assert!(store.opted_out(&["+14155550101"]).await.unwrap().contains("+14155550101"));
    // Several numbers (repeated, unknown) in one read: only the opted-out ones, once.
    let among = store.opted_out(&["+14155550100", "+14155550101", "+14155550199", "+14155550101"]).await.unwrap();
    assert_eq!(among, HashSet::from(["+14155550101".to_owned()]));
    assert_eq!(store.list_opt_out_clearances(None, 10).await.unwrap(), vec![cleared.clone()]);
    assert_eq!(store.list_opt_out_clearances(Some("+14155550101"), 10).await.unwrap(), vec![]);
    // Not opted out (any more): nothing is recorded.
    assert_eq!(store.clear_opt_out_by_hand("+14155550100", "bob", later).await.unwrap(), None);
    assert_eq!(store.list_opt_out_clearances(None, 10).await.unwrap().len(), 1);
}

// ---- one SID, one message ----

/// Marks message `id` `sending` (attempt 1 of series 1, lease kept), as the sender does before
/// its request.
async fn mark_sending(store: &Arc<dyn Store>, id: i64) {
    let sending = MessageUpdate { sending_since: Some(at(5)), history: None, ..update(id, OutboxStatus::Sending) };
    assert!(store.update_message(&lease("sender"), &sending, &[]).await.unwrap());
}

fn tagged(sid: &str, status: &str, rank: u8, outbox_id: i64) -> StatusCallback {
    StatusCallback { tag: Some(MessageTag { outbox_id, series: 1, attempt: 1 }), ..callback(sid, status, rank) }
}

pub(crate) async fn one_sid_is_never_held_by_two_messages(store: Arc<dyn Store>) {
    let first = one_message(&store, "crash-0", "k").await;
    let second = one_message(&store, "crash-129", "k").await;
    mark_sent(&store, first, "CA1").await;
    assert_eq!(store.sid_holder("CA1").await.unwrap(), Some(first));
    assert_eq!(store.sid_holder("CA2").await.unwrap(), None);
    let taken = MessageUpdate { sid: Some("CA1".into()), ..update(second, OutboxStatus::Sent) };
    let refused = store.update_message(&lease("sender"), &taken, &[]).await.unwrap_err();
    assert!(matches!(&refused, StoreError::SidTaken { sid, holder } if sid == "CA1" && *holder == first), "{refused}");
    let row = store.get_message(second).await.unwrap().unwrap();
    assert_eq!((row.row.status, row.sid), (OutboxStatus::Pending, None), "nothing written");
    assert!(history(&store, second).await.is_empty());
    // The holder itself may write its own SID again.
    let again = MessageUpdate { sid: Some("CA1".into()), ..update(first, OutboxStatus::Sent) };
    assert!(!store.update_message(&lease("sender"), &again, &[]).await.unwrap(), "already final");
}

pub(crate) async fn a_tagged_callback_links_an_unrecorded_sid_to_its_sending_message(store: Arc<dyn Store>) {
    let id = one_message(&store, "e1", "k").await;
    mark_sending(&store, id).await;
    let outcome = store.record_status_callback(&tagged("CA9", "completed", 4, id)).await.unwrap();
    assert_eq!(outcome, CallbackOutcome::Recorded { outbox_id: Some(id), advanced: true });
    let row = store.get_message(id).await.unwrap().unwrap();
    assert_eq!((row.row.status, row.sid.as_deref()), (OutboxStatus::Sending, Some("CA9")));
    assert_eq!(store.sid_holder("CA9").await.unwrap(), Some(id));
    assert_eq!(store.delivery_status(id).await.unwrap().as_deref(), Some("completed"));
    assert_eq!(history(&store, id).await, ["sending", "completed"]);
    // The sender's own record of the same SID is accepted and changes no link.
    let sent = MessageUpdate { sid: Some("CA9".into()), ..update(id, OutboxStatus::Sent) };
    assert!(store.update_message(&lease("sender"), &sent, &[]).await.unwrap());
    // A tag naming a message not sending (or of another series) links nothing.
    let other = one_message(&store, "e2", "k").await;
    let ignored = store.record_status_callback(&tagged("CA10", "completed", 4, other)).await.unwrap();
    assert_eq!(ignored, CallbackOutcome::Recorded { outbox_id: None, advanced: false });
    assert_eq!(store.sid_holder("CA10").await.unwrap(), None);
}

pub(crate) async fn another_message_in_flight_to_a_number_is_seen_until_it_holds_a_sid(store: Arc<dyn Store>) {
    let (number, waiting) = ("+14155550100", one_message(&store, "e1", "k").await);
    let other = one_message(&store, "e2", "k").await;
    mark_sending(&store, waiting).await;
    assert!(!store.others_in_flight(waiting, Channel::Sms, number, at(0)).await.unwrap(), "itself does not count");
    mark_sending(&store, other).await;
    assert!(store.others_in_flight(waiting, Channel::Sms, number, at(0)).await.unwrap());
    assert!(!store.others_in_flight(waiting, Channel::Sms, number, at(5)).await.unwrap(), "begun before the window");
    assert!(!store.others_in_flight(waiting, Channel::Call, number, at(0)).await.unwrap(), "another channel");
    assert!(!store.others_in_flight(waiting, Channel::Sms, "+14155550199", at(0)).await.unwrap(), "another number");
    mark_sent(&store, other, "SM1").await;
    assert!(!store.others_in_flight(waiting, Channel::Sms, number, at(0)).await.unwrap(), "answered");
}

pub(crate) async fn a_tagged_callback_moves_a_sid_from_a_message_that_adopted_it_from_the_list(store: Arc<dyn Store>) {
    let holder = one_message(&store, "crash-0", "k").await;
    let tagged_id = one_message(&store, "crash-129", "k").await;
    // `holder` adopted CA1 from the list; it is `tagged_id`'s call, whose answer was lost.
    mark_sending(&store, holder).await;
    mark_sent(&store, holder, "CA1").await;
    let initiated = StatusCallback { sequence: Some("0".into()), ..callback("CA1", "initiated", 0) };
    assert_eq!(store.record_status_callback(&initiated).await.unwrap(), CallbackOutcome::Recorded { outbox_id: Some(holder), advanced: true });
    mark_sending(&store, tagged_id).await;
    // A tag of another attempt than the tagged message's latest is stale: nothing moves.
    let stale = StatusCallback { tag: Some(MessageTag { outbox_id: tagged_id, series: 1, attempt: 2 }), sequence: Some("1".into()), ..callback("CA1", "ringing", 1) };
    assert_eq!(store.record_status_callback(&stale).await.unwrap(), CallbackOutcome::Recorded { outbox_id: Some(holder), advanced: true });
    assert_eq!(store.sid_holder("CA1").await.unwrap(), Some(holder));
    // Its latest attempt's callback is the truth: CA1 moves, with the callbacks recorded so far.
    let outcome = store.record_status_callback(&tagged("CA1", "completed", 3, tagged_id)).await.unwrap();
    assert_eq!(outcome, CallbackOutcome::Moved { outbox_id: tagged_id, from: holder, advanced: true });
    assert_eq!(store.sid_holder("CA1").await.unwrap(), Some(tagged_id));
    let row = store.get_message(tagged_id).await.unwrap().unwrap();
    assert_eq!((row.row.status, row.sid.as_deref()), (OutboxStatus::Sending, Some("CA1")));
    assert_eq!(store.delivery_status(tagged_id).await.unwrap().as_deref(), Some("completed"));
    assert_eq!(history(&store, tagged_id).await, ["sending", "completed"]);
    // The holder is `sending` again with no SID, due at once, its send time known: reconciled again.
    let row = store.get_message(holder).await.unwrap().unwrap();
    assert_eq!((row.row.status, row.sid.as_deref()), (OutboxStatus::Sending, None));
    assert!(row.sending_since.is_some(), "{row:?}");
    assert_eq!(store.delivery_status(holder).await.unwrap(), None);
    assert_eq!(history(&store, holder).await, ["sent", "initiated", "ringing", "sending"]);
    let claimed: Vec<i64> = store.claim_due_messages(&lease("other"), Utc::now(), &Channel::ALL, 10).await.unwrap().iter().map(|m| m.row.id).collect();
    assert_eq!(claimed, [holder]);
}

pub(crate) async fn a_moved_sid_releases_the_one_its_message_had_adopted_for_its_owner(store: Arc<dyn Store>) {
    let (x, y) = (one_message(&store, "crash-0", "k").await, one_message(&store, "crash-1", "k").await);
    // Each adopted the other's call from the list.
    mark_sent(&store, x, "CA2").await;
    mark_sent(&store, y, "CA1").await;
    assert_eq!(store.record_status_callback(&callback("CA2", "initiated", 0)).await.unwrap(), CallbackOutcome::Recorded { outbox_id: Some(x), advanced: true });
    let outcome = store.record_status_callback(&tagged("CA1", "ringing", 1, x)).await.unwrap();
    assert_eq!(outcome, CallbackOutcome::Moved { outbox_id: x, from: y, advanced: true });
    let row = store.get_message(x).await.unwrap().unwrap();
    assert_eq!((row.row.status, row.sid.as_deref()), (OutboxStatus::Sent, Some("CA1")));
    assert_eq!(store.delivery_status(x).await.unwrap().as_deref(), Some("ringing"));
    assert_eq!(store.sid_holder("CA2").await.unwrap(), None, "released");
    // `y` adopts what `x` released, with the callback recorded for it meanwhile.
    mark_sent(&store, y, "CA2").await;
    assert_eq!(store.sid_holder("CA2").await.unwrap(), Some(y));
    assert_eq!(store.delivery_status(y).await.unwrap().as_deref(), Some("initiated"));
}

pub(crate) async fn call_progress_callbacks_out_of_order_never_move_a_call_back(store: Arc<dyn Store>) {
    let linked = one_message(&store, "e1", "k").await;
    mark_sending(&store, linked).await;
    // The first progress callback links the call and is progress, not an outcome: still `sending`.
    let progress = |sid: &str, status: &str, rank: u8, sequence: &str, id: i64| StatusCallback { sequence: Some(sequence.into()), ..tagged(sid, status, rank, id) };
    assert_eq!(store.record_status_callback(&progress("CA1", "initiated", 0, "0", linked)).await.unwrap(), CallbackOutcome::Recorded { outbox_id: Some(linked), advanced: true });
    let row = store.get_message(linked).await.unwrap().unwrap();
    assert_eq!((row.row.status, row.sid.as_deref()), (OutboxStatus::Sending, Some("CA1")));
    assert_eq!(store.delivery_status(linked).await.unwrap().as_deref(), Some("initiated"));
    // The final status arrives before two progress callbacks: it stays.
    for (status, rank, sequence, advanced) in [("completed", 3, "3", true), ("ringing", 1, "1", false), ("in-progress", 2, "2", false)] {
        let outcome = store.record_status_callback(&progress("CA1", status, rank, sequence, linked)).await.unwrap();
        assert_eq!(outcome, CallbackOutcome::Recorded { outbox_id: Some(linked), advanced }, "{status}");
    }
    assert_eq!(store.delivery_status(linked).await.unwrap().as_deref(), Some("completed"));
    assert_eq!(history(&store, linked).await, ["sending", "initiated", "completed", "ringing", "in-progress"]);
    // The sender's update naming another SID than the one linked meanwhile changes nothing.
    let other = MessageUpdate { sid: Some("CA2".into()), ..update(linked, OutboxStatus::Sent) };
    assert!(!store.update_message(&lease("sender"), &other, &[]).await.unwrap());
    assert_eq!(store.get_message(linked).await.unwrap().unwrap().sid.as_deref(), Some("CA1"));
}
