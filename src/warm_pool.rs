//! The warm pool (pre-started sandboxes per template): `client.warm_pool()`.

use crate::types::{PoolConfig, WarmPoolConfigRequest, WarmPoolConfigResponse, WarmPoolStatus};
use crate::{Client, Error, Result};

/// Largest `desiredCount` the Router accepts per pool.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> agenttier::Result<()> {
/// use agenttier::{Error, types::PoolConfig, warm_pool::MAX_DESIRED_COUNT};
/// let client = agenttier::Client::builder("http://localhost:8080").build()?;
/// // Refused before any request is sent.
/// let too_many = PoolConfig::new("general-coding", MAX_DESIRED_COUNT + 1);
/// let err = client.warm_pool().configure(&[too_many]).await.unwrap_err();
/// assert!(matches!(err, Error::InvalidInput { field: "pools", .. }));
/// # Ok(()) }
/// ```
pub const MAX_DESIRED_COUNT: u32 = 10;

/// The warm pool: `client.warm_pool()`.
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// use agenttier::types::PoolConfig;
/// let pool = client.warm_pool();
/// pool.configure(&[PoolConfig::new("general-coding", 2)]).await?;
/// for p in pool.status().await?.pools {
///     println!("{}: {}/{} ready", p.template, p.ready_count, p.desired_count);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct WarmPool {
    client: Client,
}

impl Client {
    /// The warm pool: status and (admin) configuration.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let status = client.warm_pool().status().await?;
    /// println!("{} pools", status.pools.len());
    /// # Ok(()) }
    /// ```
    pub fn warm_pool(&self) -> WarmPool {
        WarmPool {
            client: self.clone(),
        }
    }
}

impl PoolConfig {
    /// One pool: keep `desired_count` (0-10) sandboxes of `template` started.
    ///
    /// ```
    /// let p = agenttier::types::PoolConfig::new("general-coding", 3);
    /// assert_eq!(p.desired_count, 3);
    /// ```
    pub fn new(template: impl Into<String>, desired_count: u32) -> Self {
        PoolConfig {
            template: template.into(),
            // Out-of-range counts are refused by `WarmPool::configure`, not wrapped here.
            desired_count: i32::try_from(desired_count).unwrap_or(i32::MAX),
        }
    }
}

fn check(pools: &[PoolConfig]) -> Result<()> {
    if pools.is_empty() {
        return Err(Error::invalid(
            "pools",
            "at least one pool is required (WarmPool::clear removes every pool)",
        ));
    }
    for p in pools {
        if p.template.trim().is_empty() {
            return Err(Error::invalid("pools", "every pool needs a template"));
        }
        if !(0..=MAX_DESIRED_COUNT as i32).contains(&p.desired_count) {
            return Err(Error::invalid(
                "pools",
                format!(
                    "desired count {} of {:?} is not in 0-{MAX_DESIRED_COUNT}",
                    p.desired_count, p.template
                ),
            ));
        }
    }
    Ok(())
}

impl WarmPoolConfigResponse {
    /// The pools the Router stored (its `null` reads as none).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use agenttier::types::PoolConfig;
    /// let answer = client.warm_pool().configure(&[PoolConfig::new("general-coding", 2)]).await?;
    /// assert_eq!(answer.stored().len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn stored(&self) -> &[PoolConfig] {
        self.pools.as_deref().unwrap_or_default()
    }
}

impl WarmPool {
    /// Each pool's desired, ready and pending counts. Every field is optional on the wire (`{}`
    /// when nothing is configured), so `pools` is then empty. The top-level `template` and counts
    /// are the Router's legacy copy of the only pool (zero counts left out); prefer `pools`.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let s = client.warm_pool().status().await?;
    /// let ready: i32 = s.pools.iter().map(|p| p.ready_count).sum();
    /// # Ok(()) }
    /// ```
    #[doc(alias = "getWarmPoolStatus")]
    pub async fn status(&self) -> Result<WarmPoolStatus> {
        let c = &self.client;
        c.json::<crate::types::WarmPoolStatus>(
            c.call(&crate::operations::op::GET_WARM_POOL_STATUS, &[])?,
        )
        .await
    }

    /// **Replaces** the whole configuration with `pools` (admin): templates left out lose their
    /// pool. Each pool needs a template and a desired count in 0-10, checked before sending.
    /// Returns the Router's answer: `status` (`updated`) and the stored pools.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use agenttier::types::PoolConfig;
    /// let stored = client
    ///     .warm_pool()
    ///     .configure(&[PoolConfig::new("general-coding", 2), PoolConfig::new("python-small", 1)])
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "setWarmPoolConfig")]
    pub async fn configure(&self, pools: &[PoolConfig]) -> Result<WarmPoolConfigResponse> {
        check(pools)?;
        self.send(WarmPoolConfigRequest {
            pools: pools.to_vec(),
            desired_count: None,
            template: None,
        })
        .await
    }

    /// Removes every pool (admin). Sent as the Router's legacy body `{"desiredCount":0}`, which
    /// it documents as clearing the configuration (an empty `pools` list cannot be told apart
    /// from no list on the wire).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let answer = client.warm_pool().clear().await?;
    /// assert!(answer.pools.unwrap_or_default().is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn clear(&self) -> Result<WarmPoolConfigResponse> {
        self.send(WarmPoolConfigRequest {
            pools: Vec::new(),
            desired_count: Some(0),
            template: None,
        })
        .await
    }

    async fn send(&self, body: WarmPoolConfigRequest) -> Result<WarmPoolConfigResponse> {
        let c = &self.client;
        c.json(
            c.call(&crate::operations::op::SET_WARM_POOL_CONFIG, &[])?
                .json(&body)?,
        )
        .await
    }
}
