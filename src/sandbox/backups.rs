//! Backups of a sandbox's workspace (VolumeSnapshots): list, create, restore, delete.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use super::Sandbox;
use super::manage::handle;
use crate::operations::op;
use crate::types::{
    Backup, BackupList, CreateBackupRequest, DeleteBackupResponse, RestoreBackupRequest,
    RestoreBackupResponse,
};
use crate::{Result, wire};

/// The backups of one sandbox: `sandbox.backups()`. Owned (a cheap clone of the sandbox
/// handle), so it moves into tasks.
///
/// A backup is a VolumeSnapshot of the sandbox's volume. Snapshots taken by `snapshotOnStop`
/// are not backups here: the Router never lists them and refuses them on restore and delete.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let backups = sb.backups();
/// let taken = backups.create().await?;
/// for b in backups.list().await? {
///     println!("{} ready: {}", b.name, b.ready_to_use);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Backups {
    sandbox: Sandbox,
}

impl Sandbox {
    /// Backups of this sandbox's workspace.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let backup = sb.backups().create().await?;
    /// println!("snapshot {} (ready: {})", backup.name, backup.ready_to_use);
    /// # Ok(()) }
    /// ```
    pub fn backups(&self) -> Backups {
        Backups {
            sandbox: self.clone(),
        }
    }
}

impl Backups {
    /// Lists the backups: on-demand and scheduled ones (`kind` `scheduled-backup`) and the
    /// snapshots clones were made from (`kind` `clone`). In no particular order.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// for b in sb.backups().list().await? {
    ///     println!("{} {} {:?}", b.name, b.kind, b.created_at);
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "listBackups")]
    pub async fn list(&self) -> Result<Vec<Backup>> {
        let c = &self.sandbox.client;
        let call = c.call(&op::LIST_BACKUPS, &[&self.sandbox.id])?;
        Ok(c.json::<BackupList>(call).await?.backups)
    }

    /// Starts a snapshot of the workspace (the cluster's default snapshot class unless
    /// [`CreateBackup::snapshot_class`] says otherwise); await the builder. The backup is
    /// usually not ready yet (`ready_to_use: false`); [`Backups::list`] shows when it is. The
    /// sandbox needs a volume (a never-started sandbox answers 400). Not retried: a repeat
    /// would take a second snapshot.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let backup = sb.backups().create().snapshot_class("csi-aws-vsc").await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "createBackup")]
    pub fn create(&self) -> CreateBackup {
        CreateBackup {
            sandbox: self.sandbox.clone(),
            snapshot_class: None,
        }
    }

    /// Starts a restore of `snapshot` into a **new** sandbox (this one is left as it is); await
    /// the builder. By default the Router names it `<source>-restore-<unix seconds>`. The Router
    /// answers before the sandbox exists: wait with [`Sandbox::wait_until_running`]. A pruned or
    /// foreign snapshot is [`Error::NotFound`](crate::Error::NotFound), one being deleted
    /// [`Error::Conflict`](crate::Error::Conflict), and governance applies
    /// ([`Error::PolicyViolation`](crate::Error::PolicyViolation)). Not retried.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let backups = sb.backups().list().await?;
    /// if let Some(b) = backups.first() {
    ///     let restored = sb.backups().restore(&b.name).name("demo-restored").await?;
    ///     restored.sandbox.wait_until_running().await?;
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "restoreBackup")]
    pub fn restore(&self, snapshot: impl Into<String>) -> RestoreBackup {
        RestoreBackup {
            sandbox: self.sandbox.clone(),
            snapshot: snapshot.into(),
            name: None,
        }
    }

    /// Deletes a backup (clone snapshots too) and returns the Router's answer. A missing one,
    /// or one of another sandbox, is [`Error::NotFound`](crate::Error::NotFound).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let gone = sb.backups().delete("demo-workspace-backup-1721234567").await?;
    /// assert_eq!(gone.status, "deleted");
    /// # Ok(()) }
    /// ```
    #[doc(alias = "deleteBackup")]
    pub async fn delete(&self, snapshot: &str) -> Result<DeleteBackupResponse> {
        wire::id("snapshot", snapshot)?;
        let c = &self.sandbox.client;
        // The Router answers 200 with `{"status":"deleted","name":...}`, not 204.
        c.json(c.call(&op::DELETE_BACKUP, &[&self.sandbox.id, snapshot])?)
            .await
    }
}

/// A backup being taken. See [`Backups::create`].
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let backup = sb.backups().create().send().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a CreateBackup does nothing until awaited or sent"]
pub struct CreateBackup {
    sandbox: Sandbox,
    snapshot_class: Option<String>,
}

impl CreateBackup {
    /// The VolumeSnapshotClass to use.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let backup = sb.backups().create().snapshot_class("csi-aws-vsc").await?;
    /// # Ok(()) }
    /// ```
    pub fn snapshot_class(mut self, class: impl Into<String>) -> Self {
        self.snapshot_class = Some(class.into());
        self
    }

    /// Takes the snapshot.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let backup = sb.backups().create().send().await?;
    /// println!("{}", backup.name);
    /// # Ok(()) }
    /// ```
    pub async fn send(self) -> Result<Backup> {
        if let Some(class) = &self.snapshot_class {
            wire::non_empty("snapshot_class", class)?;
        }
        // Optional body: always sent sized (`{}` when empty), which the Router needs.
        let body = CreateBackupRequest {
            snapshot_class: self.snapshot_class,
        };
        let c = &self.sandbox.client;
        c.json(
            c.call(&op::CREATE_BACKUP, &[&self.sandbox.id])?
                .json(&body)?,
        )
        .await
    }
}

impl IntoFuture for CreateBackup {
    type Output = Result<Backup>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Backup>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A restore being built. See [`Backups::restore`].
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let restored = sb.backups().restore("demo-workspace-backup-1721234567").await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a RestoreBackup does nothing until awaited or sent"]
pub struct RestoreBackup {
    sandbox: Sandbox,
    snapshot: String,
    name: Option<String>,
}

impl RestoreBackup {
    /// The new sandbox's name (an RFC 1123 label).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let restored = sb.backups().restore("snap-1").name("demo-restored").await?;
    /// # Ok(()) }
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sends the restore.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let restored = sb.backups().restore("snap-1").send().await?;
    /// println!("{} from {}", restored.sandbox.id(), restored.response.restored_from);
    /// # Ok(()) }
    /// ```
    pub async fn send(self) -> Result<Restored> {
        wire::id("snapshot", &self.snapshot)?;
        if let Some(name) = &self.name {
            wire::rfc1123_label("name", name)?;
        }
        let body = RestoreBackupRequest { name: self.name };
        let c = &self.sandbox.client;
        let call = c
            .call(&op::RESTORE_BACKUP, &[&self.sandbox.id, &self.snapshot])?
            .json(&body)?;
        let response: RestoreBackupResponse = c.json(call).await?;
        Ok(Restored {
            sandbox: handle(c, &response.name, &response.namespace)?,
            response,
        })
    }
}

impl IntoFuture for RestoreBackup {
    type Output = Result<Restored>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Restored>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A restore the Router accepted: a handle for the new sandbox and the Router's answer.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let restored = sb.backups().restore("snap-1").await?;
/// restored.sandbox.wait_until_running().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Restored {
    /// The new sandbox.
    pub sandbox: Sandbox,
    /// What the Router answered (`phase` is `Pending`, which is not a real phase).
    pub response: RestoreBackupResponse,
}
