//! Breaking `openapi.yaml` must fail `cargo build` with one sentence that names the spec and
//! the cause, never with a panic trace from inside progenitor.
//!
//! Each case copies the real `build.rs` and a mutated copy of the real spec into a probe crate
//! with the same build-dependencies, and builds it with a nested `cargo build --offline`.
//! The probe crate and its target directory live at fixed places under `CARGO_TARGET_TMPDIR`,
//! so the build-dependencies (progenitor) are compiled once and reused by later runs, and no
//! per-run build-script directories pile up. Cases share the probe crate, so they run one at a
//! time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::{env, fs};

const SPEC: &str = include_str!("../openapi.yaml");
const BUILD_RS: &str = include_str!("../build.rs");
const MANIFEST: &str = include_str!("../Cargo.toml");
const LOCKFILE: &str = include_str!("../Cargo.lock");
const HEADLINE: &str = "cannot generate the raw client from openapi.yaml";

static PROBE: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("build-errors")
}

/// Our `[build-dependencies]` table, verbatim, so the probe builds with what we build with.
fn build_dependencies() -> String {
    let start = MANIFEST
        .find("[build-dependencies]")
        .expect("Cargo.toml has [build-dependencies]");
    let rest = &MANIFEST[start..];
    let end = rest[1..].find("\n[").map_or(rest.len(), |i| i + 1);
    rest[..end].trim_end().to_owned()
}

struct Outcome {
    success: bool,
    stderr: String,
}

/// Builds the probe crate with `spec` as its `openapi.yaml`.
fn build_with_spec(spec: &str) -> Outcome {
    let _guard = PROBE.lock().unwrap_or_else(|p| p.into_inner());
    let crate_dir = root().join("probe");
    fs::create_dir_all(crate_dir.join("src")).expect("create the probe crate");
    let manifest = format!(
        "[package]\nname = \"agenttier-spec-probe\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\
         publish = false\nbuild = \"build.rs\"\n\n[workspace]\n\n{}\n",
        build_dependencies()
    );
    fs::write(crate_dir.join("Cargo.toml"), manifest).expect("write Cargo.toml");
    fs::write(crate_dir.join("Cargo.lock"), LOCKFILE).expect("write Cargo.lock");
    fs::write(crate_dir.join("build.rs"), BUILD_RS).expect("write build.rs");
    fs::write(crate_dir.join("src/lib.rs"), "").expect("write src/lib.rs");
    fs::write(crate_dir.join("openapi.yaml"), spec).expect("write openapi.yaml");

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["build", "--offline", "--color", "never", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", root().join("target"))
        .output()
        .expect("run cargo");
    Outcome {
        success: output.status.success(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn spec_value() -> serde_yaml::Value {
    serde_yaml::from_str(SPEC).expect("openapi.yaml is YAML")
}

fn to_yaml(doc: &serde_yaml::Value) -> String {
    serde_yaml::to_string(doc).expect("serialise the mutated spec")
}

fn assert_clear_failure(outcome: &Outcome, cause: &[&str]) {
    let stderr = &outcome.stderr;
    assert!(!outcome.success, "the build should fail; stderr:\n{stderr}");
    assert!(
        stderr.contains(HEADLINE),
        "no headline in stderr:\n{stderr}"
    );
    for part in cause {
        assert!(
            stderr.contains(part),
            "stderr does not mention {part:?}:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("panicked at"),
        "a panic trace leaked:\n{stderr}"
    );
    assert!(
        !stderr.contains("RUST_BACKTRACE"),
        "a panic hint leaked:\n{stderr}"
    );
}

#[test]
fn unmodified_spec_passes_the_build_script_in_the_probe_crate() {
    // The control case: the harness itself builds, so the failures below come from the spec.
    let outcome = build_with_spec(SPEC);
    assert!(
        outcome.success,
        "the real spec should build:\n{}",
        outcome.stderr
    );
}

#[test]
fn openapi_3_1_spec_fails_with_a_sentence_asking_for_3_0() {
    let mut doc = spec_value();
    doc["openapi"] = "3.1.0".into();
    let pod_name = &mut doc["components"]["schemas"]["SandboxSummary"]["properties"]["podName"];
    *pod_name = serde_yaml::from_str("{type: [string, 'null']}").expect("type array");

    let outcome = build_with_spec(&to_yaml(&doc));
    assert_clear_failure(
        &outcome,
        &[
            "`openapi: 3.1.0`",
            "accepts only OpenAPI 3.0",
            "nullable: true",
        ],
    );
}

#[test]
fn operation_with_200_json_and_204_empty_fails_naming_the_operation() {
    let mut doc = spec_value();
    let responses = doc["paths"]["/api/v1/sandboxes/{id}"]["get"]["responses"]
        .as_mapping_mut()
        .expect("getSandbox responses");
    responses.insert(
        "204".into(),
        serde_yaml::from_str("{description: No body.}").expect("response"),
    );

    let outcome = build_with_spec(&to_yaml(&doc));
    assert_clear_failure(
        &outcome,
        &[
            "getSandbox declares more than one success body type",
            "200: application/json #/components/schemas/SandboxSummary",
            "204: no body",
        ],
    );
}

#[test]
fn panic_inside_progenitor_is_reported_as_a_sentence() {
    // A request body offered in two media types: progenitor answers with a `todo!` rather
    // than an error value.
    let mut doc = spec_value();
    let content = doc["paths"]["/api/v1/sandboxes"]["post"]["requestBody"]["content"]
        .as_mapping_mut()
        .expect("createSandbox request content");
    content.insert(
        "text/plain".into(),
        serde_yaml::from_str("{schema: {type: string}}").expect("media"),
    );

    let outcome = build_with_spec(&to_yaml(&doc));
    assert_clear_failure(
        &outcome,
        &[
            "progenitor panicked while generating from openapi.yaml",
            "a request body in two media types",
        ],
    );
}
