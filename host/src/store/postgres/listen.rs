//! Wake-ups from other replicas: one connection per process `LISTEN`s on the events and outbox
//! channels that commits `NOTIFY`, and turns each notification into a local [`Wakes`] wake-up.
//! It reconnects after a failure; the dispatcher's and senders' polls cover the gap.

use std::time::Duration;

use futures::StreamExt as _;
use tokio_postgres::{AsyncMessage, NoTls};

use super::{EVENTS_CHANNEL, OUTBOX_CHANNEL};
use crate::store::Wakes;

/// Wait before reconnecting after the listening connection failed.
const RECONNECT: Duration = Duration::from_secs(2);

/// Starts listening (on the current tokio runtime) for as long as the process runs.
pub(super) fn spawn(config: tokio_postgres::Config, wakes: Wakes) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = listen(&config, &wakes).await {
                tracing::warn!(error = %e, "Store notifications stopped; relying on polling until reconnected.");
            }
            tokio::time::sleep(RECONNECT).await;
        }
    });
}

/// Listens until the connection fails.
async fn listen(config: &tokio_postgres::Config, wakes: &Wakes) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    // The connection only makes progress while polled: drive it while LISTEN runs.
    let sql = format!("LISTEN {EVENTS_CHANNEL}; LISTEN {OUTBOX_CHANNEL}");
    let subscribe = client.batch_execute(&sql);
    tokio::pin!(subscribe);
    loop {
        tokio::select! {
            done = &mut subscribe => { done?; break; }
            message = messages.next() => if !deliver(message.transpose()?, wakes) { return Ok(()) },
        }
    }
    tracing::debug!("Listening for store notifications.");
    // Other replicas may have committed while this one was not listening.
    wakes.events.notify_one();
    wakes.outbox.notify_one();
    while let Some(message) = messages.next().await {
        deliver(Some(message?), wakes);
    }
    Ok(())
}

/// Wakes the stage a notification is for; `false` when the connection ended.
fn deliver(message: Option<AsyncMessage>, wakes: &Wakes) -> bool {
    match message {
        Some(AsyncMessage::Notification(n)) if n.channel() == EVENTS_CHANNEL => wakes.events.notify_one(),
        Some(AsyncMessage::Notification(n)) if n.channel() == OUTBOX_CHANNEL => wakes.outbox.notify_one(),
        Some(_) => {}
        None => return false,
    }
    true
}
