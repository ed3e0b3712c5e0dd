//! The connection table: how many connections at once and per peer, which one gives way to a new
//! one, and the serving middleware that marks a connection busy while its request is handled.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::task::AtomicWaker;
use tokio::sync::Semaphore;

use super::body::{DEFAULT_BODY_MIN_KIB_PER_SEC, PeerBodies, Rate};
use super::throttle::{LOG_EVERY, Throttle};

/// How long a body may lag behind the floor rate (`--body-min-kib-per-sec`) before its
/// connection may give way to another peer's: a body that has brought at least the floor's
/// bytes for every second past this is never cut to make room. Short, since it only decides
/// who gives way first when every place is taken (the body's own time limits are
/// [`BodyTimes`](super::BodyTimes)): an API server's review arrives in milliseconds, and
/// one over a slow link keeps arriving above the floor, while a trickled body falls behind
/// within it.
pub const BEHIND_AFTER: Duration = Duration::from_millis(500);

/// The open connections: by peer address, and whether each is serving a request.
#[derive(Debug)]
pub struct Table {
    max: usize,
    per_peer: usize,
    bodies_per_peer: usize,
    body_rate: u64,
    /// Bytes a second below which a body arriving falls behind (see [`BEHIND_AFTER`]).
    floor: u64,
    /// The API server's addresses: never give way to others, not held to `per_peer`.
    trusted: Vec<ipnet::IpNet>,
    /// Places only trusted peers may take (0 when none is trusted).
    reserve: usize,
    open: Mutex<Open>,
    refused: Throttle,
    closed: Throttle,
    preempted: Throttle,
    metrics: std::sync::OnceLock<Arc<crate::metrics::Metrics>>,
}

#[derive(Debug, Default)]
struct Open {
    next_id: u64,
    /// By the peer's address and port: one connection each.
    conns: HashMap<SocketAddr, Conn>,
    /// Connections open per peer IP address.
    peers: HashMap<IpAddr, usize>,
    /// Connections open from peers that are not trusted.
    untrusted: usize,
    /// How the bodies of the raw API and OpenStack of each peer are read.
    bodies: HashMap<IpAddr, PeerBodies>,
}

#[derive(Debug)]
struct Conn {
    id: u64,
    /// From a trusted peer.
    trusted: bool,
    /// Requests being served (HTTP/1.1 serves one at a time).
    serving: usize,
    /// Since when it has served nothing (its start, or the end of its last request).
    idle_since: Instant,
    /// Since when the body of its request has been arriving (`None`: no request, or its body is
    /// here and the request is being decided and answered).
    receiving_since: Option<Instant>,
    /// Bytes of its request's body received so far.
    received: Arc<AtomicU64>,
    close: Arc<Close>,
    cut: Arc<Cut>,
}

/// Which connection gives way to a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GiveWay {
    /// One serving no request: closed.
    Idle(SocketAddr),
    /// One whose request's body is still arriving and has fallen behind the floor rate: the
    /// request is answered 503.
    Receiving(SocketAddr),
}

/// Which connections give way first (the greatest): a body fallen behind the floor rate, then an
/// idle connection, then a body arriving for [`BEHIND_AFTER`] at most (whose rate cannot be told
/// yet: so that bodies an attacker has just opened, all at once, do not keep a new connection out
/// until they fall behind). A body past that and keeping the floor is none of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Young,
    Idle,
    Behind,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// The peer holds its share of connections.
    Peer,
    /// Every connection serves a request.
    Full,
    /// An untrusted peer's, when the places outside the trusted peers' reserve are taken.
    Reserved,
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
            floor: DEFAULT_BODY_MIN_KIB_PER_SEC << 10,
            trusted: Vec::new(),
            reserve: 0,
            open: Mutex::new(Open::default()),
            refused: Throttle::new(LOG_EVERY),
            closed: Throttle::new(LOG_EVERY),
            preempted: Throttle::new(LOG_EVERY),
            metrics: std::sync::OnceLock::new(),
        }
    }

    /// Bodies arriving slower than `bytes_per_sec` fall behind (past [`BEHIND_AFTER`]) and may
    /// give way to another peer's connection; the others never do (`--body-min-kib-per-sec`,
    /// the default's floor unless set).
    #[must_use]
    pub fn with_floor(mut self, bytes_per_sec: u64) -> Self {
        self.floor = bytes_per_sec.max(1);
        self
    }

    /// Connections from `trusted` address ranges (the API server's) never give way to other
    /// peers' (idle or not), are not held to the per-peer limit, and have `reserve` places that
    /// other peers cannot take, whatever their number of addresses (at most the limit less one;
    /// no reserve without trusted ranges).
    #[must_use]
    pub fn with_trusted(mut self, trusted: Vec<ipnet::IpNet>, reserve: usize) -> Self {
        self.reserve = if trusted.is_empty() {
            0
        } else {
            reserve.min(self.max.saturating_sub(1))
        };
        self.trusted = trusted;
        self
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// Counts its refusals and cuts in `metrics` (`yungui_connection_cutoffs_total`) from now
    /// on (the first call only).
    pub fn count_in(&self, metrics: Arc<crate::metrics::Metrics>) {
        let _ = self.metrics.set(metrics);
    }

    fn count(&self, reason: &str) {
        if let Some(metrics) = self.metrics.get() {
            metrics.cutoff(reason);
        }
    }

    /// A place for a connection from `peer`, taking that of a connection still receiving a
    /// body fallen behind the floor rate, of a peer holding more, if need be, or else an idle
    /// connection's.
    pub(super) fn admit(self: &Arc<Self>, peer: SocketAddr) -> Result<Slot, Refused> {
        self.admit_at(peer, Instant::now())
    }

    /// [`Table::admit`] at `now`.
    pub(super) fn admit_at(
        self: &Arc<Self>,
        peer: SocketAddr,
        now: Instant,
    ) -> Result<Slot, Refused> {
        let ip = peer.ip().to_canonical();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let of_peer = open.peers.get(&ip).copied().unwrap_or(0);
        let trusted = self.is_trusted(ip);
        // Others hold at most the places outside the trusted peers' reserve.
        let others_full =
            !trusted && self.reserve > 0 && open.untrusted >= self.max.saturating_sub(self.reserve);
        let victim = if !trusted && of_peer >= self.per_peer {
            return Err(Refused::Peer);
        } else if open.conns.len() >= self.max || others_full {
            match open
                .give_way(ip, of_peer, trusted, self.floor, now)
                .ok_or(if others_full {
                    Refused::Reserved
                } else {
                    Refused::Full
                })? {
                GiveWay::Idle(idle) => Some(idle),
                GiveWay::Receiving(receiving) => {
                    if let Some(conn) = open.remove(receiving) {
                        conn.cut.cut();
                    }
                    self.count("body_gave_way");
                    self.preempted.hit(now).inspect(|n| {
                        tracing::warn!(
                            "answered 503 to {n} request(s) whose body was still arriving (below the floor rate, or just begun), to make room for connections of peers holding fewer or trusted, since the last such line (one at most every {} s; the latest from {}; limits: {} connections, {} per peer)",
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
                trusted,
                serving: 0,
                idle_since: now,
                receiving_since: None,
                received: Arc::new(AtomicU64::new(0)),
                close: close.clone(),
                cut: Arc::new(Cut::default()),
            },
        );
        *open.peers.entry(ip).or_insert(0) += 1;
        if !trusted {
            open.untrusted = open.untrusted.saturating_add(1);
        }
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

    pub(super) fn refuse(&self, peer: SocketAddr, why: Refused) {
        self.count(match why {
            Refused::Peer => "refused_peer_limit",
            Refused::Full => "refused_full",
            Refused::Reserved => "refused_reserved",
        });
        if let Some(n) = self.refused.hit(Instant::now()) {
            let why = match why {
                Refused::Peer => format!(
                    "its peer ({}) holds {} connections (--max-connections-per-peer)",
                    peer.ip(),
                    self.per_peer
                ),
                Refused::Reserved => format!(
                    "the {} places outside the trusted peers' reserve ({}, --trusted-reserve) are taken, by requests being decided or by peers holding no more than this one's",
                    self.max.saturating_sub(self.reserve),
                    self.reserve
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
        conn.received = Arc::new(AtomicU64::new(0));
        let receiving = Receiving {
            table: self.clone(),
            peer,
            id: conn.id,
            cut: conn.cut.clone(),
            received: conn.received.clone(),
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
    /// The connection that gives way to a new one from `ip`, whose peer holds `of_peer`, at
    /// `now`, trusted or not: a connection of a trusted peer never gives way to an untrusted
    /// one's, and an untrusted one gives way to a trusted one's first, whatever either peer
    /// holds. Among peers alike: a body fallen behind `floor` bytes a second (see
    /// [`BEHIND_AFTER`]) first, of a peer holding more than the new connection's will once it
    /// gave way (so that shares even out and never swap back and forth); else an idle
    /// connection of its own peer or of a peer holding more (a request may be on its way on
    /// it); else a body begun within [`BEHIND_AFTER`], of a peer holding more than the new one's
    /// will (see [`Class`]). Among those, the peer holding the most first, then the longest
    /// behind, idle or arriving. A body arriving at the floor or faster past [`BEHIND_AFTER`]
    /// never gives way (it is the sender's honest request, as fast as it asked for), nor does a
    /// request whose body is here (being decided and answered): the slow pay for their
    /// slowness, nobody else.
    fn give_way(
        &self,
        ip: IpAddr,
        of_peer: usize,
        trusted: bool,
        floor: u64,
        now: Instant,
    ) -> Option<GiveWay> {
        self.conns
            .iter()
            .filter_map(|(addr, conn)| {
                if conn.trusted && !trusted {
                    return None;
                }
                // An untrusted connection before a trusted peer's: shares do not count.
                let other = conn.trusted != trusted;
                let held = self
                    .peers
                    .get(&addr.ip().to_canonical())
                    .copied()
                    .unwrap_or(0);
                let shares = other || held > of_peer.saturating_add(1);
                let (class, since) = if conn.serving == 0 {
                    let eligible = other || addr.ip().to_canonical() == ip || held > of_peer;
                    (Class::Idle, eligible.then_some(conn.idle_since)?)
                } else {
                    let since = conn.receiving_since?;
                    let received = conn.received.load(Ordering::Acquire);
                    let class = if now.saturating_duration_since(since) <= BEHIND_AFTER {
                        Class::Young
                    } else if is_behind(since, received, floor, now) {
                        Class::Behind
                    } else {
                        return None;
                    };
                    (class, shares.then_some(since)?)
                };
                Some((
                    other,
                    class,
                    held,
                    std::cmp::Reverse(since),
                    std::cmp::Reverse(conn.id),
                    *addr,
                ))
            })
            .max()
            .map(|(_, class, .., addr)| match class {
                Class::Idle => GiveWay::Idle(addr),
                Class::Young | Class::Behind => GiveWay::Receiving(addr),
            })
    }

    fn remove(&mut self, peer: SocketAddr) -> Option<Conn> {
        let conn = self.conns.remove(&peer)?;
        if !conn.trusted {
            self.untrusted = self.untrusted.saturating_sub(1);
        }
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

/// Whether a body arriving since `since` that has brought `received` bytes by `now` is behind
/// `floor` bytes a second: more than [`BEHIND_AFTER`] late on what the floor would have brought.
fn is_behind(since: Instant, received: u64, floor: u64, now: Instant) -> bool {
    #[allow(
        clippy::cast_precision_loss,
        reason = "byte counts and rates far below 2^52"
    )]
    let earned = received as f64 / floor.max(1) as f64;
    let earned = Duration::try_from_secs_f64(earned).unwrap_or(Duration::MAX);
    now.saturating_duration_since(since) > BEHIND_AFTER.saturating_add(earned)
}

/// A connection's place in the [`Table`], given back when dropped.
#[derive(Debug)]
pub(super) struct Slot {
    table: Arc<Table>,
    pub(super) peer: SocketAddr,
    id: u64,
    pub(super) close: Arc<Close>,
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
    pub(super) cut: Arc<Cut>,
    received: Arc<AtomicU64>,
}

impl Receiving {
    /// Counts `bytes` more of the body received.
    pub(super) fn add(&self, bytes: usize) {
        self.received
            .fetch_add(u64::try_from(bytes).unwrap_or(u64::MAX), Ordering::AcqRel);
    }

    /// The body is here: the connection keeps its place while the request is decided. `false`
    /// if it was cut (and no longer holds a place) before.
    pub(super) fn received(&self) -> bool {
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
pub(super) struct Cut {
    cut: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Cut {
    fn cut(&self) {
        self.cut.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    pub(super) fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire)
    }

    /// Returns once cut.
    pub(super) async fn wait(&self) {
        while !self.is_cut() {
            self.notify.notified().await;
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
pub(super) struct Close {
    closed: AtomicBool,
    pub(super) waker: AtomicWaker,
}

impl Close {
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.waker.wake();
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}
