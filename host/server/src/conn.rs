//! Connections: how many at once, how many per peer, which give way, and how long a client may
//! take to send a request.
//!
//! - At most `--max-connections` connections are open at once (TLS handshakes included), and at
//!   most `--max-connections-per-peer` from one IP address, so file descriptors stay available
//!   for the ones being served (and for `/healthz`) whatever slow clients do.
//! - A peer at its limit is refused (closed when accepted: no TLS handshake, so a greedy peer
//!   costs little). Past the total limit, a connection that is not serving a request (still in
//!   its TLS handshake, sending its headers, or idle between requests) holds its place only until
//!   someone needs it: the new connection closes the oldest idle one of the peer holding the most
//!   connections instead of being refused (one of its own peer's, or of a peer holding more than
//!   its own: a peer's kept-alive connections do not give way to a greedier peer's). So sockets
//!   that send nothing keep nobody out (not the API server, whose address differs from an
//!   attacking pod's), and no capacity has to be set aside for one front end: before its request
//!   arrives a connection cannot be told apart anyway (the front end is in the path), and a
//!   reserve or a second listener would be reachable by the same attacker. A request whose body
//!   is still arriving gives way too (answered 503, its connection closed), if its peer holds
//!   more than the new connection's will: the peer holding the most gives way first, an idle
//!   connection of it before one receiving a body, the longest idle or receiving first. So peers
//!   that each stay within their share but together hold every place with bodies they trickle (on
//!   `/validate`, where no per-peer body rate applies) keep out no peer holding fewer: the API
//!   server's review, whose body arrives in milliseconds, is served. A connection is refused only
//!   when its peer holds its share, or when every place serves a request whose body is here
//!   (being decided and answered) or belongs to a peer holding no more than the new one's will.
//!   Refusals, closings and cuts are logged at most once per [`LOG_EVERY`], with how many there
//!   were, and each is counted in `yungui_connection_cutoffs_total` by reason.
//! - A client has `--header-timeout-secs` to finish the TLS handshake, and as long to send a
//!   request's headers, counted from the moment the connection is ready or the previous response
//!   was sent: this bounds both a trickled head and an idle keep-alive connection (hyper's header
//!   read timeout).
//! - A request's body must arrive within its [`BodyTimes`]: `--body-timeout-secs` whatever its
//!   rate, one second more per `--body-min-kib-per-sec` KiB received, never past
//!   `--body-max-secs` (a trickled or stalled body gets 408 and the connection closes, freeing
//!   its place); a body over [`super::MAX_BODY`] gets 413, after the
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
    preempted: Throttle,
    metrics: std::sync::OnceLock<Arc<super::metrics::Metrics>>,
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
    /// Since when the body of its request has been arriving (`None`: no request, or its body is
    /// here and the request is being decided and answered).
    receiving_since: Option<Instant>,
    close: Arc<Close>,
    cut: Arc<Cut>,
}

/// Which connection gives way to a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GiveWay {
    /// One serving no request: closed.
    Idle(SocketAddr),
    /// One whose request's body is still arriving: the request is answered 503.
    Receiving(SocketAddr),
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
            preempted: Throttle::new(LOG_EVERY),
            metrics: std::sync::OnceLock::new(),
        }
    }

    /// Counts its refusals and cuts in `metrics` (`yungui_connection_cutoffs_total`) from now
    /// on (the first call only).
    pub fn count_in(&self, metrics: Arc<super::metrics::Metrics>) {
        let _ = self.metrics.set(metrics);
    }

    fn count(&self, reason: &str) {
        if let Some(metrics) = self.metrics.get() {
            metrics.cutoff(reason);
        }
    }

    /// A place for a connection from `peer`, taking an idle connection's if need be, or else
    /// that of a connection still receiving its body from a peer holding more.
    fn admit(self: &Arc<Self>, peer: SocketAddr) -> Result<Slot, Refused> {
        let ip = peer.ip().to_canonical();
        let now = Instant::now();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let of_peer = open.peers.get(&ip).copied().unwrap_or(0);
        let victim = if of_peer >= self.per_peer {
            return Err(Refused::Peer);
        } else if open.conns.len() >= self.max {
            match open.give_way(ip, of_peer).ok_or(Refused::Full)? {
                GiveWay::Idle(idle) => Some(idle),
                GiveWay::Receiving(receiving) => {
                    if let Some(conn) = open.remove(receiving) {
                        conn.cut.cut();
                    }
                    self.count("body_gave_way");
                    self.preempted.hit(now).inspect(|n| {
                        tracing::warn!(
                            "answered 503 to {n} request(s) whose body was still arriving, to make room for connections of peers holding fewer, since the last such line (one at most every {} s; the latest from {}; limits: {} connections, {} per peer)",
                            LOG_EVERY.as_secs(),
                            receiving.ip(),
                            self.max,
                            self.per_peer
                        );
                    });
                    None
                }
            }
        } else {
            None
        };
        if let Some(victim) = victim {
            if let Some(conn) = open.remove(victim) {
                conn.close.close();
            }
            self.count("idle_gave_way");
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
                receiving_since: None,
                close: close.clone(),
                cut: Arc::new(Cut::default()),
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
        self.count(match why {
            Refused::Peer => "refused_peer_limit",
            Refused::Full => "refused_full",
        });
        if let Some(n) = self.refused.hit(Instant::now()) {
            let why = match why {
                Refused::Peer => format!(
                    "its peer ({}) holds {} connections (--max-connections-per-peer)",
                    peer.ip(),
                    self.per_peer
                ),
                Refused::Full => format!(
                    "all {} connections are taken, by requests being decided or by peers holding no more than this one's (--max-connections)",
                    self.max
                ),
            };
            tracing::warn!(
                "refused {n} connection(s) since the last such line (one at most every {} s), the latest because {why}",
                LOG_EVERY.as_secs()
            );
        }
    }

    /// Marks the connection from `peer` as serving a request until the guard is dropped, and
    /// as receiving its body until [`Receiving::received`]; with the peer's body reading places.
    pub fn serving(self: &Arc<Self>, peer: SocketAddr) -> Option<(Serving, PeerBodies, Receiving)> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let bodies = open.bodies.get(&peer.ip().to_canonical())?.clone();
        let conn = open.conns.get_mut(&peer)?;
        conn.serving = conn.serving.saturating_add(1);
        conn.receiving_since = Some(Instant::now());
        let receiving = Receiving {
            table: self.clone(),
            peer,
            id: conn.id,
            cut: conn.cut.clone(),
        };
        Some((
            Serving {
                table: self.clone(),
                peer,
                id: conn.id,
            },
            bodies,
            receiving,
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
    /// The connection that gives way to a new one from `ip`, whose peer holds `of_peer`: of the
    /// peer holding the most, an idle one (the longest idle) or else one still receiving its
    /// body (the longest receiving). An idle connection gives way to its own peer's or to a
    /// peer holding fewer (a request may be on its way on it); a body still arriving, to a peer
    /// holding fewer than its own will once it gave way (so that shares even out and never swap
    /// back and forth). A request whose body is here never gives way.
    fn give_way(&self, ip: IpAddr, of_peer: usize) -> Option<GiveWay> {
        self.conns
            .iter()
            .filter_map(|(addr, conn)| {
                let held = self
                    .peers
                    .get(&addr.ip().to_canonical())
                    .copied()
                    .unwrap_or(0);
                let (idle, since) = if conn.serving == 0 {
                    let eligible = addr.ip().to_canonical() == ip || held > of_peer;
                    (true, eligible.then_some(conn.idle_since)?)
                } else {
                    let eligible = held > of_peer.saturating_add(1);
                    (false, conn.receiving_since.filter(|_| eligible)?)
                };
                Some((
                    held,
                    idle,
                    std::cmp::Reverse(since),
                    std::cmp::Reverse(conn.id),
                    *addr,
                ))
            })
            .max()
            .map(|(_, idle, .., addr)| {
                if idle {
                    GiveWay::Idle(addr)
                } else {
                    GiveWay::Receiving(addr)
                }
            })
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
            conn.receiving_since = None;
            if conn.serving == 0 {
                conn.idle_since = Instant::now();
            }
        }
    }
}

/// A request whose body is arriving: its connection may be cut to make room (see
/// [`Table::admit`]) until the body is here.
#[derive(Debug, Clone)]
pub struct Receiving {
    table: Arc<Table>,
    peer: SocketAddr,
    id: u64,
    cut: Arc<Cut>,
}

impl Receiving {
    /// The body is here: the connection keeps its place while the request is decided. `false`
    /// if it was cut (and no longer holds a place) before.
    fn received(&self) -> bool {
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match open.conns.get_mut(&self.peer) {
            Some(conn) if conn.id == self.id && !self.cut.is_cut() => {
                conn.receiving_since = None;
                true
            }
            _ => false,
        }
    }
}

/// Tells a request still receiving its body that its connection gave way: it is answered 503 and
/// the connection closed.
#[derive(Debug, Default)]
struct Cut {
    cut: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Cut {
    fn cut(&self) {
        self.cut.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire)
    }

    /// Returns once cut.
    async fn wait(&self) {
        while !self.is_cut() {
            self.notify.notified().await;
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
    let guard = guard.map(|(serving, bodies, receiving)| {
        request.extensions_mut().insert(bodies);
        request.extensions_mut().insert(receiving);
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

/// How long a request's body may take to arrive, in the manner of Apache's `mod_reqtimeout`
/// (`body=10-30,MinRate=8192`): every body has `grace`, each `min_rate` bytes received earn it one
/// second more, and none gets past `max`. A body arriving at `min_rate` or faster is therefore
/// never cut before `max`, nor is one that arrives whole within `grace`, however slowly; one that
/// trickles below the floor is answered 408 soon after `grace`, and its connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTimes {
    /// Time every body has, whatever its rate (`--body-timeout-secs`).
    pub grace: Duration,
    /// Bytes a second: each this many bytes received earn one second (`--body-min-kib-per-sec`).
    pub min_rate: u64,
    /// Time no body gets past (`--body-max-secs`).
    pub max: Duration,
}

/// The default floor (KiB a second) of a body's rate once its grace is spent: 64 kbit/s, far
/// below any link between an API server and its webhooks. With the defaults (10 s, 8 KiB/s,
/// 30 s), a body whole within 10 s is never cut, whatever its size (as before the floor), and one
/// arriving at 8 KiB/s or faster is never cut before 30 s, when the API server stops waiting
/// anyway (`timeoutSeconds` is at most 30, 10 by default): the largest review it sends, 3 MiB,
/// must arrive at 105 KB/s or faster to be answered in time at all, thirteen times the floor. An
/// attacker holding a connection past 10 s must send it 8 KiB a second, and gets 30 s at most.
pub const DEFAULT_BODY_MIN_KIB_PER_SEC: u64 = 8;

/// The default time (seconds) no body gets past: the longest an API server waits for a webhook
/// (`timeoutSeconds` is at most 30), so no review it still waits for is cut.
pub const DEFAULT_BODY_MAX_SECS: u64 = 30;

impl BodyTimes {
    /// `grace` with the default floor and maximum (never below `grace`).
    pub fn with_grace(grace: Duration) -> Self {
        Self {
            grace,
            min_rate: DEFAULT_BODY_MIN_KIB_PER_SEC << 10,
            max: Duration::from_secs(DEFAULT_BODY_MAX_SECS).max(grace),
        }
    }

    /// The time a body that has brought `received` bytes may take in all.
    fn allowed(&self, received: usize) -> Duration {
        #[allow(
            clippy::cast_precision_loss,
            reason = "byte counts and rates far below 2^52"
        )]
        let earned = received as f64 / self.min_rate.max(1) as f64;
        let earned = Duration::try_from_secs_f64(earned).unwrap_or(self.max);
        self.grace.saturating_add(earned).min(self.max)
    }
}

/// The bodies' time limits, and the throttled logs of the bodies refused (too slow, too large,
/// unreadable: one line per [`LOG_EVERY`] each, with the count, however many a client sends).
#[derive(Debug)]
pub struct Reading {
    times: BodyTimes,
    limit: usize,
    slow: Throttle,
    refused: Throttle,
    metrics: Arc<super::metrics::Metrics>,
}

impl Reading {
    /// Bodies of at most `limit` bytes, in `times`; those cut for their slowness counted in
    /// `metrics`.
    pub fn new(times: BodyTimes, limit: usize, metrics: Arc<super::metrics::Metrics>) -> Arc<Self> {
        Arc::new(Self {
            times,
            limit,
            slow: Throttle::new(LOG_EVERY),
            refused: Throttle::new(LOG_EVERY),
            metrics,
        })
    }
}

/// Reads the whole body in its [`BodyTimes`] and at most `limit` bytes, before any handler runs
/// and before any decision permit is taken: the front ends take a permit for the decision only,
/// once the body is here, so a body that trickles costs its sender and not a decision slot that
/// others wait for. The raw API's and OpenStack's bodies are read under one of their peer's
/// places ([`PeerBodies`]): a peer's many large bodies wait for one another, not for anyone
/// else's (the wait for a place counts against the body's time, the wait imposed by the peer's
/// byte rate does not). While the body arrives the connection may be cut to make room for
/// another peer's ([`Table::admit`]): the request is then answered 503.
pub async fn read_body(
    State(reading): State<Arc<Reading>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bodies = match super::front_of(parts.uri.path()) {
        Some("api" | "openstack") => parts.extensions.get::<PeerBodies>().cloned(),
        _ => None,
    };
    let receiving = parts.extensions.get::<Receiving>().cloned();
    let limit = reading.limit;
    let times = reading.times;
    let started = tokio::time::Instant::now();
    let read = async move {
        let _place = match &bodies {
            Some(bodies) => tokio::time::timeout_at(
                started + times.grace,
                bodies.places.clone().acquire_owned(),
            )
            .await
            .map_err(|_| Collect::TooSlow(0))?
            .ok(),
            None => None,
        };
        collect(
            body,
            limit,
            bodies.as_ref().map(|b| &*b.rate),
            times,
            started,
        )
        .await
    };
    let cut = async {
        match &receiving {
            Some(receiving) => receiving.cut.wait().await,
            None => std::future::pending().await,
        }
    };
    let read = tokio::select! {
        read = read => read,
        () = cut => Err(Collect::Cut),
    };
    let read = match read {
        Ok(bytes) if receiving.as_ref().is_some_and(|r| !r.received()) => {
            drop(bytes);
            Err(Collect::Cut)
        }
        read => read,
    };
    match read {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(Collect::TooLarge) => reading.refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes"),
        ),
        Err(Collect::Unreadable(err)) => reading.refuse(
            StatusCode::BAD_REQUEST,
            format!("the body could not be read: {err}"),
        ),
        Err(Collect::TooSlow(received)) => {
            let message = format!(
                "the body arrived too slowly: {received} bytes in {:.1} s (a body has {} s, one more per {} bytes received, at most {} s): send it whole",
                started.elapsed().as_secs_f64(),
                times.grace.as_secs(),
                times.min_rate,
                times.max.as_secs()
            );
            reading.metrics.cutoff("body_too_slow");
            if let Some(n) = reading.slow.hit(Instant::now()) {
                tracing::warn!(
                    "answered 408 to {n} request(s) whose body arrived too slowly since the last such line (one at most every {} s); the latest: {message}",
                    LOG_EVERY.as_secs()
                );
            }
            answer(StatusCode::REQUEST_TIMEOUT, message)
        }
        // Logged (throttled) where the connection was cut.
        Err(Collect::Cut) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is at its connection limit and this body was still arriving: the connection gives way to a peer holding fewer; send the body whole, or from fewer connections".to_owned(),
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
    /// The body was not whole in its [`BodyTimes`] (the bytes received so far).
    TooSlow(usize),
    /// The connection gave way to another peer's while the body was arriving.
    Cut,
}

/// The body's bytes, if it holds at most `limit` and arrives in `times` from `started`. A body
/// announcing more than the limit plus [`DRAIN_PAST_LIMIT`] in its `Content-Length` is refused
/// without reading it.
async fn collect(
    body: Body,
    limit: usize,
    rate: Option<&Rate>,
    times: BodyTimes,
    started: tokio::time::Instant,
) -> Result<bytes::Bytes, Collect> {
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
    // The time the server itself made the body wait (the peer's byte rate), not counted.
    let mut held_back = Duration::ZERO;
    loop {
        let deadline = started + held_back + times.allowed(seen);
        let Some(frame) = tokio::time::timeout_at(deadline, body.frame())
            .await
            .map_err(|_| Collect::TooSlow(seen))?
        else {
            break;
        };
        let frame = frame.map_err(Collect::Unreadable)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len());
        if let Some(rate) = rate {
            let wait = rate.take(data.len(), Instant::now());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
                held_back = held_back.saturating_add(wait);
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

impl Reading {
    /// Refuses a request for its body, logged at most once per [`LOG_EVERY`].
    fn refuse(&self, status: StatusCode, message: String) -> Response {
        if let Some(n) = self.refused.hit(Instant::now()) {
            tracing::warn!(
                "refused {n} request(s) for their body since the last such line (one at most every {} s); the latest: {message}",
                LOG_EVERY.as_secs()
            );
        }
        answer(status, message)
    }
}

/// An answer that closes the connection.
fn answer(status: StatusCode, message: String) -> Response {
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
        // Their bodies are here: they are being decided.
        assert!(serving_a.2.received() && serving_b.2.received());
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
    fn a_body_still_arriving_gives_way_only_to_a_peer_holding_fewer() {
        let table = Arc::new(Table::new(4, 3, 1, 1 << 20));
        let a: Vec<Slot> = (1..=3)
            .map(|port| table.admit(addr([127, 0, 0, 2], port)).unwrap())
            .collect();
        let honest = table.admit(addr([127, 0, 0, 1], 1)).unwrap();
        let mut serving: Vec<_> = a
            .iter()
            .chain([&honest])
            .map(|slot| table.serving(slot.peer).unwrap())
            .collect();
        // Every connection receives a body. A new peer takes the longest-receiving connection of
        // the peer holding the most (3 > 0 + 1), which is answered 503; not the honest one.
        let newcomer = table.admit(addr([127, 0, 0, 3], 1)).unwrap();
        assert!(serving[0].2.cut.is_cut() && !serving[0].2.received());
        assert!(serving[1..].iter().all(|(.., r)| !r.cut.is_cut()));
        assert!(a.iter().chain([&honest]).all(|s| !s.close.is_closed()));
        assert_eq!(table.len(), 4);
        // Once here, a body keeps its place while its request is decided.
        let newcomer = table.serving(newcomer.peer).unwrap();
        assert!(newcomer.2.received());
        // 127.0.0.2 holds 2, more than a new peer will (1): it gives way once more, then every
        // peer holds 1 and a new one is refused.
        let fourth = table.admit(addr([127, 0, 0, 4], 1)).unwrap();
        assert!(serving[1].2.cut.is_cut() && !serving[2].2.cut.is_cut());
        let fourth = table.serving(fourth.peer).unwrap();
        assert!(fourth.2.received());
        assert!(!serving[3].2.cut.is_cut());
        assert_eq!(
            table.admit(addr([127, 0, 0, 5], 1)).unwrap_err(),
            Refused::Full
        );
        assert!(!serving[2].2.cut.is_cut() && serving[2].2.received());
        serving.clear();
    }

    #[test]
    fn a_body_earns_time_at_the_floor_rate_up_to_the_maximum() {
        let times = BodyTimes {
            grace: Duration::from_secs(10),
            min_rate: 8 << 10,
            max: Duration::from_secs(30),
        };
        assert_eq!(times.allowed(0), Duration::from_secs(10));
        assert_eq!(times.allowed(80 << 10), Duration::from_secs(20));
        assert_eq!(times.allowed(3 << 20), Duration::from_secs(30));
        // A body arriving at the floor after its grace always has time left.
        for secs in 10..30 {
            let received = (secs - 10) * (8 << 10);
            assert!(times.allowed(received) >= Duration::from_secs(secs as u64));
        }
    }

    #[test]
    fn an_idle_connection_gives_way_to_its_own_peer_or_to_a_peer_holding_fewer() {
        let table = Arc::new(Table::new(4, 4, 1, 1 << 20));
        let greedy: Vec<Slot> = (1..=3)
            .map(|port| table.admit(addr([127, 0, 0, 2], port)).unwrap())
            .collect();
        let serving: Vec<_> = greedy
            .iter()
            .map(|slot| table.serving(slot.peer).unwrap())
            .collect();
        let honest = table.admit(addr([127, 0, 0, 1], 1)).unwrap();
        // The honest peer's kept-alive connection is idle; the greedy peer's fourth does not
        // close it (its three are receiving, none from a peer holding more than 4).
        assert_eq!(
            table.admit(addr([127, 0, 0, 2], 4)).unwrap_err(),
            Refused::Full
        );
        assert!(!honest.close.is_closed());
        // Its own peer's new connection cuts the greedy peer's longest-receiving body (3 > 1 + 1)
        // rather than close its own peer's idle one.
        let second = table.admit(addr([127, 0, 0, 1], 2)).unwrap();
        assert!(serving[0].2.cut.is_cut() && !honest.close.is_closed());
        // Once no peer holds more, its own idle connection gives way to it.
        assert!(serving[1..].iter().all(|(.., r)| r.received()));
        let _second = table.serving(second.peer).unwrap();
        let _third = table.admit(addr([127, 0, 0, 1], 3)).unwrap();
        assert!(honest.close.is_closed());
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
