//! Cluster capacity: status, nodes, and the headroom (placeholder pods that keep spare capacity
//! warm): `client.cluster()`.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use crate::operations::op;
use crate::types::{
    ClusterStatus, HeadroomConfig, HeadroomUpdateResponse, NodeCapacityResponse, SetHeadroomRequest,
};
use crate::{Client, Error, Result};

/// Largest headroom replica count the Router accepts.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> agenttier::Result<()> {
/// use agenttier::{Error, cluster::MAX_HEADROOM_REPLICAS};
/// let client = agenttier::Client::builder("http://localhost:8080").build()?;
/// // Refused before any request is sent.
/// let cluster = client.cluster();
/// let err = cluster.set_headroom(MAX_HEADROOM_REPLICAS + 1).await.unwrap_err();
/// assert!(matches!(err, Error::InvalidInput { field: "replicas", .. }));
/// # Ok(()) }
/// ```
pub const MAX_HEADROOM_REPLICAS: u32 = 50;

/// Cluster capacity: `client.cluster()`.
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// let s = client.cluster().status().await?;
/// println!("{}/{} nodes ready, {} sandbox pods", s.nodes_ready, s.nodes, s.sandbox_pods);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Cluster {
    client: Client,
}

impl Client {
    /// Cluster capacity: status, nodes (admin), headroom.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let h = client.cluster().headroom().await?;
    /// println!("{} replicas, {:?} ready", h.replicas, h.ready_replicas);
    /// # Ok(()) }
    /// ```
    pub fn cluster(&self) -> Cluster {
        Cluster {
            client: self.clone(),
        }
    }
}

fn quantity(field: &'static str, value: Option<&str>) -> Result<Option<String>> {
    match value {
        Some(v) if v.trim().is_empty() => Err(Error::invalid(
            field,
            "must not be empty (pass None to keep the current value)",
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

impl Cluster {
    /// Node and pod counts, and whether the autoscaler and headroom pods run.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let s = client.cluster().status().await?;
    /// println!("autoscaler: {}", s.autoscaler_enabled);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "getClusterStatus")]
    pub async fn status(&self) -> Result<ClusterStatus> {
        let c = &self.client;
        c.json::<crate::types::ClusterStatus>(
            c.call(&crate::operations::op::GET_CLUSTER_STATUS, &[])?,
        )
        .await
    }

    /// Each node's allocatable resources and requests, and a summary with saturation
    /// percentages (admin).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let n = client.cluster().nodes().await?;
    /// println!("cpu {}% memory {}%", n.summary.cpu_saturation_pct, n.summary.mem_saturation_pct);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "getClusterNodes")]
    pub async fn nodes(&self) -> Result<NodeCapacityResponse> {
        let c = &self.client;
        c.json::<crate::types::NodeCapacityResponse>(
            c.call(&crate::operations::op::GET_CLUSTER_NODES, &[])?,
        )
        .await
    }

    /// The headroom Deployment's size and pod resources. `ready_replicas` is `None` when none is
    /// ready (the Router leaves it out at 0). When the Deployment is missing (or cannot be read)
    /// the Router reports `replicas: 0`, empty quantities and `enabled: false`.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let h = client.cluster().headroom().await?;
    /// let ready = h.ready_replicas.unwrap_or(0);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "getHeadroom")]
    pub async fn headroom(&self) -> Result<HeadroomConfig> {
        let c = &self.client;
        c.json::<crate::types::HeadroomConfig>(c.call(&crate::operations::op::GET_HEADROOM, &[])?)
            .await
    }

    /// Starts scaling the headroom to `replicas` (0-50, checked before sending); await the
    /// builder. [`SetHeadroom::cpu`] and [`SetHeadroom::memory`] change each placeholder pod's
    /// request (Kubernetes quantities such as `"500m"`, `"1Gi"`; left out, they keep their
    /// value). `replicas` is always sent: the Router reads a missing one as 0 and scales to
    /// zero. Admin only; a missing Deployment is a 500 ([`Error::Api`]).
    ///
    /// The result is the re-read configuration, or `None` when the update was applied but the
    /// Router could not re-read it (it then answers only `{"status":"updated"}`).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// if let Some(h) = client.cluster().set_headroom(3).cpu("1").memory("2Gi").await? {
    ///     println!("{} replicas", h.replicas);
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "setHeadroom")]
    pub fn set_headroom(&self, replicas: u32) -> SetHeadroom {
        SetHeadroom {
            client: self.client.clone(),
            replicas,
            cpu: None,
            memory: None,
        }
    }
}

/// A headroom change being built. See [`Cluster::set_headroom`].
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// client.cluster().set_headroom(0).send().await?; // scale to zero
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a SetHeadroom does nothing until awaited or sent"]
pub struct SetHeadroom {
    client: Client,
    replicas: u32,
    cpu: Option<String>,
    memory: Option<String>,
}

impl SetHeadroom {
    /// Each placeholder pod's CPU request (`"500m"`, `"1"`).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// client.cluster().set_headroom(2).cpu("500m").await?;
    /// # Ok(()) }
    /// ```
    pub fn cpu(mut self, quantity: impl Into<String>) -> Self {
        self.cpu = Some(quantity.into());
        self
    }

    /// Each placeholder pod's memory request (`"1Gi"`).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// client.cluster().set_headroom(2).memory("1Gi").await?;
    /// # Ok(()) }
    /// ```
    pub fn memory(mut self, quantity: impl Into<String>) -> Self {
        self.memory = Some(quantity.into());
        self
    }

    /// Sends the change.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let applied = client.cluster().set_headroom(3).send().await?;
    /// # Ok(()) }
    /// ```
    pub async fn send(self) -> Result<Option<HeadroomConfig>> {
        if self.replicas > MAX_HEADROOM_REPLICAS {
            return Err(Error::invalid(
                "replicas",
                format!("{} is not in 0-{MAX_HEADROOM_REPLICAS}", self.replicas),
            ));
        }
        let body = SetHeadroomRequest {
            replicas: self.replicas as i32,
            cpu: quantity("cpu", self.cpu.as_deref())?,
            memory: quantity("memory", self.memory.as_deref())?,
        };
        let c = &self.client;
        let resp: HeadroomUpdateResponse =
            c.json(c.call(&op::SET_HEADROOM, &[])?.json(&body)?).await?;
        Ok(reread(resp))
    }
}

impl IntoFuture for SetHeadroom {
    type Output = Result<Option<HeadroomConfig>>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Option<HeadroomConfig>>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// The PUT answers the re-read `HeadroomConfig`, or `{"status":"updated"}` when the re-read
/// failed.
fn reread(resp: HeadroomUpdateResponse) -> Option<HeadroomConfig> {
    let HeadroomUpdateResponse {
        cpu,
        enabled,
        memory,
        ready_replicas,
        replicas,
        status: _,
    } = resp;
    Some(HeadroomConfig {
        replicas: replicas?,
        enabled: enabled?,
        cpu: cpu.unwrap_or_default(),
        memory: memory.unwrap_or_default(),
        ready_replicas,
    })
}
