//! A fake service's HTTP side: an axum router served on a loopback port from a thread and a
//! runtime of its own, so sync tests (the `hotline` binary as a child, blocking clients) and
//! async ones use it alike. Dropping it ends every connection, hung ones included.

use axum::Router;
use tokio::sync::oneshot;

/// A router being served on `127.0.0.1`.
pub struct Loopback {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Loopback {
    /// Serves `router` on a port of its own.
    pub fn serve(router: Router) -> Loopback {
        let (stop, stopped) = oneshot::channel::<()>();
        let (bound, address) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                bound.send(listener.local_addr().unwrap()).unwrap();
                tokio::select! {
                    _ = axum::serve(listener, router) => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime ends every connection still open.
        });
        let address = address.recv().unwrap();
        Loopback { base: format!("http://{address}"), stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
