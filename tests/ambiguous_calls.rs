//! Ambiguous sends of calls (issue 18): calls carry no body, so after a crash between marking a
//! row `sending` and recording Twilio's SID the sender may adopt only calls no other message
//! holds, and only once they have ended (a call still going has callbacks to come, each naming
//! its message), reading the list page after page; a status callback whose URL names the
//! message links its SID without a list.
//! Against the local Twilio stand-in (a real HTTP server on 127.0.0.1).

mod twilio_support;

use chrono::Utc;
use ml_connector::config::TwilioMode;
use ml_connector::model::Channel;
use ml_connector::sinks::twilio::message_tag::MessageTag;
use ml_connector::sinks::twilio::state::{StatusCallback, TwilioStore as _};
use ml_connector::store::{CustomerNumbers, Lease, MessageUpdate, OutboxStatus, OutboxStore as _};
use ml_connector::store::sqlite::SqliteStore;
use serde_json::json;
use std::time::Duration;
use twilio_support::*;

const TEAM: &str = "+14155552671";

/// Leaves message `id` as a crash leaves it: `sending` since `began`, attempt 1, no SID, under
/// the dead process's lease, which has run out.
async fn crash_while_sending(store: &SqliteStore, id: i64, began: chrono::DateTime<Utc>) {
    let crashed = MessageUpdate {
        id,
        status: OutboxStatus::Sending,
        attempts: 1,
        next_attempt_at: None,
        sending_since: Some(began),
        to_number: Some(TEAM.into()),
        sid: None,
        error_code: None,
        error_message: None,
        history: None,
    };
    assert!(store.update_message(&Lease::new("crashed", Duration::ZERO), &crashed, &[]).await.unwrap());
}

/// One team call dispatched and left `sending` by a crash five seconds ago: its outbox id, and a
/// creation time one second into that attempt for the calls the stand-in lists.
async fn call_crashed_while_sending(store: &SqliteStore) -> (i64, String) {
    let id = dispatch(store, "crash-0", CustomerNumbers::default(), &[(Channel::Call, "team:accounting", "Invoice 1 is overdue")]).await[0];
    let began = Utc::now() - chrono::TimeDelta::seconds(5);
    crash_while_sending(store, id, began).await;
    (id, (began + chrono::TimeDelta::seconds(1)).to_rfc2822())
}

fn call(sid: &str, created: &str) -> serde_json::Value {
    call_in(sid, created, "completed")
}

fn call_in(sid: &str, created: &str, status: &str) -> serde_json::Value {
    json!({"sid": sid, "to": TEAM, "status": status, "date_created": created})
}

/// A status callback for `sid` whose URL names attempt 1 of message `id`.
fn tagged(sid: &str, status: &str, rank: u8, id: i64) -> StatusCallback {
    StatusCallback {
        sid: sid.into(),
        status: status.into(),
        sequence: None,
        rank: Some(rank),
        error_code: None,
        detail: None,
        params: "{}".into(),
        received_at: Utc::now(),
        tag: MessageTag::from_query(&format!("outbox={id}&series=1&attempt=1")),
    }
}

#[tokio::test]
async fn calls_left_sending_to_one_team_number_adopt_only_sids_no_other_message_holds() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    let began = Utc::now() - chrono::TimeDelta::seconds(5);
    let created = (began + chrono::TimeDelta::seconds(1)).to_rfc2822();
    // crash-0's call was recorded before the kill; crash-1 and crash-129 were left sending.
    let held = dispatch(&store, "crash-0", CustomerNumbers::default(), &[(Channel::Call, "team:accounting", "Invoice 1 is overdue")]).await[0];
    let held_sid = "CA000000000000000000000000000000a0";
    let sent = MessageUpdate { id: held, status: OutboxStatus::Sent, attempts: 1, next_attempt_at: None, sending_since: None, to_number: Some(TEAM.into()), sid: Some(held_sid.into()), error_code: None, error_message: None, history: None };
    assert!(store.update_message(&test_lease(), &sent, &[]).await.unwrap());
    let mut ids = Vec::new();
    for event in ["crash-1", "crash-129"] {
        let id = dispatch(&store, event, CustomerNumbers::default(), &[(Channel::Call, "team:accounting", "Invoice is overdue")]).await[0];
        crash_while_sending(&store, id, began).await;
        ids.push(id);
    }
    // Twilio lists three calls to the number, newest first; the held one comes first.
    *twilio.list.lock().unwrap() = json!({"calls": [
        call(held_sid, &created), call("CA000000000000000000000000000000b1", &created), call("CA000000000000000000000000000000c2", &created),
    ], "messages": []});
    let done = settle(&sender(&store, Some(service(&base, Duration::from_secs(10))), settings(TwilioMode::Live)), &store, &ids).await;

    // Both are sent, each with one of the two unheld calls (which one is a race between them).
    assert!(done.iter().all(|m| m.row.status == OutboxStatus::Sent), "{done:#?}");
    let mut sids: Vec<_> = done.iter().map(|m| m.sid.clone().unwrap()).collect();
    sids.sort();
    assert_eq!(sids, ["CA000000000000000000000000000000b1", "CA000000000000000000000000000000c2"]);
    assert!(twilio.posts().is_empty(), "no call placed twice: {:?}", twilio.shorts());
    assert_eq!(store.get_message(held).await.unwrap().unwrap().sid.as_deref(), Some(held_sid));
}

#[tokio::test]
async fn a_status_callback_naming_its_message_links_the_sid_so_nothing_is_listed_or_resent() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    let id = dispatch(&store, "crash-0", CustomerNumbers::default(), &[(Channel::Call, "team:accounting", "Invoice 1 is overdue")]).await[0];
    crash_while_sending(&store, id, Utc::now()).await;
    // The host died before recording Twilio's 201; the call's callback names its message.
    let callback = StatusCallback {
        sid: "CA000000000000000000000000000000d3".into(),
        status: "completed".into(),
        sequence: None,
        rank: Some(4),
        error_code: None,
        detail: None,
        params: "{}".into(),
        received_at: Utc::now(),
        tag: MessageTag::from_query(&format!("outbox={id}&series=1&attempt=1")),
    };
    store.record_status_callback(&callback).await.unwrap();
    let done = settle(&sender(&store, Some(service(&base, Duration::from_secs(10))), settings(TwilioMode::Live)), &store, &[id]).await;

    assert_eq!((done[0].row.status, done[0].sid.as_deref()), (OutboxStatus::Sent, Some("CA000000000000000000000000000000d3")));
    assert!(twilio.requests().is_empty(), "no list and no second call: {:?}", twilio.shorts());
    let history = store.list_history(id).await.unwrap();
    assert!(history.last().unwrap().detail.as_deref().unwrap().contains("linked by twilio's status callback"), "{history:?}");
    assert_eq!(store.delivery_status(id).await.unwrap().as_deref(), Some("completed"));
}

#[tokio::test]
async fn a_listed_call_still_going_is_not_adopted_but_waited_for_until_its_callback_names_it() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    let (id, created) = call_crashed_while_sending(&store).await;
    // The only call listed is unheld but still ringing: it may be another message's.
    *twilio.list.lock().unwrap() = json!({"calls": [call_in("CA000000000000000000000000000000e4", &created, "ringing")], "messages": []});
    let sender = sender(&store, Some(service(&base, Duration::from_secs(10))), settings(TwilioMode::Live));
    sender.drain(None).await.unwrap();
    let waiting = store.get_message(id).await.unwrap().unwrap();
    assert_eq!((waiting.row.status, waiting.sid.as_deref()), (OutboxStatus::Sending, None), "not adopted while it rings");
    assert_eq!(twilio.shorts(), ["GET Calls.json"], "listed, nothing placed");
    // Its answered callback names this message: linked, and sent without another list.
    store.record_status_callback(&tagged("CA000000000000000000000000000000e4", "in-progress", 2, id)).await.unwrap();
    let done = settle(&sender, &store, &[id]).await;
    assert_eq!((done[0].row.status, done[0].sid.as_deref()), (OutboxStatus::Sent, Some("CA000000000000000000000000000000e4")));
    assert_eq!(twilio.shorts(), ["GET Calls.json"], "nothing placed: {:?}", twilio.shorts());
    assert_eq!(store.delivery_status(id).await.unwrap().as_deref(), Some("in-progress"), "progress, until the call ends");
}

#[tokio::test]
async fn the_call_list_is_read_page_after_page_within_the_attempts_window() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    let (id, created) = call_crashed_while_sending(&store).await;
    // The first page holds only a call to another number; the call is on the next page.
    let next = "/2010-04-01/Accounts/AC00000000000000000000000000000000/Calls.json?To=%2B14155552671&PageSize=50&Page=1&PageToken=PA1";
    *twilio.list.lock().unwrap() = json!({"calls": [json!({"sid": "CA000000000000000000000000000000f0", "to": "+14155550000", "status": "completed", "date_created": created})], "messages": [], "next_page_uri": next});
    *twilio.list_pages.lock().unwrap() = vec![json!({"calls": [call("CA000000000000000000000000000000f1", &created)], "messages": [], "next_page_uri": null})];
    let done = settle(&sender(&store, Some(service(&base, Duration::from_secs(10))), settings(TwilioMode::Live)), &store, &[id]).await;

    assert_eq!((done[0].row.status, done[0].sid.as_deref()), (OutboxStatus::Sent, Some("CA000000000000000000000000000000f1")));
    assert_eq!(twilio.shorts(), ["GET Calls.json", "GET Calls.json"], "two pages, nothing placed");
    assert_eq!(twilio.requests()[1].param("PageToken"), Some("PA1"));
    let attempts = store.list_attempts(id).await.unwrap();
    assert_eq!(attempts.iter().filter(|a| a.kind == "list").count(), 2, "each page is in the audit: {attempts:?}");
}
