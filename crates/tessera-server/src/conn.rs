//! Connections: the accept loop (a bounded number of connections at once, backing off when
//! accepting fails, e.g. for want of file descriptors), HTTP/1.1 with a header read timeout,
//! and a socket wrapper that closes stalled connections and can reset on a fault.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Sleep;

use crate::mirror::{ServerHandle, handle};

/// The pause after a failed accept that is not about one connection (out of file
/// descriptors or memory): retrying at once would spin, as the listener stays ready.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A TCP connection that can be reset (SO_LINGER 0 on close) by a body fault, and that
/// fails once its peer has accepted no bytes for the idle timeout.
struct ConnIo {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
    idle: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl ConnIo {
    /// A write is pending: fails once it has been so for the idle timeout.
    fn poll_stall(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        let idle = self.idle;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the peer accepted no bytes for the idle timeout",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            let _ = socket2::SockRef::from(&self.inner).set_linger(Some(Duration::ZERO));
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.poll_stall(cx).map(Err),
            done => {
                self.stalled = None;
                done
            }
        }
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.reset.load(Ordering::SeqCst) {
            let _ = socket2::SockRef::from(&self.inner).set_linger(Some(Duration::ZERO));
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected reset",
            )));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Whether an accept error concerns only the connection being accepted (retry at once).
fn per_connection(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
    )
}

/// Serves connections until `shutdown` resolves, then waits up to 5 s for open requests.
pub async fn serve(
    listener: TcpListener,
    server: ServerHandle,
    shutdown: impl Future<Output = ()>,
) {
    let state = server.state().clone();
    let limits = state.limits.clone();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut accept_failing = false;
    tokio::pin!(shutdown);
    loop {
        // Over the connection limit, new connections wait in the listen backlog.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => {
                accept_failing = false;
                tcp
            }
            Err(e) if per_connection(&e) => continue,
            Err(e) => {
                if state.log && !accept_failing {
                    eprintln!("accept failed: {e}; retrying every {ACCEPT_BACKOFF:?}");
                }
                accept_failing = true;
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        let _ = tcp.set_nodelay(true);
        let reset = Arc::new(AtomicBool::new(false));
        let io = TokioIo::new(ConnIo {
            inner: tcp,
            reset: reset.clone(),
            idle: limits.idle_timeout,
            stalled: None,
        });
        let st = state.clone();
        let svc = service_fn(move |req| handle(req, st.clone(), reset.clone()));
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .keep_alive(true)
            .serve_connection(io, svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}
