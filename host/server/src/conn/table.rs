//! The connection table: how many connections at once and per peer, which one gives way to a new
//! one, and the serving middleware that marks a connection busy while its request is handled.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::task::AtomicWaker;
use tokio::sync::Semaphore;

use super::body::{PeerBodies, Rate};
use super::throttle::{LOG_EVERY, Throttle};

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
    metrics: std::sync::OnceLock<Arc<crate::metrics::Metrics>>,
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
pub(super) enum Refused {
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
    pub fn count_in(&self, metrics: Arc<crate::metrics::Metrics>) {
        let _ = self.metrics.set(metrics);
    }

    fn count(&self, reason: &str) {
        if let Some(metrics) = self.metrics.get() {
            metrics.cutoff(reason);
        }
    }

    /// A place for a connection from `peer`, taking an idle connection's if need be, or else
    /// that of a connection still receiving its body from a peer holding more.
    pub(super) fn admit(self: &Arc<Self>, peer: SocketAddr) -> Result<Slot, Refused> {
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

    pub(super) fn refuse(&self, peer: SocketAddr, why: Refused) {
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
}

impl Receiving {
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
