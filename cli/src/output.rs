//! Printing results: JSON (the SDK's types serialised) or text (tables and `key: value` lines).

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

use crate::args::Output;

/// Prints `value` in the chosen format. In text, a list of objects is a table of `columns`
/// (all scalar fields of the first row when `columns` is empty); an object is `key: value`
/// lines; a string is printed as it is.
pub fn emit<T: Serialize + ?Sized>(
    format: Output,
    value: &T,
    columns: &[&str],
) -> std::io::Result<()> {
    let v = serde_json::to_value(value).map_err(std::io::Error::other)?;
    emit_value(format, &v, columns)
}

/// [`emit`] for a value already converted.
pub fn emit_value(format: Output, v: &Value, columns: &[&str]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Output::Json => {
            serde_json::to_writer_pretty(&mut out, v).map_err(std::io::Error::other)?;
            writeln!(out)?;
        }
        Output::Text => out.write_all(text(v, columns).as_bytes())?,
    }
    out.flush()
}

/// The text rendering of a value.
pub fn text(v: &Value, columns: &[&str]) -> String {
    match v {
        Value::Array(rows) if rows.is_empty() => "(none)\n".to_owned(),
        Value::Array(rows) if rows.iter().all(Value::is_object) => table(rows, columns),
        Value::Array(items) => items.iter().map(|i| format!("{}\n", scalar(i))).collect(),
        Value::Object(map) if map.is_empty() => "(none)\n".to_owned(),
        Value::Object(map) => {
            let width = map.keys().map(|k| k.len()).max().unwrap_or(0);
            let mut s = String::new();
            for (k, val) in map {
                s.push_str(&format!("{k:<width$}  {}\n", scalar(val)));
            }
            s
        }
        Value::Null => String::new(),
        other => format!("{}\n", scalar(other)),
    }
}

fn table(rows: &[Value], columns: &[&str]) -> String {
    let cols: Vec<String> = if columns.is_empty() {
        rows[0]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| !v.is_object() && !v.is_array())
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        columns.iter().map(|c| (*c).to_owned()).collect()
    };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            cols.iter()
                .map(|c| r.get(c).map(scalar).unwrap_or_default())
                .collect()
        })
        .collect();
    let header: Vec<String> = cols.iter().map(|c| upper_snake(c)).collect();
    let widths: Vec<usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain([h.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = String::new();
    let line = |s: &mut String, items: &[String]| {
        let mut l = String::new();
        for (i, item) in items.iter().enumerate() {
            if i + 1 == items.len() {
                l.push_str(item);
            } else {
                l.push_str(&format!("{item:<w$}  ", w = widths[i]));
            }
        }
        s.push_str(l.trim_end());
        s.push('\n');
    };
    line(&mut s, &header);
    for row in &cells {
        line(&mut s, row);
    }
    s
}

fn upper_snake(name: &str) -> String {
    let mut s = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            s.push('_');
        }
        s.push(ch.to_ascii_uppercase());
    }
    s
}

/// One value on one line: strings bare, null empty, the rest as compact JSON.
pub fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_of_objects_are_tables_with_upper_snake_headers() {
        let v = json!([{"sandboxId": "a", "status": "Running"}, {"sandboxId": "bb", "status": ""}]);
        assert_eq!(
            text(&v, &["sandboxId", "status"]),
            "SANDBOX_ID  STATUS\na           Running\nbb\n"
        );
    }

    #[test]
    fn objects_are_key_value_lines_and_empty_lists_say_none() {
        assert_eq!(text(&json!({"a": 1, "bb": "x"}), &[]), "a   1\nbb  x\n");
        assert_eq!(text(&json!([]), &[]), "(none)\n");
    }
}
