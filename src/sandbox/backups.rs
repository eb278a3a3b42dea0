//! Backups of a sandbox's workspace (VolumeSnapshots): list, create, restore, delete.

use super::Sandbox;
use super::manage::handle;
use crate::types::{Backup, CreateBackupRequest, RestoreBackupRequest};
use crate::{Result, wire};

/// The backups of one sandbox: `sandbox.backups()`.
///
/// A backup is a VolumeSnapshot of the sandbox's volume. Snapshots taken by `snapshotOnStop`
/// are not backups here: the Router never lists them and refuses them on restore and delete.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let backups = sb.backups();
/// let taken = backups.create(None).await?;
/// for b in backups.list().await? {
///     println!("{} ready: {}", b.name, b.ready_to_use);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Backups<'a> {
    sandbox: &'a Sandbox,
}

impl Sandbox {
    /// Backups of this sandbox's workspace.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let backup = sb.backups().create(None).await?;
    /// println!("snapshot {} (ready: {})", backup.name, backup.ready_to_use);
    /// # Ok(()) }
    /// ```
    pub fn backups(&self) -> Backups<'_> {
        Backups { sandbox: self }
    }
}

impl Backups<'_> {
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
        Ok(c.json::<crate::types::BackupList>(
            c.call(&crate::operations::op::LIST_BACKUPS, &[&self.sandbox.id])?,
        )
        .await?
        .backups)
    }

    /// Snapshots the workspace now, with `snapshot_class` or the cluster's default class.
    /// The backup is usually not ready yet (`ready_to_use: false`); [`Backups::list`] shows
    /// when it is. The sandbox needs a volume (a never-started sandbox answers 400). Not
    /// retried: a repeat would take a second snapshot.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let backup = sb.backups().create(Some("csi-aws-vsc")).await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "createBackup")]
    pub async fn create(&self, snapshot_class: Option<&str>) -> Result<Backup> {
        if let Some(class) = snapshot_class {
            wire::non_empty("snapshot_class", class)?;
        }
        // Optional body: always sent sized (`{}` when empty), which the Router needs.
        let body = CreateBackupRequest {
            snapshot_class: snapshot_class.map(str::to_owned),
        };
        let c = &self.sandbox.client;
        c.json::<crate::types::Backup>(
            c.call(&crate::operations::op::CREATE_BACKUP, &[&self.sandbox.id])?
                .json(&body)?,
        )
        .await
    }

    /// Restores a backup into a **new** sandbox (this one is left as it is) and returns a
    /// handle for it. `name` must be an RFC 1123 label; by default the Router picks
    /// `<source>-restore-<unix seconds>`. The Router answers before the sandbox exists: use
    /// [`Sandbox::wait_until_running`]. A pruned or foreign snapshot is
    /// [`Error::NotFound`](crate::Error::NotFound), one being deleted
    /// [`Error::Conflict`](crate::Error::Conflict), and governance applies
    /// ([`Error::PolicyViolation`](crate::Error::PolicyViolation)). Not retried.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let backups = sb.backups().list().await?;
    /// if let Some(b) = backups.first() {
    ///     let mut restored = sb.backups().restore(&b.name, Some("demo-restored")).await?;
    ///     restored.wait_until_running(Default::default()).await?;
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "restoreBackup")]
    pub async fn restore(&self, snapshot: &str, name: Option<&str>) -> Result<Sandbox> {
        wire::id("snapshot", snapshot)?;
        if let Some(name) = name {
            wire::rfc1123_label("name", name)?;
        }
        let body = RestoreBackupRequest {
            name: name.map(str::to_owned),
        };
        let c = &self.sandbox.client;
        let restored = c
            .json::<crate::types::RestoreBackupResponse>(
                c.call(
                    &crate::operations::op::RESTORE_BACKUP,
                    &[&self.sandbox.id, snapshot],
                )?
                .json(&body)?,
            )
            .await?;
        handle(c, restored.name, restored.namespace)
    }

    /// Deletes a backup (clone snapshots too). A missing one, or one of another sandbox, is
    /// [`Error::NotFound`](crate::Error::NotFound).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.backups().delete("demo-workspace-backup-1721234567").await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "deleteBackup")]
    pub async fn delete(&self, snapshot: &str) -> Result<()> {
        wire::id("snapshot", snapshot)?;
        let c = &self.sandbox.client;
        // The Router answers 200 with `{"status":"deleted","name":...}`, not 204.
        c.json::<crate::types::DeleteBackupResponse>(c.call(
            &crate::operations::op::DELETE_BACKUP,
            &[&self.sandbox.id, snapshot],
        )?)
        .await
        .map(drop)
    }
}
