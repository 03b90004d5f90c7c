//! Connection settings: the `postgres://` URL, `sslmode`, timeouts, the pool, and single
//! connections outside the pool (the `LISTEN` connection).
//!
//! `sslmode` follows libpq: `disable` never uses TLS, `prefer` (the default) tries TLS and falls
//! back to a plain connection when the server does not offer it, `require` insists on TLS. Like
//! libpq without a root certificate, `require` encrypts but does not check the server's
//! certificate chain (the handshake signatures are still verified); certificate verification
//! (`verify-ca`, `verify-full`) is not supported by the driver and is rejected as an invalid URL.
//!
//! Timeouts keep an unreachable database from hanging requests: connecting gives up after
//! [`CONNECT_TIMEOUT`], waiting for a pooled connection after [`POOL_TIMEOUT`], and the kernel
//! drops a connection whose peer stopped acknowledging after [`TCP_USER_TIMEOUT`]. Any of these
//! surfaces as `StoreError::Backend` (`BACKEND_ERROR`), and the next request tries afresh, so the
//! store recovers by itself when the database comes back.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Hook, HookError};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures::StreamExt;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::sync::mpsc;
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Client, Config, NoTls, Notification, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::OpenError;

/// How long establishing one connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for a pooled connection (all busy, or being created).
pub const POOL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long sent data may stay unacknowledged before the kernel drops the connection.
pub const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// What [`crate::PostgresStore::open`] needs.
#[derive(Clone)]
pub struct PostgresOptions {
    /// A `postgres://` or `postgresql://` URL (libpq URL syntax, including `?sslmode=`).
    pub url: String,
    /// The largest number of pooled connections (`--db-pool-size`); the `LISTEN` connection comes
    /// on top.
    pub pool_size: usize,
    /// How long a namespace's writer task waits for the next write before it ends (SPEC §16.3:
    /// an idle namespace costs no task); the next write starts a new one.
    pub writer_idle: std::time::Duration,
}

impl PostgresOptions {
    /// The SPEC default pool size (`--db-pool-size`, §11.1).
    pub const DEFAULT_POOL_SIZE: usize = 16;

    /// Long enough that a namespace in steady use keeps its task, short enough that thousands
    /// touched once do not keep theirs.
    pub const DEFAULT_WRITER_IDLE: std::time::Duration = std::time::Duration::from_secs(10);

    pub fn new(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            pool_size: Self::DEFAULT_POOL_SIZE,
            writer_idle: Self::DEFAULT_WRITER_IDLE,
        }
    }
}

impl std::fmt::Debug for PostgresOptions {
    /// The URL may carry a password; only the pool size is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("url", &"REDACTED")
            .field("pool_size", &self.pool_size)
            .field("writer_idle", &self.writer_idle)
            .finish()
    }
}

/// How many times a pooled connection is handed out before it is replaced (see
/// `Connector::pool`): enough that reconnecting costs well under 1 % of the requests, few enough
/// that one backend's per-namespace caches stay in the tens of MiB.
pub(crate) const MAX_USES: usize = 1000;

/// A parsed URL with the TLS connector it asks for.
#[derive(Clone)]
pub(crate) struct Connector {
    config: Config,
    tls: Option<MakeRustlsConnect>,
}

impl Connector {
    pub(crate) fn new(url: &str) -> Result<Connector, OpenError> {
        let mut config = Config::from_str(url).map_err(|e| OpenError::InvalidUrl(e.to_string()))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(TCP_USER_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("messagedb");
        }
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30));
        let tls = match config.get_ssl_mode() {
            SslMode::Disable => None,
            _ => Some(MakeRustlsConnect::new(encrypt_only()?)),
        };
        Ok(Connector { config, tls })
    }

    /// A pool of at most `size` connections, created lazily.
    pub(crate) fn pool(&self, size: usize) -> Result<Pool, OpenError> {
        let manager_config = ManagerConfig {
            // `is_closed` only: a connection broken by a database restart is noticed by its
            // connection task and dropped; checking with a query would cost a round trip per use.
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &self.tls {
            Some(tls) => Manager::from_config(self.config.clone(), tls.clone(), manager_config),
            None => Manager::from_config(self.config.clone(), NoTls, manager_config),
        };
        Pool::builder(manager)
            .max_size(size.max(1))
            // A PostgreSQL session caches the catalog entries, plans and compiled functions of
            // every schema it touches and never gives them back; with one schema per namespace
            // and connections handed to any namespace, a backend grows by ~35 KiB per namespace
            // it ever served (368 MiB each after 10,000 namespaces, measured). Retiring a
            // connection after a bounded number of uses bounds that (SPEC §16.3) at the cost of
            // one reconnect and re-prepare per MAX_USES requests.
            .pre_recycle(Hook::sync_fn(|_, metrics| {
                if metrics.recycle_count >= MAX_USES {
                    Err(HookError::message("retired to bound its session caches"))
                } else {
                    Ok(())
                }
            }))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| OpenError::Database(e.to_string()))
    }

    /// One connection outside the pool, with its notifications forwarded to the receiver. The
    /// receiver ends when the connection does.
    pub(crate) async fn connect_listening(
        &self,
    ) -> Result<(Client, mpsc::UnboundedReceiver<Notification>), tokio_postgres::Error> {
        match &self.tls {
            Some(tls) => connect_with(&self.config, tls.clone()).await,
            None => connect_with(&self.config, NoTls).await,
        }
    }
}

async fn connect_with<T>(
    config: &Config,
    tls: T,
) -> Result<(Client, mpsc::UnboundedReceiver<Notification>), tokio_postgres::Error>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let (client, mut connection) = config.connect(tls).await?;
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if sender.send(n).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the PostgreSQL listen connection failed");
                    break;
                }
            }
        }
    });
    Ok((client, receiver))
}

/// A rustls configuration that encrypts without checking the certificate chain (libpq's
/// `sslmode=require`/`prefer` without a root certificate).
fn encrypt_only() -> Result<rustls::ClientConfig, OpenError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| OpenError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
        .with_no_client_auth();
    Ok(config)
}

/// Accepts any server certificate but still checks that the server holds its key.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_selects_the_connector() {
        let plain = Connector::new("postgres://u@localhost/db?sslmode=disable").unwrap();
        assert!(plain.tls.is_none());
        for url in [
            "postgres://u@localhost/db",
            "postgresql://u@localhost/db?sslmode=prefer",
            "postgres://u@localhost/db?sslmode=require",
        ] {
            assert!(Connector::new(url).unwrap().tls.is_some(), "{url}");
        }
        let err = Connector::new("postgres://u@localhost/db?sslmode=verify-full")
            .err()
            .unwrap();
        assert!(
            err.to_string().starts_with("invalid database URL: "),
            "{err}"
        );
    }

    #[test]
    fn timeouts_default_but_url_wins() {
        let c = Connector::new("postgres://u@localhost/db").unwrap();
        assert_eq!(c.config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        let c = Connector::new("postgres://u@localhost/db?connect_timeout=2").unwrap();
        assert_eq!(
            c.config.get_connect_timeout(),
            Some(&Duration::from_secs(2))
        );
    }

    #[test]
    fn options_hide_the_url() {
        let shown = format!("{:?}", PostgresOptions::new("postgres://u:secret@h/db"));
        assert!(!shown.contains("secret"), "{shown}");
    }
}

#[cfg(test)]
mod pool_tests {
    use super::*;

    /// A pooled connection serves its first checkout and `MAX_USES` more, then a new session
    /// (a new backend process, with empty caches) replaces it.
    #[tokio::test]
    async fn connections_are_retired_after_max_uses() {
        let Some(db) = messagedb_testpg::database("connections_are_retired").await else {
            return;
        };
        let pool = Connector::new(db.url()).unwrap().pool(1).unwrap();
        let mut backends = Vec::new();
        for _ in 0..(2 * (MAX_USES + 1) + 1) {
            let conn = pool.get().await.unwrap();
            let pid: i32 = conn
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .unwrap()
                .get(0);
            if backends.last() != Some(&pid) {
                backends.push(pid);
            }
        }
        assert_eq!(
            backends.len(),
            3,
            "a new session every {MAX_USES} uses: {backends:?}"
        );
    }
}
