//! The shutdown signals: SIGINT and SIGTERM (SPEC §11.3).
//!
//! The handlers are installed at the start of `serve`, before the store is opened, so that a signal
//! arriving during startup is queued and handled as a graceful shutdown once the server runs,
//! instead of killing the process with the default action halfway through opening the store.

use std::io;

use tokio::signal::unix::{signal, Signal, SignalKind};

/// Both shutdown signals, as one stream.
pub struct ShutdownSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl ShutdownSignals {
    pub fn install() -> io::Result<ShutdownSignals> {
        Ok(ShutdownSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for the next SIGINT or SIGTERM and returns its name.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}
