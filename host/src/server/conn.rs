//! Connections: how many at once, and how long a client may take to send a request.
//!
//! - At most `--max-connections` connections are open at once (TLS handshakes included); a
//!   connection past the limit is closed as soon as it is accepted, so file descriptors stay
//!   available for the ones being served (and for `/healthz`) whatever slow clients do.
//! - A client has `--header-timeout-secs` to send a request's headers, counted from the moment
//!   the connection is ready or the previous response was sent: this bounds both a trickled head
//!   and an idle keep-alive connection (hyper's header read timeout).
//! - A request's body must arrive within `--body-timeout-secs` (a trickled or stalled chunked
//!   body gets 408 and the connection closes); a body over [`super::MAX_BODY`] gets 413, after the
//!   rest of it is read and discarded (up to [`DRAIN_PAST_LIMIT`]) so that the client reads it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Accepts a connection only while fewer than the limit are open.
#[derive(Debug, Clone)]
pub struct Limited<A> {
    inner: A,
    open: Arc<Semaphore>,
}

impl<A> Limited<A> {
    /// At most `max` connections through `inner` at once.
    pub fn new(inner: A, max: usize) -> Self {
        Self {
            inner,
            open: Arc::new(Semaphore::new(max.max(1))),
        }
    }
}

impl<A, I, S> Accept<I, S> for Limited<A>
where
    A: Accept<I, S> + Clone + Send + 'static,
    A::Future: Send + 'static,
    I: Send + 'static,
    S: Send + 'static,
{
    type Stream = Counted<A::Stream>;
    type Service = A::Service;
    type Future =
        Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send + 'static>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let permit = self.open.clone().try_acquire_owned();
        let inner = self.inner.clone();
        Box::pin(async move {
            let Ok(permit) = permit else {
                tracing::warn!("refusing a connection: the connection limit is reached");
                return Err(io::Error::other("the connection limit is reached"));
            };
            let (stream, service) = inner.accept(stream, service).await?;
            Ok((
                Counted {
                    stream,
                    _permit: permit,
                },
                service,
            ))
        })
    }
}

/// A stream that holds its connection's place until it is dropped.
#[derive(Debug)]
pub struct Counted<T> {
    stream: T,
    _permit: OwnedSemaphorePermit,
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
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
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// How much of a body past the limit is read and thrown away before the 413 is sent, so that a
/// client still writing its body finishes and reads the answer: closing a socket with unread
/// data makes the kernel reset the connection, and the client sees "broken pipe" or "connection
/// reset" instead of the 413 (the lingering close of nginx and Apache). A body larger still is
/// cut: the answer is sent and the connection closed. Kept small: a caller sending oversized bodies
/// should not get more of the server's reading time than a caller sending allowed ones.
pub const DRAIN_PAST_LIMIT: usize = 4 << 20;

/// Reads the whole body within `timeout` and at most `limit` bytes, before any handler runs. The
/// raw API's and OpenStack's bodies are read under one of their front end's permits
/// ([`super::AppState::body_permit`]): a flood of large bodies on one front end waits in its
/// own queue (in the kernel's socket buffers) instead of taking the CPU from the others.
pub async fn read_body(
    State((state, timeout, limit)): State<(super::AppState, Duration, usize)>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let permit = state.body_permit(parts.uri.path()).await;
    let read = tokio::time::timeout(timeout, collect(body, limit)).await;
    drop(permit);
    match read {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(Collect::TooLarge)) => refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes"),
        ),
        Ok(Err(Collect::Unreadable(err))) => refuse(
            StatusCode::BAD_REQUEST,
            format!("the body could not be read: {err}"),
        ),
        Err(_) => refuse(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the body did not arrive within {} s: send it whole",
                timeout.as_secs()
            ),
        ),
    }
}

/// Why a body was not collected.
#[derive(Debug)]
enum Collect {
    /// More than the limit arrived (the rest was drained, up to [`DRAIN_PAST_LIMIT`]).
    TooLarge,
    /// The connection failed or the body was malformed (a bad chunk).
    Unreadable(axum::Error),
}

/// The body's bytes, if it holds at most `limit`. A body announcing more than the limit plus
/// [`DRAIN_PAST_LIMIT`] in its `Content-Length` is refused without reading it.
async fn collect(body: Body, limit: usize) -> Result<bytes::Bytes, Collect> {
    use axum::body::HttpBody as _;
    use http_body_util::BodyExt as _;

    let drain_cap = limit.saturating_add(DRAIN_PAST_LIMIT);
    if body
        .size_hint()
        .exact()
        .is_some_and(|n| n > drain_cap as u64)
    {
        return Err(Collect::TooLarge);
    }
    let mut body = body;
    let expected = usize::try_from(body.size_hint().lower()).unwrap_or(limit);
    let mut kept = bytes::BytesMut::with_capacity(expected.min(limit));
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(Collect::Unreadable)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len());
        if seen <= limit {
            kept.extend_from_slice(&data);
        } else if seen > drain_cap {
            break;
        }
    }
    if seen > limit {
        Err(Collect::TooLarge)
    } else {
        Ok(kept.freeze())
    }
}

fn refuse(status: StatusCode, message: String) -> Response {
    tracing::warn!("refusing a request: {message}");
    (
        status,
        [(header::CONNECTION, "close")],
        format!("{message}\n"),
    )
        .into_response()
}
