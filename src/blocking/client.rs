//! The blocking [`Client`], its builder, and the client-level areas.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::runtime::{Pending, Runtime};
use super::{CreateSandbox, Sandbox};
use crate::auth::{AuthProvider, DetectEnv};
use crate::connect::{Connection, TunnelOptions};
#[cfg(feature = "kubeconfig")]
use crate::connect::{DiscoverOptions, InClusterOptions};
use crate::types::{
    ApiKeyCreated, ApiKeyMetadata, AuditEvent, BulkActionResult, BulkCreateResult, ClusterStatus,
    CostEstimates, CurrentUser, HeadroomConfig, NamespacePolicy, NodeCapacityResponse, Policy,
    PolicyList, PoolConfig, RevokeApiKeyResponse, SandboxSummary, Template, UsageAnalytics,
    WarmPoolConfigResponse, WarmPoolStatus, Webhook, WebhookCreated, WebhookDelivery,
};
use crate::user::ApiKeyRequest;
use crate::webhooks::WebhookEvent;
use crate::{BulkAction, BulkItem, CallOptions, Error, Result, RetryPolicy, SandboxFilter};

/// A blocking client for the AgentTier Router: [`crate::Client`] with every `async fn` turned
/// into a call that parks the thread until it is done.
///
/// Clones are cheap and share one runtime thread (and the HTTP connection pool); the thread
/// stops when the last clone, and the last handle made from one, goes away. Every method
/// returns [`Error::BlockingInRuntime`] when called on a thread that drives a Tokio runtime.
///
/// ```no_run
/// # fn main() -> agenttier::Result<()> {
/// let client = agenttier::blocking::Client::from_env()?;
/// for sb in client.list_sandboxes()? {
///     println!("{} {}", sb.name, sb.status);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: crate::Client,
    pub(crate) rt: Runtime,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("blocking::Client")
            .field(&self.inner)
            .finish()
    }
}

/// Builds a blocking [`Client`]: [`crate::ClientBuilder`] with a blocking
/// [`build`](ClientBuilder::build).
///
/// ```
/// # fn main() -> agenttier::Result<()> {
/// use std::time::Duration;
/// let client = agenttier::blocking::Client::builder("http://localhost:8080")
///     .timeout(Duration::from_secs(30))
///     .build()?; // sends no request
/// # Ok(()) }
/// ```
#[must_use]
#[derive(Debug)]
pub struct ClientBuilder {
    inner: crate::ClientBuilder,
}

impl ClientBuilder {
    /// See [`crate::ClientBuilder::connect_timeout`].
    pub fn connect_timeout(self, d: Duration) -> Self {
        self.map(|b| b.connect_timeout(d))
    }

    /// See [`crate::ClientBuilder::timeout`].
    pub fn timeout(self, d: Duration) -> Self {
        self.map(|b| b.timeout(d))
    }

    /// See [`crate::ClientBuilder::attempt_timeout`].
    pub fn attempt_timeout(self, d: Duration) -> Self {
        self.map(|b| b.attempt_timeout(d))
    }

    /// See [`crate::ClientBuilder::max_response_body`].
    pub fn max_response_body(self, bytes: usize) -> Self {
        self.map(|b| b.max_response_body(bytes))
    }

    /// See [`crate::ClientBuilder::application`].
    pub fn application(self, product: impl Into<String>) -> Self {
        self.map(|b| b.application(product))
    }

    /// See [`crate::ClientBuilder::add_root_certificate_pem`].
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "rustls", feature = "native-tls"))))]
    pub fn add_root_certificate_pem(self, pem: &[u8]) -> Result<Self> {
        Ok(Self {
            inner: self.inner.add_root_certificate_pem(pem)?,
        })
    }

    /// See [`crate::ClientBuilder::danger_accept_invalid_certs`].
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "rustls", feature = "native-tls"))))]
    pub fn danger_accept_invalid_certs(self, yes: bool) -> Self {
        self.map(|b| b.danger_accept_invalid_certs(yes))
    }

    /// See [`crate::ClientBuilder::http_client`] (an async `reqwest::Client`: it runs on the
    /// blocking client's runtime thread).
    pub fn http_client(self, client: reqwest::Client) -> Self {
        self.map(|b| b.http_client(client))
    }

    /// See [`crate::ClientBuilder::retry`].
    pub fn retry(self, policy: RetryPolicy) -> Self {
        self.map(|b| b.retry(policy))
    }

    /// See [`crate::ClientBuilder::auth`]. The provider's futures run on the runtime thread.
    pub fn auth(self, provider: impl AuthProvider + 'static) -> Self {
        self.map(|b| b.auth(provider))
    }

    /// See [`crate::ClientBuilder::auth_shared`].
    pub fn auth_shared(self, provider: Arc<dyn AuthProvider>) -> Self {
        self.map(|b| b.auth_shared(provider))
    }

    /// Builds the client and starts its runtime thread. Sends no request. Besides the errors
    /// of [`crate::ClientBuilder::build`], fails with [`Error::BlockingInRuntime`] inside a
    /// Tokio runtime.
    pub fn build(self) -> Result<Client> {
        let rt = Runtime::start("ClientBuilder::build")?;
        Ok(Client {
            inner: self.inner.build()?,
            rt,
        })
    }

    fn map(self, f: impl FnOnce(crate::ClientBuilder) -> crate::ClientBuilder) -> Self {
        Self {
            inner: f(self.inner),
        }
    }
}

impl Client {
    /// A builder for a client of the Router at `url`; see [`crate::Client::builder`].
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            inner: crate::Client::builder(url),
        }
    }

    /// A client from the environment; see [`crate::Client::from_env`].
    pub fn from_env() -> Result<Client> {
        let rt = Runtime::start("Client::from_env")?;
        Ok(Client {
            inner: crate::Client::from_env()?,
            rt,
        })
    }

    /// [`Client::from_env`] with an explicit environment; see [`crate::Client::from_env_with`].
    pub fn from_env_with(env: &DetectEnv) -> Result<Client> {
        let rt = Runtime::start("Client::from_env_with")?;
        Ok(Client {
            inner: crate::Client::from_env_with(env)?,
            rt,
        })
    }

    /// A builder for the Router from inside its cluster; see [`crate::Client::in_cluster`].
    #[cfg(feature = "kubeconfig")]
    #[cfg_attr(docsrs, doc(cfg(feature = "kubeconfig")))]
    pub fn in_cluster(options: InClusterOptions) -> ClientBuilder {
        ClientBuilder {
            inner: crate::Client::in_cluster(options),
        }
    }

    /// A builder for the Router through `kubectl port-forward`; see [`crate::Client::tunnel`].
    pub fn tunnel(options: TunnelOptions) -> ClientBuilder {
        ClientBuilder {
            inner: crate::Client::tunnel(options),
        }
    }

    /// A builder for the Router at its discovered URL; see [`crate::Client::discover`].
    #[cfg(feature = "kubeconfig")]
    #[cfg_attr(docsrs, doc(cfg(feature = "kubeconfig")))]
    pub fn discover(options: DiscoverOptions) -> ClientBuilder {
        ClientBuilder {
            inner: crate::Client::discover(options),
        }
    }

    /// How the client reaches the Router; see [`crate::Client::connection`].
    pub fn connection(&self) -> Connection {
        self.inner.connection()
    }

    /// Resolves the connection now; see [`crate::Client::connect`].
    pub fn connect(&self) -> Result<Connection> {
        let c = self.inner.clone();
        self.block("Client::connect", async move { c.connect().await })
    }

    /// The Router's base URL; see [`crate::Client::base_url`].
    pub fn base_url(&self) -> &str {
        self.inner.base_url()
    }

    /// This client's call options; see [`crate::Client::options`]. A
    /// [deadline](CallOptions::deadline) also bounds how long a blocking call parks.
    pub fn options(&self) -> &CallOptions {
        self.inner.options()
    }

    /// A copy with more call options; see [`crate::Client::with_options`].
    pub fn with_options(&self, options: CallOptions) -> Client {
        self.wrap(self.inner.with_options(options))
    }

    /// A copy with a total timeout per call; see [`crate::Client::with_timeout`].
    pub fn with_timeout(&self, timeout: Duration) -> Client {
        self.wrap(self.inner.with_timeout(timeout))
    }

    /// A copy whose calls end by `deadline`; see [`crate::Client::with_deadline`].
    pub fn with_deadline(&self, deadline: Instant) -> Client {
        self.wrap(self.inner.with_deadline(deadline))
    }

    /// A copy with another retry policy; see [`crate::Client::with_retry`].
    pub fn with_retry(&self, policy: RetryPolicy) -> Client {
        self.wrap(self.inner.with_retry(policy))
    }

    /// A copy that also retries non-idempotent calls; see
    /// [`crate::Client::with_unsafe_retries`].
    pub fn with_unsafe_retries(&self) -> Client {
        self.wrap(self.inner.with_unsafe_retries())
    }

    /// `GET /healthz`; see [`crate::Client::healthz`].
    pub fn healthz(&self) -> Result<String> {
        let c = self.inner.clone();
        self.block("Client::healthz", async move { c.healthz().await })
    }

    /// `GET /readyz`; see [`crate::Client::readyz`].
    pub fn readyz(&self) -> Result<String> {
        let c = self.inner.clone();
        self.block("Client::readyz", async move { c.readyz().await })
    }

    /// The async client this one wraps (same connection pool and options), for code that
    /// also runs async, e.g. the generated [`crate::Client::raw`] client.
    pub fn as_async(&self) -> &crate::Client {
        &self.inner
    }

    // Sandboxes.

    /// A handle on sandbox `id`, without a request; see [`crate::Client::sandbox`].
    pub fn sandbox(&self, id: impl Into<String>) -> Result<Sandbox> {
        Ok(self.sandbox_handle(self.inner.sandbox(id)?))
    }

    /// Reads sandbox `id`; see [`crate::Client::get_sandbox`].
    pub fn get_sandbox(&self, id: &str) -> Result<Sandbox> {
        let (c, id) = (self.inner.clone(), id.to_owned());
        let sb = self.block(
            "Client::get_sandbox",
            async move { c.get_sandbox(&id).await },
        )?;
        Ok(self.sandbox_handle(sb))
    }

    /// Lists the caller's sandboxes; see [`crate::Client::list_sandboxes`].
    pub fn list_sandboxes(&self) -> Result<Vec<SandboxSummary>> {
        let c = self.inner.clone();
        self.block(
            "Client::list_sandboxes",
            async move { c.list_sandboxes().await },
        )
    }

    /// Lists sandboxes matching `filter`; see [`crate::Client::list_sandboxes_with`].
    pub fn list_sandboxes_with(&self, filter: SandboxFilter) -> Result<Vec<SandboxSummary>> {
        let c = self.inner.clone();
        self.block("Client::list_sandboxes_with", async move {
            c.list_sandboxes_with(filter).await
        })
    }

    /// Starts a sandbox creation; see [`crate::Client::create_sandbox`].
    pub fn create_sandbox(&self, name: impl Into<String>) -> CreateSandbox {
        CreateSandbox {
            inner: self.inner.create_sandbox(name),
            client: self.clone(),
        }
    }

    /// [`Client::create_sandbox`] with a generated name; see [`crate::Client::new_sandbox`].
    pub fn new_sandbox(&self) -> CreateSandbox {
        CreateSandbox {
            inner: self.inner.new_sandbox(),
            client: self.clone(),
        }
    }

    /// Creates a sandbox, runs `body` with it and deletes it on every way out (a success, an
    /// error, a panic, which is re-raised after the delete); see
    /// [`crate::Client::with_sandbox`].
    ///
    /// ```no_run
    /// # fn demo(client: agenttier::blocking::Client) -> agenttier::Result<()> {
    /// let version = client.with_sandbox(
    ///     client.new_sandbox().template("general-coding").wait_until_running(),
    ///     |sb| Ok::<_, agenttier::Error>(sb.exec("python3 --version")?.stdout),
    /// )?;
    /// # Ok(()) }
    /// ```
    pub fn with_sandbox<T, E, F>(&self, create: CreateSandbox, body: F) -> Result<T, E>
    where
        F: FnOnce(Sandbox) -> Result<T, E>,
        E: From<Error>,
    {
        let guard = create.guarded()?;
        let sandbox = (*guard).clone();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(sandbox)));
        let closed = guard.close();
        match outcome {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(result) => {
                if let Err(e) = closed {
                    tracing::warn!(error = %e, "with_sandbox: the sandbox could not be deleted");
                }
                result
            }
        }
    }

    /// Stops, resumes or deletes many sandboxes; see [`crate::Client::bulk_action`].
    pub fn bulk_action(
        &self,
        action: BulkAction,
        ids: &[impl AsRef<str>],
    ) -> Result<Vec<BulkActionResult>> {
        let c = self.inner.clone();
        let ids: Vec<String> = ids.iter().map(|i| i.as_ref().to_owned()).collect();
        self.block("Client::bulk_action", async move {
            c.bulk_action(action, &ids).await
        })
    }

    /// Creates many sandboxes; see [`crate::Client::create_sandboxes`].
    pub fn create_sandboxes(&self, items: Vec<BulkItem>) -> Result<Vec<BulkCreateResult>> {
        let c = self.inner.clone();
        self.block("Client::create_sandboxes", async move {
            c.create_sandboxes(items).await
        })
    }

    // Client-level areas.

    /// The admin routes; see [`crate::Client::admin`].
    pub fn admin(&self) -> Admin {
        Admin {
            inner: self.inner.admin(),
            client: self.clone(),
        }
    }

    /// Cluster capacity and headroom; see [`crate::Client::cluster`].
    pub fn cluster(&self) -> Cluster {
        Cluster {
            inner: self.inner.cluster(),
            client: self.clone(),
        }
    }

    /// Namespace policies; see [`crate::Client::governance`].
    pub fn governance(&self) -> Governance {
        Governance {
            inner: self.inner.governance(),
            client: self.clone(),
        }
    }

    /// Sandbox templates; see [`crate::Client::templates`].
    pub fn templates(&self) -> Templates {
        Templates {
            inner: self.inner.templates(),
            client: self.clone(),
        }
    }

    /// The calling user; see [`crate::Client::user`].
    pub fn user(&self) -> User {
        User {
            inner: self.inner.user(),
            client: self.clone(),
        }
    }

    /// The caller's API keys; see [`crate::Client::api_keys`].
    pub fn api_keys(&self) -> ApiKeys {
        ApiKeys {
            inner: self.inner.api_keys(),
            client: self.clone(),
        }
    }

    /// The warm pool; see [`crate::Client::warm_pool`].
    pub fn warm_pool(&self) -> WarmPool {
        WarmPool {
            inner: self.inner.warm_pool(),
            client: self.clone(),
        }
    }

    /// Webhook subscriptions; see [`crate::Client::webhooks`].
    pub fn webhooks(&self) -> Webhooks {
        Webhooks {
            inner: self.inner.webhooks(),
            client: self.clone(),
        }
    }

    pub(crate) fn sandbox_handle(&self, inner: crate::Sandbox) -> Sandbox {
        Sandbox {
            inner,
            client: self.clone(),
        }
    }

    fn wrap(&self, inner: crate::Client) -> Client {
        Client {
            inner,
            rt: self.rt.clone(),
        }
    }

    /// Runs an async facade call on the runtime thread and parks until it is done.
    pub(crate) fn block<T: Send + 'static>(
        &self,
        operation: &'static str,
        future: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        self.run(operation, future)?
    }

    /// Runs `future` on the runtime thread and parks until it is done, or until the
    /// options' deadline.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Result<T> {
        self.rt.call(operation, self.deadline(), future)
    }

    /// Starts `future` on the runtime thread.
    pub(crate) fn submit<T: Send + 'static>(
        &self,
        operation: &'static str,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Result<Pending<T>> {
        self.rt.submit(operation, future)
    }

    /// How long a call may park: the options' deadline, if any (each call's own timeouts are
    /// enforced by the async call itself).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.inner.options().deadline
    }
}

/// The admin routes (blocking); see [`crate::admin::Admin`].
#[derive(Clone, Debug)]
pub struct Admin {
    inner: crate::admin::Admin,
    client: Client,
}

impl Admin {
    /// All sandboxes; see [`crate::admin::Admin::sandboxes`].
    pub fn sandboxes(&self) -> Result<Vec<SandboxSummary>> {
        let a = self.inner.clone();
        self.client
            .block("Admin::sandboxes", async move { a.sandboxes().await })
    }

    /// The sandboxes of one namespace; see [`crate::admin::Admin::sandboxes_in`].
    pub fn sandboxes_in(&self, namespace: &str) -> Result<Vec<SandboxSummary>> {
        let (a, ns) = (self.inner.clone(), namespace.to_owned());
        self.client.block(
            "Admin::sandboxes_in",
            async move { a.sandboxes_in(&ns).await },
        )
    }

    /// The audit log; see [`crate::admin::Admin::audit_events`].
    pub fn audit_events(&self) -> Result<Vec<AuditEvent>> {
        let a = self.inner.clone();
        self.client
            .block("Admin::audit_events", async move { a.audit_events().await })
    }

    /// Cost estimates; see [`crate::admin::Admin::costs`].
    pub fn costs(&self) -> Result<CostEstimates> {
        let a = self.inner.clone();
        self.client
            .block("Admin::costs", async move { a.costs().await })
    }

    /// Usage analytics; see [`crate::admin::Admin::usage`].
    pub fn usage(&self) -> Result<UsageAnalytics> {
        let a = self.inner.clone();
        self.client
            .block("Admin::usage", async move { a.usage().await })
    }

    /// Every share; see [`crate::admin::Admin::sharing`].
    pub fn sharing(&self) -> Result<Map<String, Value>> {
        let a = self.inner.clone();
        self.client
            .block("Admin::sharing", async move { a.sharing().await })
    }
}

/// Cluster capacity and headroom (blocking); see [`crate::cluster::Cluster`].
#[derive(Clone, Debug)]
pub struct Cluster {
    inner: crate::cluster::Cluster,
    client: Client,
}

impl Cluster {
    /// The cluster's status; see [`crate::cluster::Cluster::status`].
    pub fn status(&self) -> Result<ClusterStatus> {
        let c = self.inner.clone();
        self.client
            .block("Cluster::status", async move { c.status().await })
    }

    /// Node capacity; see [`crate::cluster::Cluster::nodes`].
    pub fn nodes(&self) -> Result<NodeCapacityResponse> {
        let c = self.inner.clone();
        self.client
            .block("Cluster::nodes", async move { c.nodes().await })
    }

    /// The headroom setting; see [`crate::cluster::Cluster::headroom`].
    pub fn headroom(&self) -> Result<HeadroomConfig> {
        let c = self.inner.clone();
        self.client
            .block("Cluster::headroom", async move { c.headroom().await })
    }

    /// Starts a headroom change (at most [`MAX_HEADROOM_REPLICAS`](crate::cluster::MAX_HEADROOM_REPLICAS)); see
    /// [`crate::cluster::Cluster::set_headroom`].
    pub fn set_headroom(&self, replicas: u32) -> SetHeadroom {
        SetHeadroom {
            inner: self.inner.set_headroom(replicas),
            client: self.client.clone(),
        }
    }
}

/// A headroom change being built (blocking); see [`crate::cluster::SetHeadroom`].
#[derive(Clone, Debug)]
#[must_use = "a SetHeadroom does nothing until sent"]
pub struct SetHeadroom {
    inner: crate::cluster::SetHeadroom,
    client: Client,
}

impl SetHeadroom {
    /// See [`crate::cluster::SetHeadroom::cpu`].
    pub fn cpu(mut self, quantity: impl Into<String>) -> Self {
        self.inner = self.inner.cpu(quantity);
        self
    }

    /// See [`crate::cluster::SetHeadroom::memory`].
    pub fn memory(mut self, quantity: impl Into<String>) -> Self {
        self.inner = self.inner.memory(quantity);
        self
    }

    /// Sends the change; see [`crate::cluster::SetHeadroom::send`].
    pub fn send(self) -> Result<Option<HeadroomConfig>> {
        let s = self.inner;
        self.client
            .block("SetHeadroom::send", async move { s.send().await })
    }
}

/// Namespace policies (blocking); see [`crate::governance::Governance`].
#[derive(Clone, Debug)]
pub struct Governance {
    inner: crate::governance::Governance,
    client: Client,
}

impl Governance {
    /// Every policy; see [`crate::governance::Governance::list`].
    pub fn list(&self) -> Result<PolicyList> {
        let g = self.inner.clone();
        self.client
            .block("Governance::list", async move { g.list().await })
    }

    /// One namespace's policy; see [`crate::governance::Governance::get`].
    pub fn get(&self, namespace: &str) -> Result<Policy> {
        let (g, ns) = (self.inner.clone(), namespace.to_owned());
        self.client
            .block("Governance::get", async move { g.get(&ns).await })
    }

    /// Sets a namespace's policy; see [`crate::governance::Governance::set`].
    pub fn set(&self, namespace: &str, policy: &Policy) -> Result<Policy> {
        let (g, ns, p) = (self.inner.clone(), namespace.to_owned(), policy.clone());
        self.client
            .block("Governance::set", async move { g.set(&ns, &p).await })
    }

    /// Sets the cluster-wide policy; see [`crate::governance::Governance::set_cluster`].
    pub fn set_cluster(&self, policy: &Policy) -> Result<Policy> {
        let (g, p) = (self.inner.clone(), policy.clone());
        self.client.block(
            "Governance::set_cluster",
            async move { g.set_cluster(&p).await },
        )
    }

    /// Deletes a namespace's policy; see [`crate::governance::Governance::delete`].
    pub fn delete(&self, namespace: &str) -> Result<()> {
        let (g, ns) = (self.inner.clone(), namespace.to_owned());
        self.client
            .block("Governance::delete", async move { g.delete(&ns).await })
    }

    /// The caller's effective policy; see [`crate::governance::Governance::effective`].
    pub fn effective(&self) -> Result<NamespacePolicy> {
        let g = self.inner.clone();
        self.client
            .block("Governance::effective", async move { g.effective().await })
    }

    /// A namespace's effective policy; see
    /// [`crate::governance::Governance::effective_in`].
    pub fn effective_in(&self, namespace: &str) -> Result<NamespacePolicy> {
        let (g, ns) = (self.inner.clone(), namespace.to_owned());
        self.client.block("Governance::effective_in", async move {
            g.effective_in(&ns).await
        })
    }
}

/// Sandbox templates (blocking); see [`crate::templates::Templates`].
#[derive(Clone, Debug)]
pub struct Templates {
    inner: crate::templates::Templates,
    client: Client,
}

impl Templates {
    /// Every template; see [`crate::templates::Templates::list`].
    pub fn list(&self) -> Result<Vec<Template>> {
        let t = self.inner.clone();
        self.client
            .block("Templates::list", async move { t.list().await })
    }

    /// One template; see [`crate::templates::Templates::get`].
    pub fn get(&self, name: &str) -> Result<Template> {
        let (t, name) = (self.inner.clone(), name.to_owned());
        self.client
            .block("Templates::get", async move { t.get(&name).await })
    }

    /// Creates a template; see [`crate::templates::Templates::create`].
    pub fn create(&self, name: &str, spec: impl Into<Value>) -> Result<Template> {
        let (t, name, spec) = (self.inner.clone(), name.to_owned(), spec.into());
        self.client.block(
            "Templates::create",
            async move { t.create(&name, spec).await },
        )
    }

    /// Updates a template; see [`crate::templates::Templates::update`].
    pub fn update(&self, name: &str, spec: impl Into<Value>) -> Result<Template> {
        let (t, name, spec) = (self.inner.clone(), name.to_owned(), spec.into());
        self.client.block(
            "Templates::update",
            async move { t.update(&name, spec).await },
        )
    }

    /// Deletes a template; see [`crate::templates::Templates::delete`].
    pub fn delete(&self, name: &str) -> Result<()> {
        let (t, name) = (self.inner.clone(), name.to_owned());
        self.client
            .block("Templates::delete", async move { t.delete(&name).await })
    }
}

/// The calling user (blocking); see [`crate::user::User`].
#[derive(Clone, Debug)]
pub struct User {
    inner: crate::user::User,
    client: Client,
}

impl User {
    /// Who the caller is; see [`crate::user::User::me`].
    pub fn me(&self) -> Result<CurrentUser> {
        let u = self.inner.clone();
        self.client.block("User::me", async move { u.me().await })
    }

    /// The caller's preferences; see [`crate::user::User::preferences`].
    pub fn preferences(&self) -> Result<Map<String, Value>> {
        let u = self.inner.clone();
        self.client
            .block("User::preferences", async move { u.preferences().await })
    }

    /// Replaces the caller's preferences; see [`crate::user::User::set_preferences`].
    pub fn set_preferences(&self, prefs: &Map<String, Value>) -> Result<Map<String, Value>> {
        let (u, p) = (self.inner.clone(), prefs.clone());
        self.client.block("User::set_preferences", async move {
            u.set_preferences(&p).await
        })
    }
}

/// The caller's API keys (blocking); see [`crate::user::ApiKeys`].
#[derive(Clone, Debug)]
pub struct ApiKeys {
    inner: crate::user::ApiKeys,
    client: Client,
}

impl ApiKeys {
    /// The caller's keys; see [`crate::user::ApiKeys::list`].
    pub fn list(&self) -> Result<Vec<ApiKeyMetadata>> {
        let k = self.inner.clone();
        self.client
            .block("ApiKeys::list", async move { k.list().await })
    }

    /// Creates a key; see [`crate::user::ApiKeys::create`].
    pub fn create(&self, request: ApiKeyRequest) -> Result<ApiKeyCreated> {
        let k = self.inner.clone();
        self.client
            .block("ApiKeys::create", async move { k.create(request).await })
    }

    /// Revokes a key; see [`crate::user::ApiKeys::revoke`].
    pub fn revoke(&self, id: &str) -> Result<RevokeApiKeyResponse> {
        let (k, id) = (self.inner.clone(), id.to_owned());
        self.client
            .block("ApiKeys::revoke", async move { k.revoke(&id).await })
    }
}

/// The warm pool (blocking); see [`crate::warm_pool::WarmPool`].
#[derive(Clone, Debug)]
pub struct WarmPool {
    inner: crate::warm_pool::WarmPool,
    client: Client,
}

impl WarmPool {
    /// The pool's status; see [`crate::warm_pool::WarmPool::status`].
    pub fn status(&self) -> Result<WarmPoolStatus> {
        let w = self.inner.clone();
        self.client
            .block("WarmPool::status", async move { w.status().await })
    }

    /// Sets the pools; see [`crate::warm_pool::WarmPool::configure`].
    pub fn configure(&self, pools: &[PoolConfig]) -> Result<WarmPoolConfigResponse> {
        let (w, pools) = (self.inner.clone(), pools.to_vec());
        self.client.block(
            "WarmPool::configure",
            async move { w.configure(&pools).await },
        )
    }

    /// Removes every pool; see [`crate::warm_pool::WarmPool::clear`].
    pub fn clear(&self) -> Result<WarmPoolConfigResponse> {
        let w = self.inner.clone();
        self.client
            .block("WarmPool::clear", async move { w.clear().await })
    }
}

/// Webhook subscriptions (blocking); see [`crate::webhooks::Webhooks`].
#[derive(Clone, Debug)]
pub struct Webhooks {
    inner: crate::webhooks::Webhooks,
    client: Client,
}

impl Webhooks {
    /// The caller's webhooks; see [`crate::webhooks::Webhooks::list`].
    pub fn list(&self) -> Result<Vec<Webhook>> {
        let w = self.inner.clone();
        self.client
            .block("Webhooks::list", async move { w.list().await })
    }

    /// Starts a webhook subscription; see [`crate::webhooks::Webhooks::create`].
    pub fn create(&self, url: impl Into<String>) -> CreateWebhook {
        CreateWebhook {
            inner: self.inner.create(url),
            client: self.client.clone(),
        }
    }

    /// Deletes a webhook; see [`crate::webhooks::Webhooks::delete`].
    pub fn delete(&self, id: &str) -> Result<()> {
        let (w, id) = (self.inner.clone(), id.to_owned());
        self.client
            .block("Webhooks::delete", async move { w.delete(&id).await })
    }

    /// A webhook's recent deliveries; see [`crate::webhooks::Webhooks::deliveries`].
    pub fn deliveries(&self, id: &str) -> Result<Vec<WebhookDelivery>> {
        let (w, id) = (self.inner.clone(), id.to_owned());
        self.client.block(
            "Webhooks::deliveries",
            async move { w.deliveries(&id).await },
        )
    }
}

/// A webhook subscription being built (blocking); see [`crate::webhooks::CreateWebhook`].
#[derive(Clone, Debug)]
#[must_use = "a CreateWebhook does nothing until sent"]
pub struct CreateWebhook {
    inner: crate::webhooks::CreateWebhook,
    client: Client,
}

impl CreateWebhook {
    /// See [`crate::webhooks::CreateWebhook::event`].
    pub fn event(mut self, event: WebhookEvent) -> Self {
        self.inner = self.inner.event(event);
        self
    }

    /// See [`crate::webhooks::CreateWebhook::events`].
    pub fn events(mut self, events: impl IntoIterator<Item = WebhookEvent>) -> Self {
        self.inner = self.inner.events(events);
        self
    }

    /// See [`crate::webhooks::CreateWebhook::namespace`].
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.inner = self.inner.namespace(namespace);
        self
    }

    /// See [`crate::webhooks::CreateWebhook::sandbox`].
    pub fn sandbox(mut self, id: impl Into<String>) -> Self {
        self.inner = self.inner.sandbox(id);
        self
    }

    /// Creates the webhook; see [`crate::webhooks::CreateWebhook::send`].
    pub fn send(self) -> Result<WebhookCreated> {
        let w = self.inner;
        self.client
            .block("CreateWebhook::send", async move { w.send().await })
    }
}
