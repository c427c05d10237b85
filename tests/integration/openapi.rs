//! The API's OpenAPI description (`GET /api/openapi.json`) against the server that serves it:
//! every route it names is answered, every route the code registers is in it, and it is a
//! valid OpenAPI 3.1 document, as our own checks and openapi-spec-validator read it.
//!
//! The validator is a Python package installed by `tests/openapi/setup` (CI runs it); without
//! it the validity test fails and says so.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::api::{self, person};
use common::{TestApp, spawn_app, spawn_app_with};
use hotline::domain::people::Role;
use serde_json::{Value, json};

/// The methods an OpenAPI path item may hold, as the document spells them.
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// The methods tried against every path: those the API could answer.
const TRIED: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "PATCH"];

/// A GET with these headers: (status, headers with lowercase names, body).
async fn get(
    app: &TestApp,
    path: &str,
    headers: Vec<(&'static str, Vec<u8>)>,
) -> (u16, BTreeMap<String, String>, String) {
    let mut request =
        ureq::http::Request::builder().method("GET").uri(format!("{}{path}", app.base_url));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let request = request.body(()).expect("a valid request");
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = common::agent_config().build().new_agent();
        let mut response = agent.run(request).expect("an answer");
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned())
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        (response.status().as_u16(), headers, body)
    })
    .await
    .unwrap()
}

/// The description as the server serves it, parsed.
async fn description(app: &TestApp) -> Value {
    let (status, _, body) = get(app, "/api/openapi.json", vec![]).await;
    assert_eq!(status, 200, "{body:.200}");
    serde_json::from_str(&body).expect("the description is JSON")
}

/// Every (path, method) the description names, methods in upper case.
fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"].as_object().expect("paths is an object");
    let mut found = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS {
            if item.get(method).is_some() {
                found.insert((path.clone(), method.to_uppercase()));
            }
        }
    }
    found
}

/// Whether an operation may be used without a token: it declares an empty requirement.
fn anonymous(operation: &Value) -> bool {
    operation["security"]
        .as_array()
        .is_some_and(|list| list.iter().any(|r| r.as_object().is_some_and(|r| r.is_empty())))
}

/// A path template with every `{parameter}` filled with something of the right shape for
/// routing: the server's router matches any segment there.
fn filled(template: &str) -> String {
    let mut path = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let close = rest[open..].find('}').expect("a closed parameter") + open;
        path.push('1');
        rest = &rest[close + 1..];
    }
    path.push_str(rest);
    path
}

#[tokio::test]
async fn the_description_is_served_without_a_token_and_revalidated_by_its_tag() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (status, headers, body) = get(&app, "/api/openapi.json", vec![]).await;

    // Assert
    assert_eq!(status, 200, "{body:.200}");
    assert!(headers["content-type"].starts_with("application/json"), "{headers:?}");
    assert!(headers["cache-control"].contains("no-cache"), "{headers:?}");
    let etag = headers["etag"].clone();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10, "{etag}");
    let document: Value = serde_json::from_str(&body).unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"), "{}", document["openapi"]);
    // The same text has the same tag; the tag names this text.
    let (_, again, body_again) = get(&app, "/api/openapi.json", vec![]).await;
    assert_eq!((again["etag"].as_str(), body_again.as_str()), (etag.as_str(), body.as_str()));

    // A client that has it is told it has not changed, without the body.
    for matching in [etag.clone(), format!("W/{etag}"), format!("\"old\", {etag}"), "*".into()] {
        let (status, headers, body) =
            get(&app, "/api/openapi.json", vec![("If-None-Match", matching.clone().into_bytes())])
                .await;
        assert_eq!((status, body.as_str()), (304, ""), "If-None-Match: {matching}");
        assert_eq!(headers["etag"], etag);
    }
    // Any other tag, or something that is not one, gets the document.
    let huge = format!("\"{}\"", "a".repeat(7000));
    for other in [
        b"\"0000\"".to_vec(),
        b"".to_vec(),
        etag.trim_matches('"').as_bytes().to_vec(),
        huge.into_bytes(),
        b"\"<script>\", \xff\xfe".to_vec(),
    ] {
        let shown = String::from_utf8_lossy(&other).chars().take(40).collect::<String>();
        let (status, _, body) =
            get(&app, "/api/openapi.json", vec![("If-None-Match", other)]).await;
        assert_eq!(status, 200, "If-None-Match: {shown}");
        assert_eq!(body, body_again, "If-None-Match: {shown}");
    }
}

#[tokio::test]
async fn every_described_operation_is_answered_and_no_other_method_is() {
    // Arrange
    let app = spawn_app().await;
    let document = description(&app).await;
    let described = operations(&document);
    assert!(described.len() > 40, "only {} operations described", described.len());

    for (path, item) in document["paths"].as_object().unwrap() {
        let url = filled(path);
        for method in TRIED {
            // Act: no token, so a route that needs one refuses before it reads anything.
            let (status, body) = api::api(&app, method, &url, None, None).await;

            // Assert
            let Some(operation) = item.get(method.to_lowercase()) else {
                // Not described: the path is known, so the method is refused as such.
                assert_eq!(status, 405, "{method} {url} is answered but not described: {body}");
                continue;
            };
            if anonymous(operation) {
                assert_eq!(status, 200, "{method} {url}: {body:.200}");
            } else {
                // The API's own refusal, not the router's 404 or 405.
                assert_eq!(status, 401, "{method} {url}: {body}");
                assert!(body["error"].is_string(), "{method} {url}: {body}");
                assert!(operation["responses"].get("401").is_some(), "{method} {path}");
            }
        }
    }

    // A path the description does not name is not answered.
    for path in ["/api/nothing", "/api/users/1/everything", "/api/openapi.yaml"] {
        let (status, _) = api::api(&app, "GET", path, None, None).await;
        assert_eq!(status, 404, "{path}");
    }
}

#[tokio::test]
async fn a_supervisor_is_answered_on_every_described_read_without_parameters() {
    // Arrange: the reads that need no parameter, asked by someone who may read them all.
    let app = spawn_app().await;
    let (_, token) = person(&app, "boss", Role::Supervisor, &["ru", "uk"]).await;
    let document = description(&app).await;
    let needs_nothing = |path: &str| {
        let parameters = document["paths"][path]["get"]["parameters"].as_array();
        !path.contains('{') && !parameters.into_iter().flatten().any(|p| p["required"] == true)
    };
    let reads: Vec<String> = operations(&document)
        .into_iter()
        .filter(|(path, method)| method == "GET" && needs_nothing(path))
        .map(|(path, _)| path)
        .collect();
    assert!(reads.len() >= 10, "{reads:?}");

    for path in reads {
        // Act
        let (status, body) = api::api(&app, "GET", &path, Some(&token), None).await;

        // Assert: a described answer.
        let described = document["paths"][&path]["get"]["responses"].get(status.to_string());
        assert!(described.is_some(), "GET {path}: {status} is not described: {body:.200}");
        assert_eq!(status, 200, "GET {path}: {body:.200}");
    }
}

/// The API's source files.
fn api_sources() -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/api");
    let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{} files in {}", files.len(), dir.display());
    files
}

/// The `#[utoipa::path(METHOD, path = "…"` attributes of a file, with the handler each is on:
/// (method in upper case, path, handler).
fn path_attributes(text: &str) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("#[utoipa::path(") {
        let rest = &text[at + "#[utoipa::path(".len()..];
        let method = rest.split(',').next().unwrap().trim().to_uppercase();
        let path = rest
            .split_once("path = \"")
            .and_then(|(_, after)| after.split_once('"'))
            .map(|(path, _)| path.to_owned())
            .expect("a path");
        let handler = rest
            .split_once("async fn ")
            .map(|(_, after)| after.split(['(', '<']).next().unwrap().trim().to_owned())
            .expect("a handler");
        found.push((method, path, handler));
    }
    found
}

/// The handlers named in `routes!(…)` invocations of a file.
fn registered(text: &str) -> Vec<String> {
    text.match_indices("routes!(")
        .flat_map(|(at, _)| {
            let inside = text[at + "routes!(".len()..].split(')').next().unwrap();
            inside
                .split(',')
                .map(|name| name.trim().rsplit("::").next().unwrap().to_owned())
                .filter(|name| !name.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn the_description_names_exactly_the_routes_the_code_registers() {
    // Arrange: the routes as the code declares them.
    let mut declared = BTreeSet::new();
    let mut handlers = BTreeSet::new();
    let mut in_routes = BTreeSet::new();
    let mut bypasses = Vec::new();
    for (path, text) in api_sources() {
        for (method, route, handler) in path_attributes(&text) {
            assert!(
                declared.insert((format!("/api{route}"), method.clone())),
                "{method} {route} twice"
            );
            handlers.insert(handler);
        }
        in_routes.extend(registered(&text));
        // A route added without routes! would be answered and not described.
        // (`OpenApiRouter::nest` takes routes with their description, so it is not one.)
        for bypass in [".route(", ".route_service(", ".nest_service(", ".fallback", "axum::routing"]
        {
            if text.contains(bypass) {
                bypasses.push(format!("{}: {bypass}", path.display()));
            }
        }
    }
    let server =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/server.rs"))
            .unwrap();

    // Act
    let app = spawn_app().await;
    let described = operations(&description(&app).await);

    // Assert
    assert!(
        bypasses.is_empty(),
        "routes registered without their description:\n{}",
        bypasses.join("\n")
    );
    assert_eq!(
        server.matches("\"/api").count(),
        1,
        "the server mounts more than the API under /api"
    );
    assert_eq!(handlers, in_routes, "handlers described but not registered, or the reverse");
    assert_eq!(described, declared);
}

/// Every `$ref` in `value`, with where it is.
fn references(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "$ref" {
                    found.push((
                        at.to_owned(),
                        value.as_str().unwrap_or("(not a string)").to_owned(),
                    ));
                } else {
                    references(value, &format!("{at}/{key}"), found);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                references(item, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

/// The install script of the validator, and the validator it installs.
fn validator() -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openapi");
    (dir.join("setup"), dir.join(".venv/bin/openapi-spec-validator"))
}

#[tokio::test]
async fn the_description_is_valid_openapi_3_1() {
    // Arrange
    let app = spawn_app().await;
    let document = description(&app).await;

    // Assert: our own reading.
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1."), "{}", document["openapi"]);
    assert!(document["info"]["title"].is_string() && document["info"]["version"].is_string());
    let mut found = Vec::new();
    references(&document, "#", &mut found);
    assert!(found.len() > 50, "{} references", found.len());
    for (at, reference) in &found {
        let pointer = reference.strip_prefix('#').unwrap_or("(not local)");
        assert!(document.pointer(pointer).is_some(), "{at}: {reference} resolves to nothing");
    }
    let mut ids = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(operation) = item.get(method) else { continue };
            let responses = operation["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|status| status.starts_with('2') || status.starts_with('3')),
                "{method} {path}: no successful answer described"
            );
            for (status, response) in responses {
                let described =
                    response.get("$ref").is_some() || response["description"].is_string();
                assert!(described, "{method} {path} {status}: no description");
            }
            let id = operation["operationId"].as_str().expect("an operationId");
            assert!(ids.insert(id.to_owned()), "{method} {path}: operationId {id} twice");
            // Every parameter of the template is declared as a path parameter.
            let declared: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            let in_template: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            assert_eq!(declared, in_template, "{method} {path}: path parameters");
        }
    }

    // Assert: the validator's reading.
    let (setup, validator) = validator();
    assert!(
        validator.exists(),
        "{} is missing: run {} (CI's .ci/run does)",
        validator.display(),
        setup.display()
    );
    let file = app.dir.path().join("openapi.json");
    std::fs::write(&file, document.to_string()).unwrap();
    let output = Command::new(&validator).arg(&file).output().expect("the validator runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "openapi-spec-validator refused the description:\n{said}");
    assert!(said.contains("OK"), "{said}");
}

/// An answer of the server, to be checked against the description: the operation's path as
/// the description names it, the method in lower case, the status, the body as JSON.
struct Answer {
    path: &'static str,
    method: &'static str,
    status: u16,
    body: Value,
}

/// Sends a request and keeps its answer under the operation's `template`.
async fn ask(
    app: &TestApp,
    answers: &mut Vec<Answer>,
    (method, template): (&'static str, &'static str),
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Value {
    let (status, answer) = api::api(app, method, path, token, body).await;
    assert_ne!(status, 0, "{method} {path}: {answer}");
    let method = match method {
        "GET" => "get",
        "PUT" => "put",
        "POST" => "post",
        "DELETE" => "delete",
        other => panic!("{other} is not tried here"),
    };
    answers.push(Answer { path: template, method, status, body: answer.clone() });
    answer
}

#[tokio::test]
async fn the_answers_of_the_server_are_those_the_description_gives() {
    // Arrange: a case from a call, a supervisor and an operator, on a copy of the scripts
    // (publishing rewrites the folder's files).
    let scratch = tempfile::tempdir().unwrap();
    let scripts = common::shipped_scripts_copy(scratch.path());
    let app = spawn_app_with(|config| config.scripts.dir = scripts.clone()).await;
    let transcript = app.call("1,1,2,2,1", None).await;
    let case = app.case(&transcript.call_sid).await.number.to_string();
    let (_, boss) = person(&app, "boss", Role::Supervisor, &["ru", "uk"]).await;
    let (_, operator) = person(&app, "olga", Role::Operator, &["ru"]).await;
    let document = description(&app).await;
    let mut answers = Vec::new();
    let a = &mut answers;
    let (b, o) = (Some(boss.as_str()), Some(operator.as_str()));

    // Act: every operation at least once, successful and refused.
    ask(&app, a, ("GET", "/me"), "/api/me", o, None).await;
    ask(&app, a, ("GET", "/users"), "/api/users", b, None).await;
    ask(&app, a, ("GET", "/users"), "/api/users", o, None).await;
    ask(&app, a, ("GET", "/users"), "/api/users", None, None).await;
    let body = json!({"name": "newcomer", "role": "operator", "languages": ["uk"]});
    let created = ask(&app, a, ("POST", "/users"), "/api/users", b, Some(body.clone())).await;
    ask(&app, a, ("POST", "/users"), "/api/users", b, Some(body)).await;
    ask(&app, a, ("POST", "/users"), "/api/users", b, Some(json!({"name": 7}))).await;
    let id = created["person"]["id"].as_i64().expect("the new person's id");
    for (template, action) in [
        ("/users/{id}/pin", "pin"),
        ("/users/{id}/password", "password"),
        ("/users/{id}/unlock", "unlock"),
        ("/users/{id}/tokens", "tokens"),
        ("/users/{id}/disable", "disable"),
        ("/users/{id}/enable", "enable"),
    ] {
        ask(&app, a, ("POST", template), &format!("/api/users/{id}/{action}"), b, None).await;
        ask(&app, a, ("POST", template), &format!("/api/users/9999/{action}"), b, None).await;
        ask(&app, a, ("POST", template), &format!("/api/users/x/{action}"), b, None).await;
    }
    let languages = Some(json!({"languages": ["uk", "ru"]}));
    let path = format!("/api/users/{id}/languages");
    ask(&app, a, ("PUT", "/users/{id}/languages"), &path, b, languages).await;
    let path = format!("/api/users/{id}/tokens");
    ask(&app, a, ("DELETE", "/users/{id}/tokens"), &path, b, None).await;
    ask(&app, a, ("DELETE", "/users/{id}/tokens"), &path, o, None).await;
    ask(&app, a, ("GET", "/pin-locks"), "/api/pin-locks", b, None).await;
    ask(&app, a, ("GET", "/audit"), "/api/audit?limit=20", b, None).await;
    ask(&app, a, ("GET", "/audit"), "/api/audit?limit=-1", b, None).await;

    ask(&app, a, ("GET", "/queues"), "/api/queues", o, None).await;
    ask(&app, a, ("POST", "/queues/claim"), "/api/queues/claim", o, None).await;
    ask(&app, a, ("PUT", "/me/state"), "/api/me/state", o, Some(json!({"state": "break"}))).await;
    ask(&app, a, ("PUT", "/me/state"), "/api/me/state", o, Some(json!({"state": "on-call"}))).await;
    ask(&app, a, ("GET", "/operators"), "/api/operators", b, None).await;

    let path = format!("/api/cases/{case}");
    ask(&app, a, ("GET", "/cases/{number}"), &path, o, None).await;
    ask(&app, a, ("GET", "/cases/{number}"), "/api/cases/2026-x", o, None).await;
    ask(&app, a, ("GET", "/cases/{number}"), "/api/cases/1999-000001", o, None).await;
    let note = Some(json!({"text": "Called back; \"safe\" for now.\nSecond line."}));
    ask(&app, a, ("POST", "/cases/{number}/notes"), &format!("{path}/notes"), o, note).await;
    let blank = Some(json!({"text": " "}));
    ask(&app, a, ("POST", "/cases/{number}/notes"), &format!("{path}/notes"), o, blank).await;
    let close = Some(json!({"disposition": "prank", "close": true}));
    let disposition = format!("{path}/disposition");
    ask(&app, a, ("PUT", "/cases/{number}/disposition"), &disposition, o, close.clone()).await;
    ask(&app, a, ("PUT", "/cases/{number}/disposition"), &disposition, o, close).await;
    ask(&app, a, ("POST", "/cases/{number}/reopen"), &format!("{path}/reopen"), b, None).await;
    ask(&app, a, ("POST", "/cases/{number}/reopen"), &format!("{path}/reopen"), b, None).await;
    ask(&app, a, ("GET", "/cases/{number}/hold"), &format!("{path}/hold"), b, None).await;
    let hold = Some(json!({"hold": true}));
    ask(&app, a, ("PUT", "/cases/{number}/hold"), &format!("{path}/hold"), b, hold).await;
    ask(&app, a, ("GET", "/cases"), "/api/cases?limit=10&channel=voice", b, None).await;
    ask(&app, a, ("GET", "/cases"), "/api/cases?nothing=1", b, None).await;
    let block = Some(json!({"case": case, "reason": "threats"}));
    ask(&app, a, ("POST", "/blocklist"), "/api/blocklist", b, block.clone()).await;
    ask(&app, a, ("POST", "/blocklist"), "/api/blocklist", b, block).await;
    ask(&app, a, ("GET", "/blocklist"), "/api/blocklist", b, None).await;
    let unblock = format!("/api/blocklist/{case}");
    ask(&app, a, ("DELETE", "/blocklist/{entry}"), &unblock, b, None).await;
    ask(&app, a, ("DELETE", "/blocklist/{entry}"), &unblock, b, None).await;

    let listed = ask(&app, a, ("GET", "/followups"), "/api/followups", o, None).await;
    ask(&app, a, ("GET", "/followups"), "/api/followups?closed=maybe", o, None).await;
    let first = listed["followups"][0]["id"].as_i64().expect("the call's voicemail");
    let one = format!("/api/followups/{first}");
    ask(&app, a, ("GET", "/followups/{id}"), &one, o, None).await;
    ask(&app, a, ("POST", "/followups/{id}/reveal"), &format!("{one}/reveal"), o, None).await;
    ask(&app, a, ("POST", "/followups/{id}/take"), &format!("{one}/take"), o, None).await;
    ask(&app, a, ("POST", "/followups/{id}/reveal"), &format!("{one}/reveal"), o, None).await;
    let tried = Some(json!({"result": "tried"}));
    let attempts = format!("{one}/attempts");
    ask(&app, a, ("POST", "/followups/{id}/attempts"), &attempts, o, tried).await;
    let wrong = Some(json!({"result": "maybe"}));
    ask(&app, a, ("POST", "/followups/{id}/attempts"), &attempts, o, wrong).await;

    ask(&app, a, ("GET", "/scripts"), "/api/scripts", b, None).await;
    let text = std::fs::read_to_string(common::shipped_scripts().join("en.xml")).unwrap();
    let draft = "/api/scripts/drafts/en.xml";
    let broken = Some(json!({"text": text.replace("</script>", "")}));
    ask(&app, a, ("PUT", "/scripts/drafts/{file}"), draft, b, broken).await;
    ask(&app, a, ("GET", "/scripts/drafts/{file}"), draft, b, None).await;
    ask(&app, a, ("GET", "/scripts"), "/api/scripts", b, None).await;
    ask(&app, a, ("POST", "/scripts/publish"), "/api/scripts/publish", b, Some(json!({}))).await;
    let fixed = Some(json!({"text": text.replace("</script>", "<!-- checked --></script>")}));
    ask(&app, a, ("PUT", "/scripts/drafts/{file}"), draft, b, fixed).await;
    let comment = Some(json!({"comment": "a comment"}));
    ask(&app, a, ("POST", "/scripts/publish"), "/api/scripts/publish", b, comment).await;
    let versions =
        ask(&app, a, ("GET", "/scripts/versions"), "/api/scripts/versions", b, None).await;
    let version = versions["versions"][0]["id"].as_i64().expect("a version");
    let path = format!("/api/scripts/versions/{version}");
    ask(&app, a, ("GET", "/scripts/versions/{id}"), &path, b, None).await;
    let path = format!("/api/scripts/diff?from={version}&to={version}");
    ask(&app, a, ("GET", "/scripts/diff"), &path, b, None).await;
    let rollback = Some(json!({"version": version}));
    ask(&app, a, ("POST", "/scripts/rollback"), "/api/scripts/rollback", b, rollback).await;
    let tester = Some(json!({"number": "+447700900123", "label": "Olena's phone"}));
    ask(&app, a, ("POST", "/scripts/testers"), "/api/scripts/testers", b, tester).await;
    ask(&app, a, ("GET", "/scripts/testers"), "/api/scripts/testers", b, None).await;
    ask(&app, a, ("DELETE", "/scripts/testers/{id}"), "/api/scripts/testers/999", b, None).await;
    ask(&app, a, ("GET", "/scripts/graph/{language}"), "/api/scripts/graph/xx", o, None).await;

    // Assert: every answer is described, and matches its schema.
    let given: Vec<Value> = answers
        .iter()
        .map(|answer| {
            json!({
                "path": format!("/api{}", answer.path),
                "method": answer.method,
                "status": answer.status,
                "body": answer.body,
            })
        })
        .collect();
    let statuses: BTreeSet<u16> = answers.iter().map(|answer| answer.status).collect();
    for expected in [200, 201, 400, 401, 403, 404, 409, 422] {
        assert!(statuses.contains(&expected), "no {expected} among the answers: {statuses:?}");
    }
    let said = check_answers(&json!({"document": document, "answers": given}));
    assert!(said.is_empty(), "answers that are not as described:\n{said}");
}

/// What `tests/openapi/check_answers.py` says of these answers: empty when all are as described.
fn check_answers(input: &Value) -> String {
    use std::io::Write;
    use std::process::Stdio;

    let (setup, validator) = validator();
    let python = validator.with_file_name("python");
    assert!(python.exists(), "{} is missing: run {}", python.display(), setup.display());
    let script = setup.with_file_name("check_answers.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the checker runs");
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.success(), said.trim().is_empty(), "{said}");
    said
}

/// Every `` `METHOD /path `` a text of `value` names, as (path, method), the path cut at its
/// query (`?…`, `[?…]`).
fn named_routes(value: &Value, found: &mut Vec<(String, String)>) {
    match value {
        Value::String(text) => {
            for method in TRIED {
                for (at, _) in text.match_indices(&format!("`{method} /")) {
                    let rest = &text[at + method.len() + 2..];
                    let end = rest.find(['`', '?', '[', ' ']).unwrap_or(rest.len());
                    found.push((rest[..end].to_owned(), method.to_owned()));
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| named_routes(item, found)),
        Value::Object(map) => map.values().for_each(|item| named_routes(item, found)),
        _ => {}
    }
}

#[tokio::test]
async fn every_route_a_summary_or_description_names_is_in_the_description() {
    // Arrange
    let app = spawn_app().await;
    let document = description(&app).await;
    let described = operations(&document);

    // Act
    let mut named = Vec::new();
    named_routes(&document, &mut named);

    // Assert: a reader who calls the route a text names is answered.
    assert!(named.len() >= described.len(), "the summaries name their routes: {named:?}");
    let unknown: Vec<_> = named.iter().filter(|route| !described.contains(route)).collect();
    assert!(unknown.is_empty(), "named but not described: {unknown:?}");
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(summary) = item[method]["summary"].as_str() {
                assert!(!summary.contains('\n'), "{method} {path}: {summary:?}");
            }
        }
    }
}

#[tokio::test]
async fn every_bounded_parameter_is_taken_just_inside_its_bounds_and_refused_just_outside() {
    // Arrange
    let app = spawn_app().await;
    let (_, token) = person(&app, "sofia", Role::Supervisor, &["ru"]).await;
    let document = description(&app).await;
    let mut asked = Vec::new();

    for (path, item) in document["paths"].as_object().expect("paths") {
        let parameters = item["get"]["parameters"].as_array().cloned().unwrap_or_default();
        for parameter in parameters.iter().filter(|p| p["in"] == "query") {
            let name = parameter["name"].as_str().expect("a parameter's name");
            let schema = &parameter["schema"];
            let (Some(minimum), Some(maximum)) =
                (schema["minimum"].as_i64(), schema["maximum"].as_i64())
            else {
                // An id is any number; a count or a position never is.
                assert!(!matches!(name, "limit" | "offset"), "GET {path}: {name}: {schema}");
                continue;
            };
            assert!(minimum < maximum, "GET {path}: {name}: {schema}");

            // Act / Assert
            for (value, inside) in
                [(minimum - 1, false), (minimum, true), (maximum, true), (maximum + 1, false)]
            {
                let query = format!("{path}?{name}={value}");
                let (status, body) = api::api(&app, "GET", &query, Some(&token), None).await;
                let expected = if inside { 200 } else { 400 };
                assert_eq!(status, expected, "GET {query}: {body}");
            }
            asked.push(format!("{path} {name}"));
        }
    }
    for expected in ["/api/cases limit", "/api/cases offset", "/api/audit limit"] {
        assert!(asked.iter().any(|a| a == expected), "{expected} not asked: {asked:?}");
    }
}

/// The lower and upper count of digits of a number's pattern: its one `{LOW,HIGH}`.
fn digit_counts(pattern: &str) -> (usize, usize) {
    let counts = pattern
        .split_once('{')
        .and_then(|(_, rest)| rest.split_once('}'))
        .and_then(|(counts, _)| counts.split_once(','))
        .unwrap_or_else(|| panic!("no count of digits in {pattern:?}"));
    (counts.0.parse().expect("a count"), counts.1.parse().expect("a count"))
}

#[tokio::test]
async fn a_test_caller_is_taken_within_the_described_pattern_and_length_and_refused_beyond() {
    // Arrange
    let app = spawn_app().await;
    let (_, token) = person(&app, "sofia", Role::Supervisor, &["ru"]).await;
    let document = description(&app).await;
    let fields = &document["components"]["schemas"]["TesterBody"]["properties"];
    let most = fields["label"]["maxLength"].as_u64().expect("label has a maxLength") as usize;
    let pattern = fields["number"]["pattern"].as_str().expect("number has a pattern");
    let (fewest, most_digits) = digit_counts(pattern);
    let add = |number: String, label: String| {
        let app = &app;
        let token = token.clone();
        async move {
            let body = json!({"number": number, "label": label});
            api::api(app, "POST", "/api/scripts/testers", Some(&token), Some(body)).await
        }
    };
    let digits = |n: usize| format!("+44{}", "7".repeat(n - 2));

    // Act / Assert: the label counts characters, not bytes.
    for (label, taken) in [
        ("ж".repeat(most), true),
        ("ж".repeat(most + 1), false),
        (String::new(), false),
        ("   ".to_owned(), false),
        ("x".repeat(100_000), false),
    ] {
        let (status, body) = add(digits(fewest), label.clone()).await;
        assert_eq!(status == 200, taken, "a label of {}: {status} {body}", label.chars().count());
    }
    for (number, taken) in [
        (digits(fewest), true),
        (digits(most_digits), true),
        (digits(fewest - 1), false),
        (digits(most_digits + 1), false),
        (String::new(), false),
        ("447700900123".to_owned(), false),
        ("+44 7700 900123".to_owned(), true),
        ("+44 (7700) 900-123".to_owned(), true),
        ("+44 7700 900123 ext 1".to_owned(), false),
        (format!("+{}", "٧".repeat(fewest)), false),
        (format!("+{}", "7".repeat(100_000)), false),
        ("+447700900123<script>".to_owned(), false),
    ] {
        let (status, body) = add(number.clone(), "phone".into()).await;
        assert_eq!(status, if taken { 200 } else { 400 }, "{number:.40}: {body}");
    }
}
