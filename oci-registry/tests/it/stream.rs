//! `Client::open`: streamed bodies with a size limit, scheme rules, redirects and an idle
//! (not whole-transfer) timeout.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::Duration;

use oci_registry::http::{Client, ClientOptions, FetchError};

use oci_test_support::http::{Reply, Server};

const ACCEPT: &str = "application/octet-stream";

fn client(addr: SocketAddr, insecure: bool, timeout: Duration) -> Client {
    Client::new(ClientOptions {
        insecure,
        connect_to: vec![("blobs.test".to_owned(), addr)],
        timeout,
        connect_timeout: Duration::from_secs(3),
        resolve_timeout: Duration::from_secs(2),
        max_redirects: 3,
    })
}

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// A one-connection server that answers without `Content-Length` (the body ends when
/// the connection closes), writing `chunks` with `pause` between them.
fn raw_server(chunks: Vec<Vec<u8>>, pause: Duration) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let thread = std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut reader = BufReader::new(&stream);
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line.trim_end().is_empty() => break,
                Ok(_) => {}
            }
        }
        let mut out = &stream;
        let _ = out.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        for chunk in chunks {
            let _ = out.flush();
            std::thread::sleep(pause);
            if out.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    (addr, thread)
}

fn read_all(mut reader: Box<dyn Read + Send>) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    reader.read_to_end(&mut out)?;
    Ok(out)
}

#[test]
fn streams_a_body_after_a_redirect() {
    let content = body(300_000);
    let served = content.clone();
    let server = Server::start(move |_, target| match target {
        "/old" => Reply::redirect("/blob"),
        "/blob" => Reply::ok(served.clone()),
        _ => Reply::status(404),
    });
    let c = client(server.addr(), true, Duration::from_secs(10));
    let (url, reader) = c
        .open("http://blobs.test/old", ACCEPT, content.len() as u64)
        .expect("open");
    assert_eq!(url, "http://blobs.test/blob");
    assert_eq!(read_all(reader).expect("read"), content);
}

#[test]
fn an_announced_length_over_the_limit_fails_at_once() {
    let server = Server::start(|_, _| Reply::ok(body(1001)));
    let c = client(server.addr(), true, Duration::from_secs(10));
    let Err(err) = c.open("http://blobs.test/x", ACCEPT, 1000) else {
        panic!("a 1001-byte body was accepted under a limit of 1000");
    };
    assert!(
        matches!(
            &err,
            FetchError::TooLarge { url, limit: 1000 } if url == "http://blobs.test/x"
        ),
        "{err:?}"
    );
}

#[test]
fn an_unannounced_body_over_the_limit_fails_when_the_excess_arrives() {
    let (addr, thread) = raw_server(vec![body(600), body(600)], Duration::from_millis(10));
    let c = client(addr, true, Duration::from_secs(10));
    let (_, reader) = c
        .open("http://blobs.test/x", ACCEPT, 1000)
        .expect("headers are fine");
    let err = read_all(reader).expect_err("1200 bytes under a limit of 1000");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(
        matches!(
            FetchError::from_io(&err),
            Some(FetchError::TooLarge { limit: 1000, url }) if url == "http://blobs.test/x"
        ),
        "{err}"
    );
    let _ = thread.join();
}

#[test]
fn a_body_of_exactly_the_limit_is_whole() {
    let (addr, thread) = raw_server(vec![body(500), body(500)], Duration::from_millis(10));
    let c = client(addr, true, Duration::from_secs(10));
    let (_, reader) = c.open("http://blobs.test/x", ACCEPT, 1000).expect("open");
    let got = read_all(reader).expect("read");
    assert_eq!(got.len(), 1000);
    let _ = thread.join();
}

#[test]
fn plain_http_needs_insecure_and_status_errors_name_the_url() {
    let server = Server::start(|_, _| Reply::status(404));
    let secure = client(server.addr(), false, Duration::from_secs(10));
    assert!(matches!(
        secure.open("http://blobs.test/x", ACCEPT, 10),
        Err(FetchError::Refused { .. })
    ));
    assert!(matches!(
        secure.open("ftp://blobs.test/x", ACCEPT, 10),
        Err(FetchError::Refused { .. })
    ));
    assert!(server.requests().is_empty());
    let insecure = client(server.addr(), true, Duration::from_secs(10));
    let Err(err) = insecure.open("http://blobs.test/missing", ACCEPT, 10) else {
        panic!("a 404 opened");
    };
    assert!(
        matches!(
            &err,
            FetchError::Status { url, status: 404 } if url == "http://blobs.test/missing"
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("http://blobs.test/missing"));
}

#[test]
fn a_slow_transfer_that_keeps_moving_is_not_cut_off() {
    // Eight pauses of 300 ms: well over the one-second timeout in total, each read
    // well under it.
    let chunks: Vec<Vec<u8>> = (0..8).map(|_| body(100)).collect();
    let (addr, thread) = raw_server(chunks, Duration::from_millis(300));
    let c = client(addr, true, Duration::from_secs(1));
    let (_, reader) = c
        .open("http://blobs.test/slow", ACCEPT, 10_000)
        .expect("open");
    assert_eq!(read_all(reader).expect("read").len(), 800);
    let _ = thread.join();
}

#[test]
fn a_stalled_transfer_fails_naming_the_url() {
    let (addr, thread) = raw_server(vec![body(100), body(100)], Duration::from_millis(2500));
    let c = client(addr, true, Duration::from_millis(700));
    let (_, reader) = c
        .open("http://blobs.test/stall", ACCEPT, 10_000)
        .expect("open");
    let err = read_all(reader).expect_err("stalled for longer than the idle timeout");
    assert!(
        matches!(FetchError::from_io(&err), Some(FetchError::Transport { url, .. }) if url == "http://blobs.test/stall"),
        "{err:?}"
    );
    let _ = thread.join();
}
