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

mod accept;
mod body;
mod table;
#[cfg(test)]
mod tests;
mod throttle;

pub use accept::{Counted, Limited};
pub use body::{
    BodyTimes, DEFAULT_BODY_MAX_SECS, DEFAULT_BODY_MIN_KIB_PER_SEC, DRAIN_PAST_LIMIT, PeerBodies,
    Reading, read_body,
};
pub use table::{Receiving, Serving, Table, serving};
pub use throttle::{LOG_EVERY, Throttle};
