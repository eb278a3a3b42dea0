//! Generates the FakeRouter's operation table from `openapi.yaml` (next to this crate's
//! Cargo.toml; in the repository it is a symlink to the workspace's spec, in a packaged crate
//! a copy of it).
//!
//! Output: `$OUT_DIR/operations.rs` with the `Op` enum (one variant per `operationId`, in the
//! spec's order, which is the Router's registration order), the facts of each operation
//! (method, path template, `x-access`, `x-scoped-key-action-group`) and the public
//! `OPERATIONS` table. A spec the table cannot be built from fails the build with one
//! sentence saying what is wrong and where.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

/// The HTTP methods an OpenAPI path item may hold, as keys.
const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `x-access` values and the `Access` variant each becomes.
const ACCESS: &[(&str, &str)] = &[
    ("none", "None"),
    ("user", "User"),
    ("owner", "Owner"),
    ("read", "Read"),
    ("self", "OwnObjects"),
    ("admin", "Admin"),
];

struct Operation {
    id: String,
    variant: String,
    method: String,
    path: String,
    access: &'static str,
    group: Option<String>,
}

fn main() {
    if let Err(problem) = run() {
        eprintln!("error: {problem}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?,
    );
    let spec = dir.join("openapi.yaml");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=openapi.yaml");
    // In the repository the spec is a symlink: watch the file it points to as well.
    if let Ok(target) = std::fs::canonicalize(&spec)
        && target != spec
    {
        println!("cargo::rerun-if-changed={}", target.display());
    }
    let text = std::fs::read_to_string(&spec)
        .map_err(|e| format!("cannot read the API spec {}: {e}.", spec.display()))?;
    let doc: Value = serde_yaml::from_str(&text)
        .map_err(|e| format!("the API spec {} is not valid YAML: {e}.", spec.display()))?;
    let ops = operations(&doc)?;
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    write(&out.join("operations.rs"), &generate(&ops))
}

fn write(path: &Path, code: &str) -> Result<(), String> {
    std::fs::write(path, code).map_err(|e| format!("cannot write {}: {e}.", path.display()))
}

/// Every operation of the spec, in document order, checked.
fn operations(doc: &Value) -> Result<Vec<Operation>, String> {
    let paths = doc
        .get("paths")
        .and_then(Value::as_mapping)
        .ok_or("openapi.yaml has no `paths` mapping.")?;
    let mut ops = Vec::new();
    let mut ids = BTreeSet::new();
    let mut variants = BTreeSet::new();
    for (path, item) in paths {
        let path = path
            .as_str()
            .ok_or("openapi.yaml has a key under `paths` that is not a string.")?;
        if !path.starts_with('/') {
            return Err(format!(
                "openapi.yaml: the path {path:?} does not start with '/'."
            ));
        }
        let item = item
            .as_mapping()
            .ok_or_else(|| format!("openapi.yaml: the path item {path} is not a mapping."))?;
        for (key, op) in item {
            let Some(method) = key.as_str().filter(|k| METHODS.contains(k)) else {
                continue;
            };
            let at = format!("{} {path}", method.to_uppercase());
            let op = operation(op, &at)?;
            if !ids.insert(op.0.clone()) {
                return Err(format!(
                    "openapi.yaml: the operationId {:?} of {at} is used twice.",
                    op.0
                ));
            }
            let variant = variant_name(&op.0);
            if !variants.insert(variant.clone()) {
                return Err(format!(
                    "openapi.yaml: the operationId {:?} of {at} differs from another only in the case of its first letter.",
                    op.0
                ));
            }
            ops.push(Operation {
                id: op.0,
                variant,
                method: method.to_uppercase(),
                path: path.to_string(),
                access: op.1,
                group: op.2,
            });
        }
    }
    if ops.is_empty() {
        return Err("openapi.yaml describes no operation.".to_string());
    }
    Ok(ops)
}

/// (operationId, Access variant, scoped-key group) of one operation object.
fn operation(op: &Value, at: &str) -> Result<(String, &'static str, Option<String>), String> {
    let text = |key: &str| op.get(key).and_then(Value::as_str);
    if !op.is_mapping() {
        return Err(format!(
            "openapi.yaml: the operation {at} is not a mapping."
        ));
    }
    let id = text("operationId")
        .ok_or_else(|| format!("openapi.yaml: the operation {at} has no operationId."))?;
    let valid_id = id.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric());
    if !valid_id {
        return Err(format!(
            "openapi.yaml: the operationId {id:?} of {at} is not an ASCII identifier (letters and digits, starting with a letter)."
        ));
    }
    let expected = ACCESS
        .iter()
        .map(|(k, _)| *k)
        .collect::<Vec<_>>()
        .join(", ");
    let access = text("x-access").ok_or_else(|| {
        format!("openapi.yaml: the operation {id} ({at}) has no x-access (one of {expected}).")
    })?;
    let access = ACCESS
        .iter()
        .find(|(k, _)| *k == access)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            format!(
                "openapi.yaml: the operation {id} ({at}) has x-access {access:?}, not one of {expected}."
            )
        })?;
    let group = match op.get("x-scoped-key-action-group") {
        None => None,
        Some(Value::String(g)) if !g.is_empty() => Some(g.clone()),
        Some(_) => {
            return Err(format!(
                "openapi.yaml: the x-scoped-key-action-group of {id} ({at}) is not a non-empty string."
            ));
        }
    };
    Ok((id.to_string(), access, group))
}

/// `listSandboxes` → `ListSandboxes`.
fn variant_name(id: &str) -> String {
    let mut chars = id.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

fn generate(ops: &[Operation]) -> String {
    let mut code =
        String::from("// Generated by fake-router/build.rs from openapi.yaml. Do not edit.\n\n");
    code.push_str(
        "/// One operation of the Router's REST API: a variant per `operationId` of openapi.yaml,\n\
         /// in the spec's order (the Router's registration order).\n\
         #[derive(Clone, Copy, Debug, PartialEq, Eq)]\n\
         pub(crate) enum Op {\n",
    );
    for op in ops {
        let _ = writeln!(code, "    /// `{} {}` (`{}`).", op.method, op.path, op.id);
        let _ = writeln!(code, "    {},", op.variant);
    }
    code.push_str("}\n\n");

    let _ = writeln!(
        code,
        "impl Op {{\n    /// Every operation, in registration order.\n    pub(crate) const ALL: [Op; {}] = [",
        ops.len()
    );
    for op in ops {
        let _ = writeln!(code, "        Op::{},", op.variant);
    }
    code.push_str("    ];\n}\n\n");

    let _ = writeln!(
        code,
        "/// The facts of each operation, indexed by `Op as usize`.\nconst INFO: [OpInfo; {}] = [",
        ops.len()
    );
    for op in ops {
        let group = match &op.group {
            Some(g) => format!("Some({g:?})"),
            None => "None".to_string(),
        };
        let _ = writeln!(
            code,
            "    OpInfo {{ method: {:?}, path: {:?}, access: Access::{}, scope_group: {group} }},",
            op.method, op.path, op.access
        );
    }
    code.push_str("];\n\n");

    code.push_str(
        "/// Every operation the FakeRouter serves: `(operationId, METHOD, path template)`, generated\n\
         /// from openapi.yaml.\n\
         ///\n\
         /// The order is the Router's registration order; `{path}` in the two file routes matches\n\
         /// the rest of the path, slashes included (gorilla's `{path:.*}`).\n\
         pub const OPERATIONS: &[(&str, &str, &str)] = &[\n",
    );
    for op in ops {
        let _ = writeln!(code, "    ({:?}, {:?}, {:?}),", op.id, op.method, op.path);
    }
    code.push_str("];\n");
    code
}
