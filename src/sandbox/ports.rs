//! Port forwarding and the Router's preview proxy.

use reqwest::Url;

use super::Sandbox;
use crate::types::{ForwardPortRequest, ForwardedPort};
use crate::{Error, Result, wire};

/// Longest protocol name sent. The Router stores any string (openapi.yaml, `forwardPort`) in
/// the sandbox's status; the SDK keeps it to the length of a Kubernetes name label.
const MAX_PROTOCOL: usize = 63;

/// The forwarded ports of one sandbox: `sandbox.ports()`.
///
/// Forwarding makes a Service (and, when the Router has a preview domain, an Ingress) for a
/// port the workload listens on. No phase is required to forward or remove; the preview
/// proxy needs the sandbox Running.
///
/// ```
/// # fn main() -> agenttier::Result<()> {
/// let client = agenttier::Client::builder("http://localhost:8080").build()?;
/// let sb = client.sandbox("demo")?;
/// let url = sb.ports().preview_url(3000)?; // no request is sent
/// assert_eq!(url.as_str(), "http://localhost:8080/api/v1/sandboxes/demo/preview/3000/");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Ports {
    pub(super) sandbox: Sandbox,
}

impl Sandbox {
    /// Port forwarding for this sandbox.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let fwd = sb.ports().forward(8080).await?;
    /// println!("{:?} {:?}", fwd.preview_url, fwd.internal_url);
    /// # Ok(()) }
    /// ```
    pub fn ports(&self) -> Ports {
        Ports {
            sandbox: self.clone(),
        }
    }
}

impl Ports {
    /// The forwarded ports. The Router reports `protocol` as `http` here whatever was asked.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// for p in sb.ports().list().await? {
    ///     println!("{} {}", p.port, p.internal_url.unwrap_or_default());
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "listPorts")]
    pub async fn list(&self) -> Result<Vec<ForwardedPort>> {
        let c = &self.sandbox.client;
        Ok(c.json::<crate::types::PortList>(
            c.call(&crate::operations::op::LIST_PORTS, &[&self.sandbox.id])?,
        )
        .await?
        .ports)
    }

    /// Forwards `port` (1-65535, checked before any request) with the Router's default
    /// protocol (`http`). Forwarding a port again is harmless (the Router upserts), so this
    /// call is retried like a GET.
    ///
    /// `preview_url` in the answer is set only when the Router has a preview domain; the
    /// authenticated path through the Router always works: [`Ports::preview_url`].
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let fwd = sb.ports().forward(3000).await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "forwardPort")]
    pub async fn forward(&self, port: u32) -> Result<ForwardedPort> {
        self.send_forward(port, None).await
    }

    /// Forwards `port` under a protocol name, which the Router stores and echoes back (it
    /// proxies HTTP whatever the name, and lists every port as `http`).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let fwd = sb.ports().forward_as(8443, "https").await?;
    /// # Ok(()) }
    /// ```
    pub async fn forward_as(&self, port: u32, protocol: &str) -> Result<ForwardedPort> {
        wire::non_empty("protocol", protocol)?;
        if protocol.len() > MAX_PROTOCOL || !protocol.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                "protocol",
                format!(
                    "must be 1-{MAX_PROTOCOL} visible ASCII characters (e.g. \"http\", \"grpc\")"
                ),
            ));
        }
        self.send_forward(port, Some(protocol)).await
    }

    async fn send_forward(&self, port: u32, protocol: Option<&str>) -> Result<ForwardedPort> {
        let port = wire::port(port)?;
        let body = ForwardPortRequest {
            port: i32::from(port),
            protocol: protocol.map(str::to_owned),
        };
        let c = &self.sandbox.client;
        c.json::<crate::types::ForwardedPort>(
            c.call(&crate::operations::op::FORWARD_PORT, &[&self.sandbox.id])?
                .json(&body)?,
        )
        .await
    }

    /// Stops forwarding `port`. Succeeds when nothing was forwarded.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.ports().remove(3000).await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "removePort")]
    pub async fn remove(&self, port: u32) -> Result<()> {
        let port = wire::port(port)?;
        let c = &self.sandbox.client;
        c.empty(c.call(
            &crate::operations::op::REMOVE_PORT,
            &[&self.sandbox.id, &i32::from(port).to_string()],
        )?)
        .await
        .map(drop)
    }

    /// The Router's authenticated preview URL for `port`:
    /// `<base>/api/v1/sandboxes/{id}/preview/{port}/`. No request is sent.
    ///
    /// The path is a reverse proxy inside the Router, so it works without a preview domain,
    /// but only for callers that authenticate: send the same `X-API-Key` or
    /// `Authorization` header as for any call (a plain browser link will get 401). The Router
    /// **forwards those credentials to the workload** in the sandbox, so only use it with
    /// code you trust. The port must be forwarded ([`Ports::forward`]) and the sandbox
    /// Running. Append the workload's own path to the URL (`.join("api/health")`). To send
    /// a request there with this client's credentials and pipeline, use [`Ports::preview`].
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let url = sb.ports().preview_url(8080)?;
    /// let health = url.join("healthz").unwrap();
    /// # Ok(()) }
    /// ```
    pub fn preview_url(&self, port: u32) -> Result<Url> {
        let port = wire::port(port)?;
        wire::id("sandbox id", &self.sandbox.id)?;
        let raw = format!(
            "{}/api/v1/sandboxes/{}/preview/{port}/",
            self.sandbox.client.base_url(),
            wire::path_segment(&self.sandbox.id)
        );
        Url::parse(&raw).map_err(|e| Error::invalid("url", format!("{raw:?}: {e}")))
    }
}
