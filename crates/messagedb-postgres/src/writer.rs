//! The write path: one task per namespace (on each instance) group-commits queued writes.
//!
//! The task waits for a request, drains whatever else is queued (up to [`MAX_BATCH`](messagedb_core::write::MAX_BATCH)) and runs
//! the whole batch in ONE transaction on a pooled connection, in two round trips (statements
//! are pipelined: sent together, executed in order):
//!
//! 1. `BEGIN`; `SELECT … FROM messagedb.counters WHERE key = $1 FOR UPDATE` locks the
//!    namespace's counter row until commit. Every writer of the namespace, on every instance,
//!    takes this lock first, so batches of one namespace commit one after another and commit
//!    order is global-position order (I4); the checks below and the append are one step (I5,
//!    I3). Behind it, the stored rows of the supplied ids and the version of every stream in
//!    the batch are read (its newest position, or for a stream whose messages were all
//!    deleted the floor it kept, SPEC §18): statements of their own, so their snapshots are
//!    taken once the lock is granted and include every earlier commit.
//! 2. The shared write rule (`messagedb_core::decide`, the same function the embedded writer
//!    calls) gives each request, in arrival order, its outcome (idempotent retry, duplicate id,
//!    version conflict, or an append at the next global position), seeing the effects of the
//!    requests before it (I5, I9).
//! 3. One multi-row `INSERT … unnest` of every append, the counter update (with the totals of
//!    `ns.info`), one upsert of the touched categories' counters, one `NOTIFY` per append (delivered after commit, in commit order) and `COMMIT`. Only once all of them have
//!    succeeded is any request answered (I2); if one fails, the transaction is aborted and the
//!    `COMMIT` behind it rolls back.
//!
//! A batch of plain appends only (`messagedb_core::write::is_plain_append`: no supplied id, no
//! expected version) has nothing to check, so it is ONE statement in autocommit mode (one round
//! trip, one transaction): a call of the namespace's `append` function, which takes the same lock
//! and then, in a statement of its own, assigns the positions, inserts, moves the counter and
//! notifies (see [`append_function_ddl`] and [`APPEND`]). It computes the closed form that the
//! write rule reduces to for such a batch (core's `plain_appends_have_a_closed_form` test), and
//! the conformance suite runs both paths. PostgreSQL answers once the transaction has committed.
//!
//! No savepoints are needed: the per-request checks run in Rust against what step 1 read, under
//! the lock, so the only statements that can fail are whole-batch failures (a lost connection, a
//! full disk), and then every request of the batch gets the backend error.

use std::convert::Infallible;
use std::sync::{Mutex, PoisonError, Weak};
use std::time::Duration;

use deadpool_postgres::ClientWrapper;
use deadpool_postgres::Pool;
use messagedb_core::write::{gather, Append, Queued, StoredId, QUEUE_CAPACITY};
use messagedb_core::{
    decide, AppendCondition, BatchRequest, ConditionMatch, Decision, Known, Lookups, MessageId,
    NamespaceKey, Positions, StoreError, Timestamp, Unit, UnitOutcome, WriteOutcome, WriteRequest,
};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

use crate::error::NsError;
use crate::notify;
use crate::reads::{self, Param};
use crate::schema::{self, namespace_schema};

/// The outcome of one unit inside a group.
type Outcome = Result<UnitOutcome, NsError>;
type Reply = oneshot::Sender<Result<UnitOutcome, Rejected>>;

/// What a caller hands the writer: one unit of a group.
pub(crate) enum Submission {
    Write(WriteRequest),
    /// A `stream.writeBatch` (SPEC §17).
    Batch(BatchRequest),
}

impl Submission {
    fn unit(&self) -> Unit<'_> {
        match self {
            Submission::Write(request) => Unit::Write(request),
            Submission::Batch(batch) => Unit::Batch(batch),
        }
    }
}

/// Why a submission was not appended.
pub(crate) enum Rejected {
    /// The namespace's counter row is gone: it was deleted (and maybe re-created under a new
    /// key) by some instance. Nothing was written; the submission comes back for a retry.
    Gone(Box<Submission>),
    /// The writer task had ended (idle); nothing was written. The submission comes back, for a
    /// new task.
    Stopped(Box<Submission>),
    Store(StoreError),
}

/// A namespace's writer task on this instance: a handle on its queue. Cheap to clone. The task
/// ends once its queue has been empty for the idle period (or every handle is dropped); a write
/// that finds it ended gets its request back ([`Rejected::Stopped`]) and starts a new one.
#[derive(Clone)]
pub(crate) struct Writer {
    requests: mpsc::Sender<(Submission, Reply)>,
}

/// Where a namespace keeps the handle of its writer task on this instance. The task empties it
/// when it ends: a handle keeps the task's queue allocated (tokio's channel holds its first block
/// of slots, several KiB, until the last handle is dropped), and an idle namespace must cost
/// no memory but its entry (SPEC §16.3).
pub(crate) type WriterSlot = Mutex<Option<Writer>>;

impl Writer {
    /// Starts a writer task for `key`; when it ends, it empties `slot` if that still holds a
    /// stopped writer.
    pub(crate) fn spawn(
        pool: Pool,
        key: NamespaceKey,
        idle: Duration,
        slot: Weak<WriterSlot>,
    ) -> Writer {
        let (requests, received) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(async move {
            run(pool, key, received, idle).await;
            if let Some(slot) = slot.upgrade() {
                let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
                // A writer started after this one ended is running and stays.
                if slot.as_ref().is_some_and(Writer::has_stopped) {
                    *slot = None;
                }
            }
        });
        Writer { requests }
    }

    /// Whether the task has ended (or is ending): a new one is needed.
    pub(crate) fn has_stopped(&self) -> bool {
        self.requests.is_closed()
    }

    /// Queues a unit and waits until it is committed (or refused).
    pub(crate) async fn submit(&self, request: Submission) -> Result<UnitOutcome, Rejected> {
        let (reply, outcome) = oneshot::channel();
        if let Err(mpsc::error::SendError((request, _))) =
            self.requests.send((request, reply)).await
        {
            return Err(Rejected::Stopped(Box::new(request)));
        }
        // Every queued request is answered, even by a task that is ending (it drains its queue
        // first); a dropped reply means the runtime is shutting down.
        outcome
            .await
            .map_err(|_| Rejected::Store(crate::error::closed()))?
    }
}

async fn run(
    pool: Pool,
    key: NamespaceKey,
    mut received: mpsc::Receiver<(Submission, Reply)>,
    idle: Duration,
) {
    let sql = Sql::new(&namespace_schema(&key));
    // Grown on demand (and kept while the task lives): a task lives for the idle period after
    // every namespace's last write, so with thousands of namespaces in use thousands run at
    // once, and `MAX_BATCH` slots reserved up front (tens of KiB each) made most of the server's
    // memory (PROFILING.md, "Many namespaces on PostgreSQL").
    let mut batch: Vec<(Submission, Reply)> = Vec::new();
    let mut ending = false;
    loop {
        let first = if ending {
            received.recv().await
        } else {
            match tokio::time::timeout(idle, received.recv()).await {
                Ok(first) => first,
                Err(_) => {
                    // Idle: refuse new requests (their senders start a new task), then commit
                    // whatever was queued before the close.
                    received.close();
                    ending = true;
                    continue;
                }
            }
        };
        let Some(first) = first else { break };
        batch.push(first);
        // Let the tasks that are ready run first: requests about to be submitted (their HTTP
        // bodies already read) join this batch instead of waiting for the next commit.
        tokio::task::yield_now().await;
        // The queue carries writes only, so nothing else can end the group.
        let _: Option<Infallible> = gather(
            &mut batch,
            |(submission, _)| submission.unit().entries().len(),
            || received.try_recv().ok().map(Queued::Write),
        );
        match transaction(&pool, &key, &sql, &batch).await {
            Ok(outcomes) => {
                for ((request, reply), outcome) in batch.drain(..).zip(outcomes) {
                    let _ = reply.send(outcome.map_err(|e| rejected(e, request)));
                }
            }
            Err(e) => {
                let e = e.settle(&pool, &key).await;
                if let NsError::Store(e) = &e {
                    tracing::error!(%key, error = %e, "write transaction failed");
                }
                for (request, reply) in batch.drain(..) {
                    let _ = reply.send(Err(rejected(e.clone(), request)));
                }
            }
        }
    }
}

fn rejected(error: NsError, request: Submission) -> Rejected {
    match error {
        NsError::Gone => Rejected::Gone(Box::new(request)),
        NsError::Store(e) => Rejected::Store(e),
    }
}

/// The columns both insert statements take from the requests, one vector per column.
#[derive(Default)]
struct Rows<'a> {
    stream_name: Vec<&'a str>,
    category: Vec<&'a str>,
    message_type: Vec<&'a str>,
    id: Vec<Uuid>,
    data: Vec<&'a str>,
    metadata: Vec<Option<&'a str>>,
    correlation: Vec<Option<&'a str>>,
    cardinal_hash: Vec<Option<i64>>,
    time: Vec<i64>,
}

impl<'a> Rows<'a> {
    fn push(&mut self, request: &'a WriteRequest) {
        let message = &request.message;
        self.stream_name.push(message.stream_name.as_str());
        self.category.push(message.stream_name.category());
        self.message_type.push(&message.message_type);
        self.id.push(*request.id.as_uuid());
        self.data.push(&message.data);
        self.metadata.push(message.metadata.as_deref());
        self.correlation.push(request.correlation.as_deref());
        self.cardinal_hash.push(request.cardinal_hash());
        self.time.push(Timestamp::now().as_micros());
    }

    fn len(&self) -> usize {
        self.id.len()
    }

    /// The columns as statement parameters, in the order both statements take them.
    fn params(&self) -> [Param<'_>; 9] {
        [
            (&self.stream_name, Type::TEXT_ARRAY),
            (&self.category, Type::TEXT_ARRAY),
            (&self.message_type, Type::TEXT_ARRAY),
            (&self.id, Type::UUID_ARRAY),
            (&self.data, Type::TEXT_ARRAY),
            (&self.metadata, Type::TEXT_ARRAY),
            (&self.correlation, Type::TEXT_ARRAY),
            (&self.cardinal_hash, Type::INT8_ARRAY),
            (&self.time, Type::INT8_ARRAY),
        ]
    }
}

/// The columns of one multi-row insert: the positions the write rule assigned, then the rows.
#[derive(Default)]
struct Appends<'a> {
    global_position: Vec<i64>,
    position: Vec<i64>,
    rows: Rows<'a>,
    notifications: Vec<String>,
}

impl<'a> Appends<'a> {
    fn push(&mut self, key: &str, append: &Append<'a>) {
        let stream = append.request.message.stream_name.as_str();
        self.global_position.push(append.positions.global_position);
        self.position.push(append.positions.position);
        self.rows.push(append.request);
        self.notifications
            .push(notify::message_payload(key, append.positions, stream));
    }
}

/// The text of a writer's statements, for its namespace's schema: built once per writer, and
/// prepared once per pooled connection (see [`reads::prepared`]).
struct Sql {
    /// The call of the namespace's [`append_function_ddl`] function.
    append: String,
    ids: String,
    versions: String,
    insert: String,
    condition: String,
    /// Adds to the counters of several categories (see [`GROW_CATEGORIES`]).
    grow: String,
}

impl Sql {
    fn new(schema: &str) -> Sql {
        Sql {
            append: format!(
                "SELECT appended_ord, appended_global_position, appended_position \
                 FROM {schema}.append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            ids: format!(
                "SELECT id, stream_name, type, position, global_position FROM {schema}.messages \
                 WHERE id = ANY($1)"
            ),
            // Each stream's newest position and, only for a stream without messages, its
            // floor (SPEC §18: the version it kept when deletion emptied it).
            versions: format!(
                "SELECT s.ord, n.position, CASE WHEN n.position IS NULL THEN \
                     (SELECT f.version FROM {schema}.stream_floors f \
                      WHERE f.stream_name = s.name) END \
                 FROM unnest($1::text[]) WITH ORDINALITY AS s(name, ord) \
                 LEFT JOIN LATERAL (SELECT position FROM {schema}.messages \
                     WHERE stream_name = s.name ORDER BY position DESC LIMIT 1) n ON true"
            ),
            insert: INSERT.replace("{schema}", schema),
            condition: CONDITION.replace("{schema}", schema),
            grow: GROW_CATEGORIES.replace("{schema}", schema),
        }
    }
}

/// The lowest message after `$1` that an append condition matches (SPEC §17.2): streams `$2`
/// or categories `$3`, of types `$4` (empty: any), with correlation category `$5` (NULL: any).
/// One index-ordered seek per category (`(category, global_position)`) and one walk of each
/// stream's rows (`(stream_name, position)`), never a scan of the namespace.
const CONDITION: &str = "SELECT global_position, stream_name, type FROM ( \
         SELECT m.* FROM unnest($3::text[]) AS c(name) CROSS JOIN LATERAL ( \
             SELECT global_position, stream_name, type FROM {schema}.messages \
             WHERE category = c.name AND global_position > $1 \
               AND (cardinality($4::text[]) = 0 OR type = ANY($4::text[])) \
               AND ($5::text IS NULL OR correlation_category = $5::text) \
             ORDER BY global_position LIMIT 1) m \
         UNION ALL \
         SELECT m.* FROM unnest($2::text[]) AS s(name) CROSS JOIN LATERAL ( \
             SELECT global_position, stream_name, type FROM {schema}.messages \
             WHERE stream_name = s.name AND global_position > $1 \
               AND (cardinality($4::text[]) = 0 OR type = ANY($4::text[])) \
               AND ($5::text IS NULL OR correlation_category = $5::text) \
             ORDER BY global_position LIMIT 1) m \
     ) found ORDER BY global_position LIMIT 1";

/// The parameter types of [`CONDITION`].
const CONDITION_TYPES: [Type; 5] = [
    Type::INT8,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT,
];

/// The parameters of one [`CONDITION`] query.
struct ConditionParams<'a> {
    after: i64,
    streams: &'a [String],
    categories: &'a [String],
    types: &'a [String],
    correlation: Option<&'a str>,
}

impl<'a> ConditionParams<'a> {
    fn of(condition: &'a AppendCondition) -> ConditionParams<'a> {
        let query = &condition.query;
        ConditionParams {
            after: condition.after,
            streams: &query.streams,
            categories: &query.categories,
            types: &query.types,
            correlation: query.correlation.as_deref(),
        }
    }

    fn values(&self) -> [&(dyn ToSql + Sync); 5] {
        [
            &self.after,
            &self.streams,
            &self.categories,
            &self.types,
            &self.correlation,
        ]
    }
}

/// The DDL of function `{schema}.append`, part of every namespace's schema (see
/// `schema::namespace_ddl`): the whole of a batch of plain appends as ONE statement, so that it
/// runs in autocommit mode in one round trip and one transaction. It locks the counter row of
/// key `$1` (`FOR UPDATE`, as every writer does), then runs [`APPEND`] on `$2`… and returns its
/// rows; nothing (and appends nothing) when the counter row is gone. A PL/pgSQL function runs
/// each statement with a fresh snapshot (READ COMMITTED), so the append sees every commit made
/// before the lock was granted, which a single plain statement could not; its plans are cached
/// per session like a prepared statement's.
pub(crate) fn append_function_ddl(schema: &str) -> String {
    let append = APPEND.replace("{schema}", schema).replace(
        "{payload}",
        &notify::payload_sql("$1", "r.global_position", "r.stream_json", "r.position"),
    );
    format!(
        "CREATE OR REPLACE FUNCTION {schema}.append(text, text[], text[], text[], uuid[], \
             text[], text[], text[], bigint[], bigint[], text[]) \
         RETURNS TABLE (appended_ord bigint, appended_global_position bigint, \
             appended_position bigint) \
         LANGUAGE plpgsql VOLATILE AS $append$ \
         BEGIN \
             PERFORM FROM messagedb.counters WHERE key = $1 FOR UPDATE; \
             IF NOT FOUND THEN RETURN; END IF; \
             RETURN QUERY {append}; \
         END $append$;"
    )
}

const INSERT: &str = "INSERT INTO {schema}.messages (global_position, position, stream_name, \
     category, type, id, data, metadata, correlation_category, cardinal_hash, time) \
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
     $6::uuid[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::bigint[])";

/// One transaction for the whole batch; `Err` when nothing of it was committed.
///
/// Two round trips: `BEGIN`, the counter lock and the reads are pipelined (sent together,
/// executed in order, so the reads run after the lock is granted and see every earlier commit),
/// then the writes and `COMMIT` are. Should anything fail, the connection leaves the pool
/// (dropped, which rolls back), so no connection ever returns to it inside a transaction.
async fn transaction(
    pool: &Pool,
    key: &NamespaceKey,
    sql: &Sql,
    batch: &[(Submission, Reply)],
) -> Result<Vec<Outcome>, NsError> {
    let conn = pool.get().await?;
    let result = in_transaction(&conn, key, sql, batch).await;
    if result.is_err() {
        // Whatever state the session is in, it is not reused: dropping the client closes the
        // connection and PostgreSQL rolls back.
        drop(deadpool_postgres::Object::take(conn));
    }
    result
}

async fn in_transaction(
    client: &ClientWrapper,
    key: &NamespaceKey,
    sql: &Sql,
    batch: &[(Submission, Reply)],
) -> Result<Vec<Outcome>, NsError> {
    if batch
        .iter()
        .all(|(submission, _)| submission.unit().is_plain_append())
    {
        return appends_only(client, key, sql, batch).await;
    }
    let group = || batch.iter().map(|(submission, _)| submission.unit());
    let lookups = Lookups::of(group());
    let supplied: Vec<Uuid> = lookups.ids.iter().map(|id| *id.as_uuid()).collect();
    // Prepared (or found prepared) before anything is sent, so that the pipeline below goes out
    // in one piece and in order.
    let lock = reads::prepared(client, LOCK, &[Type::TEXT]).await?;
    let ids_statement = if supplied.is_empty() {
        None
    } else {
        Some(reads::prepared(client, &sql.ids, &[Type::UUID_ARRAY]).await?)
    };
    let versions_statement = reads::prepared(client, &sql.versions, &[Type::TEXT_ARRAY]).await?;
    let condition_statement = if lookups.conditions.is_empty() {
        None
    } else {
        Some(reads::prepared(client, &sql.condition, &CONDITION_TYPES).await?)
    };
    let condition_params: Vec<ConditionParams<'_>> = lookups
        .conditions
        .iter()
        .map(|(_, condition)| ConditionParams::of(condition))
        .collect();
    // Pipelined, in this order (each future sends its request when first polled, and
    // `try_join!` polls them in order). A read statement takes its snapshot when it starts,
    // which is after the lock statement has returned.
    let begin = client.batch_execute("BEGIN");
    let key_text = key.as_str();
    let lock_values: [&(dyn ToSql + Sync); 1] = [&key_text];
    let counter = client.query_opt(&lock, &lock_values);
    let ids = async {
        match &ids_statement {
            None => Ok(Vec::new()),
            Some(statement) => client.query(statement, &[&supplied]).await,
        }
    };
    let versions_values: [&(dyn ToSql + Sync); 1] = [&lookups.streams];
    let versions = client.query(&versions_statement, &versions_values);
    let conditions = futures::future::try_join_all(condition_params.iter().map(|params| {
        let statement = condition_statement.as_ref();
        async move {
            match statement {
                Some(statement) => client.query_opt(statement, &params.values()).await,
                None => Ok(None),
            }
        }
    }));
    let ((), counter, id_rows, version_rows, condition_rows) =
        futures::try_join!(begin, counter, ids, versions, conditions)?;
    let Some(counter) = counter else {
        // Deleted (by any instance) while this instance still knew it.
        return Err(NsError::Gone);
    };
    let mut known = Known {
        next_global_position: counter.try_get(0)?,
        ..Known::default()
    };
    for row in &id_rows {
        let id: Uuid = row.try_get(0)?;
        let stored = StoredId {
            stream: row.try_get::<_, String>(1)?.into(),
            message_type: row.try_get::<_, String>(2)?.into(),
            positions: Positions {
                position: row.try_get(3)?,
                global_position: row.try_get(4)?,
            },
        };
        known.ids.insert(MessageId::from(id), stored);
    }
    for row in &version_rows {
        let ord: i64 = row.try_get(0)?;
        let newest: Option<i64> = row.try_get(1)?;
        let floor: Option<i64> = row.try_get(2)?;
        let Some(stream) = usize::try_from(ord - 1)
            .ok()
            .and_then(|index| lookups.streams.get(index))
        else {
            continue;
        };
        match (newest, floor) {
            (Some(version), _) => {
                known.versions.insert(stream, version);
            }
            // Every message deleted: it continues after its floor, as a stream again.
            (None, Some(version)) => {
                known.versions.insert(stream, version);
                known.emptied.insert(stream);
            }
            (None, None) => {}
        }
    }
    for ((index, _), row) in lookups.conditions.iter().zip(&condition_rows) {
        if let Some(row) = row {
            let found = ConditionMatch {
                global_position: row.try_get(0)?,
                stream: row.try_get(1)?,
                message_type: row.try_get(2)?,
            };
            known.condition_matches.insert(*index, found);
        }
    }

    let decision = decide(group(), known);
    if decision.appends.is_empty() {
        // Only refusals and idempotent retries: nothing to commit.
        client.batch_execute("ROLLBACK").await?;
        return Ok(outcomes(decision.outcomes));
    }
    let next = decision.next_global_position;
    let mut appends = Appends::default();
    for append in &decision.appends {
        appends.push(key_text, append);
    }
    let appended = appends.rows.len() as i64;
    let [a, b, c, d, e, f, g, h, i] = appends.rows.params();
    let insert_params: [Param<'_>; 11] = [
        (&appends.global_position, Type::INT8_ARRAY),
        (&appends.position, Type::INT8_ARRAY),
        a,
        b,
        c,
        d,
        e,
        f,
        g,
        h,
        i,
    ];
    let growth = Growth::of(&decision);
    // The appends are the namespace's newest messages: the last one is its last activity.
    let last_time = appends.rows.time.last().copied().unwrap_or_default();
    let update_params: [Param<'_>; 5] = [
        (&key_text, Type::TEXT),
        (&next, Type::INT8),
        (&appended, Type::INT8),
        (&growth.total_streams, Type::INT8),
        (&last_time, Type::INT8),
    ];
    let grow_params: [Param<'_>; 3] = [
        (&growth.categories, Type::TEXT_ARRAY),
        (&growth.messages, Type::INT8_ARRAY),
        (&growth.streams, Type::INT8_ARRAY),
    ];
    let notify_params: [Param<'_>; 1] = [(&appends.notifications, Type::TEXT_ARRAY)];
    let insert = reads::prepared_with(client, &sql.insert, &insert_params).await?;
    let update = reads::prepared_with(client, UPDATE, &update_params).await?;
    let grow = reads::prepared_with(client, &sql.grow, &grow_params).await?;
    let notify = reads::prepared_with(client, notify::NOTIFY_ALL, &notify_params).await?;
    // Pipelined, COMMIT included. A failing statement aborts the transaction, so the COMMIT
    // behind it rolls back, and its own error fails the batch (`try_join!` waits for all to
    // succeed): a batch is acknowledged only when every statement and the COMMIT succeeded.
    let (insert_values, update_values, grow_values, notify_values) = (
        reads::values(&insert_params),
        reads::values(&update_params),
        reads::values(&grow_params),
        reads::values(&notify_params),
    );
    let insert = client.execute(&insert, &insert_values);
    let update = client.execute(&update, &update_values);
    let grow = client.execute(&grow, &grow_values);
    let notify = client.execute(&notify, &notify_values);
    let commit = client.batch_execute("COMMIT");
    futures::try_join!(insert, update, grow, notify, commit)?;
    Ok(outcomes(decision.outcomes))
}

/// What a group's appends add to the counters, as the columns of [`GROW_CATEGORIES`].
struct Growth<'a> {
    categories: Vec<&'a str>,
    messages: Vec<i64>,
    streams: Vec<i64>,
    /// The streams that got their first message, all categories together.
    total_streams: i64,
}

impl<'a> Growth<'a> {
    fn of(decision: &Decision<'a>) -> Growth<'a> {
        let growth = decision.category_growth();
        Growth {
            categories: growth.iter().map(|g| g.category).collect(),
            messages: growth.iter().map(|g| g.messages).collect(),
            streams: growth.iter().map(|g| g.streams).collect(),
            total_streams: growth.iter().map(|g| g.streams).sum(),
        }
    }
}

/// Adds `$2[i]` messages and `$3[i]` streams to the counters of category `$1[i]`, creating its
/// row if needed. Each category appears once in `$1`.
pub(crate) const GROW_CATEGORIES: &str = "INSERT INTO {schema}.categories AS k \
         (category, message_count, stream_count) \
     SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) \
     ON CONFLICT (category) DO UPDATE SET \
         message_count = k.message_count + excluded.message_count, \
         stream_count = k.stream_count + excluded.stream_count";

/// The write rule's outcomes as the writer reports them.
fn outcomes(decided: Vec<Result<UnitOutcome, StoreError>>) -> Vec<Outcome> {
    decided
        .into_iter()
        .map(|outcome| outcome.map_err(NsError::Store))
        .collect()
}

/// Appends every row of its arrays (`$2`…) in array order: global positions from the counter
/// row of key `$1` on, stream positions after each stream's version (its newest message, or
/// for a stream whose messages were all deleted its floor, SPEC §18), moves the counter by the
/// number of rows appended, adds them to the counts (SPEC §16.3: a stream's first message is
/// the first append to a stream without messages, never written or emptied by deletion, as
/// core's `Append::first_message`; one upsert per category) and queues one notification per
/// append (the payload of
/// `notify::message_payload`), in global-position order. Returns each append's array index
/// (from 1) and positions. Must run after the counter row is locked, as a statement of its own,
/// so that its snapshot has every earlier commit (the body of [`append_function_ddl`]).
const APPEND: &str = "WITH c AS (SELECT next_global_position AS base \
                FROM messagedb.counters WHERE key = $1), \
     b AS (SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[], \
                $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::text[]) \
            WITH ORDINALITY AS b(stream_name, category, type, id, data, metadata, \
                correlation_category, cardinal_hash, time, stream_json, ord)), \
     v AS (SELECT s.name, n.position IS NULL AS empty, \
                coalesce(n.position, (SELECT f.version FROM {schema}.stream_floors f \
                    WHERE f.stream_name = s.name), -1) AS version \
            FROM (SELECT DISTINCT stream_name AS name FROM b) s \
            LEFT JOIN LATERAL (SELECT m.position FROM {schema}.messages m \
                WHERE m.stream_name = s.name ORDER BY m.position DESC LIMIT 1) n ON true), \
     r AS MATERIALIZED (SELECT b.*, c.base + b.ord - 1 AS global_position, \
                v.version + row_number() OVER w AS position, \
                v.empty AND row_number() OVER w = 1 AS first_message \
            FROM b JOIN v ON v.name = b.stream_name CROSS JOIN c \
            WINDOW w AS (PARTITION BY b.stream_name ORDER BY b.ord)), \
     i AS (INSERT INTO {schema}.messages (global_position, position, stream_name, category, \
                type, id, data, metadata, correlation_category, cardinal_hash, time) \
            SELECT global_position, position, stream_name, category, type, id, data, metadata, \
                correlation_category, cardinal_hash, time FROM r), \
     g AS (INSERT INTO {schema}.categories AS k (category, message_count, stream_count) \
            SELECT category, count(*), count(*) FILTER (WHERE first_message) FROM r \
            GROUP BY category \
            ON CONFLICT (category) DO UPDATE SET \
                message_count = k.message_count + excluded.message_count, \
                stream_count = k.stream_count + excluded.stream_count), \
     u AS (UPDATE messagedb.counters \
            SET next_global_position = next_global_position + (SELECT count(*) FROM r), \
                message_count = message_count + (SELECT count(*) FROM r), \
                stream_count = stream_count + (SELECT count(*) FROM r WHERE first_message), \
                last_global_position = (SELECT max(global_position) FROM r), \
                last_time = (SELECT time FROM r ORDER BY global_position DESC LIMIT 1) \
            WHERE key = $1) \
     SELECT n.ord, n.global_position, n.position \
     FROM (SELECT r.ord, r.global_position, r.position, pg_notify('messagedb', {payload}) \
           FROM r ORDER BY r.ord) n \
     ORDER BY n.ord";

/// A batch of plain appends (no supplied id, no expected version: nothing to check, every
/// request appends) in ONE round trip and one statement, the namespace's append function in
/// autocommit mode. PostgreSQL assigns the positions exactly as [`decide`] would.
async fn appends_only(
    client: &ClientWrapper,
    key: &NamespaceKey,
    sql: &Sql,
    batch: &[(Submission, Reply)],
) -> Result<Vec<Outcome>, NsError> {
    let key_text = key.as_str();
    // The rows of an [`APPEND`]: what the writer knows before the positions are assigned.
    let mut rows = Rows::default();
    let mut stream_json = Vec::with_capacity(batch.len());
    let requests = batch
        .iter()
        .flat_map(|(submission, _)| submission.unit().entries());
    for request in requests {
        rows.push(request);
        let stream = request.message.stream_name.as_str();
        stream_json.push(notify::stream_json_if_it_fits(key_text, stream));
    }
    let [a, b, c, d, e, f, g, h, i] = rows.params();
    let params: [Param<'_>; 11] = [
        (&key_text, Type::TEXT),
        a,
        b,
        c,
        d,
        e,
        f,
        g,
        h,
        i,
        (&stream_json, Type::TEXT_ARRAY),
    ];
    let appended = match call_append(client, sql, &params).await {
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_FUNCTION) => {
            // A namespace created by an older messagedb (still running beside this one) has
            // no function yet: create it and fill the counters, as the migrations did for the
            // namespaces they found.
            tracing::info!(%key, "creating the append function of a namespace");
            client
                .batch_execute(&schema::repair_transaction(key))
                .await?;
            call_append(client, sql, &params).await?
        }
        other => other?,
    };
    if appended.is_empty() {
        // The counter row is gone: deleted (by any instance) while this instance still knew
        // it; nothing was appended.
        return Err(NsError::Gone);
    }
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(batch.len());
    for (index, row) in appended.iter().enumerate() {
        let ord: i64 = row.try_get(0)?;
        if usize::try_from(ord) != Ok(index + 1) {
            break;
        }
        outcomes.push(Ok(UnitOutcome::Write(WriteOutcome::Appended(Positions {
            global_position: row.try_get(1)?,
            position: row.try_get(2)?,
        }))));
    }
    if outcomes.len() != batch.len() {
        // Cannot happen: the counter row was there, so every row was appended.
        return Err(NsError::Store(StoreError::backend(Unanswered)));
    }
    Ok(outcomes)
}

/// Calls the namespace's append function in autocommit mode: one statement, one round trip,
/// one transaction. The driver returns only once PostgreSQL is ready for the next query, i.e.
/// after the commit (its error included, should the commit fail).
async fn call_append(
    client: &ClientWrapper,
    sql: &Sql,
    params: &[Param<'_>],
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    let append = reads::prepared_with(client, &sql.append, params).await?;
    client.query(&append, &reads::values(params)).await
}

/// [`APPEND`] committed without returning one row per request.
#[derive(Debug, thiserror::Error)]
#[error("the append statement did not report every appended message")]
struct Unanswered;

/// Moves the counter of key `$1` to `$2` and counts `$3` more messages and `$4` more streams;
/// the newest message, at `$2 - 1`, has time `$5`.
const UPDATE: &str = "UPDATE messagedb.counters \
     SET next_global_position = $2, message_count = message_count + $3, \
         stream_count = stream_count + $4, last_global_position = $2 - 1, last_time = $5 \
     WHERE key = $1";

/// Locks the namespace's counter row until the end of the transaction.
const LOCK: &str = "SELECT next_global_position FROM messagedb.counters WHERE key = $1 FOR UPDATE";
