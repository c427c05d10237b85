//! Sending one webhook request as the provider does: a signed form POST (or a GET with the
//! parameters in the query string), bounded in time and size, whatever the answer's status.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use ureq::Agent;

use super::documents::DocumentCache;
use super::twiml::Method;
use super::{Reply, SimulatorError};
use crate::signature;

/// How long one request may take, connection to last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// The most of a response body that is read.
const MAX_BODY_BYTES: u64 = 1024 * 1024;
/// The provider's user agent, in case the server looks at it.
const USER_AGENT: &str = "TwilioProxy/1.1";

/// The answer a [`Transport`] gives to one request, in time.
pub type Sending<'a> = Pin<Box<dyn Future<Output = Result<Reply, SimulatorError>> + Send + 'a>>;

/// Sends webhook requests; the seam that lets tests play the server, and the load benchmark
/// time each request and keep many calls in progress over a few connections.
///
/// A synchronous transport (the terminal's, the tests' fakes) returns a future that is
/// already complete, such as `Box::pin(std::future::ready(reply))`; the blocking entry points
/// ([`super::run`], [`super::run_with`]) accept only such transports.
pub trait Transport {
    /// Sends one request to the absolute `url` and returns the server's reply, whatever its
    /// status; an error only when there is no reply to read.
    fn send<'a>(
        &'a mut self,
        url: &'a str,
        method: Method,
        params: &'a [(String, String)],
    ) -> Sending<'a>;

    /// Parsed documents to reuse, when this transport keeps them across calls: the load
    /// benchmark's callers share one, since a line's menus come back byte for byte. `None`
    /// (the default): each answer is parsed on its own.
    fn documents(&self) -> Option<&DocumentCache> {
        None
    }
}

/// One webhook request as it goes on the wire: the URL requested, the form body (empty for a
/// GET, whose parameters are in the URL) and the provider's signature over both. The
/// terminal's transport and the load benchmark's both build their requests with it, so they
/// sign alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRequest {
    /// The URL to request, a GET's parameters included.
    pub url: String,
    /// `POST` or `GET`.
    pub method: Method,
    /// The URL-encoded form of a POST; empty for a GET.
    pub body: String,
    /// `X-Twilio-Signature`, when signed.
    pub signature: Option<String>,
}

impl WireRequest {
    /// The request for `params` to `url`, signed with `auth_token` when given.
    pub fn new(
        auth_token: Option<&str>,
        url: &str,
        method: Method,
        params: &[(String, String)],
    ) -> WireRequest {
        let form = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
        match method {
            Method::Post => WireRequest {
                url: url.to_owned(),
                method,
                body: form,
                signature: auth_token.map(|t| signature::compute(t.as_bytes(), url, params)),
            },
            Method::Get => {
                // A GET is signed over its full URL, parameters included, with nothing appended.
                let full = match (form.is_empty(), url.contains('?')) {
                    (true, _) => url.to_owned(),
                    (false, true) => format!("{url}&{form}"),
                    (false, false) => format!("{url}?{form}"),
                };
                let signature = auth_token.map(|t| signature::compute(t.as_bytes(), &full, &[]));
                WireRequest { url: full, method, body: String::new(), signature }
            }
        }
    }
}

/// The real thing: HTTP with `ureq`. Clones share one connection pool.
#[derive(Clone)]
pub struct HttpTransport {
    agent: Agent,
    auth_token: Option<String>,
}

impl HttpTransport {
    /// A transport that signs with `auth_token` when given.
    pub fn new(auth_token: Option<&str>) -> HttpTransport {
        HttpTransport::pooled(auth_token, 3, REQUEST_TIMEOUT)
    }

    /// A transport whose clones keep up to `idle_connections` connections open between
    /// requests, so many simulated calls in parallel reuse them as the provider does instead of
    /// opening a connection per request. A request may take up to `timeout`.
    pub fn pooled(
        auth_token: Option<&str>,
        idle_connections: usize,
        timeout: Duration,
    ) -> HttpTransport {
        let config = Agent::config_builder()
            .max_idle_connections(idle_connections)
            .max_idle_connections_per_host(idle_connections)
            // The caller wants to see 4xx and 5xx answers, not an error without a body.
            .http_status_as_error(false)
            // The provider is meant to be given TwiML; a 3xx is shown as the server's answer.
            .max_redirects(0)
            // The provider reaches the hotline directly; a developer's HTTP(S)_PROXY, which
            // rarely exempts localhost, would send test calls astray.
            .proxy(None)
            .timeout_global(Some(timeout))
            .user_agent(USER_AGENT)
            .build();
        HttpTransport { agent: config.new_agent(), auth_token: auth_token.map(str::to_owned) }
    }

    /// Sends one request and waits for the answer: what [`Transport::send`] does, blocking.
    pub fn request(
        &self,
        url: &str,
        method: Method,
        params: &[(String, String)],
    ) -> Result<Reply, SimulatorError> {
        let wire = WireRequest::new(self.auth_token.as_deref(), url, method, params);
        let failed = |e: ureq::Error| SimulatorError::Transport {
            url: url.to_owned(),
            message: e.to_string(),
        };
        let response = match method {
            Method::Post => {
                let mut request = self
                    .agent
                    .post(&wire.url)
                    .header("Content-Type", "application/x-www-form-urlencoded");
                if let Some(signature) = &wire.signature {
                    request = request.header("X-Twilio-Signature", signature);
                }
                request.send(wire.body.as_str())
            }
            Method::Get => {
                let mut request = self.agent.get(&wire.url);
                if let Some(signature) = &wire.signature {
                    request = request.header("X-Twilio-Signature", signature);
                }
                request.call()
            }
        };
        let mut response = response.map_err(failed)?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(failed)?;
        Ok(Reply { status, content_type, body: String::from_utf8_lossy(&body).into_owned() })
    }
}

impl Transport for HttpTransport {
    /// Blocks until the answer is read, then returns it as a completed future.
    fn send<'a>(
        &'a mut self,
        url: &'a str,
        method: Method,
        params: &'a [(String, String)],
    ) -> Sending<'a> {
        Box::pin(std::future::ready(self.request(url, method, params)))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::thread::{self, JoinHandle};

    use super::*;
    use crate::simulator::post;

    /// What the one-shot server received: the request line and headers, and the body.
    struct Received {
        head: String,
        body: String,
    }

    impl Received {
        fn header(&self, name: &str) -> Option<&str> {
            self.head.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name).then(|| value.trim())
            })
        }
    }

    /// A server on a free local port that answers one request with `response`.
    fn serve_once(response: Vec<u8>) -> (String, JoinHandle<Received>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handle = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim_end().is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            let received = Received { head, body: String::new() };
            let length = received.header("content-length").map_or(0, |v| v.parse().unwrap());
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            // The client may stop reading an oversized answer: a broken pipe is expected then.
            let _ = stream.write_all(&response);
            Received { body: String::from_utf8(body).unwrap(), ..received }
        });
        (base, handle)
    }

    fn response(status: &str, headers: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn posts_a_signed_form_and_reads_an_error_answer() {
        let (base, server) =
            serve_once(response("403 Forbidden", "Content-Type: text/plain\r\n", "forbidden"));
        let form = params(&[("From", "+79161234567"), ("Digits", "1 2&3")]);
        let reply = post(&base, "/voice/incoming?x=1", Some("token"), &form).unwrap();
        assert_eq!(
            reply,
            Reply {
                status: 403,
                content_type: Some("text/plain".into()),
                body: "forbidden".into()
            }
        );
        let received = server.join().unwrap();
        assert!(
            received.head.starts_with("POST /voice/incoming?x=1 HTTP/1.1\r\n"),
            "{}",
            received.head
        );
        assert_eq!(received.header("content-type"), Some("application/x-www-form-urlencoded"));
        assert_eq!(received.header("user-agent"), Some(USER_AGENT));
        assert_eq!(received.body, "From=%2B79161234567&Digits=1+2%263");
        let signature = received.header("x-twilio-signature").unwrap();
        let url = format!("{base}/voice/incoming?x=1");
        assert!(signature::verify(b"token", &url, &form, signature));
    }

    #[test]
    fn an_unsigned_post_has_no_signature() {
        let (base, server) =
            serve_once(response("200 OK", "Content-Type: text/xml\r\n", "<Response/>"));
        let reply = post(&base, "/voice/status", None, &[]).unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, "<Response/>");
        assert_eq!(server.join().unwrap().header("x-twilio-signature"), None);
    }

    #[test]
    fn a_get_carries_its_parameters_in_the_signed_url() {
        let (base, server) = serve_once(response("200 OK", "", ""));
        let url = format!("{base}/voice/wait?q=1");
        let form = params(&[("QueuePosition", "1")]);
        let reply = HttpTransport::new(Some("token")).request(&url, Method::Get, &form).unwrap();
        assert_eq!((reply.status, reply.content_type), (200, None));
        let received = server.join().unwrap();
        assert!(received.head.starts_with("GET /voice/wait?q=1&QueuePosition=1 HTTP/1.1\r\n"));
        let signature = received.header("x-twilio-signature").unwrap();
        assert!(signature::verify(b"token", &format!("{url}&QueuePosition=1"), &[], signature));
    }

    #[test]
    fn redirects_are_not_followed() {
        let (base, server) = serve_once(response("302 Found", "Location: /elsewhere\r\n", ""));
        let reply = post(&base, "/voice/incoming", None, &[]).unwrap();
        assert_eq!(reply.status, 302);
        server.join().unwrap();
    }

    #[test]
    fn an_oversized_answer_is_an_error() {
        let body = "x".repeat(MAX_BODY_BYTES as usize + 1);
        let (base, server) = serve_once(response("200 OK", "Content-Type: text/xml\r\n", &body));
        let error = post(&base, "/voice/incoming", None, &[]).unwrap_err();
        assert!(matches!(error, SimulatorError::Transport { .. }), "{error}");
        server.join().unwrap();
    }

    #[test]
    fn no_server_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let error = post(&base, "/voice/incoming", None, &[]).unwrap_err();
        assert!(matches!(error, SimulatorError::Transport { .. }), "{error}");
    }
}
