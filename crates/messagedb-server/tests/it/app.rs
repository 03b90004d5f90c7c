//! `spawn_app()`: a server on an ephemeral port, bootstrapped with the checklist's admin token.
//!
//! The server runs on the in-memory embedded store by default. Tests written inside
//! [`on_both_backends!`] run twice, once per backend: in its `postgres` copy, `spawn_app` and
//! `spawn_with` are the ones of [`postgres`], which put the server on a fresh database of the
//! throwaway PostgreSQL cluster (`messagedb-testpg`).

use std::net::SocketAddr;
use std::sync::Arc;

use messagedb_core::Store;
use messagedb_server::{bootstrap_default, serve, AppState, ServerConfig};
use messagedb_sqlite::SqliteStore;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The admin token every checklist item starts the server with.
pub const T: &str =
    "ns_ZGVmYXVsdA_0000000000000000000000000000000000000000000000000000000000000000";

pub struct App {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// The PostgreSQL database the store lives in, dropped with the app.
    database: Option<messagedb_testpg::TestDatabase>,
}

/// An HTTP answer, with the body as text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an error envelope and returns its `error` object.
    pub fn error(&self, status: u16, code: &str, message: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(
            self.body.ends_with("}\n") && !self.body.ends_with("\n\n"),
            "{:?}",
            self.body
        );
        let error = self.json()["error"].clone();
        assert_eq!(error["code"], code, "{}", self.body);
        assert_eq!(error["message"], message, "{}", self.body);
        error
    }
}

pub async fn spawn_app() -> App {
    spawn_with(ServerConfig::default()).await
}

pub async fn spawn_with(config: ServerConfig) -> App {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().expect("in-memory store"));
    spawn_store(store, config).await
}

/// Bootstraps `default` with [`T`], binds first, then serves in the background: the port accepts
/// connections before this returns, so no test waits for readiness.
pub async fn spawn_store(store: Arc<dyn Store>, config: ServerConfig) -> App {
    bootstrap_default(store.as_ref(), Some(T))
        .await
        .expect("bootstrap");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(store, config);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    App {
        addr,
        client: reqwest::Client::new(),
        state,
        stop: Some(stop),
        server: Some(server),
        database: None,
    }
}

/// The same servers on PostgreSQL: each on a fresh database of the shared test cluster.
pub mod postgres {
    use std::sync::Arc;

    use messagedb_postgres::{PostgresOptions, PostgresStore};
    use messagedb_server::ServerConfig;

    use super::{spawn_store, App};

    /// Tests run two at a time against one cluster; a small pool is plenty.
    pub const POOL_SIZE: usize = 4;

    pub async fn spawn_app() -> App {
        spawn_with(ServerConfig::default()).await
    }

    pub async fn spawn_with(config: ServerConfig) -> App {
        let database = messagedb_testpg::shared_cluster().create_database().await;
        let store = open(database.url()).await;
        let mut app = spawn_store(Arc::new(store), config).await;
        app.database = Some(database);
        app
    }

    /// A second server on `app`'s database, with a store of its own (another instance behind
    /// the same load balancer, SPEC §8.7 and §10.5). It bootstraps `default` with the same
    /// token, which finds it present and leaves it as it is.
    pub async fn another_instance(app: &App) -> App {
        let url = app
            .database
            .as_ref()
            .expect("a PostgreSQL app has a database")
            .url();
        let store = open(url).await;
        spawn_store(Arc::new(store), ServerConfig::default()).await
    }

    pub async fn open(url: &str) -> PostgresStore {
        let options = PostgresOptions {
            pool_size: POOL_SIZE,
            ..PostgresOptions::new(url)
        };
        PostgresStore::open(options)
            .await
            .unwrap_or_else(|e| panic!("opening the PostgreSQL store: {e}"))
    }
}

/// Runs the `async fn` tests inside it on both backends: a `sqlite` module gets them as they are,
/// and a `postgres` module gets them with `spawn_app`/`spawn_with` from [`postgres`] (an explicit
/// import shadows the file's glob-imported ones) and a skip when `MESSAGEDB_SKIP_POSTGRES=1`.
macro_rules! on_both_backends {
    ($($(#[$attr:meta])* async fn $name:ident() $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $($(#[$attr])* async fn $name() $body)*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use crate::app::postgres::{spawn_app, spawn_with};
            $($(#[$attr])* async fn $name() {
                if messagedb_testpg::skipped(concat!(module_path!(), "::", stringify!($name))) {
                    return;
                }
                $body
            })*
        }
    };
}
pub(crate) use on_both_backends;

impl App {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends any request; `token` goes into a Bearer header.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let mut request = self.client.request(method, self.url(path)).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request.send().await.expect("request")).await
    }

    /// `POST /rpc` with a raw body.
    pub async fn rpc_raw(&self, token: Option<&str>, body: impl Into<reqwest::Body>) -> Answer {
        self.send(reqwest::Method::POST, "/rpc", token, body).await
    }

    pub async fn rpc_as(&self, token: &str, body: Value) -> Answer {
        self.rpc_raw(Some(token), body.to_string()).await
    }

    /// An admin call that must succeed; returns the result.
    pub async fn call(&self, body: Value) -> Value {
        self.call_as(T, body).await
    }

    pub async fn call_as(&self, token: &str, body: Value) -> Value {
        let answer = self.rpc_as(token, body.clone()).await;
        assert_eq!(answer.status, 200, "{body} → {}", answer.body);
        assert!(answer.body.ends_with('\n') && !answer.body.ends_with("\n\n"));
        answer.json()
    }

    /// `ns.create` as admin; returns the new token.
    pub async fn tenant(&self, id: &str) -> String {
        let created = self.call(json!(["ns.create", id])).await;
        created["token"].as_str().unwrap().to_owned()
    }

    /// Writes `{"type": ty, "data": data}` and returns (position, globalPosition).
    pub async fn write_as(&self, token: &str, stream: &str, ty: &str, data: Value) -> (i64, i64) {
        let r = self
            .call_as(
                token,
                json!(["stream.write", stream, {"type": ty, "data": data}]),
            )
            .await;
        (
            r["position"].as_i64().unwrap(),
            r["globalPosition"].as_i64().unwrap(),
        )
    }

    pub async fn write(&self, stream: &str, ty: &str, data: Value) -> (i64, i64) {
        self.write_as(T, stream, ty, data).await
    }

    /// Signals the server to shut down, without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Whether `serve` has returned.
    pub fn server_finished(&self) -> bool {
        self.server.as_ref().is_none_or(|s| s.is_finished())
    }

    /// Shuts down (if not yet signalled) and waits until `serve` returns.
    pub async fn shutdown(mut self) {
        self.begin_shutdown();
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.expect("body");
    Answer {
        status,
        headers,
        body,
    }
}
