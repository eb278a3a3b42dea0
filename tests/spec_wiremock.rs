//! The generated operations (`client.raw()`) put requests on the wire the way the spec says:
//! method, exact path (trailing slash, encoded file path), credentials and body.

use agenttier::auth::ApiKey;
use agenttier::types;
use agenttier::{Client, Result};
use serde_json::json;
use wiremock::matchers::{body_bytes, body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(server: &MockServer) -> Result<Client> {
    Client::builder(server.uri())
        .auth(ApiKey::new("atk_spec-test-key")?)
        .build()
}

#[tokio::test]
async fn create_sandbox_posts_the_request_schema_as_json_with_the_api_key() -> Result<()> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes"))
        .and(header("x-api-key", "atk_spec-test-key"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "name": "demo",
            "templateRef": {"name": "general-coding", "kind": "ClusterSandboxTemplate"},
            "idleTimeout": "30m"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "name": "demo", "namespace": "default", "sandboxId": "demo",
            "status": "Creating", "templateRef": "general-coding"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let body = types::CreateSandboxRequest {
        name: "demo".into(),
        namespace: None,
        template_ref: types::TemplateRefInput {
            name: "general-coding".into(),
            kind: Some("ClusterSandboxTemplate".into()),
            namespace: None,
        },
        timeout: None,
        idle_timeout: Some("30m".into()),
        storage: None,
    };
    let created = client(&server)?
        .raw()
        .create_sandbox(&body)
        .await
        .expect("201 decodes as CreateSandboxResponse");
    assert_eq!(created.status().as_u16(), 201);
    assert_eq!(created.sandbox_id, "demo");
    assert_eq!(created.template_ref, "general-coding");
    Ok(())
}

#[tokio::test]
async fn list_files_keeps_the_trailing_slash_and_sends_the_directory_as_a_query() -> Result<()> {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo/files/"))
        .and(query_param("path", "/workspace/src"))
        .and(header("x-api-key", "atk_spec-test-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "path": "/workspace/src",
            "entries": [{"name": "main.py", "size": 1234, "isDir": false,
                         "mode": "-rw-r--r--", "modifiedAt": 1721234567}]
        })))
        .expect(1)
        .mount(&server)
        .await;

    let listing = client(&server)?
        .raw()
        .list_files("demo", Some("/workspace/src"))
        .await
        .expect("200 decodes as FileList")
        .into_inner();
    assert_eq!(listing.entries.len(), 1);
    assert_eq!(listing.entries[0].modified_at, 1_721_234_567);
    assert!(!listing.entries[0].is_dir);
    Ok(())
}

#[tokio::test]
async fn write_file_puts_raw_bytes_to_the_encoded_path_and_reads_201_json() -> Result<()> {
    let server = MockServer::start().await;
    // The generated client percent-encodes `/` inside the `{path}` segment; the Router decodes
    // the path before routing, so `workspace%2Fa.txt` reaches `/workspace/a.txt`.
    Mock::given(method("PUT"))
        .and(path("/api/v1/sandboxes/demo/files/workspace%2Fa.txt"))
        .and(header("content-type", "application/octet-stream"))
        .and(header("x-api-key", "atk_spec-test-key"))
        .and(body_bytes(b"hello\n\x00\xff".to_vec()))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"path": "/workspace/a.txt", "bytes": 8})),
        )
        .expect(1)
        .mount(&server)
        .await;

    let written = client(&server)?
        .raw()
        .write_file("demo", "workspace/a.txt", b"hello\n\x00\xff".to_vec())
        .await
        .expect("201 decodes as PutFileResult");
    assert_eq!(written.status().as_u16(), 201);
    assert_eq!(written.path, "/workspace/a.txt");
    assert_eq!(written.bytes, 8);
    Ok(())
}
