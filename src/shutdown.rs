//! One shutdown signal for the whole program: SIGINT, SIGTERM, or a part of the program that
//! has no more to do (the monitor whose stdout reader went away) asks for it; the command
//! waiting on it then stops every thread it started, and waits for them.

use std::future::Future;
use std::io;
use std::sync::Arc;

use tokio::sync::watch;

/// Asked for once, from any thread or task; awaited by the command. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Shutdown(Arc<watch::Sender<bool>>);

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown(Arc::new(watch::Sender::new(false)))
    }
}

impl Shutdown {
    /// Asks the program to stop.
    pub fn request(&self) {
        self.0.send_replace(true);
    }

    /// Whether stopping was asked for.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes once stopping is asked for.
    pub async fn requested(&self) {
        let mut requested = self.0.subscribe();
        // The sender lives in `self`: it cannot be dropped while this waits.
        let _ = requested.wait_for(|requested| *requested).await;
    }

    /// Completes on the first SIGINT or SIGTERM, or once stopping is asked for otherwise.
    /// The signal handlers are in place once this returns; call it inside a tokio runtime.
    pub fn on_signals(&self) -> io::Result<impl Future<Output = ()>> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let this = self.clone();
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
                () = this.requested() => {}
            }
            this.request();
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_from_a_thread_ends_the_wait() {
        let shutdown = Shutdown::default();
        assert!(!shutdown.is_requested());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let stopped = shutdown.on_signals().unwrap();
            let asker = shutdown.clone();
            std::thread::spawn(move || asker.request());
            stopped.await;
        });
        assert!(shutdown.is_requested());
    }
}
