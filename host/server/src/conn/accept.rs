//! The accept wrapper: a connection is accepted while the [`Table`] has a place for it, and its
//! stream fails once the connection is told to give way.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::table::{Slot, Table};

/// Accepts a connection while the [`Table`] has a place for it.
#[derive(Debug, Clone)]
pub struct Limited<A> {
    inner: A,
    table: Arc<Table>,
}

impl<A> Limited<A> {
    /// Connections through `inner`, placed in `table`.
    pub fn new(inner: A, table: Arc<Table>) -> Self {
        Self { inner, table }
    }
}

impl<A, S> Accept<TcpStream, S> for Limited<A>
where
    A: Accept<TcpStream, S> + Clone + Send + 'static,
    A::Future: Send + 'static,
    S: Send + 'static,
{
    type Stream = Counted<A::Stream>;
    type Service = A::Service;
    type Future =
        Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send + 'static>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let slot = match stream.peer_addr() {
            Ok(peer) => self.table.admit(peer).map_err(|why| {
                self.table.refuse(peer, why);
                io::Error::other("no place for the connection")
            }),
            Err(err) => Err(err),
        };
        let inner = self.inner.clone();
        Box::pin(async move {
            let slot = slot?;
            let (stream, service) = inner.accept(stream, service).await?;
            Ok((Counted { stream, slot }, service))
        })
    }
}

/// A stream that holds its connection's place until it is dropped, and fails once told to give
/// way.
#[derive(Debug)]
pub struct Counted<T> {
    stream: T,
    slot: Slot,
}

fn gave_way() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "closed to make room for a new connection",
    )
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.slot.close.waker.register(cx.waker());
        if self.slot.close.is_closed() {
            return Poll::Ready(Err(gave_way()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.slot.close.is_closed() {
            return Poll::Ready(Err(gave_way()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.slot.close.is_closed() {
            return Poll::Ready(Err(gave_way()));
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
