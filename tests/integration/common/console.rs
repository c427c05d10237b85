//! Helpers for the web console: a browser-like client that logs in through the form, keeps
//! its cookies, and posts forms with the CSRF token of the last page it read.
//!
//! ```ignore
//! let app = spawn_app().await;
//! let (anna, _) = api::person(&app, "anna", Role::Operator, &["ru"]).await;
//! let mut browser = console::Browser::login(&app, "anna", api::TEST_PASSWORD).await;
//! let page = browser.get("/console").await;
//! let after = browser.post("/console/language", &[("language", "uk")]).await;
//! ```

use std::collections::BTreeMap;

use ureq::Agent;

use super::TestApp;

/// What the console answered.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status (0 if the connection failed or was cut; then `body` says why).
    pub status: u16,
    /// The body, as text.
    pub body: String,
    /// The headers, names lower-case; a repeated header's values joined with "\n".
    pub headers: BTreeMap<String, String>,
}

impl Answer {
    /// A header's value, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    /// Where a `303` leads.
    pub fn location(&self) -> &str {
        self.header("location")
    }
}

/// A browser: a cookie jar and the CSRF token of the last page read.
#[derive(Debug, Clone)]
pub struct Browser {
    base_url: String,
    cookies: BTreeMap<String, String>,
    csrf: Option<String>,
    /// The client a trusted proxy names in `X-Forwarded-For`, if the test plays one.
    forwarded_for: Option<String>,
}

impl Browser {
    /// A browser with no cookies.
    pub fn new(app: &TestApp) -> Browser {
        Browser {
            base_url: app.base_url.clone(),
            cookies: BTreeMap::new(),
            csrf: None,
            forwarded_for: None,
        }
    }

    /// A browser with no cookies whose requests arrive through a trusted proxy on the test's
    /// own address (`server.trusted_proxy = "127.0.0.1"`) for the client `address`.
    pub fn from_address(app: &TestApp, address: &str) -> Browser {
        Browser { forwarded_for: Some(address.to_owned()), ..Browser::new(app) }
    }

    /// A browser logged in as `name` through the login form; panics if the login fails.
    pub async fn login(app: &TestApp, name: &str, password: &str) -> Browser {
        let mut browser = Browser::new(app);
        let answer = browser.log_in(name, password).await;
        assert_eq!(answer.status, 303, "the login of {name} failed: {}", answer.body);
        assert_eq!(answer.location(), "/console");
        browser
    }

    /// Reads the login form and posts it; returns the login's answer.
    pub async fn log_in(&mut self, name: &str, password: &str) -> Answer {
        let form = self.get("/console/login").await;
        assert_eq!(form.status, 200, "{}", form.body);
        self.post("/console/login", &[("name", name), ("password", password)]).await
    }

    /// The CSRF token of the last page read, if it had a form.
    pub fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }

    /// Whether the browser holds a session cookie.
    pub fn has_session(&self) -> bool {
        self.cookies.get("hotline_session").is_some_and(|value| !value.is_empty())
    }

    /// `GET path`, without following redirects.
    pub async fn get(&mut self, path: &str) -> Answer {
        self.send("GET", path, None).await
    }

    /// Posts a form with the CSRF token of the last page read added.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        // Built before the request is sent: the serializer is not `Send`, and a browser may
        // post from a spawned task.
        let body = {
            let mut body = form_urlencoded::Serializer::new(String::new());
            for (name, value) in fields {
                body.append_pair(name, value);
            }
            if let Some(csrf) = &self.csrf {
                body.append_pair("csrf", csrf);
            }
            body.finish()
        };
        self.send("POST", path, Some(body.into_bytes())).await
    }

    /// Posts exactly these bytes as a form body, no CSRF token added: for forged and hostile
    /// posts.
    pub async fn post_raw(&mut self, path: &str, body: Vec<u8>) -> Answer {
        self.send("POST", path, Some(body)).await
    }

    async fn send(&mut self, method: &str, path: &str, body: Option<Vec<u8>>) -> Answer {
        let url = format!("{}{path}", self.base_url);
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if !self.cookies.is_empty() {
            let jar: Vec<String> =
                self.cookies.iter().map(|(name, value)| format!("{name}={value}")).collect();
            request = request.header("Cookie", jar.join("; "));
        }
        if body.is_some() {
            request = request.header("Content-Type", "application/x-www-form-urlencoded");
        }
        if let Some(address) = &self.forwarded_for {
            request = request.header("X-Forwarded-For", address.as_str());
        }
        let request = request.body(body.unwrap_or_default()).expect("a valid request");
        let answer = tokio::task::spawn_blocking(move || {
            let agent: Agent = super::agent_config().max_redirects(0).build().new_agent();
            let mut response = match agent.run(request) {
                Ok(response) => response,
                Err(error) => {
                    return Answer { status: 0, body: error.to_string(), headers: BTreeMap::new() };
                }
            };
            let mut headers = BTreeMap::<String, String>::new();
            for (name, value) in response.headers() {
                let value = value.to_str().unwrap_or_default().to_owned();
                headers
                    .entry(name.as_str().to_owned())
                    .and_modify(|old| {
                        old.push('\n');
                        old.push_str(&value);
                    })
                    .or_insert(value);
            }
            let body = response
                .body_mut()
                .with_config()
                .limit(16 * 1024 * 1024)
                .read_to_string()
                .unwrap_or_default();
            Answer { status: response.status().as_u16(), body, headers }
        })
        .await
        .unwrap();
        for cookie in answer.header("set-cookie").lines() {
            let pair = cookie.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || cookie.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        if let Some(csrf) = csrf_of(&answer.body) {
            self.csrf = Some(csrf);
        }
        answer
    }
}

/// The value of the first `name="csrf"` field of a page.
pub fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let rest = &html[at..];
    Some(rest[..rest.find('"')?].to_owned())
}

impl Browser {
    /// The first message of a live region's event stream at `path`; panics if the stream
    /// is refused.
    pub async fn first_live_message(&self, path: &str) -> String {
        match self.first_event(path).await {
            Ok(html) => html,
            Err(answer) => {
                panic!("the live region {path} was refused: {} {}", answer.status, answer.body)
            }
        }
    }

    /// Opens a live region's event stream (`data-live`) and returns the data of its first
    /// message (an HTML fragment), or the error page's status and body if it is refused.
    pub async fn first_event(&self, path: &str) -> Result<String, Answer> {
        self.live_event_where(path, |_| true).await
    }

    /// The first message of a live region's event stream at `path` whose data `wanted`
    /// takes, as the page would show it; the messages before it are skipped. Gives up with
    /// an error after the agent's 30 s.
    pub async fn live_event_where(
        &self,
        path: &str,
        wanted: impl Fn(&str) -> bool + Send + 'static,
    ) -> Result<String, Answer> {
        use std::io::BufRead;
        let url = format!("{}{path}", self.base_url);
        let jar: Vec<String> =
            self.cookies.iter().map(|(name, value)| format!("{name}={value}")).collect();
        tokio::task::spawn_blocking(move || {
            let failed = |e: String| Answer { status: 0, body: e, headers: BTreeMap::new() };
            let agent: Agent = super::agent_config().max_redirects(0).build().new_agent();
            let mut response = agent
                .get(&url)
                .header("Cookie", jar.join("; "))
                .header("Accept", "text/event-stream")
                .call()
                .map_err(|e| failed(e.to_string()))?;
            let status = response.status().as_u16();
            if status != 200 {
                let body = response.body_mut().read_to_string().unwrap_or_default();
                return Err(Answer { status, body, headers: BTreeMap::new() });
            }
            // An event is `data:` lines up to a blank line; keep-alive comments start with ':'.
            let mut data: Vec<String> = Vec::new();
            let reader = std::io::BufReader::new(response.body_mut().as_reader());
            for line in reader.lines() {
                let line = line.map_err(|e| failed(e.to_string()))?;
                if let Some(rest) = line.strip_prefix("data:") {
                    data.push(rest.strip_prefix(' ').unwrap_or(rest).to_owned());
                } else if line.is_empty() && !data.is_empty() {
                    let message = data.join("\n");
                    if wanted(&message) {
                        return Ok(message);
                    }
                    data.clear();
                }
            }
            Err(failed("the stream ended".into()))
        })
        .await
        .unwrap()
    }
}
