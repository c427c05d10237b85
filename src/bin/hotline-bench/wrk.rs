//! `wrk`, the reference load generator, against the static baseline in the same run: its
//! requests/s is what the baseline can answer when the client costs next to nothing, and the
//! benchmark's own generator is judged against it. `wrk` is optional (installed by
//! `scripts/install-bench-tools`); without it the comparison is skipped, saying so.

use std::io;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hotline::simulator::{Method, WireRequest};

use crate::child::Server;

/// wrk's threads and connections: one thread, as the generator has, and its default pool.
const THREADS: u32 = 1;
const CONNECTIONS: u32 = 32;

/// What one wrk run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct WrkRun {
    /// `Requests/sec`, as wrk prints it.
    pub rate: f64,
    /// The requests wrk counted, when it printed them.
    pub requests: Option<u64>,
    /// `Non-2xx or 3xx responses`, when wrk printed any.
    pub failed: u64,
    /// The server's CPU time during the run, in seconds.
    pub server_cpu_secs: f64,
}

impl WrkRun {
    /// The server's CPU time per request answered, in microseconds.
    pub fn cpu_micros_per_request(&self) -> Option<f64> {
        let requests = self.requests.filter(|&n| n > 0)?;
        Some(self.server_cpu_secs * 1e6 / requests as f64)
    }
}

/// Why wrk gave no number.
#[derive(Debug)]
pub enum WrkError {
    /// No `wrk` on the `PATH`.
    Missing,
    /// wrk ran but failed, or printed no `Requests/sec`.
    Failed(String),
}

impl std::fmt::Display for WrkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WrkError::Missing => f.write_str(
                "wrk is not installed, so the baseline was not measured with it; \
                 `scripts/install-bench-tools` installs it",
            ),
            WrkError::Failed(why) => write!(f, "wrk gave no result: {why}"),
        }
    }
}

/// Runs `wrk -t1 -c32` against `server` (the baseline) for `duration`, POSTing a signed
/// form like the provider's to `/voice/incoming`; the script is written into `dir`.
pub fn run(
    server: &Server,
    auth_token: &str,
    duration: Duration,
    dir: &Path,
) -> Result<WrkRun, WrkError> {
    let script = dir.join("post-incoming.lua");
    let url = format!("{}/voice/incoming", server.base_url);
    std::fs::write(
        &script,
        lua_script(&WireRequest::new(Some(auth_token), &url, Method::Post, &provider_form())),
    )
    .map_err(|e| WrkError::Failed(format!("{}: {e}", script.display())))?;
    // wrk takes whole seconds.
    let seconds = duration.as_secs_f64().ceil().max(1.0) as u64;
    let before = server.usage().map_err(WrkError::Failed)?;
    let output = Command::new("wrk")
        .arg(format!("-t{THREADS}"))
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{seconds}s"))
        .arg("-s")
        .arg(&script)
        .arg(&url)
        .output();
    let after = server.usage().map_err(WrkError::Failed)?;
    let output = match output {
        Ok(output) => output,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(WrkError::Missing),
        Err(e) => return Err(WrkError::Failed(format!("cannot run wrk: {e}"))),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(WrkError::Failed(format!("{}: {}", output.status, excerpt(&stderr))));
    }
    let mut run = parse(&stdout).ok_or_else(|| {
        WrkError::Failed(format!("no `Requests/sec` in its output: {}", excerpt(&stdout)))
    })?;
    run.server_cpu_secs = after.cpu_secs - before.cpu_secs;
    Ok(run)
}

/// The parameters of a call's first webhook, as the provider sends them.
fn provider_form() -> Vec<(String, String)> {
    [
        ("CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", "+79161234567"),
        ("Caller", "+79161234567"),
        ("To", "+18005550100"),
        ("CallStatus", "ringing"),
        ("ApiVersion", "2010-04-01"),
        ("Direction", "inbound"),
        ("FromCountry", "RU"),
    ]
    .iter()
    .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
    .collect()
}

/// A wrk script sending `request` (a POST) on every request.
fn lua_script(request: &WireRequest) -> String {
    let mut script =
        String::from("-- Written by hotline-bench: the provider's first webhook of a call.\n");
    script.push_str("wrk.method = \"POST\"\n");
    script.push_str(&format!("wrk.body = {}\n", lua_string(&request.body)));
    script.push_str(
        "wrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n\
         wrk.headers[\"User-Agent\"] = \"TwilioProxy/1.1\"\n",
    );
    if let Some(signature) = &request.signature {
        script.push_str(&format!(
            "wrk.headers[\"X-Twilio-Signature\"] = {}\n",
            lua_string(signature)
        ));
    }
    script
}

/// `text` as a Lua string literal: quoted, with anything but printable ASCII escaped.
fn lua_string(text: &str) -> String {
    let mut literal = String::with_capacity(text.len() + 2);
    literal.push('"');
    for byte in text.bytes() {
        match byte {
            b'"' | b'\\' => {
                literal.push('\\');
                literal.push(char::from(byte));
            }
            0x20..=0x7e => literal.push(char::from(byte)),
            _ => literal.push_str(&format!("\\{byte:03}")),
        }
    }
    literal.push('"');
    literal
}

/// Reads wrk's report: `Requests/sec`, the request count and the failed answers. `None`
/// without a `Requests/sec` that is a number.
pub fn parse(output: &str) -> Option<WrkRun> {
    let field = |label: &str| {
        output.lines().find_map(|line| line.trim().strip_prefix(label).map(str::trim))
    };
    let rate =
        field("Requests/sec:")?.parse::<f64>().ok().filter(|r| r.is_finite() && *r >= 0.0)?;
    let requests = output.lines().find_map(|line| {
        let (count, _) = line.trim().split_once(" requests in ")?;
        count.parse::<u64>().ok()
    });
    let failed = field("Non-2xx or 3xx responses:").and_then(|n| n.parse().ok()).unwrap_or(0);
    Some(WrkRun { rate, requests, failed, server_cpu_secs: 0.0 })
}

/// The start of a long output, for an error message.
fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// wrk 4.2's report, as it printed it against the baseline on the development machine.
    const REPORT: &str = "Running 10s test @ http://127.0.0.1:40321/voice/incoming
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   378.04us  120.11us   7.92ms   91.03%
    Req/Sec    84.61k     2.87k   88.90k    82.00%
  841802 requests in 10.00s, 417.49MB read
Requests/sec:  84169.32
Transfer/sec:     41.74MB
";

    #[test]
    fn reads_wrks_report() {
        let run = parse(REPORT).unwrap();
        assert_eq!((run.rate, run.requests, run.failed), (84169.32, Some(841802), 0));
        let with_errors = REPORT.replace(
            "Requests/sec:",
            "  Socket errors: connect 0, read 3, write 0, timeout 0\n  Non-2xx or 3xx responses: 17\nRequests/sec:",
        );
        let run = parse(&with_errors).unwrap();
        assert_eq!((run.rate, run.failed), (84169.32, 17));
        let cpu = WrkRun { server_cpu_secs: 8.41802, ..run };
        assert!((cpu.cpu_micros_per_request().unwrap() - 10.0).abs() < 1e-9);
    }

    #[test]
    fn empty_or_hostile_output_gives_no_number() {
        let huge = "Requests/sec: 1".repeat(100_000);
        for output in [
            "",
            "\n\n",
            "unable to connect to 127.0.0.1:1 Connection refused",
            "Requests/sec:",
            "Requests/sec: fast",
            "Requests/sec: -5",
            "Requests/sec: NaN",
            "Requests/sec: inf",
            "Requests/sec: 1e999",
            "Requests/sec: 12\u{0}34",
            huge.as_str(),
        ] {
            assert_eq!(parse(output), None, "{output:.40}");
        }
        // A run without its count still has its rate, and no CPU per request.
        let run = parse("Requests/sec: 10.5\n").unwrap();
        assert_eq!((run.rate, run.requests), (10.5, None));
        assert_eq!(run.cpu_micros_per_request(), None);
    }

    #[test]
    fn the_script_posts_a_signed_form_whatever_its_characters() {
        let request = WireRequest::new(
            Some("token"),
            "http://127.0.0.1:9/voice/incoming",
            Method::Post,
            &provider_form(),
        );
        let script = lua_script(&request);
        assert!(script.contains("wrk.method = \"POST\""), "{script}");
        assert!(script.contains("From=%2B79161234567&Caller=%2B79161234567"), "{script}");
        let signature = request.signature.unwrap();
        assert!(script.contains(&format!("wrk.headers[\"X-Twilio-Signature\"] = \"{signature}\"")));
        assert_eq!(lua_string("a\"b\\c\nd\u{7f}é"), "\"a\\\"b\\\\c\\010d\\127\\195\\169\"");
        assert_eq!(lua_string(""), "\"\"");
    }
}
