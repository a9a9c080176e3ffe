//! A scripted HTTP/1.1 server on 127.0.0.1 for tests: routes answered with canned replies,
//! sequences of replies or closures, a log of every request for assertions, and bounds on
//! everything it reads. One thread per connection, one request per connection
//! (`Connection: close`); the server stops on drop, or by itself after
//! [`MAX_CONNECTIONS`] connections.
//!
//! A connection whose first line is not an HTTP/1.x request line (for example a TLS
//! hello, when a client tries https first) is closed without an answer.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Connections a server accepts before it stops by itself.
pub const MAX_CONNECTIONS: usize = 1000;
/// The largest request head (request line and headers) read; a larger one is refused.
pub const MAX_HEAD: u64 = 64 * 1024;
/// The largest request body read; a larger one is refused with 413.
pub const MAX_BODY: u64 = 64 * 1024 * 1024;
/// How long a connection may stay silent before it is dropped.
const IDLE: Duration = Duration::from_secs(5);

/// A request as the server read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method (`GET`, `HEAD`, `PUT`, ...), as sent.
    pub method: String,
    /// The request target as sent: path and query.
    pub target: String,
    /// The `Host` header without its port (empty when there was none).
    pub host: String,
    /// Every header, in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (by `Content-Length` or chunked), empty when there was none.
    pub body: Vec<u8>,
}

impl Request {
    /// The target's path, without the query.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The target's query (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response: status, headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Headers sent after `Connection` and `Content-Length`, in order.
    pub headers: Vec<(String, String)>,
    /// The body (not sent to a `HEAD` request).
    pub body: Vec<u8>,
    /// Whether `Content-Length` is sent; without it the body ends when the connection
    /// closes.
    pub length: bool,
    /// A `Content-Length` to announce instead of the body's (a transfer cut short, or one
    /// longer than announced), when `length` is set.
    pub announced: Option<u64>,
    /// Close the connection without answering (a connection broken mid-request).
    pub hang_up: bool,
}

impl Reply {
    /// An empty reply with `status`.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            length: true,
            announced: None,
            hang_up: false,
        }
    }

    /// 200 with `body` as `application/octet-stream`, as a static file server sends
    /// anything.
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply::status(200)
            .header("Content-Type", "application/octet-stream")
            .body(body)
    }

    /// 200 with `value` serialized as `application/json`.
    pub fn json(value: &impl serde::Serialize) -> Reply {
        let body = serde_json::to_vec(value).expect("a test value serializes");
        Reply::status(200)
            .header("Content-Type", "application/json")
            .body(body)
    }

    /// 200 with `body` as `application/octet-stream` and no `Content-Length`.
    pub fn unannounced(body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            length: false,
            ..Reply::ok(body)
        }
    }

    /// 200 with `body`, announcing `announced` bytes: with more announced than sent, the
    /// connection closes mid-body, as a transfer cut short does.
    pub fn cut_short(body: impl Into<Vec<u8>>, announced: u64) -> Reply {
        Reply {
            announced: Some(announced),
            ..Reply::ok(body)
        }
    }

    /// No answer: the connection is closed once the request is read, as a broken
    /// connection looks to the client.
    pub fn hang_up() -> Reply {
        Reply {
            hang_up: true,
            ..Reply::status(500)
        }
    }

    /// 404, empty.
    pub fn not_found() -> Reply {
        Reply::status(404)
    }

    /// 302 to `location`.
    pub fn redirect(location: &str) -> Reply {
        Reply::status(302).header("Location", location)
    }

    /// This reply with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// This reply with `body`.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }
}

type HandlerFn = dyn Fn(&Request) -> Reply + Send + Sync;

/// How a route answers: always the same reply, replies in turn, or a closure.
pub struct Responder(Kind);

enum Kind {
    Canned(Reply),
    /// Replies in turn; the last one repeats.
    Sequence(Mutex<VecDeque<Reply>>),
    Handler(Box<HandlerFn>),
}

impl Responder {
    /// Answers with `replies` in turn, the last one repeating (for example a 503, then
    /// a 200). Panics on an empty list.
    pub fn sequence(replies: Vec<Reply>) -> Responder {
        assert!(!replies.is_empty(), "a sequence of no replies");
        Responder(Kind::Sequence(Mutex::new(replies.into())))
    }

    /// Answers with `handler(request)`.
    pub fn with(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Responder {
        Responder(Kind::Handler(Box::new(handler)))
    }

    fn answer(&self, request: &Request) -> Reply {
        match &self.0 {
            Kind::Canned(reply) => reply.clone(),
            Kind::Sequence(replies) => {
                let mut replies = replies.lock().expect("lock");
                if replies.len() > 1 {
                    replies.pop_front().expect("not empty")
                } else {
                    replies.front().expect("not empty").clone()
                }
            }
            Kind::Handler(handler) => handler(request),
        }
    }
}

impl From<Reply> for Responder {
    fn from(reply: Reply) -> Responder {
        Responder(Kind::Canned(reply))
    }
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Kind::Canned(r) => f.debug_tuple("Canned").field(r).finish(),
            Kind::Sequence(r) => f.debug_tuple("Sequence").field(r).finish(),
            Kind::Handler(_) => f.write_str("Handler"),
        }
    }
}

/// Where a route applies: a method, a host (any when `None`) and a path, exact or a
/// prefix.
#[derive(Debug)]
struct Route {
    method: String,
    host: Option<String>,
    path: String,
    prefix: bool,
    responder: Responder,
}

/// The script of a [`Server`]: routes tried in the order they were added, and a
/// fallback (404 unless set).
#[derive(Debug)]
pub struct Routes {
    routes: Vec<Route>,
    fallback: Responder,
}

impl Default for Routes {
    fn default() -> Routes {
        Routes::new()
    }
}

impl Routes {
    /// No routes; everything is 404.
    pub fn new() -> Routes {
        Routes {
            routes: Vec::new(),
            fallback: Reply::not_found().into(),
        }
    }

    /// `method` on exactly `path` (the target without its query), on any host.
    pub fn route(mut self, method: &str, path: &str, responder: impl Into<Responder>) -> Routes {
        self.routes.push(Route {
            method: method.to_owned(),
            host: None,
            path: path.to_owned(),
            prefix: false,
            responder: responder.into(),
        });
        self
    }

    /// `method` on every path that starts with `prefix`, on any host.
    pub fn prefix(mut self, method: &str, prefix: &str, responder: impl Into<Responder>) -> Routes {
        self.routes.push(Route {
            method: method.to_owned(),
            host: None,
            path: prefix.to_owned(),
            prefix: true,
            responder: responder.into(),
        });
        self
    }

    /// `method` on exactly `path` of `host` (the `Host` header without its port).
    pub fn on_host(
        mut self,
        host: &str,
        method: &str,
        path: &str,
        responder: impl Into<Responder>,
    ) -> Routes {
        self.routes.push(Route {
            method: method.to_owned(),
            host: Some(host.to_owned()),
            path: path.to_owned(),
            prefix: false,
            responder: responder.into(),
        });
        self
    }

    /// `GET` on exactly `path`.
    pub fn get(self, path: &str, responder: impl Into<Responder>) -> Routes {
        self.route("GET", path, responder)
    }

    /// `HEAD` on exactly `path`.
    pub fn head(self, path: &str, responder: impl Into<Responder>) -> Routes {
        self.route("HEAD", path, responder)
    }

    /// `PUT` on exactly `path`.
    pub fn put(self, path: &str, responder: impl Into<Responder>) -> Routes {
        self.route("PUT", path, responder)
    }

    /// `POST` on exactly `path`.
    pub fn post(self, path: &str, responder: impl Into<Responder>) -> Routes {
        self.route("POST", path, responder)
    }

    /// What answers a request no route matches.
    pub fn fallback(mut self, responder: impl Into<Responder>) -> Routes {
        self.fallback = responder.into();
        self
    }

    fn answer(&self, request: &Request) -> Reply {
        let path = request.path();
        self.routes
            .iter()
            .find(|r| {
                r.method.eq_ignore_ascii_case(&request.method)
                    && r.host.as_deref().is_none_or(|h| h == request.host)
                    && if r.prefix {
                        path.starts_with(&r.path)
                    } else {
                        path == r.path
                    }
            })
            .map_or(&self.fallback, |r| &r.responder)
            .answer(request)
    }
}

/// A running server on 127.0.0.1 (an OS-chosen port). Dropping it stops it.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    /// A server answering `handler(host, target)` to every request, whatever its method:
    /// the shape most discovery tests need.
    pub fn start(handler: impl Fn(&str, &str) -> Reply + Send + Sync + 'static) -> Server {
        Server::handle(move |r: &Request| handler(&r.host, &r.target))
    }

    /// A server answering `handler(request)` to every request.
    pub fn handle(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        Server::script(Routes::new().fallback(Responder::with(handler)))
    }

    /// A server answering by `routes`.
    pub fn script(routes: Routes) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let routes = Arc::new(routes);
        let thread = {
            let (stop, requests) = (stop.clone(), requests.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming().take(MAX_CONNECTIONS) {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let (routes, requests) = (routes.clone(), requests.clone());
                        std::thread::spawn(move || serve(&stream, &routes, &requests));
                    }
                }
            })
        };
        Server {
            addr,
            stop,
            thread: Some(thread),
            requests,
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request read so far, in the order they were read.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("lock").clone()
    }

    /// The targets of the requests so far, in order.
    pub fn targets(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.target).collect()
    }

    /// `HOST` followed by `TARGET` (for example `example.test/ref/app`) for each request
    /// so far, in order.
    pub fn locations(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .map(|r| format!("{}{}", r.host, r.target))
            .collect()
    }

    /// The hosts of the requests so far, in order, without repeats in a row.
    pub fn hosts(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in self.requests() {
            if out.last() != Some(&r.host) {
                out.push(r.host);
            }
        }
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request; `Err(status)` when it must be refused with that status, `Ok(None)`
/// when the connection is to be dropped without an answer.
fn read_request(reader: &mut impl BufRead) -> Result<Option<Request>, u16> {
    let mut head = reader.take(MAX_HEAD);
    let mut line = String::new();
    // A TLS hello is not a line of text.
    if head.read_line(&mut line).is_err() {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    if !version.starts_with("HTTP/1.") || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        match head.read_line(&mut header) {
            Ok(0) => return Err(431),
            Err(_) => return Ok(None),
            Ok(_) => {}
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((k, v)) = header.split_once(':') else {
            return Err(400);
        };
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let mut request = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        host: String::new(),
        headers,
        body: Vec::new(),
    };
    if let Some(v) = request.header("host") {
        // The Host header may carry the port; keep the name.
        request.host = match v.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() => h.to_owned(),
            _ => v.to_owned(),
        };
    }
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        request.body = read_chunked(reader)?;
    } else if let Some(length) = request.header("content-length") {
        let length: u64 = length.parse().map_err(|_| 400u16)?;
        if length > MAX_BODY {
            return Err(413);
        }
        let mut body = Vec::new();
        reader
            .take(length)
            .read_to_end(&mut body)
            .map_err(|_| 400u16)?;
        if body.len() as u64 != length {
            return Err(400);
        }
        request.body = body;
    }
    Ok(Some(request))
}

fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>, u16> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.take(1024).read_line(&mut size).map_err(|_| 400u16)?;
        let size = size.trim_end();
        let size = size.split_once(';').map_or(size, |(s, _)| s);
        let size = u64::from_str_radix(size.trim(), 16).map_err(|_| 400u16)?;
        if body.len() as u64 + size > MAX_BODY {
            return Err(413);
        }
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut line = String::new();
                match reader.take(MAX_HEAD).read_line(&mut line) {
                    Ok(0) | Err(_) => return Err(400),
                    Ok(_) if line.trim_end().is_empty() => return Ok(body),
                    Ok(_) => {}
                }
            }
        }
        let before = body.len();
        reader
            .take(size)
            .read_to_end(&mut body)
            .map_err(|_| 400u16)?;
        if (body.len() - before) as u64 != size {
            return Err(400);
        }
        let mut end = String::new();
        reader.take(2).read_line(&mut end).map_err(|_| 400u16)?;
        if end != "\r\n" {
            return Err(400);
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn serve(stream: &TcpStream, routes: &Routes, requests: &Mutex<Vec<Request>>) {
    let _ = stream.set_read_timeout(Some(IDLE));
    let _ = stream.set_write_timeout(Some(IDLE));
    let mut reader = BufReader::new(stream);
    let (reply, head_only) = match read_request(&mut reader) {
        Ok(None) => return,
        Err(status) => (Reply::status(status), false),
        Ok(Some(request)) => {
            requests.lock().expect("lock").push(request.clone());
            (routes.answer(&request), request.method == "HEAD")
        }
    };
    if reply.hang_up {
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return;
    }
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nConnection: close\r\n",
        reply.status,
        reason(reply.status)
    );
    if reply.length {
        let length = reply.announced.unwrap_or(reply.body.len() as u64);
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = stream;
    let _ = out.write_all(head.as_bytes());
    if !head_only {
        let _ = out.write_all(&reply.body);
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(server: &Server, request: &str) -> String {
        let mut s = TcpStream::connect(server.addr()).expect("connect");
        s.write_all(request.as_bytes()).expect("send");
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("read");
        answer
    }

    #[test]
    fn bodies_by_length_and_chunked_are_logged_and_head_gets_no_body() {
        let server = Server::script(
            Routes::new()
                .put("/up", Reply::status(201).header("Location", "/done"))
                .on_host("a.test", "HEAD", "/blob", Reply::ok("12345"))
                .prefix("PATCH", "/v2/", Reply::status(202)),
        );
        let a = exchange(
            &server,
            "PUT /up?x=1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        );
        assert!(a.starts_with("HTTP/1.1 201 Created\r\n"), "{a}");
        assert!(a.contains("Location: /done\r\n"), "{a}");
        let a = exchange(
            &server,
            "PATCH /v2/r/blobs/uploads/1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
             2\r\nde\r\n1;x=y\r\nf\r\n0\r\n\r\n",
        );
        assert!(a.starts_with("HTTP/1.1 202"), "{a}");
        let a = exchange(&server, "HEAD /blob HTTP/1.1\r\nHost: a.test:80\r\n\r\n");
        assert!(
            a.contains("Content-Length: 5\r\n") && a.ends_with("\r\n\r\n"),
            "{a}"
        );
        let a = exchange(&server, "HEAD /blob HTTP/1.1\r\nHost: b.test\r\n\r\n");
        assert!(a.starts_with("HTTP/1.1 404"), "{a}");
        let log = server.requests();
        assert_eq!(log[0].body, b"abc");
        assert_eq!((log[0].path(), log[0].query()), ("/up", Some("x=1")));
        assert_eq!(log[1].body, b"def");
        assert_eq!(log[2].host, "a.test");
        assert_eq!(server.hosts(), ["", "a.test", "b.test"]);
    }

    #[test]
    fn a_reply_cut_short_announces_more_than_it_sends() {
        let server = Server::script(Routes::new().get("/blob", Reply::cut_short("abc", 10)));
        let a = exchange(&server, "GET /blob HTTP/1.1\r\n\r\n");
        assert!(
            a.contains("Content-Length: 10\r\n") && a.ends_with("\r\n\r\nabc"),
            "{a}"
        );
    }

    #[test]
    fn junk_is_dropped_and_oversized_bodies_refused() {
        let server = Server::start(|_, _| Reply::ok("x"));
        assert_eq!(exchange(&server, "\x16\x03\x01 hello"), "");
        let a = exchange(
            &server,
            &format!("PUT / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_BODY + 1),
        );
        assert!(a.starts_with("HTTP/1.1 413"), "{a}");
        assert!(server.requests().is_empty());
    }
}
