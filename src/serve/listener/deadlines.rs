//! [`Deadlines`]: a client connection's socket with the two timeouts hyper does not keep
//! itself.
//!
//! - **A request head, from its first byte.** hyper's own header timer starts whenever it
//!   waits for a head, idle keep-alive included, so one timer cannot both cut off a client
//!   dribbling half a header after a few seconds and let a kept-alive connection wait a
//!   minute for dnf's next request. hyper's is set to `idle_timeout` (the wait between
//!   requests); this one gives a head `header_read_timeout` from its first byte (from the
//!   accept for a new connection's first head). A head is known complete when the service
//!   is called: the connection counts them in [`Deadlines::heads`].
//! - **A response nobody reads.** hyper has no write timeout: a client that never reads
//!   would hold its connection forever. A write that makes no progress for `idle_timeout`
//!   fails.
//!
//! A deadline that passes fails the read or write with `TimedOut`, and hyper closes the
//! connection. The timers are polled only while the socket is not ready, so they cost
//! nothing on the way of a request that flows.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

pub(super) struct Deadlines {
    stream: TcpStream,
    /// Request heads completed on this connection (bumped by the service).
    heads: Arc<AtomicU64>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    /// The head being read, as the count of heads complete when it began; `None` between
    /// requests.
    head: Option<u64>,
    head_timer: Pin<Box<Sleep>>,
    /// Whether a write is waiting on the client (the timer is then armed).
    write_blocked: bool,
    write_timer: Pin<Box<Sleep>>,
}

impl Deadlines {
    /// A new connection: its first request head is due `header_read_timeout` from now.
    pub(super) fn new(
        stream: TcpStream,
        header_read_timeout: Duration,
        idle_timeout: Duration,
    ) -> Deadlines {
        let now = Instant::now();
        Deadlines {
            stream,
            heads: Arc::new(AtomicU64::new(0)),
            header_read_timeout,
            idle_timeout,
            head: Some(0),
            head_timer: Box::pin(tokio::time::sleep_until(now + header_read_timeout)),
            write_blocked: false,
            write_timer: Box::pin(tokio::time::sleep_until(now + idle_timeout)),
        }
    }

    /// The counter the service bumps once per request head it is handed.
    pub(super) fn heads(&self) -> Arc<AtomicU64> {
        self.heads.clone()
    }

    fn timed_out(what: &str) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, what.to_string())
    }
}

impl AsyncRead for Deadlines {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let heads = this.heads.load(Ordering::Relaxed);
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                // Bytes after the last complete head start the next one (a body, rare on
                // these endpoints, counts as its start too).
                if buf.filled().len() > before && this.head != Some(heads) {
                    this.head = Some(heads);
                    let deadline = Instant::now() + this.header_read_timeout;
                    this.head_timer.as_mut().reset(deadline);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                match this.head {
                    // The head begun then is complete: waiting between requests is hyper's
                    // business (its header timer is the idle timeout).
                    Some(begun) if begun != heads => this.head = None,
                    Some(_) if this.head_timer.as_mut().poll(cx).is_ready() => {
                        return Poll::Ready(Err(Deadlines::timed_out(
                            "request head not complete within serve.header_read_timeout",
                        )));
                    }
                    Some(_) | None => {}
                }
                Poll::Pending
            }
        }
    }
}

impl Deadlines {
    /// A write's result, with the write timer armed while the client reads nothing.
    fn on_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if result.is_ready() {
            self.write_blocked = false;
            return result;
        }
        if !self.write_blocked {
            self.write_blocked = true;
            let deadline = Instant::now() + self.idle_timeout;
            self.write_timer.as_mut().reset(deadline);
        }
        if self.write_timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(Deadlines::timed_out(
                "client read nothing within serve.idle_timeout",
            )));
        }
        Poll::Pending
    }
}

impl AsyncWrite for Deadlines {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write(cx, data);
        this.on_write(cx, result)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.on_write(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
