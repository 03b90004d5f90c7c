//! A typed Rust client for the messagedb RPC API (SPEC §5–6), which also speaks to EventoDB 0.7.
//!
//! One [`Client`] holds one `reqwest` connection pool; clone it to share the pool. Message payloads
//! (`data`, `metadata`) travel as raw JSON text ([`RawValue`]) in both directions and are never
//! parsed into a tree, so key order, duplicate keys and number spellings survive a round trip
//! (SPEC §2.6). Times and ids are kept as the server sent them, for the same reason: an exporter
//! must write `time` with whatever precision the server used.
//!
//! Errors keep the server's envelope apart from transport failures: [`ClientError::Api`] carries
//! the HTTP status, `code`, `message` and `details` of a JSON error; [`ClientError::Transport`] is
//! a connection or protocol failure, where the request may or may not have been applied.
//!
//! [`Connection`] is the other way in: one keep-alive HTTP/1.1 connection straight on hyper's client
//! connection, with the URL and headers built once, for a caller that sends one request at a time
//! and counts microseconds (`messagedb bench`'s workers).

mod batch;
mod connection;
mod deletion;
mod error;
mod types;

use std::fmt;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;

pub use batch::{AppendCondition, BatchEntry, BatchOptions, BatchResult, ConditionQuery};
pub use connection::{Bearer, Connection};
pub use deletion::{
    DeleteOptions, DeleteResult, Deletion, DeletionsOptions, DELETION_PROBE_STREAM,
};
pub use error::{ApiError, ClientError};
pub use types::{
    CategoryOptions, CategorySummary, ConsumerGroup, CreateNamespaceOptions, Health, Message,
    NamespaceCreated, NamespaceDeleted, NamespaceInfo, NamespaceSummary, NewMessage, StreamOptions,
    StreamSummary, StreamsOptions, WriteResult,
};

/// A messagedb (or EventoDB) client bound to one server and one token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    authorization: Option<HeaderValue>,
}

// The token must never reach a log through `{:?}`.
impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("token", &self.authorization.as_ref().map(|_| "REDACTED"))
            .finish()
    }
}

/// The `Authorization: Bearer <token>` value, marked sensitive (kept out of debug output).
pub(crate) fn bearer(token: &str) -> Result<HeaderValue, ClientError> {
    let mut value =
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| ClientError::InvalidToken)?;
    value.set_sensitive(true);
    Ok(value)
}

impl Client {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:8080`, a trailing `/` is
    /// fine) that authenticates with `token`, if any, as `Authorization: Bearer <token>`.
    pub fn new(base_url: &str, token: Option<&str>) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            .build()
            .map_err(ClientError::Transport)?;
        Client::with_http_client(http, base_url, token)
    }

    /// Like [`Client::new`], with a caller-configured `reqwest::Client` (timeouts, pool sizes).
    pub fn with_http_client(
        http: reqwest::Client,
        base_url: &str,
        token: Option<&str>,
    ) -> Result<Client, ClientError> {
        let authorization = token.map(bearer).transpose()?;
        Ok(Client {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            authorization,
        })
    }

    /// The server's base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The underlying HTTP client, for endpoints this crate does not wrap (`/subscribe`,
    /// `/import`). Requests made with it carry no token unless the caller adds one.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A request to `path` (e.g. `/import`) with this client's credentials.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        match &self.authorization {
            Some(value) => builder.header(AUTHORIZATION, value.clone()),
            None => builder,
        }
    }

    /// Sends one RPC request (`["method", args…]`) and returns the raw result text.
    pub async fn call(&self, request: &serde_json::Value) -> Result<Box<RawValue>, ClientError> {
        let body = serde_json::to_vec(request).map_err(ClientError::Encode)?;
        self.call_body(body).await
    }

    /// Sends an already-encoded RPC body and returns the raw result text.
    pub async fn call_body(&self, body: Vec<u8>) -> Result<Box<RawValue>, ClientError> {
        let response = self
            .request(reqwest::Method::POST, "/rpc")
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(ClientError::Transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(ClientError::Transport)?;
        if !status.is_success() {
            return Err(ClientError::from_error_response(status.as_u16(), &bytes));
        }
        serde_json::from_slice(&bytes).map_err(ClientError::Decode)
    }

    /// `stream.write`: appends `message` to `stream`.
    pub async fn write_message(
        &self,
        stream: &str,
        message: &NewMessage,
    ) -> Result<WriteResult, ClientError> {
        let (wire, options) = message.to_wire();
        match options {
            Some(options) => self.rpc(&("stream.write", stream, wire, options)).await,
            None => self.rpc(&("stream.write", stream, wire)).await,
        }
    }

    /// `stream.writeBatch` (SPEC §17): appends `entries` all or nothing, in order, guarded by
    /// `options`; the results are in entry order. A refused batch (`STREAM_VERSION_CONFLICT`,
    /// `APPEND_CONDITION_FAILED`, `DUPLICATE_MESSAGE_ID`) is a [`ClientError::Api`] and wrote
    /// nothing.
    pub async fn write_batch(
        &self,
        entries: &[BatchEntry],
        options: &BatchOptions,
    ) -> Result<Vec<BatchResult>, ClientError> {
        let written: batch::BatchResults = if options.is_empty() {
            self.rpc(&("stream.writeBatch", entries)).await?
        } else {
            self.rpc(&("stream.writeBatch", entries, options)).await?
        };
        Ok(written.results)
    }

    /// `stream.get`: the stream's messages from a position, in position order.
    pub async fn get_stream(
        &self,
        stream: &str,
        options: &StreamOptions,
    ) -> Result<Vec<Message>, ClientError> {
        let messages: Vec<types::StreamRow> = self.rpc(&("stream.get", stream, options)).await?;
        Ok(messages
            .into_iter()
            .map(|row| row.into_message(stream))
            .collect())
    }

    /// `stream.last`: the highest-position message (of `message_type`, if given), or `None`.
    pub async fn last_message(
        &self,
        stream: &str,
        message_type: Option<&str>,
    ) -> Result<Option<Message>, ClientError> {
        let row: Option<types::StreamRow> = match message_type {
            Some(t) => {
                let options = serde_json::json!({ "type": t });
                self.rpc(&("stream.last", stream, options)).await?
            }
            None => self.rpc(&("stream.last", stream)).await?,
        };
        Ok(row.map(|row| row.into_message(stream)))
    }

    /// `stream.version`: the last position, or `None` for a stream without messages.
    pub async fn stream_version(&self, stream: &str) -> Result<Option<i64>, ClientError> {
        self.rpc(&("stream.version", stream)).await
    }

    /// `stream.delete` (SPEC §18): removes every message of `stream`, for good. The version stays
    /// where it was, so the next write lands at `version + 1`. With
    /// [`DeleteOptions::expected_version`], a stream at another version is left untouched and the
    /// call fails with `STREAM_VERSION_CONFLICT`; a server started with `--allow-deletion=false`
    /// answers 403 `AUTH_UNAUTHORIZED`.
    pub async fn delete_stream(
        &self,
        stream: &str,
        options: &DeleteOptions,
    ) -> Result<DeleteResult, ClientError> {
        if options.is_empty() {
            self.rpc(&("stream.delete", stream)).await
        } else {
            self.rpc(&("stream.delete", stream, options)).await
        }
    }

    /// `stream.truncate` (SPEC §18): removes the messages of `stream` whose position is below
    /// `before` (≥ 0), for good. The version does not change.
    pub async fn truncate_stream(
        &self,
        stream: &str,
        before: i64,
    ) -> Result<DeleteResult, ClientError> {
        let options = deletion::TruncateOptions { before };
        self.rpc(&("stream.truncate", stream, options)).await
    }

    /// Whether this server lets this client's token delete (SPEC §18). `sys.health` does not
    /// say (SPEC §6.1 fixes its shape), so this asks the way a deletion would: it truncates
    /// [`DELETION_PROBE_STREAM`] before position 0, which removes nothing and records nothing on
    /// any stream (the answer is `{"deleted":0,…}`). Every answer other than success is `false`:
    /// 403 `AUTH_UNAUTHORIZED` from a server started with `--allow-deletion=false`,
    /// `METHOD_NOT_FOUND` from a server that predates deletion (EventoDB), a refused token, a
    /// success that is not a deletion result. Only a failed exchange is an error: without an
    /// answer, nothing is known.
    pub async fn deletion_allowed(&self) -> Result<bool, ClientError> {
        match self.truncate_stream(DELETION_PROBE_STREAM, 0).await {
            Ok(_) => Ok(true),
            Err(
                ClientError::Api(_)
                | ClientError::UnexpectedResponse { .. }
                | ClientError::Decode(_),
            ) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `ns.deletions` (SPEC §18): one page of the caller's deletion records, in global-position
    /// order. Page on with `position` = the last record's `global_position` + 1.
    pub async fn ns_deletions(
        &self,
        options: &DeletionsOptions,
    ) -> Result<Vec<Deletion>, ClientError> {
        if options.is_empty() {
            self.rpc(&("ns.deletions",)).await
        } else {
            self.rpc(&("ns.deletions", options)).await
        }
    }

    /// `category.get`: the category's messages (`""`: the whole namespace) in global order.
    pub async fn get_category(
        &self,
        category: &str,
        options: &CategoryOptions,
    ) -> Result<Vec<Message>, ClientError> {
        let rows: Vec<types::CategoryRow> = self.rpc(&("category.get", category, options)).await?;
        Ok(rows
            .into_iter()
            .map(types::CategoryRow::into_message)
            .collect())
    }

    /// `ns.create` (admin): returns the new namespace's token, the only time it is shown.
    pub async fn ns_create(
        &self,
        namespace: &str,
        options: &CreateNamespaceOptions,
    ) -> Result<NamespaceCreated, ClientError> {
        self.rpc(&("ns.create", namespace, options)).await
    }

    /// `ns.delete` (admin).
    pub async fn ns_delete(&self, namespace: &str) -> Result<NamespaceDeleted, ClientError> {
        self.rpc(&("ns.delete", namespace)).await
    }

    /// `ns.list` (admin).
    pub async fn ns_list(&self) -> Result<Vec<NamespaceSummary>, ClientError> {
        self.rpc(&("ns.list",)).await
    }

    /// `ns.info` (admin, or the namespace's own token).
    pub async fn ns_info(&self, namespace: &str) -> Result<NamespaceInfo, ClientError> {
        self.rpc(&("ns.info", namespace)).await
    }

    /// `ns.streams`: one page of the caller's streams.
    pub async fn ns_streams(
        &self,
        options: &StreamsOptions,
    ) -> Result<Vec<StreamSummary>, ClientError> {
        self.rpc(&("ns.streams", options)).await
    }

    /// `ns.categories`: the caller's categories with their counts.
    pub async fn ns_categories(&self) -> Result<Vec<CategorySummary>, ClientError> {
        self.rpc(&("ns.categories",)).await
    }

    /// `sys.version`: the server's semver.
    pub async fn sys_version(&self) -> Result<String, ClientError> {
        self.rpc(&("sys.version",)).await
    }

    /// `sys.health`.
    pub async fn sys_health(&self) -> Result<Health, ClientError> {
        self.rpc(&("sys.health",)).await
    }

    /// `GET /health` (no authentication): `Ok` when the server answers `{"status":"ok"}`.
    pub async fn health(&self) -> Result<(), ClientError> {
        let response = self
            .http
            .get(format!("{}/health", self.base_url))
            .send()
            .await
            .map_err(ClientError::Transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(ClientError::Transport)?;
        if !status.is_success() {
            return Err(ClientError::from_error_response(status.as_u16(), &bytes));
        }
        Ok(())
    }

    /// Encodes `request` as the RPC body and decodes the result as `T`.
    async fn rpc<T: DeserializeOwned>(&self, request: &impl Serialize) -> Result<T, ClientError> {
        let body = serde_json::to_vec(request).map_err(ClientError::Encode)?;
        let raw = self.call_body(body).await?;
        serde_json::from_str(raw.get()).map_err(ClientError::Decode)
    }
}
