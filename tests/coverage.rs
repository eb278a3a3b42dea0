//! Every operation in openapi.yaml has a facade entry point, and the README lists them all.

use std::collections::BTreeSet;

fn spec_operation_ids() -> BTreeSet<String> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    let spec: openapiv3::OpenAPI = serde_yaml::from_str(&text).unwrap();
    spec.operations()
        .map(|(_, _, op)| op.operation_id.clone().expect("operationId"))
        .collect()
}

#[test]
fn every_operation_id_has_a_facade_entry_point() {
    let spec = spec_operation_ids();
    let table: BTreeSet<String> = agenttier::coverage::FACADE
        .iter()
        .map(|(op, _)| op.to_string())
        .collect();
    let missing: Vec<_> = spec.difference(&table).collect();
    let stale: Vec<_> = table.difference(&spec).collect();
    assert!(
        missing.is_empty(),
        "operations without a facade method: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "facade entries for operations the spec does not have: {stale:?}"
    );
    assert_eq!(
        agenttier::coverage::FACADE.len(),
        spec.len(),
        "duplicate entries"
    );
    assert_eq!(spec.len(), 64);
}

#[test]
fn readme_area_table_names_every_facade_method() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let missing: Vec<_> = agenttier::coverage::FACADE
        .iter()
        .filter(|(_, method)| !readme.contains(&format!("`{method}`")))
        .collect();
    assert!(missing.is_empty(), "README does not list: {missing:?}");
}
