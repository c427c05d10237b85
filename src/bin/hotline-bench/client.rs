//! The load generator's HTTP/1.1 client: one keep-alive connection to the server under test,
//! carrying one request at a time, as the provider's connections do.
//!
//! It does only what the benchmark needs, because every microsecond it spends is taken from
//! the server it measures (they share the machine): the request is written with one write
//! from a buffer the connection reuses, and the answer is read into another and parsed with
//! `httparse`. Only answers with a `Content-Length` are read, which the hotline and the
//! static baseline both send; a chunked answer is refused by name rather than misread.

use std::fmt;
use std::io;

use tokio::net::TcpStream;

use hotline::simulator::{Method, Reply};

/// The most of an answer's body that is read, as the simulator's own transport reads.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The most an answer's status line and headers may take.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The most headers an answer may have.
const MAX_HEADERS: usize = 32;
/// The provider's user agent, in case the server looks at it.
const PROVIDER_USER_AGENT: &str = "TwilioProxy/1.1";
/// What the read buffer starts with: every answer of the scripts fits.
const INITIAL_READ_BYTES: usize = 8 * 1024;

/// Why a request got no answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The connection failed or closed before the answer: worth one more try on a new one.
    Dropped(String),
    /// Anything else: a timeout, a URL elsewhere, an oversized, chunked or broken answer.
    Other(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Dropped(message) | Failure::Other(message) => f.write_str(message),
        }
    }
}

/// One request, as the connection writes it.
pub struct Outgoing<'a> {
    pub method: Method,
    /// The path and query, such as `/voice/menu?l=ru`.
    pub path: &'a str,
    /// The `Host` header.
    pub host: &'a str,
    /// `X-Twilio-Signature`, when signed.
    pub signature: Option<&'a str>,
    /// The form body of a POST; empty for a GET.
    pub body: &'a str,
}

/// A connection to the server, with the buffers its requests and answers reuse.
pub struct Connection {
    stream: TcpStream,
    /// The request being written.
    output: Vec<u8>,
    /// The answer being read: `input[..filled]` has arrived.
    input: Vec<u8>,
    filled: usize,
}

/// What the head of an answer says.
struct Head {
    status: u16,
    content_type: Option<String>,
    /// Where the body starts in the read buffer.
    length: usize,
    body_length: usize,
    /// Whether the connection may carry another request after this answer.
    keep_alive: bool,
}

impl Connection {
    /// Connects to `address`, with Nagle's algorithm off: small requests and answers go out
    /// at once, as the provider's do.
    pub async fn open(address: std::net::SocketAddr) -> Result<Connection, Failure> {
        let dropped = |e: io::Error| Failure::Dropped(format!("cannot connect to {address}: {e}"));
        let stream = TcpStream::connect(address).await.map_err(dropped)?;
        stream.set_nodelay(true).map_err(dropped)?;
        Ok(Connection {
            stream,
            output: Vec::with_capacity(1024),
            input: vec![0; INITIAL_READ_BYTES],
            filled: 0,
        })
    }

    /// Sends `request` and reads its answer. The flag says whether the connection is fit for
    /// another request: the server did not ask to close it and sent nothing beyond the answer.
    pub async fn exchange(&mut self, request: &Outgoing<'_>) -> Result<(Reply, bool), Failure> {
        self.write_request(request);
        self.write_all().await?;
        self.filled = 0;
        let head = loop {
            if let Some(head) = self.parse_head()? {
                break head;
            }
            if self.filled >= MAX_HEAD_BYTES {
                return Err(Failure::Other(format!("an answer head over {MAX_HEAD_BYTES} bytes")));
            }
            self.read_more(MAX_HEAD_BYTES).await?;
        };
        let end = head.length + head.body_length;
        while self.filled < end {
            self.read_more(end).await?;
        }
        let body = &self.input[head.length..end];
        let body = match std::str::from_utf8(body) {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(body).into_owned(),
        };
        let reply = Reply { status: head.status, content_type: head.content_type, body };
        Ok((reply, head.keep_alive && self.filled == end))
    }

    /// Lays out the request in the output buffer, replacing the last one.
    fn write_request(&mut self, request: &Outgoing<'_>) {
        let output = &mut self.output;
        output.clear();
        let method: &[u8] = match request.method {
            Method::Post => b"POST ",
            Method::Get => b"GET ",
        };
        output.extend_from_slice(method);
        output.extend_from_slice(request.path.as_bytes());
        output.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        output.extend_from_slice(request.host.as_bytes());
        output.extend_from_slice(b"\r\nUser-Agent: ");
        output.extend_from_slice(PROVIDER_USER_AGENT.as_bytes());
        if let Some(signature) = request.signature {
            output.extend_from_slice(b"\r\nX-Twilio-Signature: ");
            output.extend_from_slice(signature.as_bytes());
        }
        if request.method == Method::Post {
            output.extend_from_slice(
                b"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ",
            );
            output.extend_from_slice(request.body.len().to_string().as_bytes());
        }
        output.extend_from_slice(b"\r\n\r\n");
        output.extend_from_slice(request.body.as_bytes());
    }

    /// Writes the output buffer; usually one system call.
    async fn write_all(&mut self) -> Result<(), Failure> {
        let mut written = 0;
        while written < self.output.len() {
            match self.stream.try_write(&self.output[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stream.writable().await.map_err(|e| dropped_by(&e))?;
                }
                Err(e) => return Err(dropped_by(&e)),
            }
        }
        Ok(())
    }

    /// Reads what has arrived, growing the buffer up to `wanted` bytes.
    async fn read_more(&mut self, wanted: usize) -> Result<(), Failure> {
        if self.filled == self.input.len() {
            let grown =
                (self.input.len() * 2).clamp(INITIAL_READ_BYTES, wanted.max(self.filled + 1));
            self.input.resize(grown, 0);
        }
        loop {
            match self.stream.try_read(&mut self.input[self.filled..]) {
                Ok(0) => {
                    let when = if self.filled == 0 { "before answering" } else { "mid-answer" };
                    return Err(Failure::Dropped(format!(
                        "the server closed the connection {when}"
                    )));
                }
                Ok(n) => {
                    self.filled += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stream.readable().await.map_err(|e| dropped_by(&e))?;
                }
                Err(e) => return Err(dropped_by(&e)),
            }
        }
    }

    /// The answer's head, once it has all arrived.
    fn parse_head(&self) -> Result<Option<Head>, Failure> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let length = match response.parse(&self.input[..self.filled]) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(Failure::Other(format!("a broken answer: {e}"))),
        };
        let status = response.code.unwrap_or(0);
        let mut head = Head {
            status,
            content_type: None,
            length,
            body_length: 0,
            // HTTP/1.0 closes unless told otherwise; the benchmark does not ask it to.
            keep_alive: response.version == Some(1),
        };
        let mut content_length = None;
        for header in response.headers.iter() {
            let name = header.name;
            if name.eq_ignore_ascii_case("content-length") {
                let value = std::str::from_utf8(header.value).ok().map(str::trim);
                let parsed = value.and_then(|v| v.parse::<usize>().ok()).ok_or_else(|| {
                    Failure::Other("an answer with a Content-Length that is not a number".into())
                })?;
                if content_length.is_some_and(|known| known != parsed) {
                    return Err(Failure::Other("an answer with two Content-Lengths".into()));
                }
                content_length = Some(parsed);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(Failure::Other(format!(
                    "a {} answer: the load generator reads Content-Length bodies only",
                    String::from_utf8_lossy(&header.value[..header.value.len().min(40)])
                )));
            } else if name.eq_ignore_ascii_case("content-type") {
                head.content_type = Some(String::from_utf8_lossy(header.value).into_owned());
            } else if name.eq_ignore_ascii_case("connection")
                && header.value.eq_ignore_ascii_case(b"close")
            {
                head.keep_alive = false;
            }
        }
        head.body_length = match content_length {
            Some(n) if n > MAX_BODY_BYTES => {
                return Err(Failure::Other(format!("an answer over {MAX_BODY_BYTES} bytes")));
            }
            Some(n) => n,
            // These have no body by definition.
            None if status == 204 || status == 304 => 0,
            None => {
                return Err(Failure::Other(format!(
                    "an HTTP {status} answer without a Content-Length: the load generator \
                     reads Content-Length bodies only"
                )));
            }
        };
        Ok(Some(head))
    }
}

/// A connection that failed under a request: the request may be sent again on a new one.
fn dropped_by(e: &io::Error) -> Failure {
    Failure::Dropped(format!("the connection failed: {e}"))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::thread;
    use std::time::Duration;

    use super::*;

    /// A server that reads one request of each connection, then writes `answer` in the
    /// pieces given, a little apart, and keeps the connection open until the client is done.
    fn serve(pieces: Vec<Vec<u8>>) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = vec![0; 4096];
            let _ = stream.read(&mut request);
            for piece in pieces {
                if stream.write_all(&piece).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(20));
            }
            // Wait for the client to close.
            let _ = stream.read(&mut request);
        });
        address
    }

    fn exchange(address: std::net::SocketAddr) -> Result<(Reply, bool), Failure> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut connection = Connection::open(address).await?;
            let request = Outgoing {
                method: Method::Post,
                path: "/voice/incoming",
                host: "h",
                signature: Some("sig"),
                body: "a=1",
            };
            connection.exchange(&request).await
        })
    }

    fn answer(headers: &str, body: &str) -> Vec<u8> {
        format!("HTTP/1.1 200 OK\r\n{headers}\r\n{body}").into_bytes()
    }

    #[test]
    fn an_answer_split_across_reads_is_read_whole() {
        let whole = answer("Content-Type: text/xml\r\nContent-Length: 11\r\n", "<Response/>");
        // Split inside the status line, inside a header and inside the body.
        let pieces = vec![whole[..7].to_vec(), whole[7..30].to_vec(), whole[30..60].to_vec()]
            .into_iter()
            .chain([whole[60..].to_vec()])
            .collect();
        let (reply, keep_alive) = exchange(serve(pieces)).unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.content_type.as_deref(), Some("text/xml"));
        assert_eq!(reply.body, "<Response/>");
        assert!(keep_alive);
    }

    #[test]
    fn the_request_is_written_as_the_provider_sends_it() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = vec![0; 4096];
            let n = stream.read(&mut request).unwrap();
            stream.write_all(&answer("Content-Length: 0\r\nConnection: close\r\n", "")).unwrap();
            String::from_utf8(request[..n].to_vec()).unwrap()
        });
        let (reply, keep_alive) = exchange(address).unwrap();
        assert_eq!((reply.status, reply.body.as_str(), keep_alive), (200, "", false));
        let request = server.join().unwrap();
        let mut parsed_headers = [httparse::EMPTY_HEADER; 16];
        let mut parsed = httparse::Request::new(&mut parsed_headers);
        let length = match parsed.parse(request.as_bytes()).unwrap() {
            httparse::Status::Complete(length) => length,
            httparse::Status::Partial => panic!("{request}"),
        };
        assert_eq!((parsed.method, parsed.path), (Some("POST"), Some("/voice/incoming")));
        let header = |name: &str| {
            parsed.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
        };
        assert_eq!(header("x-twilio-signature"), Some(&b"sig"[..]));
        assert_eq!(header("content-length"), Some(&b"3"[..]));
        assert_eq!(&request[length..], "a=1");
    }

    #[test]
    fn a_chunked_answer_is_refused_by_name() {
        let chunked = answer("Transfer-Encoding: chunked\r\n", "b\r\n<Response/>\r\n0\r\n\r\n");
        let error = exchange(serve(vec![chunked])).unwrap_err();
        assert!(matches!(&error, Failure::Other(m) if m.contains("chunked")), "{error}");
    }

    #[test]
    fn an_answer_without_a_length_is_refused_but_a_204_has_none() {
        let error = exchange(serve(vec![answer("", "<Response/>")])).unwrap_err();
        assert!(matches!(&error, Failure::Other(m) if m.contains("Content-Length")), "{error}");
        let empty = b"HTTP/1.1 204 No Content\r\n\r\n".to_vec();
        assert_eq!(exchange(serve(vec![empty])).unwrap().0.status, 204);
    }

    #[test]
    fn a_body_over_the_limit_is_refused_before_it_is_read() {
        let over = format!("Content-Length: {}\r\n", MAX_BODY_BYTES + 1);
        let error = exchange(serve(vec![answer(&over, "x")])).unwrap_err();
        assert!(matches!(&error, Failure::Other(m) if m.contains("over")), "{error}");
        // Exactly the limit is read.
        let body = "x".repeat(MAX_BODY_BYTES);
        let at = answer(&format!("Content-Length: {MAX_BODY_BYTES}\r\n"), &body);
        assert_eq!(exchange(serve(vec![at])).unwrap().0.body.len(), MAX_BODY_BYTES);
    }

    #[test]
    fn huge_and_hostile_heads_are_refused() {
        let huge = format!("X-Filler: {}\r\nContent-Length: 0\r\n", "a".repeat(MAX_HEAD_BYTES));
        let many = "X-A: 1\r\n".repeat(MAX_HEADERS + 1) + "Content-Length: 0\r\n";
        let cases = [
            (answer(&huge, ""), "over"),
            (answer(&many, ""), "broken"),
            (answer("Content-Length: -1\r\n", ""), "not a number"),
            (answer("Content-Length: 99999999999999999999999\r\n", ""), "not a number"),
            (answer("Content-Length: 1\r\nContent-Length: 2\r\n", "xx"), "two"),
            (b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n".to_vec(), "broken"),
            (b"\x00\x01garbage\r\n\r\n".to_vec(), "broken"),
        ];
        for (bytes, expected) in cases {
            let error = exchange(serve(vec![bytes])).unwrap_err();
            assert!(matches!(&error, Failure::Other(m) if m.contains(expected)), "{error}");
            assert!(error.to_string().len() < 200, "{error}");
        }
    }

    #[test]
    fn a_connection_closed_before_or_during_the_answer_is_dropped() {
        for pieces in [vec![], vec![answer("Content-Length: 10\r\n", "short")]] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let address = listener.local_addr().unwrap();
            thread::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                let _ = stream.read(&mut [0; 4096]);
                for piece in pieces {
                    let _ = stream.write_all(&piece);
                }
            });
            let error = exchange(address).unwrap_err();
            assert!(matches!(error, Failure::Dropped(_)), "{error}");
        }
    }

    #[test]
    fn bytes_beyond_the_answer_make_the_connection_unfit() {
        let twice = [answer("Content-Length: 2\r\n", "ok"), answer("Content-Length: 0\r\n", "")];
        let (reply, keep_alive) = exchange(serve(vec![twice.concat()])).unwrap();
        assert_eq!((reply.body.as_str(), keep_alive), ("ok", false));
    }
}
