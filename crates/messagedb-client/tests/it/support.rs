//! An in-process messagedb server for the client tests.

use std::sync::Arc;

use messagedb_client::Client;
use messagedb_core::Store;
use messagedb_server::{bootstrap_default, serve, AppState, ServerConfig};
use messagedb_sqlite::SqliteStore;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The admin token the server is started with.
pub const ADMIN: &str =
    "ns_ZGVmYXVsdA_0000000000000000000000000000000000000000000000000000000000000000";

/// A running server; dropping it shuts the server down.
pub struct TestServer {
    pub url: String,
    _stop: oneshot::Sender<()>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(ServerConfig::default()).await
    }

    pub async fn start_with(config: ServerConfig) -> TestServer {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
        bootstrap_default(store.as_ref(), Some(ADMIN))
            .await
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(store, config);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve(listener, state, async {
            let _ = stopped.await;
        }));
        TestServer { url, _stop: stop }
    }

    pub fn admin(&self) -> Client {
        self.client(ADMIN)
    }

    pub fn client(&self, token: &str) -> Client {
        Client::with_http_client(http(), &self.url, Some(token)).unwrap()
    }
}

/// An HTTP client that ignores proxies from the environment: the server is on loopback.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}
