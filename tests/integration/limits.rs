//! Clients that try to exhaust the server: slow headers, many connections, oversized heads.
//! A real caller is still answered.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{Context, assert_valid_twiml, spawn_app_with};

/// The port of a test server's base URL.
fn port(base_url: &str) -> u16 {
    base_url.rsplit(':').next().unwrap().parse().unwrap()
}

/// Sends `head` and reads the whole answer (the server closes after it).
fn raw(port: u16, head: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(head);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// Many clients that send their headers a byte at a time, reconnecting whenever the server
/// cuts them off, fill every connection slot; a real call made meanwhile still completes,
/// and each slow connection is closed after the header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_cannot_keep_a_real_caller_out() {
    let app = spawn_app_with(|c| {
        c.server.max_connections = 16;
        c.server.header_read_timeout_ms = 400;
    })
    .await;
    let port = port(&app.base_url);
    let stop = Arc::new(AtomicBool::new(false));
    let cut_off = Arc::new(AtomicU32::new(0));
    let longest_held = Arc::new(std::sync::Mutex::new(Duration::ZERO));
    let slow: Vec<_> = (0..48)
        .map(|_| {
            let (stop, cut_off, longest_held) =
                (Arc::clone(&stop), Arc::clone(&cut_off), Arc::clone(&longest_held));
            std::thread::spawn(move || {
                let head = b"POST /voice/incoming HTTP/1.1\r\nHost: hotline\r\nX-Slow: ";
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
                        continue;
                    };
                    let connected = Instant::now();
                    let mut bytes = head.iter().chain(std::iter::repeat(&b'a'));
                    // One byte every 50 ms until the server hangs up (a write fails or the
                    // peer's close is seen).
                    loop {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let byte = *bytes.next().unwrap();
                        if stream.write_all(&[byte]).is_err() {
                            break;
                        }
                        stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                        let mut buf = [0u8; 256];
                        match stream.read(&mut buf) {
                            Ok(0) => break,
                            // hyper may write a 408 before closing.
                            Ok(_) => break,
                            Err(e)
                                if e.kind() == std::io::ErrorKind::WouldBlock
                                    || e.kind() == std::io::ErrorKind::TimedOut => {}
                            Err(_) => break,
                        }
                    }
                    // Only a connection the server accepted is timed from its accept; this
                    // measures from connect, which includes waiting in the backlog.
                    cut_off.fetch_add(1, Ordering::Relaxed);
                    let held = connected.elapsed();
                    let mut longest = longest_held.lock().unwrap();
                    *longest = (*longest).max(held);
                }
            })
        })
        .collect();

    // Let the slow clients fill every slot.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let started = Instant::now();
    let transcript = app.call("1,1,1,1", Some("RU")).await;
    let took = started.elapsed();
    assert!(transcript.requests >= 4);
    let case = app.case(&transcript.call_sid).await;
    assert!(!case.events.is_empty());

    stop.store(true, Ordering::Relaxed);
    for client in slow {
        client.join().unwrap();
    }
    let cut_off = cut_off.load(Ordering::Relaxed);
    println!(
        "slowloris: 48 slow clients on 16 connection slots; {cut_off} slow connections cut off; \
         a real call of {} requests took {} ms",
        transcript.requests,
        took.as_millis()
    );
    assert!(cut_off >= 48, "slow connections were not cut off: {cut_off}");
    app.stop().await;
}

/// A request head over `server.max_header_bytes` is refused with 431 before any handler
/// runs; a normal one still gets TwiML.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_heads_are_refused() {
    let app = spawn_app_with(|c| c.server.max_header_bytes = 4096).await;
    let port = port(&app.base_url);
    let big = format!(
        "POST /voice/incoming HTTP/1.1\r\nHost: hotline\r\nX-Big: {}\r\nContent-Length: \
         0\r\n\r\n",
        "a".repeat(8000)
    );
    // The server refuses at once and closes; the 431 can be lost to the reset of the
    // unread rest, but no handler ever answers.
    let refused = |answer: &str| answer.is_empty() || answer.starts_with("HTTP/1.1 431");
    let answer = raw(port, big.as_bytes());
    assert!(refused(&answer), "{answer}");
    let many: String = (0..200).map(|n| format!("X-H{n}: 1\r\n")).collect();
    let answer = raw(
        port,
        format!(
            "POST /voice/incoming HTTP/1.1\r\nHost: hotline\r\n{many}Content-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(refused(&answer), "{answer}");
    let reply = app.post("/voice/incoming", &[("CallSid", "CA1")]).await;
    assert_eq!(reply.status, 200);
    assert_valid_twiml(&reply.body, Context::Call);
    app.stop().await;
}

/// A client that connects and sends nothing is disconnected after the header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed() {
    let app = spawn_app_with(|c| c.server.header_read_timeout_ms = 300).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port(&app.base_url))).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    // Closed by the server, long before the 10 s read timeout.
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    app.stop().await;
}

/// A client keeps its connection for several requests, as the provider's connection pool
/// does, and the connection is closed once it has been idle for the header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_serves_requests_then_closes_when_idle() {
    let app = spawn_app_with(|c| c.server.header_read_timeout_ms = 300).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port(&app.base_url))).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", app.base_url);
    for n in 1..=3 {
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let mut chunk = [0u8; 1024];
        while !String::from_utf8_lossy(&answer).ends_with("\r\n\r\nok\n") {
            let read = stream.read(&mut chunk).unwrap();
            assert!(read > 0, "request {n}: closed early after {answer:?}");
            answer.extend_from_slice(&chunk[..read]);
        }
        assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"), "{answer:?}");
    }
    let idle = Instant::now();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "nothing more is sent: {rest:?}");
    // Closed by the server, long before the 10 s read timeout.
    assert!(idle.elapsed() < Duration::from_secs(5), "{:?}", idle.elapsed());
    app.stop().await;
}

/// The same flood of slow clients, all from one address (127.0.0.2), now against the cap per
/// address and with the default header timeout (5 s, which alone would keep a real caller
/// waiting seconds): the flood holds its 4 connections and no more, the rest are closed at
/// once, and a real caller from another address is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection_slot() {
    let app = spawn_app_with(|c| {
        c.server.max_connections = 16;
        c.server.max_connections_per_address = 4;
    })
    .await;
    let server: std::net::SocketAddr =
        format!("127.0.0.1:{}", port(&app.base_url)).parse().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Connections from the flood the server closed at once, and those it let it hold.
    let refused = Arc::new(AtomicU32::new(0));
    let held = Arc::new(AtomicU32::new(0));
    let slow: Vec<_> = (0..48)
        .map(|_| {
            let (stop, refused, held) =
                (Arc::clone(&stop), Arc::clone(&refused), Arc::clone(&held));
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let head = b"POST /voice/incoming HTTP/1.1\r\nHost: hotline\r\nX-Slow: ";
                while !stop.load(Ordering::Relaxed) {
                    let socket = tokio::net::TcpSocket::new_v4().unwrap();
                    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
                    let Ok(mut stream) = socket.connect(server).await else { continue };
                    let mut bytes = head.iter().chain(std::iter::repeat(&b'a'));
                    let mut sent = 0u32;
                    // One byte every 50 ms until the server hangs up or the test ends.
                    while !stop.load(Ordering::Relaxed) {
                        if stream.write_all(&[*bytes.next().unwrap()]).await.is_err() {
                            break;
                        }
                        sent += 1;
                        if sent == 10 {
                            held.fetch_add(1, Ordering::Relaxed);
                        }
                        let mut buf = [0u8; 256];
                        let read =
                            tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buf))
                                .await;
                        if read.is_ok() {
                            // Closed (or answered, then closed).
                            break;
                        }
                    }
                    if sent < 10 {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    // A flood reconnects, but not in a tight loop that would starve the test.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect();

    // Let the flood fill what it can.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let started = Instant::now();
    let transcript = app.call("1,1,1,1", Some("RU")).await;
    let took = started.elapsed();
    assert!(transcript.requests >= 4);
    let case = app.case(&transcript.call_sid).await;
    assert!(!case.events.is_empty());
    let (refused_during, held_during) =
        (refused.load(Ordering::Relaxed), held.load(Ordering::Relaxed));

    stop.store(true, Ordering::Relaxed);
    for client in slow {
        client.await.unwrap();
    }
    println!(
        "connection cap: 48 slow clients from one address on 16 slots, 4 per address: {} \
         connections held, {} closed at once; a real call of {} requests from another address \
         took {} ms",
        held_during,
        refused_during,
        transcript.requests,
        took.as_millis()
    );
    // The flood never had more than its cap: all the others were turned away unserved, and
    // with the header timeout at 5 s none of the held ones was cut off yet.
    assert!(held_during <= 4, "one address held {held_during} connections");
    assert!(held_during >= 1, "the flood never held a connection");
    assert!(refused_during >= 44, "connections over the cap were not closed: {refused_during}");
    app.stop().await;
}
