//! The public API, listed: every public item and method signature of the SDK's source, in
//! `tests/public-api.txt`. An accidental change to the API shows as a failing test and, once the
//! list is regenerated, as a diff in review.
//!
//! ```sh
//! UPDATE_PUBLIC_API=1 cargo test --test public_api   # after an intended API change
//! ```

use std::path::{Path, PathBuf};

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

/// Collapses a signature spread over several lines into one, up to its body or `where`.
fn signature(lines: &[&str], start: usize) -> String {
    let mut sig = String::new();
    for line in &lines[start..] {
        let line = line.trim();
        let end = line
            .find(" {")
            .or_else(|| line.ends_with('{').then(|| line.len() - 1));
        let piece = match end {
            Some(i) => &line[..i],
            None => line,
        };
        if !sig.is_empty() && !sig.ends_with('(') && !piece.starts_with(')') {
            sig.push(' ');
        }
        sig.push_str(piece.trim_end_matches(';'));
        if end.is_some() || line.ends_with(';') || line.starts_with("where") {
            break;
        }
    }
    sig.replace(", )", ")").replace("( ", "(")
}

fn public_api() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut items = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let rel = file.strip_prefix(root).unwrap().display().to_string();
        let lines: Vec<&str> = text.lines().collect();
        let mut context: Option<String> = None;
        let mut in_tests = false;
        for (i, line) in lines.iter().enumerate() {
            if line.starts_with("#[cfg(test)]") {
                in_tests = true;
            }
            if in_tests {
                continue;
            }
            if line.starts_with("impl") || line.starts_with("pub trait") {
                context = Some(signature(&lines, i));
                if line.starts_with("pub trait") {
                    items.push(format!("{rel}: {}", context.as_deref().unwrap()));
                }
                continue;
            }
            if line.starts_with('}') {
                context = None;
                continue;
            }
            let top = [
                "pub struct",
                "pub enum",
                "pub type",
                "pub const",
                "pub static",
                "pub fn",
                "pub async fn",
                "pub use",
                "pub mod",
            ];
            if top.iter().any(|t| line.starts_with(t)) {
                items.push(format!("{rel}: {}", signature(&lines, i)));
                continue;
            }
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            if indent != 4 {
                continue;
            }
            let Some(ctx) = &context else { continue };
            let is_trait = ctx.starts_with("pub trait");
            let public_method =
                trimmed.starts_with("pub fn") || trimmed.starts_with("pub async fn");
            let trait_method =
                is_trait && (trimmed.starts_with("fn ") || trimmed.starts_with("async fn "));
            // Methods of trait impls (`impl Trait for Type`) are public through the trait.
            let impl_of_trait = ctx.contains(" for ")
                && (trimmed.starts_with("fn ") || trimmed.starts_with("type "));
            if public_method || trait_method || impl_of_trait {
                items.push(format!("{rel}: {ctx} :: {}", signature(&lines, i)));
            }
        }
    }
    items.sort();
    items.dedup();
    items
}

#[test]
fn public_api_matches_the_checked_in_list() {
    let listed = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/public-api.txt");
    let now = public_api().join("\n") + "\n";
    if std::env::var_os("UPDATE_PUBLIC_API").is_some() {
        std::fs::write(&listed, &now).unwrap();
        return;
    }
    let before = std::fs::read_to_string(&listed).unwrap_or_default();
    if before == now {
        return;
    }
    let old: std::collections::BTreeSet<&str> = before.lines().collect();
    let new: std::collections::BTreeSet<&str> = now.lines().collect();
    let mut diff = String::new();
    for gone in old.difference(&new) {
        diff.push_str(&format!("- {gone}\n"));
    }
    for added in new.difference(&old) {
        diff.push_str(&format!("+ {added}\n"));
    }
    panic!(
        "the public API changed; if that is intended, run `UPDATE_PUBLIC_API=1 cargo test --test public_api` and commit tests/public-api.txt:\n{diff}"
    );
}
