//! Connections: how many at once, how many per peer, which give way, and how long a client may
//! take to send a request.
//!
//! - At most `--max-connections` connections are open at once (TLS handshakes included), and at
//!   most `--max-connections-per-peer` from one IP address, so file descriptors stay available
//!   for the ones being served (and for `/healthz`) whatever slow clients do.
//! - A peer at its limit is refused (closed when accepted: no TLS handshake, so a greedy peer costs
//!   little). Past the total limit, a connection that is not serving a request (still in its TLS
//!   handshake, sending its headers, or idle between requests) holds its place only until someone
//!   needs it: the new connection closes the oldest idle one of the peer holding the most
//!   connections instead of being refused. So sockets that send nothing keep nobody out (not the
//!   API server, whose address differs from an attacking pod's), and no capacity has to be set
//!   aside for one front end: before its request arrives a connection cannot be told apart anyway
//!   (the front end is in the path), and a reserve or a second listener would be reachable by the
//!   same attacker. A connection is refused only when its peer holds its share, or when every
//!   place serves a request, with one peer holding at most `--max-connections-per-peer` of those
//!   (each bounded by the header and body timeouts).
//!   Refusals and closings are logged at most once per [`LOG_EVERY`], with how many there were.
//! - A client has `--header-timeout-secs` to finish the TLS handshake, and as long to send a
//!   request's headers, counted from the moment the connection is ready or the previous response
//!   was sent: this bounds both a trickled head and an idle keep-alive connection (hyper's header
//!   read timeout).
//! - A request's body must arrive within `--body-timeout-secs` (a trickled or stalled chunked
//!   body gets 408 and the connection closes); a body over [`super::MAX_BODY`] gets 413, after the
//!   rest of it is read and discarded (up to [`DRAIN_PAST_LIMIT`]) so that the client reads it.
//!   A body is read before any decision permit is taken, so a slow body costs its sender and not
//!   anyone's decision: the raw API's and OpenStack's bodies are read at most
//!   [`Table::new`]'s `bodies_per_peer` at a time per peer address and at most
//!   `--peer-body-mib-per-sec` together (the rest waits in the kernel's socket buffers), so a
//!   flood of large bodies from one address takes a bounded share of the CPU (their TLS
//!   decryption and framing), and one that trickles holds only its own peer's place. Admission
//!   bodies are not bounded so: the API server is one peer carrying every review.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_server::accept::Accept;
use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// How often at most a refused or closed connection is logged (with the count since).
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The open connections: by peer address, and whether each is serving a request.
#[derive(Debug)]
pub struct Table {
    max: usize,
    per_peer: usize,
    bodies_per_peer: usize,
    body_rate: u64,
    open: Mutex<Open>,
    refused: Throttle,
    closed: Throttle,
}

#[derive(Debug, Default)]
struct Open {
    next_id: u64,
    /// By the peer's address and port: one connection each.
    conns: HashMap<SocketAddr, Conn>,
    /// Connections open per peer IP address.
    peers: HashMap<IpAddr, usize>,
    /// How the bodies of the raw API and OpenStack of each peer are read.
    bodies: HashMap<IpAddr, PeerBodies>,
}

#[derive(Debug)]
struct Conn {
    id: u64,
    /// Requests being served (HTTP/1.1 serves one at a time).
    serving: usize,
    /// Since when it has served nothing (its start, or the end of its last request).
    idle_since: Instant,
    close: Arc<Close>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// The peer holds its share of connections.
    Peer,
    /// Every connection serves a request.
    Full,
}

impl Table {
    /// At most `max` connections, at most `per_peer` of them from one IP address, whose raw API
    /// and OpenStack bodies are read at most `bodies_per_peer` at a time and at most `body_rate`
    /// bytes a second together.
    pub fn new(max: usize, per_peer: usize, bodies_per_peer: usize, body_rate: u64) -> Self {
        Self {
            max: max.max(1),
            per_peer: per_peer.max(1),
            bodies_per_peer: bodies_per_peer.max(1),
            body_rate: body_rate.max(1),
            open: Mutex::new(Open::default()),
            refused: Throttle::new(LOG_EVERY),
            closed: Throttle::new(LOG_EVERY),
        }
    }

    /// A place for a connection from `peer`, taking an idle connection's if need be.
    fn admit(self: &Arc<Self>, peer: SocketAddr) -> Result<Slot, Refused> {
        let ip = peer.ip().to_canonical();
        let now = Instant::now();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let of_peer = open.peers.get(&ip).copied().unwrap_or(0);
        let victim = if of_peer >= self.per_peer {
            return Err(Refused::Peer);
        } else if open.conns.len() >= self.max {
            Some(open.idlest(|_| true).ok_or(Refused::Full)?)
        } else {
            None
        };
        if let Some(victim) = victim {
            if let Some(conn) = open.remove(victim) {
                conn.close.close();
            }
            self.closed.hit(now).inspect(|n| {
                tracing::info!(
                    "closed {n} idle connection(s) to make room for new ones since the last such line (one at most every {} s; limits: {} connections, {} per peer)",
                    LOG_EVERY.as_secs(),
                    self.max,
                    self.per_peer
                );
            });
        }
        // A stale entry of the same address and port (its connection is gone): replaced.
        if let Some(stale) = open.remove(peer) {
            stale.close.close();
        }
        open.next_id = open.next_id.wrapping_add(1);
        let id = open.next_id;
        let close = Arc::new(Close::default());
        open.conns.insert(
            peer,
            Conn {
                id,
                serving: 0,
                idle_since: now,
                close: close.clone(),
            },
        );
        *open.peers.entry(ip).or_insert(0) += 1;
        open.bodies.entry(ip).or_insert_with(|| PeerBodies {
            places: Arc::new(Semaphore::new(self.bodies_per_peer)),
            rate: Arc::new(Rate::new(self.body_rate)),
        });
        Ok(Slot {
            table: self.clone(),
            peer,
            id,
            close,
        })
    }

    fn refuse(&self, peer: SocketAddr, why: Refused) {
        if let Some(n) = self.refused.hit(Instant::now()) {
            let why = match why {
                Refused::Peer => format!(
                    "its peer ({}) holds {} connections (--max-connections-per-peer)",
                    peer.ip(),
                    self.per_peer
                ),
                Refused::Full => format!(
                    "all {} connections serve requests (--max-connections)",
                    self.max
                ),
            };
            tracing::warn!(
                "refused {n} connection(s) since the last such line (one at most every {} s), the latest because {why}",
                LOG_EVERY.as_secs()
            );
        }
    }

    /// Marks the connection from `peer` as serving a request until the guard is dropped; with
    /// the peer's body reading places.
    pub fn serving(self: &Arc<Self>, peer: SocketAddr) -> Option<(Serving, PeerBodies)> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let bodies = open.bodies.get(&peer.ip().to_canonical())?.clone();
        let conn = open.conns.get_mut(&peer)?;
        conn.serving = conn.serving.saturating_add(1);
        Some((
            Serving {
                table: self.clone(),
                peer,
                id: conn.id,
            },
            bodies,
        ))
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .conns
            .len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Open {
    /// The connection to close for a new one: among the idle ones that `eligible` admits, one of
    /// the peer holding the most connections, the longest idle (the oldest of those).
    fn idlest(&self, eligible: impl Fn(&SocketAddr) -> bool) -> Option<SocketAddr> {
        self.conns
            .iter()
            .filter(|(addr, conn)| conn.serving == 0 && eligible(addr))
            .max_by_key(|(addr, conn)| {
                let held = self
                    .peers
                    .get(&addr.ip().to_canonical())
                    .copied()
                    .unwrap_or(0);
                (
                    held,
                    std::cmp::Reverse(conn.idle_since),
                    std::cmp::Reverse(conn.id),
                )
            })
            .map(|(addr, _)| *addr)
    }

    fn remove(&mut self, peer: SocketAddr) -> Option<Conn> {
        let conn = self.conns.remove(&peer)?;
        let ip = peer.ip().to_canonical();
        if let Some(n) = self.peers.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.peers.remove(&ip);
                self.bodies.remove(&ip);
            }
        }
        Some(conn)
    }
}

/// A connection's place in the [`Table`], given back when dropped.
#[derive(Debug)]
struct Slot {
    table: Arc<Table>,
    peer: SocketAddr,
    id: u64,
    close: Arc<Close>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if open.conns.get(&self.peer).is_some_and(|c| c.id == self.id) {
            open.remove(self.peer);
        }
    }
}

/// A request being served on a connection: the connection does not give way until it is dropped.
#[derive(Debug)]
pub struct Serving {
    table: Arc<Table>,
    peer: SocketAddr,
    id: u64,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(conn) = open.conns.get_mut(&self.peer)
            && conn.id == self.id
        {
            conn.serving = conn.serving.saturating_sub(1);
            if conn.serving == 0 {
                conn.idle_since = Instant::now();
            }
        }
    }
}

/// How the raw API's and OpenStack's bodies of one peer are read: a few at a time, at a bounded
/// rate together (a request extension set by [`serving`], used by [`read_body`]).
#[derive(Debug, Clone)]
pub struct PeerBodies {
    places: Arc<Semaphore>,
    rate: Arc<Rate>,
}

/// A byte rate shared by a peer's bodies: a token bucket holding at most one second's bytes.
#[derive(Debug)]
struct Rate {
    per_sec: f64,
    state: Mutex<(Instant, f64)>,
}

impl Rate {
    fn new(per_sec: u64) -> Self {
        #[allow(
            clippy::cast_precision_loss,
            reason = "a rate in bytes a second, far below 2^52"
        )]
        let per_sec = per_sec.max(1) as f64;
        Self {
            per_sec,
            state: Mutex::new((Instant::now(), per_sec)),
        }
    }

    /// Takes `bytes` read at `now`: how long to wait before reading more.
    fn take(&self, bytes: usize, now: Instant) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, tokens) = &mut *state;
        let refill = now.saturating_duration_since(*last).as_secs_f64() * self.per_sec;
        #[allow(
            clippy::cast_precision_loss,
            reason = "a frame's length, far below 2^52"
        )]
        let bytes = bytes as f64;
        *tokens = (*tokens + refill).min(self.per_sec) - bytes;
        *last = now;
        if *tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-*tokens / self.per_sec)
        }
    }
}

/// Marks the request's connection as serving while the request is handled, and hands the
/// peer's body reading places to [`read_body`] (the outermost layer).
pub async fn serving(
    State(table): State<Arc<Table>>,
    mut request: Request,
    next: Next,
) -> Response {
    let guard = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .and_then(|ConnectInfo(peer)| table.serving(*peer));
    let guard = guard.map(|(serving, bodies)| {
        request.extensions_mut().insert(bodies);
        serving
    });
    let response = next.run(request).await;
    drop(guard);
    response
}

/// Tells a connection to close (it gave way to a new one).
#[derive(Debug, Default)]
struct Close {
    closed: AtomicBool,
    waker: AtomicWaker,
}

impl Close {
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.waker.wake();
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// Counts events and says when one is due to be logged: the first, then the first after each
/// `every`, with how many happened since the last line.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl Throttle {
    /// At most one line per `every`.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// Counts an event at `now`; `Some(count)` when a line is due (the count includes this one).
    pub fn hit(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, count) = &mut *state;
        *count = count.saturating_add(1);
        let due = last.is_none_or(|last| now.saturating_duration_since(last) >= self.every);
        if due {
            *last = Some(now);
            Some(std::mem::take(count))
        } else {
            None
        }
    }
}

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

/// How much of a body past the limit is read and thrown away before the 413 is sent, so that a
/// client still writing its body finishes and reads the answer: closing a socket with unread
/// data makes the kernel reset the connection, and the client sees "broken pipe" or "connection
/// reset" instead of the 413 (the lingering close of nginx and Apache). A body larger still is
/// cut: the answer is sent and the connection closed. Kept small: a caller sending oversized bodies
/// should not get more of the server's reading time than a caller sending allowed ones.
pub const DRAIN_PAST_LIMIT: usize = 4 << 20;

/// Reads the whole body within `timeout` and at most `limit` bytes, before any handler runs and
/// before any decision permit is taken: the front ends take a permit for the decision only, once
/// the body is here, so a body that trickles costs its sender and not a decision slot that others
/// wait for. The raw API's and OpenStack's bodies are read under one of their peer's places
/// ([`PeerBodies`]): a peer's many large bodies wait for one another, not for anyone else's (the
/// wait counts against the timeout).
pub async fn read_body(
    State((timeout, limit)): State<(Duration, usize)>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bodies = match super::front_of(parts.uri.path()) {
        Some("api" | "openstack") => parts.extensions.get::<PeerBodies>().cloned(),
        _ => None,
    };
    let read = tokio::time::timeout(timeout, async move {
        let _place = match &bodies {
            Some(bodies) => bodies.places.clone().acquire_owned().await.ok(),
            None => None,
        };
        collect(body, limit, bodies.as_ref().map(|b| &*b.rate)).await
    })
    .await;
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
async fn collect(body: Body, limit: usize, rate: Option<&Rate>) -> Result<bytes::Bytes, Collect> {
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
        if let Some(rate) = rate {
            let wait = rate.take(data.len(), Instant::now());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((ip, port))
    }

    #[test]
    fn the_first_event_is_logged_then_one_line_per_interval_with_the_count() {
        let throttle = Throttle::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(throttle.hit(start), Some(1));
        for i in 1..1000 {
            assert_eq!(throttle.hit(start + Duration::from_millis(i)), None);
        }
        assert_eq!(throttle.hit(start + Duration::from_secs(10)), Some(1000));
        assert_eq!(throttle.hit(start + Duration::from_secs(11)), None);
    }

    #[test]
    fn a_peers_bodies_wait_once_past_their_rate() {
        let rate = Rate::new(1000);
        let start = Instant::now();
        assert_eq!(rate.take(1000, start), Duration::ZERO);
        assert_eq!(rate.take(500, start), Duration::from_millis(500));
        // Half a second later the debt is paid; a second's worth at most is saved up.
        assert_eq!(
            rate.take(0, start + Duration::from_millis(500)),
            Duration::ZERO
        );
        assert_eq!(
            rate.take(1000, start + Duration::from_secs(60)),
            Duration::ZERO
        );
        assert!(rate.take(1, start + Duration::from_secs(60)) > Duration::ZERO);
    }

    #[test]
    fn a_new_connection_takes_the_place_of_the_biggest_peers_oldest_idle_one() {
        let table = Arc::new(Table::new(4, 8, 1, 1 << 20));
        let attacker: Vec<Slot> = (1..=3)
            .map(|port| table.admit(addr([127, 0, 0, 2], port)).unwrap())
            .collect();
        let honest = table.admit(addr([127, 0, 0, 1], 1)).unwrap();
        // Full: the next one closes the attacker's oldest idle connection, not the honest one.
        let _next = table.admit(addr([127, 0, 0, 1], 2)).unwrap();
        assert!(attacker[0].close.is_closed());
        assert!(!attacker[1].close.is_closed() && !honest.close.is_closed());
        assert_eq!(table.len(), 4);
        // A closed slot dropped late does not free a place it no longer holds.
        drop(attacker);
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn connections_serving_requests_keep_their_place() {
        let table = Arc::new(Table::new(2, 2, 1, 1 << 20));
        let a = table.admit(addr([127, 0, 0, 2], 1)).unwrap();
        let b = table.admit(addr([127, 0, 0, 2], 2)).unwrap();
        let serving_a = table.serving(a.peer).unwrap();
        let serving_b = table.serving(b.peer).unwrap();
        // The peer is at its limit and both serve: refused, the peer's own limit first.
        assert_eq!(
            table.admit(addr([127, 0, 0, 2], 3)).unwrap_err(),
            Refused::Peer
        );
        assert_eq!(
            table.admit(addr([127, 0, 0, 1], 1)).unwrap_err(),
            Refused::Full
        );
        // Once one is done, it is idle again and gives way.
        drop(serving_b);
        let c = table.admit(addr([127, 0, 0, 1], 1)).unwrap();
        assert!(b.close.is_closed() && !a.close.is_closed() && !c.close.is_closed());
        drop(serving_a);
    }

    #[test]
    fn a_peer_at_its_limit_is_refused_and_closes_nobody() {
        let table = Arc::new(Table::new(10, 2, 1, 1 << 20));
        let honest = table.admit(addr([127, 0, 0, 1], 1)).unwrap();
        let a = table.admit(addr([127, 0, 0, 2], 1)).unwrap();
        let b = table.admit(addr([127, 0, 0, 2], 2)).unwrap();
        assert_eq!(
            table.admit(addr([127, 0, 0, 2], 3)).unwrap_err(),
            Refused::Peer
        );
        assert!(!a.close.is_closed() && !b.close.is_closed() && !honest.close.is_closed());
        assert_eq!(table.len(), 3);
        // Another peer still gets in.
        let _other = table.admit(addr([127, 0, 0, 3], 1)).unwrap();
    }
}
