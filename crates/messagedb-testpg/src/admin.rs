//! Creating and dropping test databases from a thread of its own.
//!
//! Every `#[tokio::test]` has its own runtime, and a tokio-postgres connection dies with the
//! runtime that drives it, so the admin connection lives on a dedicated thread with its own
//! runtime, shared by the whole test process. Tests talk to it over a channel: creation is
//! awaited (the test needs the database), dropping is fire-and-forget (it runs from `Drop`).

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::NoTls;

enum Command {
    Create(String, oneshot::Sender<Result<(), String>>),
    Drop(String),
}

/// A handle on the admin thread; cheap to clone.
#[derive(Clone)]
pub(crate) struct Admin {
    commands: Option<Arc<mpsc::UnboundedSender<Command>>>,
}

impl Admin {
    /// A handle that does nothing (before the cluster has started).
    pub(crate) fn detached() -> Admin {
        Admin { commands: None }
    }

    /// Starts the admin thread; it connects to `url` (the `postgres` database) on first use.
    pub(crate) fn start(url: String) -> Admin {
        let (commands, mut received) = mpsc::unbounded_channel::<Command>();
        let spawned = std::thread::Builder::new()
            .name("messagedb-testpg-admin".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("admin runtime");
                runtime.block_on(async move {
                    let mut client: Option<tokio_postgres::Client> = None;
                    while let Some(command) = received.recv().await {
                        let (sql, reply) = match command {
                            Command::Create(name, reply) => {
                                (format!("CREATE DATABASE \"{name}\""), Some(reply))
                            }
                            Command::Drop(name) => (
                                format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                                None,
                            ),
                        };
                        let result = execute(&mut client, &url, &sql).await;
                        if let Some(reply) = reply {
                            let _ = reply.send(result);
                        }
                    }
                });
            });
        match spawned {
            Ok(_) => Admin {
                commands: Some(Arc::new(commands)),
            },
            Err(_) => Admin::detached(),
        }
    }

    pub(crate) async fn create_database(&self, name: &str) -> Result<(), String> {
        let commands = self
            .commands
            .as_ref()
            .ok_or("the admin thread is not running")?;
        let (reply, answer) = oneshot::channel();
        commands
            .send(Command::Create(name.to_owned(), reply))
            .map_err(|_| "the admin thread has stopped")?;
        answer
            .await
            .map_err(|_| "the admin thread has stopped".to_owned())?
    }

    pub(crate) fn drop_database(&self, name: &str) {
        if let Some(commands) = &self.commands {
            let _ = commands.send(Command::Drop(name.to_owned()));
        }
    }

    /// Stops accepting commands (the thread ends once the last handle is gone).
    pub(crate) fn shutdown(&mut self) {
        self.commands = None;
    }
}

/// Runs `sql` on the admin connection, connecting (again) when there is none or it broke.
async fn execute(
    client: &mut Option<tokio_postgres::Client>,
    url: &str,
    sql: &str,
) -> Result<(), String> {
    if client.as_ref().is_none_or(|c| c.is_closed()) {
        let (connected, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|e| format!("cannot connect to {url}: {e}"))?;
        tokio::spawn(connection);
        *client = Some(connected);
    }
    let connected = client.as_ref().expect("connected above");
    connected
        .batch_execute(sql)
        .await
        .map_err(|e| format!("{sql}: {e}"))
}
