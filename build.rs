//! Generates, from `openapi.yaml`, everything of the SDK that the spec determines:
//!
//! - `$OUT_DIR/generated.rs`: the raw client (`agenttier::raw`), by progenitor;
//! - `$OUT_DIR/operations.rs`: the operation table (`agenttier::operations`), one entry per
//!   operationId with its method, path, tag, access rule, retry class, scoped-key action group,
//!   body kinds and facade method, from the spec and its `x-` extensions.
//!
//! Editing `openapi.yaml` and running `cargo build` is the whole regeneration step. Every
//! failure, including a panic inside the generator, ends the build with one message that names
//! the spec and the cause.
//!
//! progenitor is given a copy of the spec without error responses: every non-2xx answer then
//! reaches the SDK's pipeline untouched (status, headers, body), which classifies it once into
//! `agenttier::Error`. Its generated path encoding is replaced by the SDK's own encoder, so
//! generated and hand-built routes encode path segments alike.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::{env, fs, panic};

use heck::{ToShoutySnakeCase, ToSnakeCase};
use openapiv3::{OpenAPI, Operation, ReferenceOr, StatusCode};
use progenitor::{GenerationSettings, Generator, InterfaceStyle, TagStyle};
use quote::quote;

const SPEC: &str = "openapi.yaml";

fn main() {
    println!("cargo:rerun-if-changed={SPEC}");
    println!("cargo:rerun-if-changed=build.rs");
    if let Err(cause) = generate() {
        eprintln!("\nerror: cannot generate the raw client from {SPEC}\n\n  {cause}\n");
        std::process::exit(1);
    }
}

fn generate() -> Result<(), String> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let spec_path = root.join(SPEC);
    let text = fs::read_to_string(&spec_path)
        .map_err(|e| format!("cannot read {}: {e}", spec_path.display()))?;
    let value: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| format!("{SPEC} is not valid YAML: {e}"))?;

    // Checked first so that a 3.1 document gets this message, not a deserializer error about
    // type arrays.
    let version = value.get("openapi").and_then(|v| v.as_str()).unwrap_or("");
    if !version.starts_with("3.0.") {
        return Err(format!(
            "{SPEC} declares `openapi: {version}`, but progenitor 0.15 accepts only OpenAPI 3.0.x. \
             Write it as 3.0.3 (`nullable: true` rather than `type: [T, 'null']`)."
        ));
    }
    let spec: OpenAPI = serde_yaml::from_value(value)
        .map_err(|e| format!("{SPEC} is not a valid OpenAPI 3.0 document: {e}"))?;
    check_shapes(&spec)?;

    let table = operation_table(&spec)?;
    write(&out_dir.join("operations.rs"), &table)?;

    let schemars = env::var_os("CARGO_FEATURE_SCHEMARS").is_some();
    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Positional)
        .with_tag(TagStyle::Merged)
        .with_inner_type(quote!(crate::pipeline::RawInner))
        .with_derive("PartialEq")
        .with_map_type("::std::collections::BTreeMap")
        // Secrets (API keys, share-link tokens, webhook secrets) are redacted in Debug.
        .with_replacement("Secret", "crate::SecretString", std::iter::empty());
    if schemars {
        settings.with_derive("schemars::JsonSchema");
    }

    let for_progenitor = without_error_responses(spec);
    let tokens =
        run_catching_panics(|| Generator::new(&settings).generate_tokens(&for_progenitor))?
            .map_err(|e| format!("progenitor rejected {SPEC}: {e}"))?;
    let file = syn::parse2::<syn::File>(tokens)
        .map_err(|e| format!("progenitor produced code that does not parse: {e}"))?;
    let code = prettyplease::unparse(&file);
    // One path-segment encoder for every route (progenitor's leaves `\`, which URL parsing
    // turns into `/`, and `'`, `;`, `@` unencoded).
    let uses = code.matches("encode_path(").count();
    let code = code.replace("encode_path(", "crate::wire::path_segment(");
    if uses == 0 {
        return Err("progenitor's output no longer calls `encode_path`; update build.rs".into());
    }
    write(&out_dir.join("generated.rs"), &code)
}

fn write(path: &std::path::Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The spec as progenitor should see it: only success responses, so that it hands every
/// error response over unread (`Error::UnexpectedResponse`).
fn without_error_responses(mut spec: OpenAPI) -> OpenAPI {
    for (_, item) in spec.paths.paths.iter_mut() {
        if let ReferenceOr::Item(item) = item {
            for op in [
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
            {
                op.responses.default = None;
                op.responses.responses.retain(|code, _| is_success(code));
            }
        }
    }
    spec
}

fn is_success(code: &StatusCode) -> bool {
    match code {
        StatusCode::Code(c) => (200..300).contains(c),
        StatusCode::Range(r) => *r == 2,
    }
}

/// The body kind of a media type, as the operation table names it.
fn body_kind(media: Option<&str>) -> &'static str {
    match media {
        None => "Empty",
        Some(m) if m.contains("json") => "Json",
        Some("text/event-stream") => "EventStream",
        Some(m) if m.starts_with("text/") => "Text",
        Some(_) => "Binary",
    }
}

fn extension<'a>(op: &'a Operation, name: &str) -> Option<&'a str> {
    op.extensions.get(name).and_then(|v| v.as_str())
}

/// `$OUT_DIR/operations.rs`: a `pub static` per operation in `op`, `OPERATIONS` in spec order
/// and a lookup by progenitor's method name (what its hooks receive).
fn operation_table(spec: &OpenAPI) -> Result<String, String> {
    let mut problems = Vec::new();
    let mut entries = String::new();
    let mut names = Vec::new();
    let mut facades = BTreeMap::new();
    for (path, method, op) in spec.operations() {
        let Some(id) = op.operation_id.as_deref() else {
            continue; // reported by check_shapes
        };
        let name = id.to_snake_case();
        let konst = id.to_shouty_snake_case();
        let access = match extension(op, "x-access") {
            Some(a @ ("none" | "user" | "owner" | "read" | "self" | "admin")) => match a {
                "none" => "None",
                "user" => "User",
                "owner" => "Owner",
                "read" => "Read",
                "self" => "OwnObjects",
                _ => "Admin",
            },
            Some(other) => {
                problems.push(format!(
                    "{id} has `x-access: {other}` (none, user, owner, read, self or admin)"
                ));
                continue;
            }
            None => {
                problems.push(format!("{id} has no `x-access` (who may call it)"));
                continue;
            }
        };
        let retry = match extension(op, "x-retry") {
            Some("safe") => "Safe",
            Some("unsafe") => "Unsafe",
            Some(other) => {
                problems.push(format!("{id} has `x-retry: {other}` (safe or unsafe)"));
                continue;
            }
            None => {
                problems.push(format!("{id} has no `x-retry` (safe or unsafe)"));
                continue;
            }
        };
        let Some(facade) = extension(op, "x-facade") else {
            problems.push(format!(
                "{id} has no `x-facade` (the SDK method that calls it)"
            ));
            continue;
        };
        if let Some(other) = facades.insert(facade.to_owned(), id.to_owned()) {
            problems.push(format!("{id} and {other} both name `x-facade: {facade}`"));
        }
        let scope = match extension(op, "x-scoped-key-action-group") {
            Some(g) => format!("Some({g:?})"),
            None => "None".to_owned(),
        };
        let request = op.request_body.as_ref().map(|b| match b {
            ReferenceOr::Item(b) => b.content.keys().next().map(String::as_str),
            ReferenceOr::Reference { .. } => Some("application/json"),
        });
        let request = body_kind(request.flatten());
        let response = op
            .responses
            .responses
            .iter()
            .filter(|(code, _)| is_success(code))
            .map(|(_, r)| match r {
                ReferenceOr::Item(r) => r.content.keys().next().map(String::as_str),
                ReferenceOr::Reference { .. } => Some("application/json"),
            })
            .next()
            .flatten();
        let response = body_kind(response);
        let tag = op.tags.first().map(String::as_str).unwrap_or("");
        let summary = op.summary.as_deref().unwrap_or("");
        let method = method.to_uppercase();
        let _ = writeln!(
            entries,
            "    /// `{method} {path}`: {summary}. Called by `{facade}`.\n    pub static {konst}: Operation = Operation {{ id: {id:?}, name: {name:?}, method: Method::{method}, path: {path:?}, tag: {tag:?}, summary: {summary:?}, access: Access::{access}, retry: RetryClass::{retry}, scoped_key_group: {scope}, request: BodyKind::{request}, response: BodyKind::{response}, facade: {facade:?} }};",
        );
        names.push((name, konst));
    }
    if !problems.is_empty() {
        return Err(problems.join("\n  "));
    }
    let mut out = String::from("// @generated by build.rs from openapi.yaml. Do not edit.\n\n");
    out.push_str("/// One `pub static` per operation of `openapi.yaml`, named after its operationId.\npub mod op {\n    use super::{Access, BodyKind, Method, Operation, RetryClass};\n\n");
    out.push_str(&entries);
    out.push_str("}\n\n/// Every operation of `openapi.yaml`, in the spec's order.\npub static OPERATIONS: &[&Operation] = &[\n");
    for (_, konst) in &names {
        let _ = writeln!(out, "    &op::{konst},");
    }
    out.push_str("];\n\n/// The operation progenitor's generated method `name` calls (its hooks see that name).\npub(crate) fn by_method_name(name: &str) -> Option<&'static Operation> {\n    Some(match name {\n");
    for (name, konst) in &names {
        let _ = writeln!(out, "        {name:?} => &op::{konst},");
    }
    out.push_str("        _ => return None,\n    })\n}\n");
    Ok(out)
}

/// progenitor `assert!`s and `todo!`s on some specs. Run it with the panic caught and its
/// message kept, so the build fails with a sentence rather than a backtrace.
fn run_catching_panics<T>(f: impl FnOnce() -> T + panic::UnwindSafe) -> Result<T, String> {
    let message = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&message);
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let mut m = sink.lock().unwrap_or_else(|p| p.into_inner());
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let _ = write!(m, "{payload}");
        if let Some(loc) = info.location() {
            let _ = write!(m, " (at {}:{})", loc.file(), loc.line());
        }
    }));
    let result = panic::catch_unwind(f);
    panic::set_hook(previous);
    result.map_err(|_| {
        let m = message.lock().unwrap_or_else(|p| p.into_inner());
        format!(
            "progenitor panicked while generating from {SPEC}: {m}. This usually means an operation \
             has two different success body types, a `default:` response beside a typed 2xx, two \
             different error schemas, a JSON response without a schema, or a request body in two media types."
        )
    })
}

/// The spec shapes progenitor cannot express, reported with the operation that has them.
fn check_shapes(spec: &OpenAPI) -> Result<(), String> {
    let mut problems = Vec::new();
    for (path, method, op) in spec.operations() {
        let name = op
            .operation_id
            .clone()
            .unwrap_or_else(|| format!("{method} {path}"));
        if op.operation_id.is_none() {
            problems.push(format!(
                "{} {path} has no operationId",
                method.to_uppercase()
            ));
        }
        if op.responses.default.is_some() {
            problems.push(format!(
                "{name} has a `default:` response; use `4XX`/`5XX` ranges (progenitor treats `default` as a success type too)"
            ));
        }
        let mut bodies = Vec::new();
        for (code, resp) in &op.responses.responses {
            if !is_success(code) {
                continue;
            }
            let shape = match resp {
                ReferenceOr::Reference { reference } => reference.clone(),
                ReferenceOr::Item(r) => match r.content.iter().next() {
                    None => "no body".to_string(),
                    Some((media, m)) => match &m.schema {
                        Some(ReferenceOr::Reference { reference }) => {
                            format!("{media} {reference}")
                        }
                        Some(ReferenceOr::Item(_)) if media.contains("json") => {
                            format!("{media} inline schema")
                        }
                        _ => format!("{media} bytes"),
                    },
                },
            };
            bodies.push((code.to_string(), shape));
        }
        let mut kinds: Vec<&String> = bodies.iter().map(|(_, s)| s).collect();
        kinds.sort();
        kinds.dedup();
        if kinds.len() > 1 {
            let list: Vec<String> = bodies.iter().map(|(c, s)| format!("{c}: {s}")).collect();
            problems.push(format!(
                "{name} declares more than one success body type ({}); progenitor allows one",
                list.join(", ")
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n  "))
    }
}
