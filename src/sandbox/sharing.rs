//! Sharing a sandbox with users and groups, and minting share links.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::Sandbox;

use crate::types::{self, CreateShareLinkRequest, ShareLinkCreated, ShareRequest};
use crate::{Error, Result, wire};

/// The access level of a share (`viewer` or `collaborator`).
///
/// The Router records the level but does not enforce it today: anyone shared with can read
/// the sandbox and open its terminal, and no shared user can exec, use files or invoke.
///
/// ```
/// use agenttier::ShareLevel;
/// assert_eq!(ShareLevel::Collaborator.as_str(), "collaborator");
/// assert_eq!("viewer".parse::<ShareLevel>().unwrap(), ShareLevel::Viewer);
/// assert!("owner".parse::<ShareLevel>().is_err());
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ShareLevel {
    /// `viewer` (the default).
    #[default]
    Viewer,
    /// `collaborator`.
    Collaborator,
}

impl ShareLevel {
    /// The wire value.
    ///
    /// ```
    /// use agenttier::ShareLevel;
    /// assert_eq!(ShareLevel::Viewer.as_str(), "viewer");
    /// assert_eq!(ShareLevel::default(), ShareLevel::Viewer);
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ShareLevel::Viewer => "viewer",
            ShareLevel::Collaborator => "collaborator",
        }
    }
}

impl fmt::Display for ShareLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ShareLevel {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "viewer" => Ok(ShareLevel::Viewer),
            "collaborator" => Ok(ShareLevel::Collaborator),
            other => Err(Error::invalid(
                "level",
                format!("{other:?} is not \"viewer\" or \"collaborator\""),
            )),
        }
    }
}

/// Whom a share names: a user (matched against the caller's `sub` or email) or a group
/// (matched against the caller's groups).
///
/// ```
/// use agenttier::ShareKind;
/// assert_eq!(ShareKind::Group.as_str(), "group");
/// assert_eq!("user".parse::<ShareKind>().unwrap(), ShareKind::User);
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ShareKind {
    /// `user` (the default).
    #[default]
    User,
    /// `group`.
    Group,
}

impl ShareKind {
    /// The wire value.
    ///
    /// ```
    /// use agenttier::ShareKind;
    /// assert_eq!(ShareKind::User.as_str(), "user");
    /// assert_eq!(ShareKind::Group.to_string(), "group");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ShareKind::User => "user",
            ShareKind::Group => "group",
        }
    }
}

impl fmt::Display for ShareKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ShareKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "user" => Ok(ShareKind::User),
            "group" => Ok(ShareKind::Group),
            other => Err(Error::invalid(
                "kind",
                format!("{other:?} is not \"user\" or \"group\""),
            )),
        }
    }
}

/// Options for [`Sharing::create_link`].
///
/// ```
/// use std::time::Duration;
/// use agenttier::{ShareLevel, ShareLinkOptions};
/// let opts = ShareLinkOptions {
///     level: ShareLevel::Viewer,
///     expires_in: Some(Duration::from_secs(24 * 3600)),
///     max_uses: Some(5),
/// };
/// assert_eq!(ShareLinkOptions::default().level, ShareLevel::Viewer);
/// # let _ = opts;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShareLinkOptions {
    /// The level the link grants (default viewer).
    pub level: ShareLevel,
    /// Lifetime of the link (positive; sent as a Go duration). `None`: it never expires.
    pub expires_in: Option<Duration>,
    /// How many times it may be used; `Some(0)` or `None` means unlimited.
    pub max_uses: Option<u32>,
}

/// The sharing settings of one sandbox: `sandbox.sharing()`. Owner or admin only.
///
/// These routes answer **403 even when the sandbox does not exist** (the Router maps every
/// lookup failure to 403 here), so an [`Error::Authorization`] from them may mean a missing
/// sandbox or a wrong id; check with [`crate::Client::get_sandbox`] if it matters.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// use agenttier::{ShareKind, ShareLevel};
/// let sharing = sb.sharing();
/// sharing.grant("eng", ShareLevel::Viewer, ShareKind::Group).await?;
/// sharing.revoke("alice@example.com").await?;
/// let now = sharing.get().await?;
/// println!("{} users, {} groups", now.users.len(), now.groups.len());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Sharing {
    sandbox: Sandbox,
}

impl Sandbox {
    /// Sharing settings and share links of this sandbox.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use agenttier::{ShareKind, ShareLevel};
    /// sb.sharing().grant("alice@example.com", ShareLevel::Collaborator, ShareKind::User).await?;
    /// # Ok(()) }
    /// ```
    pub fn sharing(&self) -> Sharing {
        Sharing {
            sandbox: self.clone(),
        }
    }
}

impl Sharing {
    /// The users, groups and share links (link tokens are never shown again).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let s = sb.sharing().get().await?;
    /// for u in &s.users {
    ///     println!("{} {}", u.identity, u.level);
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "getSharing")]
    pub async fn get(&self) -> Result<types::Sharing> {
        let c = &self.sandbox.client;
        c.json::<crate::types::Sharing>(
            c.call(&crate::operations::op::GET_SHARING, &[&self.sandbox.id])?,
        )
        .await
    }

    /// Shares the sandbox with a user (their `sub` or email) or a group, at `level`.
    /// Granting again changes the level, so the call is retried like a GET. Returns the
    /// whole sharing settings after the change.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use agenttier::{ShareKind, ShareLevel};
    /// let s = sb.sharing().grant("eng", ShareLevel::Viewer, ShareKind::Group).await?;
    /// assert!(s.groups.iter().any(|g| g.identity == "eng"));
    /// # Ok(()) }
    /// ```
    #[doc(alias = "shareSandbox")]
    pub async fn grant(
        &self,
        identity: &str,
        level: ShareLevel,
        kind: ShareKind,
    ) -> Result<types::Sharing> {
        wire::non_empty("identity", identity)?;
        if identity.len() > wire::MAX_IDENTITY || identity.chars().any(char::is_control) {
            return Err(Error::invalid(
                "identity",
                format!(
                    "must be at most {} bytes without control characters",
                    wire::MAX_IDENTITY
                ),
            ));
        }
        let body = ShareRequest {
            identity: identity.to_owned(),
            level: level.as_str().to_owned(),
            kind: Some(kind.as_str().to_owned()),
        };
        let c = &self.sandbox.client;
        c.json::<crate::types::Sharing>(
            c.call(&crate::operations::op::SHARE_SANDBOX, &[&self.sandbox.id])?
                .json(&body)?,
        )
        .await
    }

    /// Removes `identity` from both the users and the groups, and returns the Router's answer
    /// (`{"status":"revoked","identity":...}`). Succeeds when it was not shared. The identity
    /// travels as one percent-encoded path segment, so it cannot contain `/` (refused before
    /// any request).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let revoked = sb.sharing().revoke("alice@example.com").await?;
    /// assert_eq!(revoked.status, "revoked");
    /// # Ok(()) }
    /// ```
    #[doc(alias = "revokeShare")]
    pub async fn revoke(&self, identity: &str) -> Result<types::RevokeShareResponse> {
        wire::id_max("identity", identity, wire::MAX_IDENTITY)?;
        let c = &self.sandbox.client;
        c.json(c.call(
            &crate::operations::op::REVOKE_SHARE,
            &[&self.sandbox.id, identity],
        )?)
        .await
    }

    /// Mints a share link. The token in the answer is shown only this once (it is a
    /// [`crate::SecretString`]: `Debug` and logs show `[redacted]`; read it with `expose`).
    /// Note: the Router cannot redeem, list or revoke tokens today, and `used_count` never
    /// changes. Not retried: a repeat would mint a second link.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// use agenttier::{ShareLevel, ShareLinkOptions};
    /// let link = sb
    ///     .sharing()
    ///     .create_link(ShareLinkOptions {
    ///         level: ShareLevel::Viewer,
    ///         expires_in: Some(Duration::from_secs(24 * 3600)),
    ///         max_uses: None,
    ///     })
    ///     .await?;
    /// let token = link.token.expose(); // hand it over now; it is never shown again
    /// # Ok(()) }
    /// ```
    #[doc(alias = "createShareLink")]
    pub async fn create_link(&self, options: ShareLinkOptions) -> Result<ShareLinkCreated> {
        let expires_in = options
            .expires_in
            .map(|d| wire::go_duration("expires_in", d))
            .transpose()?;
        let max_uses = options
            .max_uses
            .map(|n| {
                i32::try_from(n)
                    .map_err(|_| Error::invalid("max_uses", format!("{n} is above {}", i32::MAX)))
            })
            .transpose()?;
        let body = CreateShareLinkRequest {
            level: Some(options.level.as_str().to_owned()),
            expires_in,
            max_uses,
        };
        let c = &self.sandbox.client;
        c.json::<crate::types::ShareLinkCreated>(
            c.call(
                &crate::operations::op::CREATE_SHARE_LINK,
                &[&self.sandbox.id],
            )?
            .json(&body)?,
        )
        .await
    }
}
