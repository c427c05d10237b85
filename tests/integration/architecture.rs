//! The layers of `src/`, checked: what each part of the crate may name of the others.
//!
//! `domain/` is the vocabulary and names nothing else; the engines (`ivr.rs`, `twiml.rs`,
//! `signature/`) and `storage/` name only the domain and the script model (`chat.rs`, the
//! text engine, also the call engine it takes its decisions from); `telegram/` (the Bot API's
//! gateway) and `twilio/` only the domain and the HTTP agent they share (`outbound.rs`);
//! `app/` holds the use cases and is the only caller of storage and
//! of the gateway; the surfaces (`http/webhooks`, `http/text`, `http/api`, `http/console`,
//! `cli/`) name `app/` and the domain, never storage and never each other (the text surface
//! parses Telegram's updates with the gateway's parser).
//! Only `app/` chooses an audit action, opens a sealed number or reads the clock.
//!
//! Every rule reads the source as `grep -rn 'crate::' src/<dir>` would, comments included (a
//! doc link is a dependency a reader follows too), leaving out each file's unit tests.

use std::fs;
use std::path::{Path, PathBuf};

/// A part of the crate and what it may name, as `crate::` path prefixes.
struct Layer {
    /// Files under this path (relative to `src/`) belong to the layer; the longest match wins.
    path: &'static str,
    /// The prefixes (after `crate::`) it may name. Its own path is always allowed.
    may_name: &'static [&'static str],
}

const LAYERS: &[Layer] = &[
    Layer { path: "domain", may_name: &[] },
    Layer { path: "scripts", may_name: &["domain"] },
    Layer { path: "twiml.rs", may_name: &[] },
    Layer { path: "signature", may_name: &[] },
    Layer { path: "ivr.rs", may_name: &["domain", "scripts"] },
    // The text engine walks scripts with the call engine's decisions.
    Layer { path: "chat.rs", may_name: &["domain", "scripts", "ivr"] },
    Layer { path: "storage", may_name: &["domain", "scripts"] },
    // The HTTP agent both gateways call out with.
    Layer { path: "outbound.rs", may_name: &["domain"] },
    // The gateway to Telegram's Bot API: I/O, called by the use cases only, like storage.
    Layer { path: "telegram", may_name: &["domain", "outbound"] },
    // The gateway to Twilio's Messaging REST API, likewise.
    Layer { path: "twilio", may_name: &["domain", "outbound"] },
    // The configuration checks a public key the way the signatures will read it, and the
    // database's URL the way storage will.
    Layer {
        path: "config.rs",
        may_name: &["domain", "signature::telnyx", "storage::postgres::tls"],
    },
    Layer { path: "telemetry.rs", may_name: &["config"] },
    Layer {
        path: "app",
        may_name: &[
            "domain", "scripts", "ivr", "chat", "twiml", "storage", "telegram", "twilio",
            "outbound", "config",
        ],
    },
    // The HTTP plumbing every surface shares: the server that composes them, connection
    // bounds, flood limits.
    Layer {
        path: "http",
        may_name: &["app", "domain", "scripts", "ivr", "twiml", "signature", "config", "telemetry"],
    },
    Layer {
        path: "http/webhooks",
        may_name: &[
            "app",
            "domain",
            "scripts",
            "ivr",
            "twiml",
            "signature",
            "config",
            "http::limits",
        ],
    },
    Layer { path: "http/api", may_name: &["app", "domain", "scripts", "config"] },
    // The text channels' webhooks parse each channel's update at the edge.
    Layer {
        path: "http/text",
        may_name: &["app", "domain", "config", "signature", "telegram::update"],
    },
    Layer {
        path: "http/console",
        may_name: &["app", "domain", "scripts", "config", "http::limits"],
    },
    Layer {
        path: "cli",
        may_name: &[
            "app",
            "domain",
            "scripts",
            "ivr",
            "config",
            "telemetry",
            "simulator",
            "http::server",
        ],
    },
    Layer { path: "simulator", may_name: &["signature", "twiml"] },
    // The fuzzers' entry points drive the pure parts and the webhooks' parsing.
    Layer {
        path: "fuzzing.rs",
        may_name: &["domain", "scripts", "ivr", "twiml", "signature", "http::webhooks"],
    },
    Layer { path: "lib.rs", may_name: &["*"] },
    Layer { path: "main.rs", may_name: &["*"] },
];

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The crate's source files but `src/bin` (other crates), as (path relative to `src/`, text
/// without its unit tests).
fn crate_files() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            if relative.starts_with("bin/") {
                return None;
            }
            Some((relative, without_unit_tests(&fs::read_to_string(&path).unwrap())))
        })
        .collect()
}

/// The text before `#[cfg(test)]` followed by a test module, or a file that is one.
fn without_unit_tests(text: &str) -> String {
    let mut kept = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines.peek().is_some_and(|next| next.trim_start().starts_with("mod "))
        {
            break;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

fn layer_of(file: &str) -> &'static Layer {
    LAYERS
        .iter()
        .filter(|layer| {
            file == layer.path
                || file.starts_with(&format!("{}/", layer.path))
                || file.strip_suffix(".rs") == Some(layer.path)
                || file == format!("{}/mod.rs", layer.path)
        })
        .max_by_key(|layer| layer.path.len())
        .unwrap_or_else(|| panic!("src/{file} is in no layer of tests/architecture.rs"))
}

/// The module path a file is, as named after `crate::` (`http/api/mod.rs` is `http::api`).
fn module_of(file: &str) -> String {
    let path = file.strip_suffix(".rs").unwrap_or(file);
    let path = path.strip_suffix("/mod").unwrap_or(path);
    path.replace('/', "::")
}

/// Every `crate::a::b` path named, with its line number.
fn named_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(after.len());
            found.push((number + 1, after[..end].trim_end_matches(':').to_owned()));
            rest = &after[end..];
        }
    }
    found
}

/// The part of the crate a module is inside of: its top-level module, or its surface of
/// `http/` (a surface's own tree is not its siblings').
fn own_root(own: &str) -> String {
    let mut parts = own.split("::");
    let top = parts.next().unwrap_or_default();
    match (top, parts.next()) {
        ("http", Some(surface @ ("webhooks" | "api" | "console"))) => format!("http::{surface}"),
        _ => top.to_owned(),
    }
}

fn allowed(path: &str, may_name: &[&str], own: &str) -> bool {
    let starts = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}::"));
    may_name.contains(&"*") || starts(&own_root(own)) || may_name.iter().any(|p| starts(p))
}

#[test]
fn every_part_of_the_crate_names_only_the_layers_below_it() {
    let mut broken = Vec::new();
    for (file, text) in crate_files() {
        let layer = layer_of(&file);
        let own = module_of(&file);
        for (line, path) in named_paths(&text) {
            if !allowed(&path, layer.may_name, &own) {
                broken.push(format!("src/{file}:{line}: crate::{path}"));
            }
        }
    }
    assert!(broken.is_empty(), "names across the layers:\n{}", broken.join("\n"));
}

#[test]
fn no_surface_names_another() {
    let surfaces = ["http::webhooks", "http::text", "http::api", "http::console", "cli"];
    let mut broken = Vec::new();
    for (file, text) in crate_files() {
        let own = module_of(&file);
        let Some(mine) = surfaces.iter().find(|s| own == **s || own.starts_with(&format!("{s}::")))
        else {
            continue;
        };
        for (line, path) in named_paths(&text) {
            if surfaces.iter().any(|s| s != mine && path.starts_with(s)) {
                broken.push(format!("src/{file}:{line}: crate::{path}"));
            }
        }
    }
    assert!(broken.is_empty(), "surfaces naming each other:\n{}", broken.join("\n"));
}

/// Lines outside `app/` (and the definitions themselves) that use one of `needles`.
fn used_outside_app(needles: &[&str], also_allowed: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (file, text) in crate_files() {
        if file.starts_with("app/") || also_allowed.iter().any(|a| file.starts_with(a)) {
            continue;
        }
        for (number, line) in text.lines().enumerate() {
            if needles.iter().any(|needle| line.contains(needle)) {
                found.push(format!("src/{file}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn only_the_use_cases_choose_an_audit_action() {
    let found = used_outside_app(&["AuditAction::"], &["domain/audit.rs"]);
    assert!(found.is_empty(), "audit actions chosen outside app/:\n{}", found.join("\n"));
}

#[test]
fn only_the_use_cases_open_a_sealed_number() {
    let found = used_outside_app(
        &["callbacks.open(", "sealer.open(", "sealer().open(", ".open(sealed", ".open(&sealed"],
        &[],
    );
    assert!(found.is_empty(), "sealed numbers opened outside app/:\n{}", found.join("\n"));
}

#[test]
fn only_the_use_cases_read_the_clock() {
    // The simulator is the provider's side, with a clock of its own.
    let found = used_outside_app(&["Utc::now", "Local::now", "SystemTime::now"], &["simulator/"]);
    assert!(found.is_empty(), "the clock read outside app/:\n{}", found.join("\n"));
}

#[test]
fn every_file_is_in_a_layer_and_the_rules_see_imports() {
    let files = crate_files();
    for (file, _) in &files {
        layer_of(file);
    }
    // The rules above are only as good as the path reader: it must see a plain import.
    assert_eq!(named_paths("use crate::app::{App, AppError};"), [(1, "app".to_owned())]);
    assert_eq!(
        named_paths("x(crate::storage::Storage::open)"),
        [(1, "storage::Storage::open".to_owned())]
    );
    assert!(files.len() > 50, "{} files: is src/ where the test looks?", files.len());
}

#[test]
fn the_top_level_modules_form_no_cycle() {
    use std::collections::{BTreeMap, BTreeSet};

    // Who names whom, between the top-level modules (`http/api/…` is `http`).
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in crate_files() {
        let from = module_of(&file).split("::").next().unwrap_or_default().to_owned();
        if from == "lib" || from == "main" {
            continue;
        }
        let names = edges.entry(from.clone()).or_default();
        for (_, path) in named_paths(&text) {
            let to = path.split("::").next().unwrap_or_default().to_owned();
            if to != from && !to.is_empty() {
                names.insert(to);
            }
        }
    }
    // A depth-first walk that meets a module still on its path has found a cycle.
    fn walk(
        module: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| m == module) {
            let mut cycle = path[at..].to_vec();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if !done.insert(module.to_owned()) {
            return None;
        }
        path.push(module.to_owned());
        for next in edges.get(module).into_iter().flatten() {
            if let Some(cycle) = walk(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    assert!(edges.len() >= 10, "{} top-level modules: does the reader see them?", edges.len());
    let mut done = BTreeSet::new();
    for module in edges.keys() {
        let cycle = walk(module, &edges, &mut Vec::new(), &mut done);
        assert!(cycle.is_none(), "an import cycle: {}", cycle.unwrap_or_default().join(" -> "));
    }
}
