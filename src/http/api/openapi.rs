//! The API's description: an OpenAPI 3.1 document, served at `GET /api/openapi.json`.
//!
//! It is built from the list of routes the server answers: each resource's `router()`
//! registers its handlers with `utoipa_axum::routes!`, which gives axum the handler and the
//! document its `#[utoipa::path]` at once, so a route cannot be answered without being
//! described nor described without being answered. What every route shares is added here
//! once: the bearer scheme, and the answers any route may give (`401` without a valid token,
//! `429` to an address refused too often, `500`).
//!
//! Two things are settled on the finished document rather than in the attributes: the bounds
//! the server checks, which the attribute macros take only as literals, are put on the
//! parameters and fields from the very constants the checks use ([`PARAMETER_BOUNDS`],
//! [`FIELD_BOUNDS`]); and the routes' doc comments, which name their paths as the resource's
//! router has them (`GET /cases`), name them as a client calls them (`GET /api/cases`).
//!
//! The document describes; it holds no data, so it needs no token: a client generator or a
//! reader can fetch it before having one.

use std::sync::LazyLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, Content, HeaderBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder,
    Ref, RefOr, ResponseBuilder, Type,
};
use utoipa::{PartialSchema, ToSchema};

use serde_json::{Value, json};

use super::{ApiError, ErrorBody};
use crate::app::people::MAX_AUDIT_LIMIT;
use crate::app::scripts::editing::{
    MAX_TESTER_DIGITS, MAX_TESTER_LABEL_CHARS, MAX_TESTER_NUMBER_CHARS, MIN_TESTER_DIGITS,
    NUMBER_SEPARATORS,
};
use crate::domain::casework::{MAX_EXPORT, MAX_OFFSET, MAX_PAGE};

/// The security scheme's name in the document: a bearer token, `hlt_…`.
const BEARER: &str = "bearer";

/// The answers every route may give, as (status, name in `components.responses`): who
/// answers them is not the route but the token check, the flood guard and the error type.
const SHARED: [(&str, &str); 3] =
    [("401", "Unauthorized"), ("429", "TooManyRequests"), ("500", "Internal")];

/// The numeric query parameters the server bounds, as (path, parameter, minimum, maximum):
/// a value outside is refused with a 400.
const PARAMETER_BOUNDS: [(&str, &str, u32, u32); 6] = [
    ("/api/cases", "limit", 1, MAX_PAGE),
    ("/api/cases", "offset", 0, MAX_OFFSET),
    ("/api/cases.csv", "limit", 1, MAX_EXPORT),
    ("/api/cases.csv", "offset", 0, MAX_OFFSET),
    ("/api/audit", "limit", 1, MAX_AUDIT_LIMIT),
    ("/api/scripts/versions", "limit", 1, super::scripts::MAX_LIMIT),
];

/// The request bodies' fields the server bounds, as (schema, field, keyword, value).
static FIELD_BOUNDS: LazyLock<[(&str, &str, &str, Value); 4]> = LazyLock::new(|| {
    // The separators a number may have between its digits, as a character class of the
    // ECMA-262 patterns JSON Schema uses (`-` last, so it is itself).
    let mut separators: Vec<char> = NUMBER_SEPARATORS.to_vec();
    separators.sort_by_key(|c| *c == '-');
    let class: String = separators
        .iter()
        .map(|c| if c.is_ascii() { c.to_string() } else { format!("\\u{:04x}", u32::from(*c)) })
        .collect();
    [
        ("TesterBody", "label", "maxLength", json!(MAX_TESTER_LABEL_CHARS)),
        ("TesterBody", "label", "minLength", json!(1)),
        ("TesterBody", "number", "maxLength", json!(MAX_TESTER_NUMBER_CHARS)),
        (
            "TesterBody",
            "number",
            "pattern",
            json!(format!(
                "^\\+(?:[{class}]*[0-9]){{{MIN_TESTER_DIGITS},{MAX_TESTER_DIGITS}}}[{class}]*$"
            )),
        ),
    ]
});

/// The methods a route's doc comment may name it with, as `` `GET /cases` ``.
const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "PATCH"];

/// The whole description as served, its paths as the server answers them (under `/api`).
pub fn description() -> Result<Value, String> {
    let mut api = base().nest("/api", super::routes().into_openapi());
    for item in api.paths.paths.values_mut() {
        for operation in operations(item) {
            add_shared_responses(operation);
        }
    }
    let mut document = serde_json::to_value(api).map_err(|e| e.to_string())?;
    bound(&mut document)?;
    name_full_paths(&mut document);
    Ok(document)
}

/// Puts [`PARAMETER_BOUNDS`] and [`FIELD_BOUNDS`] in `document`; an error names one whose
/// route or field the document lacks, so a renamed one cannot lose its bounds unseen.
fn bound(document: &mut Value) -> Result<(), String> {
    for (path, name, minimum, maximum) in PARAMETER_BOUNDS {
        let schema = document["paths"][path]["get"]["parameters"]
            .as_array_mut()
            .and_then(|parameters| parameters.iter_mut().find(|p| p["name"] == name))
            .and_then(|parameter| parameter.get_mut("schema"))
            .and_then(Value::as_object_mut)
            .ok_or_else(|| format!("no parameter {name} of GET {path} to bound"))?;
        schema.insert("minimum".into(), json!(minimum));
        schema.insert("maximum".into(), json!(maximum));
    }
    for (schema, field, keyword, value) in FIELD_BOUNDS.iter() {
        let property = document["components"]["schemas"][*schema]["properties"]
            .get_mut(*field)
            .and_then(Value::as_object_mut)
            .ok_or_else(|| format!("no field {field} of {schema} to bound"))?;
        property.insert((*keyword).into(), value.clone());
    }
    Ok(())
}

/// Every summary and description of `value` naming a route as `` `GET /cases` `` names it
/// `` `GET /api/cases` ``; summaries are made one line (a doc comment's first paragraph may
/// wrap).
fn name_full_paths(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, entry) in map.iter_mut() {
                match entry {
                    Value::String(text) if key == "summary" || key == "description" => {
                        let mut full = under_api(text);
                        if key == "summary" {
                            full = full.split_whitespace().collect::<Vec<_>>().join(" ");
                        }
                        *text = full;
                    }
                    _ => name_full_paths(entry),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(name_full_paths),
        _ => {}
    }
}

/// `text` with every `` `METHOD /path `` under `/api`, once.
fn under_api(text: &str) -> String {
    METHODS.iter().fold(text.to_owned(), |text, method| {
        text.replace(&format!("`{method} /"), &format!("`{method} /api/"))
            .replace(&format!("`{method} /api/api/"), &format!("`{method} /api/"))
    })
}

/// Every operation of a path.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// Adds the shared answers an operation does not describe itself; `401` only to one that
/// takes a token (every one but those that declare an anonymous requirement).
fn add_shared_responses(operation: &mut Operation) {
    let anonymous = operation.security.as_ref().is_some_and(|requirements| {
        requirements.iter().any(|requirement| *requirement == SecurityRequirement::default())
    });
    for (status, name) in SHARED {
        if status == "401" && anonymous {
            continue;
        }
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    }
}

/// What the document says before its paths: who it is, the bearer scheme required by
/// default, and the shared answers.
fn base() -> OpenApi {
    let error = || Content::new(Some(RefOr::Ref(Ref::from_schema_name(ErrorBody::name()))));
    let components = ComponentsBuilder::new()
        .schema(ErrorBody::name(), ErrorBody::schema())
        .security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A person's API token, `hlt_` and 64 hex digits, made with \
                         `hotline users token NAME` or `POST /api/users/{id}/tokens`.",
                    ))
                    .build(),
            ),
        )
        .response(
            "Unauthorized",
            ResponseBuilder::new()
                .description(
                    "No valid bearer token: missing, malformed, unknown or revoked, or its \
                     person is disabled. The answer does not say which.",
                )
                .content("application/json", error())
                .build(),
        )
        .response(
            "TooManyRequests",
            ResponseBuilder::new()
                .description(
                    "This address had too many requests refused (wrong tokens) and is cut \
                     short for a while (`server.refusals_per_minute`).",
                )
                .header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                        .description(Some("Seconds to wait."))
                        .build(),
                )
                .content("text/plain", Content::new(Some(String::schema())))
                .build(),
        )
        .response(
            "Internal",
            ResponseBuilder::new()
                .description(
                    "Something failed on the server's side; the cause is logged, never shown.",
                )
                .content("application/json", error())
                .build(),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("hotline")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The JSON API of the people who work the hotline: operators and \
                     supervisors at a screen. The reference with every rule is docs/api.md.",
                ))
                .build(),
        )
        .components(Some(components))
        .security(Some([SecurityRequirement::new(BEARER, Vec::<String>::new())]))
        .build()
}

/// The document as served: its JSON and the tag that names this exact text.
struct Document {
    json: String,
    etag: HeaderValue,
}

/// Built on first request, then served as is: it changes only with the program.
static DOCUMENT: LazyLock<Result<Document, String>> = LazyLock::new(|| {
    let json = serde_json::to_string_pretty(&description()?).map_err(|e| e.to_string())?;
    let digest = Sha256::digest(json.as_bytes());
    let tag: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let etag = HeaderValue::from_str(&format!("\"{tag}\"")).map_err(|e| e.to_string())?;
    Ok(Document { json, etag })
});

/// `GET /openapi.json`: the description. `Cache-Control: no-cache` with an `ETag`: a client
/// may keep it but asks each time whether it changed (an upgrade changes it), and gets a
/// bodiless `304` when it did not.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "description",
    security(()),
    params(("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier answer")),
    responses(
        (status = 200, description = "This document", content_type = "application/json", body = Object,
            headers(("ETag" = String, description = "Names this exact text"))),
        (status = 304, description = "Unchanged since the `ETag` given"),
    )
)]
pub(super) async fn document(headers: HeaderMap) -> Result<Response, ApiError> {
    let document = DOCUMENT.as_ref().map_err(|e| ApiError::Internal(e.clone().into()))?;
    let cache = [(CACHE_CONTROL, HeaderValue::from_static("public, no-cache"))];
    let tag = [(ETAG, document.etag.clone())];
    if headers.get(IF_NONE_MATCH).is_some_and(|given| names(given, &document.etag)) {
        return Ok((StatusCode::NOT_MODIFIED, cache, tag).into_response());
    }
    let json = [(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
    Ok((cache, tag, json, document.json.clone()).into_response())
}

/// Whether an `If-None-Match` value names `etag`: `*`, or a list of tags compared weakly
/// (RFC 9110, 13.1.2). A value that is not visible ASCII names nothing.
fn names(given: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(given) = given.to_str() else { return false };
    let etag = etag.as_bytes();
    given.trim() == "*"
        || given
            .split(',')
            .map(str::trim)
            .any(|tag| tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_named_in_text_are_named_under_api_once() {
        assert_eq!(under_api("`GET /cases?…` (supervisors)"), "`GET /api/cases?…` (supervisors)");
        assert_eq!(under_api("`POST /api/users/{id}/tokens`"), "`POST /api/users/{id}/tokens`");
        assert_eq!(under_api("a `DELETE /x` and `PUT /y`"), "a `DELETE /api/x` and `PUT /api/y`");
        for untouched in ["", "GET /cases", "`/cases`", "`get /cases`", "`GET cases`"] {
            assert_eq!(under_api(untouched), untouched);
        }
    }

    #[test]
    fn every_bound_finds_its_parameter_or_field() {
        let document = description().expect("the description builds");
        let limit = document["paths"]["/api/cases"]["get"]["parameters"]
            .as_array()
            .and_then(|parameters| parameters.iter().find(|p| p["name"] == "limit"))
            .map(|parameter| parameter["schema"].clone());
        assert_eq!(
            limit.map(|s| (s["minimum"].clone(), s["maximum"].clone())),
            Some((json!(1), json!(MAX_PAGE)))
        );
        let mut missing = serde_json::to_value(base()).expect("JSON");
        assert!(bound(&mut missing).is_err());
    }

    #[test]
    fn if_none_match_names_the_tag_in_a_list_weakly_or_with_a_star() {
        let etag = HeaderValue::from_static("\"0123abcd\"");
        let names = |value: &[u8]| names(&HeaderValue::from_bytes(value).unwrap(), &etag);
        assert!(names(b"\"0123abcd\""));
        assert!(names(b"W/\"0123abcd\""));
        assert!(names(b"\"other\", \"0123abcd\""));
        assert!(names(b" * "));
        for other in [
            &b""[..],
            b"0123abcd",
            b"\"0123abcd",
            b"\"0123ABCD\"",
            b"\"0123abcd\"x",
            b"\"other\"",
            b"w/\"0123abcd\"",
            b",,,",
            "\"0123abcd\u{e9}\"".as_bytes(),
        ] {
            assert!(!names(other), "{:?}", String::from_utf8_lossy(other));
        }
        let huge = format!("\"x\",{}", " ".repeat(100_000));
        assert!(!names(huge.as_bytes()));
    }
}
