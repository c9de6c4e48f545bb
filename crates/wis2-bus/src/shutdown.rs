//! SIGTERM (a container's PID 1 gets it from `docker compose down`) and Ctrl-C.

/// What a service runs until: a future that completes when it is asked to stop
/// ([`signal`] in a binary, a switch the test holds in tests).
pub trait Shutdown: std::future::Future<Output = ()> {}

impl<F: std::future::Future<Output = ()>> Shutdown for F {}

/// The future of [`signal`].
pub type Signal = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Completes on SIGTERM or Ctrl-C.
pub fn signal() -> Signal {
    Box::pin(wait())
}

async fn wait() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("interrupt received"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
