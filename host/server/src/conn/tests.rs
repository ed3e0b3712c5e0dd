//! Unit tests of the connection table, the body rate and times, and the throttled logs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::body::{BodyTimes, Rate};
use super::table::{Refused, Slot, Table};
use super::throttle::Throttle;

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
