//! The operation table is generated from openapi.yaml and drives everything else: every
//! operation has a facade method (found by its `#[doc(alias = "<operationId>")]`), the
//! FakeRouter routes every operation, the README lists every method, and the handwritten SDK
//! source never names an operation in a string literal (it uses `operations::op::*`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use agenttier::operations::OPERATIONS;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sdk_sources() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

/// The type an `impl` line is for: `impl Foo {`, `impl<'a> Foo<'a> {`, `impl Trait for Foo {`.
fn impl_type(line: &str) -> Option<String> {
    let rest = line.strip_prefix("impl")?;
    let rest = if let Some(generic) = rest.strip_prefix('<') {
        &generic[generic.find('>')? + 1..]
    } else if rest.starts_with(' ') {
        rest
    } else {
        return None;
    };
    let head = rest.split('{').next()?.trim();
    let ty = head.rsplit(" for ").next()?.trim();
    let name: String = ty
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// `(Type, method)` for every method carrying `#[doc(alias = "<operationId>")]`, by alias.
fn facade_aliases() -> BTreeMap<String, Vec<(String, String)>> {
    let mut found: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (_, text) in sdk_sources() {
        let mut current_impl: Option<String> = None;
        let mut pending: Vec<String> = Vec::new();
        for line in text.lines() {
            let trimmed = line.trim_start();
            if let Some(ty) = impl_type(line) {
                current_impl = Some(ty);
                pending.clear();
            } else if let Some(alias) = trimmed
                .strip_prefix("#[doc(alias = \"")
                .and_then(|r| r.strip_suffix("\")]"))
            {
                pending.push(alias.to_owned());
            } else if let Some(rest) = trimmed
                .strip_prefix("pub async fn ")
                .or_else(|| trimmed.strip_prefix("pub fn "))
            {
                let method: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let ty = current_impl.clone().unwrap_or_default();
                // A method named exactly like the operation (`healthz`) needs no alias: rustdoc
                // refuses an alias equal to the item's name.
                found
                    .entry(method.clone())
                    .or_default()
                    .push((ty.clone(), method.clone()));
                for alias in pending.drain(..) {
                    found
                        .entry(alias)
                        .or_default()
                        .push((ty.clone(), method.clone()));
                }
            } else if !trimmed.starts_with("#[") && !trimmed.starts_with("///") {
                pending.clear();
            }
        }
    }
    found
}

#[test]
fn operation_table_has_64_entries_each_with_a_facade_method() {
    assert_eq!(OPERATIONS.len(), 64, "the spec's operations");
    let aliases = facade_aliases();
    let mut problems = Vec::new();
    for op in OPERATIONS {
        let (ty, method) = op
            .facade
            .split_once("::")
            .unwrap_or_else(|| panic!("{}: x-facade {:?} is not Type::method", op.id, op.facade));
        match aliases.get(op.id) {
            None => problems.push(format!(
                "{}: no method carries #[doc(alias = \"{}\")] (x-facade says {})",
                op.id, op.id, op.facade
            )),
            Some(found) if !found.iter().any(|(t, m)| t == ty && m == method) => {
                problems.push(format!(
                    "{}: x-facade says {}, the alias is on {found:?}",
                    op.id, op.facade
                ))
            }
            Some(_) => {}
        }
    }
    let known: BTreeSet<&str> = OPERATIONS.iter().map(|o| o.id).collect();
    for (_, text) in sdk_sources() {
        for line in text.lines() {
            if let Some(alias) = line
                .trim_start()
                .strip_prefix("#[doc(alias = \"")
                .and_then(|r| r.strip_suffix("\")]"))
                && !known.contains(alias)
            {
                problems.push(format!("#[doc(alias = \"{alias}\")] names no operation"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn operation_table_is_the_spec() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    let spec: openapiv3::OpenAPI = serde_yaml::from_str(&text).unwrap();
    let from_spec: BTreeSet<(String, String, String)> = spec
        .operations()
        .map(|(path, method, op)| {
            (
                op.operation_id.clone().unwrap(),
                method.to_uppercase(),
                path.to_owned(),
            )
        })
        .collect();
    let table: BTreeSet<(String, String, String)> = OPERATIONS
        .iter()
        .map(|o| (o.id.to_owned(), o.method.to_string(), o.path.to_owned()))
        .collect();
    assert_eq!(table, from_spec);
}

#[test]
fn fake_router_routes_every_operation_of_the_table() {
    let table: BTreeSet<(&str, String, &str)> = OPERATIONS
        .iter()
        .map(|o| (o.id, o.method.to_string(), o.path))
        .collect();
    let routed: BTreeSet<(&str, String, &str)> = agenttier::testing::OPERATIONS
        .iter()
        .map(|(id, method, path)| (*id, method.to_string(), *path))
        .collect();
    assert_eq!(routed, table);
}

#[test]
fn handwritten_sdk_source_names_no_operation_in_a_string_literal() {
    let mut names = BTreeSet::new();
    for op in OPERATIONS {
        names.insert(format!("\"{}\"", op.id));
        names.insert(format!("\"{}\"", op.name));
    }
    let mut hits = Vec::new();
    for (path, text) in sdk_sources() {
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            // Aliases name operations on purpose; doc examples may show what errors print.
            if code.starts_with("#[doc(alias") || code.starts_with("///") || code.starts_with("//!")
            {
                continue;
            }
            for name in &names {
                if line.contains(name.as_str()) {
                    hits.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "name operations through agenttier::operations::op, not strings:\n{}",
        hits.join("\n")
    );
}

#[test]
fn readme_area_table_names_every_facade_method() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let missing: Vec<_> = OPERATIONS
        .iter()
        .filter(|o| !readme.contains(&format!("`{}`", o.facade)))
        .map(|o| o.facade)
        .collect();
    assert!(missing.is_empty(), "README does not list: {missing:?}");
}
