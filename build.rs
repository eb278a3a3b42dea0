//! Generates the raw client (`agenttier::raw`) from `openapi.yaml` with progenitor.
//!
//! Editing `openapi.yaml` and running `cargo build` is the whole regeneration step. The output
//! is `$OUT_DIR/generated.rs`. Every failure, including a panic inside the generator, ends the
//! build with one message that names the spec and the cause.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::{env, fs, panic};

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
    let spec: openapiv3::OpenAPI = serde_yaml::from_value(value)
        .map_err(|e| format!("{SPEC} is not a valid OpenAPI 3.0 document: {e}"))?;
    check_shapes(&spec)?;

    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Positional)
        .with_tag(TagStyle::Merged)
        .with_inner_type(quote!(crate::transport::Shared))
        .with_derive("schemars::JsonSchema")
        .with_derive("PartialEq")
        .with_map_type("::std::collections::BTreeMap")
        // Secrets (API keys, share-link tokens, webhook secrets) are redacted in Debug.
        .with_replacement("Secret", "crate::SecretString", std::iter::empty());

    let tokens = run_catching_panics(|| Generator::new(&settings).generate_tokens(&spec))?
        .map_err(|e| format!("progenitor rejected {SPEC}: {e}"))?;
    let file = syn::parse2::<syn::File>(tokens)
        .map_err(|e| format!("progenitor produced code that does not parse: {e}"))?;
    let code = prettyplease::unparse(&file);
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?).join("generated.rs");
    fs::write(&out, code).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(())
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
fn check_shapes(spec: &openapiv3::OpenAPI) -> Result<(), String> {
    use openapiv3::{ReferenceOr, StatusCode};
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
            let success = match code {
                StatusCode::Code(c) => (200..300).contains(c),
                StatusCode::Range(r) => *r == 2,
            };
            if !success {
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
