//! messagedb's HTTP server: the only crate that knows HTTP and the JSON wire format.
//!
//! The binary opens a [`Store`], runs [`bootstrap_default`], binds a listener and calls
//! [`serve`]. Each accepted connection is served by [`connection`] (HTTP/1.1, time limits,
//! graceful shutdown); requests go through [`router`] (exact-path routes, `Server` header, request
//! log, panic guard) to the endpoints, of which `/rpc` is the main one: [`auth`] binds the request
//! to a namespace, [`rpc`] parses and runs the call, [`wire`] writes the JSON, and [`error`] holds
//! the one error table. `/subscribe` is [`sse`]; it is fed by the [`notifier`], which the store
//! reports every commit to (installed by [`AppState::new`]). `/import` is [`import`].

pub mod alloc_scope;
pub mod auth;
pub mod bootstrap;
pub mod connection;
pub mod console;
pub mod debug;
pub mod error;
pub mod import;
pub mod metrics;
pub mod notifier;
pub mod poke;
pub mod router;
pub mod rpc;
pub mod sse;
pub mod wire;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use messagedb_core::{CommitListener, NamespaceId, Store};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use bootstrap::{bootstrap_default, Bootstrap, BootstrapError};
pub use notifier::Notifier;
pub use router::REQUEST_LOG_TARGET;

/// Server settings that the binary takes from its configuration (SPEC §11.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// SPEC §4.7 authentication: anonymous callers act as admin, unknown tokens create their
    /// namespace. (Choosing in-memory storage is the binary's job.)
    pub test_mode: bool,
    /// The `/rpc` body limit; larger bodies get 413.
    pub max_body_bytes: usize,
    /// SSE keepalive interval; `None` disables it.
    pub sse_heartbeat: Option<Duration>,
    /// Serve `/metrics`.
    pub metrics: bool,
    /// Serve `/debug/pprof/*` (admin only).
    pub debug_endpoints: bool,
    /// Serve the web console at `/console` (an extension to SPEC §3; off, it is a 404).
    pub console: bool,
    /// `stream.delete` / `stream.truncate` allowed to the namespace's tokens (SPEC §18); off,
    /// both answer 403.
    pub allow_deletion: bool,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            test_mode: false,
            max_body_bytes: 16_777_216,
            sse_heartbeat: Some(Duration::from_secs(15)),
            metrics: true,
            debug_endpoints: false,
            console: true,
            allow_deletion: true,
        }
    }
}

/// Everything request handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    store: Arc<dyn Store>,
    config: ServerConfig,
    auth_cache: auth::AuthCache,
    /// Open SSE subscriptions on this instance (`sys.health.connections`, `/metrics`).
    subscriptions: AtomicUsize,
    /// The commit fan-out that SSE subscriptions register with.
    notifier: Arc<Notifier>,
    /// Flips to `true` when the server shuts down: every SSE response ends (§11.3 step 3).
    closing: watch::Sender<bool>,
}

impl AppState {
    /// The state for serving `store`; installs a [`Notifier`] as the store's commit listener.
    pub fn new(store: Arc<dyn Store>, config: ServerConfig) -> AppState {
        metrics::init();
        let notifier = Arc::new(Notifier::new());
        store.set_commit_listener(Arc::clone(&notifier) as Arc<dyn CommitListener>);
        AppState {
            inner: Arc::new(Shared {
                store,
                config,
                auth_cache: auth::AuthCache::default(),
                subscriptions: AtomicUsize::new(0),
                notifier,
                closing: watch::channel(false).0,
            }),
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// How many SSE subscriptions are open now.
    pub fn subscriptions(&self) -> usize {
        self.inner.subscriptions.load(Ordering::Relaxed)
    }

    /// Counts one SSE subscription for as long as the guard lives.
    pub fn track_subscription(&self) -> SubscriptionGuard {
        self.inner.subscriptions.fetch_add(1, Ordering::Relaxed);
        SubscriptionGuard {
            state: self.clone(),
        }
    }

    /// The commit fan-out, which the store reports to (also for diagnostics and tests:
    /// catch-ups, the queue's high-water mark).
    pub fn notifier(&self) -> &Arc<Notifier> {
        &self.inner.notifier
    }

    /// Ends every SSE response, now and for subscriptions that start later. [`serve`] calls it
    /// when its shutdown future resolves.
    pub fn end_subscriptions(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Becomes `true` when SSE responses must end.
    pub(crate) fn subscriptions_closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    pub(crate) fn auth_cache(&self) -> &auth::AuthCache {
        &self.inner.auth_cache
    }

    /// Drops cached credentials of a namespace that was deleted or changed.
    pub fn forget_namespace(&self, id: &NamespaceId) {
        self.inner.auth_cache.forget(id);
    }
}

/// One open SSE subscription; see [`AppState::track_subscription`].
pub struct SubscriptionGuard {
    state: AppState,
}

impl Drop for SubscriptionGuard {
    fn drop(&mut self) {
        self.state
            .inner
            .subscriptions
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves until `shutdown` resolves, then stops accepting, closes idle keep-alive connections,
/// ends every SSE response, lets in-flight requests finish, and returns when every connection is
/// done. (The binary wraps this in its own deadline.)
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router::App::new(state.clone());
    let upkeep = tokio::spawn(metrics::upkeep());
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    // Small request/response exchanges must not wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection::serve(stream, app.clone(), stopped.clone()));
                }
                // Running out of file descriptors and similar are transient: keep serving.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop.send(true);
    state.end_subscriptions();
    while connections.join_next().await.is_some() {}
    upkeep.abort();
    Ok(())
}
