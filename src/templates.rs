//! Cluster sandbox templates (`ClusterSandboxTemplate`): `client.templates()`.
//!
//! Reading is open to every user; creating, replacing and deleting need an admin (an OIDC token:
//! API keys are never admin). Namespaced `SandboxTemplate`s are not reachable through the Router.

use serde_json::{Map, Value};

use crate::types::{CreateTemplateRequest, Template, UpdateTemplateRequest};
use crate::{Client, Error, Result, wire};

/// Cluster templates: `client.templates()`.
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// for t in client.templates().list().await? {
///     println!("{} {} {}", t.name, t.image, t.description);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Templates {
    client: Client,
}

impl Client {
    /// Cluster templates: list, read, and (admin) create, replace, delete.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let t = client.templates().get("general-coding").await?;
    /// println!("{}", t.image);
    /// # Ok(()) }
    /// ```
    pub fn templates(&self) -> Templates {
        Templates {
            client: self.clone(),
        }
    }
}

/// Kubernetes object names of cluster-scoped objects are RFC 1123 subdomains. The Router hands an
/// invalid name to the API server and reports its refusal as an opaque 500.
fn template_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "template name",
            format!(
                "{name:?} is not a Kubernetes object name (lower-case a-z, 0-9, '-' and '.', at most 253 characters, each part starting and ending alphanumeric)"
            ),
        ))
    }
}

fn spec_object(spec: Value) -> Result<Map<String, Value>> {
    match spec {
        Value::Object(map) => Ok(map),
        other => Err(Error::invalid(
            "spec",
            format!(
                "a template spec must be a JSON object, not {}",
                kind_of(&other)
            ),
        )),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Templates {
    /// Every cluster template. The Router answers `null` when there are none; that reads as an
    /// empty list.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let names: Vec<String> = client.templates().list().await?.into_iter().map(|t| t.name).collect();
    /// # Ok(()) }
    /// ```
    #[doc(alias = "listTemplates")]
    pub async fn list(&self) -> Result<Vec<Template>> {
        let c = &self.client;
        Ok(c.json::<crate::types::TemplateList>(
            c.call(&crate::operations::op::LIST_TEMPLATES, &[])?,
        )
        .await?
        .templates
        .unwrap_or_default())
    }

    /// One template by name. [`Error::NotFound`] when it does not exist.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let t = client.templates().get("general-coding").await?;
    /// println!("{:?}", t.spec.get("resources"));
    /// # Ok(()) }
    /// ```
    #[doc(alias = "getTemplate")]
    pub async fn get(&self, name: &str) -> Result<Template> {
        wire::id("template name", name)?;
        let c = &self.client;
        c.json::<crate::types::Template>(c.call(&crate::operations::op::GET_TEMPLATE, &[name])?)
            .await
    }

    /// Creates a cluster template (admin). `spec` is a `SandboxTemplateSpec` as a JSON object
    /// (`serde_json::json!({...})` or a `serde_json::Map`); anything else is refused before
    /// sending. The Router reports a duplicate name or a spec the CRD refuses as a 500
    /// ([`Error::Api`]), not a 409.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use serde_json::json;
    /// let t = client
    ///     .templates()
    ///     .create("python-small", json!({
    ///         "description": "Python, 1 CPU",
    ///         "image": {"repository": "ghcr.io/agenttier/python:3.12"},
    ///         "resources": {"limits": {"cpu": "1", "memory": "2Gi"}},
    ///     }))
    ///     .await?;
    /// println!("created {} ({})", t.name, t.resource_version);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "createTemplate")]
    pub async fn create(&self, name: &str, spec: impl Into<Value>) -> Result<Template> {
        template_name(name)?;
        let body = CreateTemplateRequest {
            name: name.to_owned(),
            spec: spec_object(spec.into())?,
        };
        let c = &self.client;
        c.json::<crate::types::Template>(
            c.call(&crate::operations::op::CREATE_TEMPLATE, &[])?
                .json(&body)?,
        )
        .await
    }

    /// **Replaces the whole spec** of a template (admin). This is not a merge: every field left
    /// out of `spec` is cleared on the Router, and an empty object empties the template. To change
    /// one field, read the template with [`Templates::get`], edit its `spec` and send all of it.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use serde_json::json;
    /// let templates = client.templates();
    /// let mut spec = templates.get("python-small").await?.spec;
    /// spec.insert("description".into(), json!("Python, 1 CPU, 2 GiB"));
    /// templates.update("python-small", spec).await?; // the full spec, edited
    /// # Ok(()) }
    /// ```
    #[doc(alias = "updateTemplate")]
    pub async fn update(&self, name: &str, spec: impl Into<Value>) -> Result<Template> {
        wire::id("template name", name)?;
        let body = UpdateTemplateRequest {
            spec: spec_object(spec.into())?,
        };
        let c = &self.client;
        c.json::<crate::types::Template>(
            c.call(&crate::operations::op::UPDATE_TEMPLATE, &[name])?
                .json(&body)?,
        )
        .await
    }

    /// Deletes a template (admin). [`Error::Conflict`] while a Running sandbox uses it (Stopped
    /// ones do not block); [`Error::NotFound`] when it does not exist.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// client.templates().delete("python-small").await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "deleteTemplate")]
    pub async fn delete(&self, name: &str) -> Result<()> {
        wire::id("template name", name)?;
        let c = &self.client;
        c.empty(c.call(&crate::operations::op::DELETE_TEMPLATE, &[name])?)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_names_are_kubernetes_object_names() {
        for ok in ["general-coding", "a", "python.3-12", "x1"] {
            assert!(template_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Python",
            "a_b",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a/b",
            &"a".repeat(254),
        ] {
            assert!(template_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_objects_are_specs() {
        assert!(spec_object(serde_json::json!({"mode": "code"})).is_ok());
        for bad in [
            Value::Null,
            serde_json::json!([]),
            serde_json::json!("x"),
            serde_json::json!(1),
        ] {
            assert!(spec_object(bad).is_err());
        }
    }
}
