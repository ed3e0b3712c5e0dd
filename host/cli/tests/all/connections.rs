//! Connections that stall: slow headers, idle keep-alive, a trickled body, too many at once; and
//! a TLS client offering only `http/1.0`. Raw sockets over loopback, so nothing hides the bytes.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::{serve_args, serve_in_background};

/// A plain-HTTP server with short timeouts and a small connection limit.
fn server(max_connections: &str) -> SocketAddr {
    let registry = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/registry.json");
    serve_in_background(serve_args(&[
        "--listen",
        "127.0.0.1:0",
        "--plain-http",
        "--workers",
        "1",
        "--plugin",
        crate::shipped_plugin(),
        "--registry",
        registry,
        "--header-timeout-secs",
        "1",
        "--body-timeout-secs",
        "1",
        "--max-connections",
        max_connections,
    ]))
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(8)))
        .unwrap();
    stream
}

/// Reads until the server closes the connection; panics if it is still open after 8 s.
fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return String::from_utf8_lossy(&out).into_owned(),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                return String::from_utf8_lossy(&out).into_owned();
            }
            Err(e) => panic!(
                "the connection is still open ({e}); read so far: {}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

#[test]
fn slow_headers_idle_keep_alive_and_trickled_bodies_are_cut() {
    let addr = server("64");

    // Headers that never end.
    let mut slow = connect(addr);
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    read_until_closed(&mut slow);
    assert!(started.elapsed() < Duration::from_secs(5));

    // Nothing at all after connecting.
    let mut silent = connect(addr);
    read_until_closed(&mut silent);

    // A kept-alive connection after its answer.
    let mut idle = connect(addr);
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let answered = read_until_closed(&mut idle);
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");

    // A body that stops halfway: 408.
    let mut trickle = connect(addr);
    trickle
        .write_all(b"POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"principal\"")
        .unwrap();
    let answer = read_until_closed(&mut trickle);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // A chunked body that trickles a chunk now and then, never ending: 408 all the same.
    let mut chunked = connect(addr);
    chunked
        .write_all(b"POST /validate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    for _ in 0..3 {
        if chunked.write_all(b"1\r\n{\r\n").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(400));
    }
    let answer = read_until_closed(&mut chunked);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// Writes a whole request (a write that fails is a failure: the server cut the client off before
/// it could read the answer), then reads the answer to the end.
fn send_whole(addr: SocketAddr, head: &str, body: &[u8]) -> String {
    let mut stream = connect(addr);
    stream
        .set_write_timeout(Some(Duration::from_secs(8)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    if let Err(e) = stream.write_all(body) {
        panic!("the server cut the connection while the body was sent: {e}");
    }
    read_until_closed(&mut stream)
}

#[test]
fn an_oversized_body_is_answered_413_after_it_is_sent_whole() {
    let addr = server("64");
    let size = (5 << 20) + 17;
    let body = vec![b' '; size];

    // Announced by its length: the client finishes writing, then reads 413 (it is not reset).
    let head = format!(
        "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    );
    let answer = send_whole(addr, &head, &body);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("larger than 4194304 bytes"), "{answer}");

    // Chunked, so only counting tells: the same.
    let mut chunked = Vec::new();
    for piece in body.chunks(64 << 10) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = "POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let answer = send_whole(addr, head, &chunked);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // A length past what is worth reading is refused at once, without waiting for the body (which
    // would take the 1 s body timeout and answer 408).
    let mut huge = connect(addr);
    huge.write_all(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n{")
        .unwrap();
    let answer = read_until_closed(&mut huge);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

/// At the limit, a new connection takes the place of the oldest one that sends nothing; the
/// others stay open.
#[test]
fn connections_past_the_limit_take_the_place_of_idle_ones() {
    let addr = attacked_server(&["--max-connections", "3", "--header-timeout-secs", "30"]);
    let held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let stream = connect(addr);
            std::thread::sleep(Duration::from_millis(50));
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = connect(addr);
    extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let answer = read_until_closed(&mut extra);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The connection that gave way is closed by its own task, soon after.
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen(&held[0]) != Seen::Closed && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let states: Vec<Seen> = held.iter().map(seen).collect();
    assert_eq!(
        states,
        [Seen::Closed, Seen::Waiting, Seen::Waiting],
        "the oldest idle connection gives way, and only it"
    );
}

/// The attacker: connections from 127.0.0.2, so that the server sees another peer than the honest
/// client on 127.0.0.1 (an attacking pod and the API server differ).
struct Attacker {
    runtime: tokio::runtime::Runtime,
}

impl Attacker {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Self { runtime }
    }

    /// A TCP connection from 127.0.0.2 that sends nothing yet.
    fn connect(&self, addr: SocketAddr) -> TcpStream {
        self.connect_from([127, 0, 0, 2], addr)
    }

    /// A TCP connection from `from` (another loopback address) that sends nothing yet.
    fn connect_from(&self, from: [u8; 4], addr: SocketAddr) -> TcpStream {
        let stream = self.runtime.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind((from, 0).into()).unwrap();
            socket.connect(addr).await.unwrap()
        });
        let stream = stream.into_std().unwrap();
        stream.set_nonblocking(false).unwrap();
        stream
    }

    /// A connection from 127.0.0.2 that sends the head of a `POST path` and the first bytes of
    /// its body, then nothing more.
    fn slow_body(&self, addr: SocketAddr, path: &str) -> TcpStream {
        let mut stream = self.connect(addr);
        stream
            .write_all(
                format!(
                    "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"rule\""
                )
                .as_bytes(),
            )
            .unwrap();
        stream
    }
}

/// What became of an attacker's connection, seen without waiting.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// Still open, nothing answered.
    Waiting,
    /// Answered (bytes to read).
    Answered,
    /// Closed by the server.
    Closed,
}

fn seen(stream: &TcpStream) -> Seen {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let seen = match stream.peek(&mut byte) {
        Ok(0) => Seen::Closed,
        Ok(_) => Seen::Answered,
        Err(e) if e.kind() == ErrorKind::WouldBlock => Seen::Waiting,
        Err(_) => Seen::Closed,
    };
    stream.set_nonblocking(false).unwrap();
    seen
}

/// An honest request from 127.0.0.1, sent whole: the answer, read to the end (empty if the
/// connection was refused).
fn honest(addr: SocketAddr, path: &str, content_type: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if stream.write_all(head.as_bytes()).is_err() || stream.write_all(body.as_bytes()).is_err() {
        return String::new();
    }
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The Deployment review the API server sends (allowed).
fn honest_review(addr: SocketAddr) -> String {
    let review = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/kubernetes/deployment-allow.json"
    ))
    .unwrap();
    honest(addr, "/validate", "application/json", &review)
}

/// A server for the attacks: plain HTTP, one worker (the raw API and OpenStack have one permit
/// each), timeouts long enough that the attacker's sockets outlive the honest requests.
fn attacked_server(extra: &[&str]) -> SocketAddr {
    let registry = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/registry.json");
    let mut words = vec![
        "--listen",
        "127.0.0.1:0",
        "--plain-http",
        "--workers",
        "1",
        "--plugin",
        crate::shipped_plugin(),
        "--registry",
        registry,
        "--openstack-region",
        "cn-north-1",
    ];
    words.extend_from_slice(extra);
    serve_in_background(serve_args(&words))
}

/// One peer holding every connection slot with idle sockets (no byte sent, as before a TLS
/// handshake) does not keep the API server out: an idle connection gives way to a new one, and
/// only as many as needed do.
#[test]
fn idle_sockets_of_one_peer_do_not_keep_the_api_server_out() {
    let addr = attacked_server(&[
        "--max-connections",
        "16",
        "--header-timeout-secs",
        "30",
        "--body-timeout-secs",
        "30",
    ]);
    let attacker = Attacker::new();
    let idle: Vec<TcpStream> = (0..16).map(|_| attacker.connect(addr)).collect();
    std::thread::sleep(Duration::from_millis(300));
    for round in 0..3 {
        let answer = honest_review(addr);
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.contains("\"allowed\":true"),
            "review {round} with 16 idle sockets open: {answer:?}"
        );
    }
    let open = idle.iter().filter(|s| seen(s) == Seen::Waiting).count();
    assert!(
        open >= 16 - 3,
        "only {open} of the attacker's 16 sockets are open: each review should close one at most"
    );
}

/// A peer's connections past `--max-connections-per-peer` are refused, so one peer cannot hold
/// every slot with requests in progress (here, bodies that never finish) either.
#[test]
fn one_peer_holds_at_most_its_share_of_connections() {
    let addr = attacked_server(&[
        "--max-connections",
        "8",
        "--max-connections-per-peer",
        "4",
        "--header-timeout-secs",
        "30",
        "--body-timeout-secs",
        "30",
    ]);
    let attacker = Attacker::new();
    let mut slow = Vec::new();
    for _ in 0..8 {
        slow.push(attacker.slow_body(addr, "/v1/decide"));
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let states: Vec<Seen> = slow.iter().map(seen).collect();
    assert_eq!(
        states.iter().filter(|s| **s == Seen::Waiting).count(),
        4,
        "{states:?}"
    );
    let answer = honest_review(addr);
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("\"allowed\":true"),
        "{answer:?}"
    );
    assert_eq!(seen(&slow[0]), Seen::Waiting);
}

/// Bodies that trickle hold no permit: with one permit each for the raw API and OpenStack, honest
/// checks are answered while the attacker's bodies are still arriving.
#[test]
fn slow_bodies_do_not_hold_the_permits_of_honest_checks() {
    let addr = attacked_server(&["--header-timeout-secs", "30", "--body-timeout-secs", "6"]);
    let attacker = Attacker::new();
    let slow: Vec<TcpStream> = ["/openstack", "/openstack", "/v1/decide", "/v1/decide"]
        .iter()
        .map(|path| attacker.slow_body(addr, path))
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    let check = serde_json::json!({
        "rule": "os_compute_api:servers:create",
        "target": {"project_id": "shop-example", "user_id": "u-1", "availability_zone": "nova"},
        "credentials": {"project_id": "shop-example", "user_id": "u-1", "roles": ["member"]},
    });
    let answer = honest(addr, "/openstack", "application/json", &check.to_string());
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("True"),
        "{answer:?}"
    );
    let request = serde_json::json!({
        "principal": {"type": "Cloud::Tenant", "id": "shop-example"},
        "action": "provision_workload",
        "resource": {"uid": {"type": "Cloud::Workload", "id": "w"},
                     "attrs": {"region": {"type": "Cloud::Region", "id": "cn-north-1"},
                               "purpose": "website",
                               "owner": {"type": "Cloud::Tenant", "id": "shop-example"},
                               "privileged": false, "host_access": false},
                     "parents": []},
        "context": {},
    });
    let answer = honest(addr, "/v1/decide", "application/json", &request.to_string());
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("\"decision\":\"allow\""),
        "{answer:?}"
    );
    // The attacker's bodies were still on their way: the honest checks did not wait for them.
    let states: Vec<Seen> = slow.iter().map(seen).collect();
    assert!(states.iter().all(|s| *s == Seen::Waiting), "{states:?}");
    // And they end as before: 408 once the body timeout passes.
    for mut stream in slow {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let answer = read_until_closed(&mut stream);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
}

/// Over TLS as the API server calls it: sockets that never start their TLS handshake, holding
/// every connection, do not keep an admission review out.
#[test]
fn sockets_that_never_start_their_tls_handshake_do_not_keep_reviews_out() {
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let bundle =
        yungui_cli::commands::cert::generate(&["localhost".to_owned(), "127.0.0.1".to_owned()], 1)
            .unwrap();
    yungui_cli::commands::cert::write_bundle(dir.path(), &bundle, false).unwrap();
    let registry = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/registry.json");
    let cert = dir.path().join("tls.crt").display().to_string();
    let key = dir.path().join("tls.key").display().to_string();
    let addr = serve_in_background(serve_args(&[
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--workers",
        "1",
        "--plugin",
        crate::shipped_plugin(),
        "--registry",
        registry,
        "--max-connections",
        "16",
        "--header-timeout-secs",
        "30",
    ]));
    let attacker = Attacker::new();
    let idle: Vec<TcpStream> = (0..16).map(|_| attacker.connect(addr)).collect();
    std::thread::sleep(Duration::from_millis(300));

    let ca = std::fs::read(dir.path().join("ca.crt")).unwrap();
    let ca = ureq::tls::Certificate::from_pem(&ca).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![ca])))
                .build(),
        )
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent();
    let review = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/kubernetes/deployment-allow.json"
    ))
    .unwrap();
    let answer = agent
        .post(format!("https://localhost:{}/validate", addr.port()))
        .header("Content-Type", "application/json")
        .send(&review)
        .map_err(|e| e.to_string())
        .and_then(|mut r| r.body_mut().read_to_string().map_err(|e| e.to_string()));
    assert!(
        answer
            .as_deref()
            .is_ok_and(|a| a.contains("\"allowed\":true")),
        "{answer:?}"
    );
    let open = idle.iter().filter(|s| seen(s) == Seen::Waiting).count();
    assert!(open >= 15, "only {open} of 16 idle sockets are open");
}

/// Several attacking addresses, each within its share of connections, together hold every
/// connection with admission bodies that never finish (on `/validate` no per-peer body rate
/// applies: the API server is one peer). The API server's reviews, each on a new connection, are
/// still answered: a connection still receiving a body fallen behind the floor rate gives way,
/// 503, to a peer holding fewer.
#[test]
fn bodies_trickled_from_many_addresses_do_not_keep_the_api_server_out() {
    let addr = attacked_server(&[
        "--max-connections",
        "16",
        "--max-connections-per-peer",
        "4",
        "--header-timeout-secs",
        "30",
        "--body-timeout-secs",
        "30",
    ]);
    let attacker = Attacker::new();
    let mut slow = Vec::new();
    for from in 2..=5 {
        for _ in 0..4 {
            let mut stream = attacker.connect_from([127, 0, 0, from], addr);
            stream
                .write_all(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 3000\r\n\r\n{\"kind\"")
                .unwrap();
            slow.push(stream);
        }
    }
    // Long enough for the bodies to fall behind the floor rate (half a second).
    std::thread::sleep(Duration::from_millis(800));
    let states: Vec<Seen> = slow.iter().map(seen).collect();
    assert!(states.iter().all(|s| *s == Seen::Waiting), "{states:?}");

    for round in 0..3 {
        let answer = honest_review(addr);
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.contains("\"allowed\":true"),
            "review {round} with 16 trickled bodies holding every connection: {answer:?}"
        );
    }
    // Each review took one place at most (the first found the server full; the others, the place
    // the one before left).
    let states: Vec<Seen> = slow.iter().map(seen).collect();
    let cut: Vec<usize> = (0..slow.len())
        .filter(|i| states[*i] != Seen::Waiting)
        .collect();
    assert!(
        (1..=3).contains(&cut.len()),
        "{} of 16 trickled bodies were cut: {states:?}",
        cut.len()
    );
    for i in &cut {
        let answer = read_until_closed(&mut slow[*i]);
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(
            answer.contains("gives way to a peer holding fewer"),
            "{answer}"
        );
    }
    // Counted, by reason (the connection asking for the metrics may have found the server
    // full too, a closed review's place not yet given back, and cut one more).
    let metrics = cutoffs(addr);
    let cut = slow.iter().filter(|s| seen(s) != Seen::Waiting).count();
    assert!(
        metrics.contains(&format!(
            "yungui_connection_cutoffs_total{{reason=\"body_gave_way\"}} {cut}"
        )),
        "{metrics}"
    );
}

/// A review sent from 127.0.0.1 on its own connection, its body trickled at `per_tick` bytes
/// every 100 ms (an API server's large review over a slow link): the answer, read to the end.
fn review_over_a_slow_link(addr: SocketAddr, per_tick: usize) -> String {
    let review = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/kubernetes/deployment-allow.json"
    ))
    .unwrap();
    let mut stream = connect(addr);
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
        .write_all(
            format!(
                "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                review.len()
            )
            .as_bytes(),
        )
        .unwrap();
    for piece in review.chunks(per_tick) {
        std::thread::sleep(Duration::from_millis(100));
        if stream.write_all(piece).is_err() || seen(&stream) != Seen::Waiting {
            break;
        }
    }
    read_until_closed(&mut stream)
}

/// Eight attacking addresses (127.0.0.2 to 127.0.0.9) trickle admission bodies while the API
/// server (127.0.0.1) holds more connections than any of them, its reviews arriving over a slow
/// link but above the floor rate. The attackers' new connections take the places of their own
/// trickled bodies, never of a review arriving at the floor or faster: every review is allowed.
/// (Before, the peer holding the most gave way first, whatever its bodies' rate: the API
/// server's review was cut, 503.)
#[test]
fn trickled_bodies_from_eight_addresses_never_cut_a_review_arriving_above_the_floor() {
    let addr = attacked_server(&[
        "--max-connections",
        "16",
        "--max-connections-per-peer",
        "4",
        "--header-timeout-secs",
        "30",
        "--body-timeout-secs",
        "30",
        "--body-min-kib-per-sec",
        "1",
        "--body-max-secs",
        "60",
    ]);
    // Three reviews at ~1.5 KB/s (the 2.8 KB review takes ~2 s; the floor is 1 KiB/s).
    let reviews: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(move || review_over_a_slow_link(addr, 150)))
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    // Seven addresses fill the other 13 places with bodies that stop after a few bytes.
    let attacker = Attacker::new();
    let trickle = |from: u8| {
        let mut stream = attacker.connect_from([127, 0, 0, from], addr);
        stream
            .write_all(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 3000\r\n\r\n{\"kind\"")
            .unwrap();
        stream
    };
    let mut slow: Vec<TcpStream> = (2..=7)
        .flat_map(|from| [trickle(from), trickle(from)])
        .collect();
    slow.push(trickle(8));
    // Once they have fallen behind the floor, the eighth address opens four connections, each
    // from a peer holding fewer than the API server.
    std::thread::sleep(Duration::from_millis(800));
    let late: Vec<TcpStream> = (0..4)
        .map(|_| {
            let stream = trickle(9);
            std::thread::sleep(Duration::from_millis(50));
            stream
        })
        .collect();

    for (i, review) in reviews.into_iter().enumerate() {
        let answer = review.join().unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.contains("\"allowed\":true"),
            "review {i} over a slow link, with 8 addresses trickling bodies: {answer:?}"
        );
    }
    // The place the eighth address took was a trickled body's (of an address holding 2, more
    // than its 1), answered 503; its other three connections were refused.
    let cut: Vec<usize> = (0..slow.len())
        .filter(|i| seen(&slow[*i]) != Seen::Waiting)
        .collect();
    assert_eq!(cut.len(), 1, "trickled bodies cut: {cut:?}");
    let answer = read_until_closed(&mut slow[cut[0]]);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let states: Vec<Seen> = late.iter().map(seen).collect();
    assert_eq!(
        states.iter().filter(|s| **s == Seen::Waiting).count(),
        1,
        "{states:?}"
    );
    let metrics = cutoffs(addr);
    assert!(
        metrics.contains("yungui_connection_cutoffs_total{reason=\"body_gave_way\"} 1"),
        "{metrics}"
    );
}

/// With the API server's address trusted (`--trusted-peer`), eight attacking addresses get
/// the places outside its reserve only: their bodies, trickled, hold 12 of 16 places at once
/// and their other connections are refused, while the API server's reviews, four at once (past
/// the per-peer limit of 2, which a trusted peer is not held to), are answered at once, before
/// any trickled body has fallen behind the floor and could give way.
#[test]
fn a_trusted_api_server_keeps_its_reserve_against_bodies_trickled_from_eight_addresses() {
    let addr = attacked_server(&[
        "--max-connections",
        "16",
        "--max-connections-per-peer",
        "2",
        "--trusted-peer",
        "127.0.0.1",
        "--trusted-reserve",
        "4",
        "--header-timeout-secs",
        "30",
        "--body-timeout-secs",
        "30",
    ]);
    let attacker = Attacker::new();
    let mut slow = Vec::new();
    for from in 2..=9 {
        for _ in 0..2 {
            let mut stream = attacker.connect_from([127, 0, 0, from], addr);
            // Refused ones may be closed before the head is written.
            let _ = stream.write_all(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 3000\r\n\r\n{\"kind\"");
            slow.push(stream);
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    let states: Vec<Seen> = slow.iter().map(seen).collect();
    assert_eq!(
        states.iter().filter(|s| **s == Seen::Waiting).count(),
        12,
        "{states:?}"
    );

    let reviews: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || honest_review(addr)))
        .collect();
    for (i, review) in reviews.into_iter().enumerate() {
        let answer = review.join().unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.contains("\"allowed\":true"),
            "review {i} with 8 addresses trickling bodies: {answer:?}"
        );
    }
    // No trickled body gave way: the reviews had their reserve.
    let states: Vec<Seen> = slow.iter().map(seen).collect();
    assert_eq!(
        states.iter().filter(|s| **s == Seen::Waiting).count(),
        12,
        "{states:?}"
    );
    // The attackers' four connections past their places were refused, or took the place of a
    // body just begun (or of a connection whose head had not arrived) of an address holding
    // more: shares even out among them, never into the reserve.
    let metrics = cutoffs(addr);
    let count = |reason: &str| -> u64 {
        metrics
            .lines()
            .find_map(|line| {
                line.strip_prefix(&format!(
                    "yungui_connection_cutoffs_total{{reason=\"{reason}\"}} "
                ))
            })
            .map_or(0, |n| n.trim().parse().unwrap())
    };
    assert!(count("refused_reserved") >= 1, "{metrics}");
    assert_eq!(
        count("refused_reserved") + count("body_gave_way") + count("idle_gave_way"),
        4,
        "{metrics}"
    );
}

/// A client sending the HTTP/2 preface is not served HTTP/2 (whose streams, many on one
/// connection, would each escape the per-connection accounting of requests in flight): it gets
/// an HTTP/1.1 error or a closed connection, never the server's SETTINGS frame.
#[test]
fn the_http2_preface_is_not_served() {
    let addr = server("64");
    let mut stream = connect(addr);
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    let answer = read_until_closed(&mut stream);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 "),
        "{answer:?}"
    );
    // Plain HTTP/1.1 on the same server is served.
    let answer = send_whole(
        addr,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// `--trusted-peer` takes a range or one address, and names a value that is neither; a reserve
/// leaving other peers no place is refused, naming both options.
#[test]
fn trusted_peers_and_their_reserve_are_checked() {
    let args = serve_args(&[
        "--plain-http",
        "--trusted-peer",
        "10.0.0.0/24",
        "--trusted-peer",
        "fd00::7",
    ]);
    let config = args.config().unwrap();
    let trusted: Vec<String> = config
        .trusted_peers
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(trusted, ["10.0.0.0/24", "fd00::7/128"]);
    assert_eq!(config.trusted_reserve, 128);

    #[derive(clap::Parser, Debug)]
    struct Serve {
        #[command(flatten)]
        _args: yungui_cli::commands::serve::ServeArgs,
    }
    let err = <Serve as clap::Parser>::try_parse_from([
        "serve",
        "--plain-http",
        "--trusted-peer",
        "api-server",
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`api-server` is not an address range"),
        "{err}"
    );

    let err = serve_args(&[
        "--plain-http",
        "--max-connections",
        "16",
        "--trusted-peer",
        "10.0.0.1",
        "--trusted-reserve",
        "16",
    ])
    .config()
    .unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("`--trusted-reserve` (16) must be below `--max-connections` (16)"),
        "{err}"
    );
}

/// The `yungui_connection_cutoffs_total` lines of the server's metrics.
fn cutoffs(addr: SocketAddr) -> String {
    let answer = send_whole(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"",
    );
    answer
        .lines()
        .filter(|line| line.starts_with("yungui_connection_cutoffs_total"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A body that keeps arriving at the floor (`--body-min-kib-per-sec`) or faster is read whole
/// past `--body-timeout-secs`, as an API server's large review over a slow link; one slower is
/// answered 408 soon after, and its connection closed.
#[test]
fn a_slow_body_above_the_floor_is_served_and_one_below_it_is_cut() {
    let addr = attacked_server(&[
        "--header-timeout-secs",
        "30",
        "--body-timeout-secs",
        "1",
        "--body-min-kib-per-sec",
        "1",
        "--body-max-secs",
        "20",
    ]);
    let review = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/kubernetes/deployment-allow.json"
    ))
    .unwrap();

    // Trickled at `per_tick` bytes every 100 ms, from 127.0.0.1, until sent or cut.
    let trickle = |per_tick: usize| {
        let mut stream = connect(addr);
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream
            .write_all(
                format!(
                    "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    review.len()
                )
                .as_bytes(),
            )
            .unwrap();
        let started = Instant::now();
        for piece in review.chunks(per_tick) {
            std::thread::sleep(Duration::from_millis(100));
            if stream.write_all(piece).is_err() || seen(&stream) != Seen::Waiting {
                break;
            }
        }
        (read_until_closed(&mut stream), started.elapsed())
    };

    // 1.5 KB/s: the 2.8 KB review takes ~1.9 s, nearly twice the body timeout.
    let (answer, took) = trickle(150);
    assert!(took > Duration::from_millis(1500), "{took:?}");
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("\"allowed\":true"),
        "{answer:?}"
    );

    // 100 bytes a second: cut once the second is spent and the few bytes' credit with it.
    let (answer, took) = trickle(10);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("arrived too slowly"), "{answer}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let metrics = cutoffs(addr);
    assert!(
        metrics.contains("yungui_connection_cutoffs_total{reason=\"body_too_slow\"} 1"),
        "{metrics}"
    );
}

/// Headers trickled a line at a time do not earn time: `--header-timeout-secs` bounds the whole
/// head, however steadily it arrives (hyper's header read timeout is a deadline, not an idle
/// timeout between reads).
#[test]
fn trickled_headers_are_cut_at_the_header_timeout() {
    let addr = server("64");
    let mut stream = connect(addr);
    stream.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
    let started = Instant::now();
    for i in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        if stream
            .write_all(format!("X-Trickle-{i}: x\r\n").as_bytes())
            .is_err()
            || seen(&stream) != Seen::Waiting
        {
            break;
        }
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "a head trickled a line every 100 ms was still read after {took:?} (timeout 1 s)"
    );
    let answer = read_until_closed(&mut stream);
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
}
