//! The `LISTEN` connection: the only feed of this instance's [`CommitListener`] (SPEC §10.3).
//!
//! Every write, on any instance, queues its notifications inside its transaction; PostgreSQL
//! delivers them after the commit and in commit order, which for one namespace is
//! global-position order. So this instance hears its own writes the same way as everybody
//! else's, and hears each namespace's commits in order: publishing from the write path instead
//! could interleave with commits made elsewhere.
//!
//! One task owns the connection. It decodes notifications as they come, maps internal keys to
//! namespace ids (remembered, or read from the registry on first sight), reads the row back for
//! payloads too large to carry the stream name, and hands consecutive commits of one namespace
//! to the listener as one batch; a stream deletion (SPEC §18) is reported between the commits
//! around it. A namespace deletion ends the namespace. If the connection is lost, the
//! task reconnects with a growing pause, and every subscription must then catch up from the
//! store, because notifications sent in between are gone.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use deadpool_postgres::Pool;
use messagedb_core::{CommitListener, Committed, Deletion, NamespaceId, NamespaceKey};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::types::Type;
use tokio_postgres::Notification;

use crate::connect::Connector;
use crate::notify::{self, Event, NamespaceEvent, CHANNEL};
use crate::reads;
use crate::schema::namespace_schema;

/// The most notifications handled as one round (larger rounds only make batches longer).
const ROUND: usize = 1024;

/// Pauses between reconnection attempts: from the first to the last, then the last again.
const BACKOFF: [Duration; 5] = [
    Duration::from_millis(50),
    Duration::from_millis(200),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// Where the store puts the listener the server installs.
#[derive(Default)]
pub(crate) struct ListenerSlot {
    listener: RwLock<Option<Arc<dyn CommitListener>>>,
}

impl ListenerSlot {
    pub(crate) fn set(&self, listener: Arc<dyn CommitListener>) {
        *self
            .listener
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(listener);
    }

    fn get(&self) -> Option<Arc<dyn CommitListener>> {
        self.listener
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Starts the listen task and waits until its first `LISTEN` is in place, so that no commit
/// made after the store has opened can be missed. The task ends when `stop` turns true.
pub(crate) async fn start(
    connector: Connector,
    pool: Pool,
    slot: Arc<ListenerSlot>,
    stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let (ready, listening) = oneshot::channel();
    let task = Listen {
        connector,
        pool,
        slot,
        keys: HashMap::new(),
    };
    tokio::spawn(task.run(stop, ready));
    listening
        .await
        .unwrap_or_else(|_| Err("the listen task stopped".to_owned()))
}

struct Listen {
    connector: Connector,
    pool: Pool,
    slot: Arc<ListenerSlot>,
    /// Internal key → namespace id, for the namespaces heard of so far.
    keys: HashMap<String, NamespaceId>,
}

impl Listen {
    async fn run(
        mut self,
        mut stop: watch::Receiver<bool>,
        ready: oneshot::Sender<Result<(), String>>,
    ) {
        let mut ready = Some(ready);
        let mut failures = 0usize;
        loop {
            if *stop.borrow() {
                return;
            }
            match self.listen().await {
                Ok((client, notifications)) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(Ok(()));
                    } else {
                        tracing::info!("PostgreSQL listen connection re-established");
                        self.resync();
                    }
                    failures = 0;
                    tokio::select! {
                        () = self.deliver(notifications) => {}
                        _ = stop.changed() => return,
                    }
                    drop(client);
                    tracing::warn!("PostgreSQL listen connection lost; reconnecting");
                }
                Err(e) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(Err(e.to_string()));
                        return;
                    }
                    tracing::warn!(error = %e, "cannot re-establish the PostgreSQL listen connection");
                }
            }
            let pause = BACKOFF[failures.min(BACKOFF.len() - 1)];
            failures += 1;
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = stop.changed() => return,
            }
        }
    }

    async fn listen(
        &self,
    ) -> Result<
        (
            tokio_postgres::Client,
            mpsc::UnboundedReceiver<Notification>,
        ),
        tokio_postgres::Error,
    > {
        let (client, notifications) = self.connector.connect_listening().await?;
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        Ok((client, notifications))
    }

    /// Notifications sent while no connection was listening are lost: every subscription must
    /// catch up from the store. The ids are forgotten too, since namespaces may have been
    /// deleted and re-created meanwhile.
    fn resync(&mut self) {
        self.keys.clear();
        if let Some(listener) = self.slot.get() {
            listener.resync();
        }
    }

    /// Hands notifications to the listener until the connection ends.
    async fn deliver(&mut self, mut notifications: mpsc::UnboundedReceiver<Notification>) {
        let mut round = Vec::with_capacity(ROUND);
        while let Some(first) = notifications.recv().await {
            round.push(first);
            while round.len() < ROUND {
                match notifications.try_recv() {
                    Ok(next) => round.push(next),
                    Err(_) => break,
                }
            }
            self.handle(&round).await;
            round.clear();
        }
    }

    /// Reports one round: consecutive commits of one namespace go out as one batch.
    async fn handle(&mut self, round: &[Notification]) {
        let listener = self.slot.get();
        let mut batch: Vec<Committed> = Vec::new();
        let mut batch_ns: Option<NamespaceId> = None;
        for notification in round {
            if notification.channel() != CHANNEL {
                continue;
            }
            let Some(event) = notify::decode(notification.payload()) else {
                tracing::debug!(payload = notification.payload(), "unknown notification");
                continue;
            };
            match event {
                Event::Committed {
                    key,
                    global_position,
                    stream,
                } => {
                    let Some(ns) = self.namespace(&key).await else {
                        continue;
                    };
                    let Some(committed) = self.committed(&key, global_position, stream).await
                    else {
                        continue;
                    };
                    if batch_ns.as_ref() != Some(&ns) {
                        flush(listener.as_deref(), &mut batch_ns, &mut batch);
                        batch_ns = Some(ns);
                    }
                    batch.push(committed);
                }
                Event::Deleted {
                    key,
                    global_position,
                    deletion,
                } => {
                    let Some(ns) = self.namespace(&key).await else {
                        continue;
                    };
                    let Some(deletion) = self.deletion(&key, global_position, deletion).await
                    else {
                        continue;
                    };
                    // After the commits before it, before the ones after it: gpos order.
                    flush(listener.as_deref(), &mut batch_ns, &mut batch);
                    if let Some(listener) = listener.as_deref() {
                        listener.deleted(&ns, &deletion);
                    }
                }
                Event::Namespace {
                    key,
                    event,
                    namespace,
                } => {
                    flush(listener.as_deref(), &mut batch_ns, &mut batch);
                    self.keys.remove(&key);
                    if matches!(event, NamespaceEvent::Deleted | NamespaceEvent::Cleared) {
                        if let (Some(listener), Ok(ns)) =
                            (listener.as_deref(), NamespaceId::parse(namespace))
                        {
                            listener.ended(&ns);
                        }
                    }
                }
            }
        }
        flush(listener.as_deref(), &mut batch_ns, &mut batch);
    }

    /// The namespace id of internal key `key`; `None` when the namespace no longer exists (its
    /// deletion notification follows), or cannot be looked up (then subscriptions resync).
    async fn namespace(&mut self, key: &str) -> Option<NamespaceId> {
        if let Some(ns) = self.keys.get(key) {
            return Some(ns.clone());
        }
        let found = async {
            let conn = self.pool.get().await.map_err(|e| e.to_string())?;
            let row = conn
                .query_typed_opt(
                    "SELECT id FROM messagedb.namespaces WHERE key = $1",
                    &[(&key, Type::TEXT)],
                )
                .await
                .map_err(|e| e.to_string())?;
            let id: Option<String> = row
                .map(|r| r.try_get(0))
                .transpose()
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(id.and_then(|id| NamespaceId::parse(id).ok()))
        }
        .await;
        match found {
            Ok(Some(ns)) => {
                self.keys.insert(key.to_owned(), ns.clone());
                Some(ns)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot map a notification to its namespace");
                self.resync();
                None
            }
        }
    }

    /// The commit a notification names, reading the row back when the payload could not carry
    /// the stream name. A row deleted (SPEC §18) before it is read back is not reported: its
    /// stream and position are gone with it, and its deletion is reported next. Only names
    /// whose JSON exceeds the payload take this path, and SPEC §16.1's 1024 bytes never do.
    async fn committed(
        &mut self,
        key: &str,
        global_position: i64,
        stream: Option<(String, i64)>,
    ) -> Option<Committed> {
        if let Some((stream_name, position)) = stream {
            return Some(Committed {
                global_position,
                stream_name,
                position,
            });
        }
        let read = async {
            // The key names a schema, so it must be a key: a payload is text anyone allowed to
            // NOTIFY on the channel could have sent.
            let key = NamespaceKey::parse(key).map_err(|e| e.to_string())?;
            let conn = self.pool.get().await.map_err(|e| e.to_string())?;
            reads::message_at(&conn, &namespace_schema(&key), global_position)
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        match read {
            Ok(message) => message.map(|m| Committed {
                global_position,
                stream_name: m.stream_name,
                position: m.position,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read back a notified message");
                self.resync();
                None
            }
        }
    }

    /// The deletion a notification names, reading the record back when the payload could not
    /// carry it.
    async fn deletion(
        &mut self,
        key: &str,
        global_position: i64,
        deletion: Option<Deletion>,
    ) -> Option<Deletion> {
        if deletion.is_some() {
            return deletion;
        }
        let read = async {
            let key = NamespaceKey::parse(key).map_err(|e| e.to_string())?;
            let conn = self.pool.get().await.map_err(|e| e.to_string())?;
            reads::deletion_at(&conn, &namespace_schema(&key), global_position)
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        match read {
            Ok(deletion) => deletion,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read back a notified deletion");
                self.resync();
                None
            }
        }
    }
}

fn flush(
    listener: Option<&dyn CommitListener>,
    ns: &mut Option<NamespaceId>,
    batch: &mut Vec<Committed>,
) {
    if let (Some(listener), Some(ns)) = (listener, ns.take()) {
        if !batch.is_empty() {
            listener.committed(&ns, batch);
        }
    }
    batch.clear();
}
