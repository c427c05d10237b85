//! How the hotline reaches its PostgreSQL servers: in plain TCP, or over TLS that checks the
//! server's certificate. Two machines of a line talk to their database across a network, and
//! what crosses it is the cases themselves.
//!
//! The URL says which, in libpq's words, so that the same URL works in `psql`:
//!
//! - no `sslmode`, or `sslmode=disable`: plain TCP (a database on the same machine, or a
//!   private network);
//! - `sslmode=require`, `verify-ca` or `verify-full`, with `sslrootcert=FILE`: TLS, the
//!   server's certificate checked against the CA certificates in FILE (PEM) **and** against
//!   the host name in the URL, whichever of the three is given. libpq's `require` checks
//!   nothing; a hotline that sent its cases to whoever answers would not be worth the TLS.
//! - `sslmode=prefer` or `allow` are refused: whoever sits between the machines could strip
//!   the TLS off and be spoken to in the clear. So is TLS without `sslrootcert`: no public
//!   CA signs a database server's certificate, and trusting them all would trust anyone.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use postgres::{Client, NoTls};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The most bytes a CA file may have: a few certificates.
const MOST_CA_BYTES: u64 = 1 << 20;

/// Why a `database.url` cannot be used. Neither repeats the URL, which can hold a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// PostgreSQL's client cannot read it; its reason.
    Malformed(String),
    /// Its TLS settings are refused, or their CA file cannot be read; why.
    Tls(String),
}

impl UrlError {
    /// Why, in words: the URL's part of a message.
    pub(super) fn reason(self) -> String {
        match self {
            UrlError::Malformed(reason) | UrlError::Tls(reason) => reason,
        }
    }
}

/// Checks `url` as the storage will read it: for the configuration's validation.
pub fn check_url(url: &str) -> Result<(), UrlError> {
    Target::parse(url, Duration::ZERO).map(|_| ())
}

/// Where the database is, and how to talk to it.
#[derive(Clone)]
pub(super) struct Target {
    /// The URL's settings, TLS left to [`Target::connect`].
    pub(super) config: postgres::Config,
    /// `None`: plain TCP.
    tls: Option<MakeRustlsConnect>,
}

impl Target {
    /// The target `url` names, a connection attempt waiting `connect_timeout` unless the URL
    /// says how long.
    pub(super) fn parse(url: &str, connect_timeout: Duration) -> Result<Target, UrlError> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut mode = None;
        let mut root = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = || {
                form_urlencoded::parse(format!("v={value}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            match key {
                "sslmode" => mode = Some(decoded()),
                "sslrootcert" => root = Some(PathBuf::from(decoded())),
                _ => kept.push(pair),
            }
        }
        let tls = match mode.as_deref() {
            None | Some("disable") => {
                if root.is_some() {
                    return Err(UrlError::Tls(
                        "sslrootcert is given without sslmode=verify-full: say \
                         sslmode=verify-full to use TLS, or leave sslrootcert out"
                            .into(),
                    ));
                }
                None
            }
            Some("require" | "verify-ca" | "verify-full") => {
                let Some(root) = root else {
                    return Err(UrlError::Tls(
                        "TLS (sslmode) needs sslrootcert=FILE, the CA certificate (PEM) that \
                         signed the database server's certificate"
                            .into(),
                    ));
                };
                Some(connector(&root).map_err(UrlError::Tls)?)
            }
            Some("prefer" | "allow") => {
                return Err(UrlError::Tls(
                    "sslmode=prefer and allow fall back to plain TCP when someone in between \
                     asks for it: say sslmode=verify-full with sslrootcert, or sslmode=disable \
                     on a private network"
                        .into(),
                ));
            }
            Some(_) => {
                return Err(UrlError::Tls(
                    "sslmode is not one of disable, verify-full (or require, verify-ca, which \
                     check as much here)"
                        .into(),
                ));
            }
        };
        kept.push(if tls.is_some() { "sslmode=require" } else { "sslmode=disable" });
        let rebuilt = format!("{base}?{}", kept.join("&"));
        let mut config = postgres::Config::from_str(&rebuilt)
            .map_err(|e| UrlError::Malformed(crate::storage::engine::describe(&e)))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(connect_timeout);
        }
        Ok(Target { config, tls })
    }

    /// A new session on the server.
    pub(super) fn connect(&self) -> Result<Client, postgres::Error> {
        match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(NoTls),
        }
    }

    /// Whether sessions go over TLS.
    pub(super) fn encrypted(&self) -> bool {
        self.tls.is_some()
    }
}

/// TLS that trusts the CA certificates in `root` alone.
fn connector(root: &std::path::Path) -> Result<MakeRustlsConnect, String> {
    let named = || format!("sslrootcert {:.200}", root.display().to_string().escape_debug());
    let file = std::fs::File::open(root).map_err(|e| format!("{}: {e}", named()))?;
    let mut pem = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MOST_CA_BYTES + 1), &mut pem)
        .map_err(|e| format!("{}: {e}", named()))?;
    if pem.len() as u64 > MOST_CA_BYTES {
        return Err(format!("{} is over 1 MiB: not a CA certificate file", named()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        let certificate =
            certificate.map_err(|_| format!("{} is not a PEM file of certificates", named()))?;
        roots.add(certificate).map_err(|e| format!("{}: {e}", named()))?;
    }
    if roots.is_empty() {
        return Err(format!("{} holds no PEM certificate", named()));
    }
    // ring, as ureq already uses it: rustls's other provider (aws-lc-rs) builds C code with
    // cmake, which a fresh machine does not have. ring lacks only the post-quantum key
    // exchange, which rustls now marks by deprecating it.
    #[allow(deprecated, reason = "ring is the provider in the tree; see above")]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
