//! Connections that stall: slow headers, idle keep-alive, a trickled body, too many at once; and
//! a TLS client offering only `http/1.0`. Raw sockets over loopback, so nothing hides the bytes.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::{serve_args, serve_in_background};

/// A plain-HTTP server with short timeouts and a small connection limit.
fn server(max_connections: &str) -> SocketAddr {
    let registry = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/registry.json");
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

#[test]
fn connections_past_the_limit_are_closed_and_health_comes_back() {
    let addr = server("3");
    let held: Vec<TcpStream> = (0..3).map(|_| connect(addr)).collect();
    std::thread::sleep(Duration::from_millis(200));
    // The fourth is closed at once, without waiting for the header timeout.
    let mut extra = connect(addr);
    let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let started = Instant::now();
    let answer = read_until_closed(&mut extra);
    assert!(answer.is_empty(), "{answer}");
    assert!(started.elapsed() < Duration::from_millis(900));
    // Once the silent ones are cut, /healthz answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut probe = connect(addr);
        let _ = probe.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        if read_until_closed(&mut probe).starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "/healthz never came back");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(held);
}
