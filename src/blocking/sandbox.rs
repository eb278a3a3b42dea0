//! The blocking [`Sandbox`] handle: lifecycle, exec, waiters, clone, update and backups.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::time::Duration;

use super::{Agent, Client, Files, Ports, Sharing};
use crate::types::{
    Backup, CloneSandboxResponse, DeleteBackupResponse, PatchSandboxResponse, ResourceRequirements,
    RestoreBackupResponse, SandboxSummary, StatusAck, StorageSpec,
};
use crate::{ExecOptions, ExecOutput, Phase, Result, WaitOptions};

/// A handle on one sandbox (blocking); see [`crate::Sandbox`]. Cheap to clone.
///
/// ```no_run
/// # fn demo(client: agenttier::blocking::Client) -> agenttier::Result<()> {
/// let sb = client.create_sandbox("demo").template("general-coding").send()?;
/// sb.wait_until_running()?;
/// let out = sb.exec("echo hello")?;
/// assert_eq!(out.stdout, "hello\n");
/// sb.delete()?.wait()?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Sandbox {
    pub(crate) inner: crate::Sandbox,
    pub(crate) client: Client,
}

impl Sandbox {
    /// The sandbox's id (its name); see [`crate::Sandbox::id`].
    pub fn id(&self) -> &str {
        self.inner.id()
    }

    /// The sandbox's name; see [`crate::Sandbox::name`].
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The namespace, when known; see [`crate::Sandbox::namespace`].
    pub fn namespace(&self) -> Option<&str> {
        self.inner.namespace()
    }

    /// The last summary read; see [`crate::Sandbox::summary`].
    pub fn summary(&self) -> Option<&SandboxSummary> {
        self.inner.summary()
    }

    /// The phase of the last summary read; see [`crate::Sandbox::phase`].
    pub fn phase(&self) -> Option<Phase> {
        self.inner.phase()
    }

    /// The client this handle calls through; see [`crate::Sandbox::client`].
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The async handle this one wraps.
    pub fn as_async(&self) -> &crate::Sandbox {
        &self.inner
    }

    /// Reads the sandbox and keeps the summary; see [`crate::Sandbox::refresh`].
    pub fn refresh(&mut self) -> Result<&SandboxSummary> {
        let mut sb = self.inner.clone();
        let sb = self.client.block("Sandbox::refresh", async move {
            sb.refresh().await?;
            Ok(sb)
        })?;
        self.inner = sb;
        self.inner
            .summary()
            .ok_or_else(|| crate::Error::invalid("refresh", "the Router sent no summary"))
    }

    /// Reads the sandbox; see [`crate::Sandbox::status`].
    pub fn status(&self) -> Result<SandboxSummary> {
        let sb = self.inner.clone();
        self.client
            .block("Sandbox::status", async move { sb.status().await })
    }

    /// Runs a shell command; see [`crate::Sandbox::exec`].
    pub fn exec(&self, command: &str) -> Result<ExecOutput> {
        let (sb, command) = (self.inner.clone(), command.to_owned());
        self.client
            .block("Sandbox::exec", async move { sb.exec(&command).await })
    }

    /// Runs a shell command with options; see [`crate::Sandbox::exec_with`].
    pub fn exec_with(&self, command: &str, options: ExecOptions) -> Result<ExecOutput> {
        let (sb, command) = (self.inner.clone(), command.to_owned());
        self.client.block("Sandbox::exec_with", async move {
            sb.exec_with(&command, options).await
        })
    }

    /// Runs a command given as arguments; see [`crate::Sandbox::exec_argv`].
    pub fn exec_argv<S: AsRef<str>>(&self, argv: &[S]) -> Result<ExecOutput> {
        let (sb, argv) = (self.inner.clone(), owned(argv));
        self.client.block(
            "Sandbox::exec_argv",
            async move { sb.exec_argv(&argv).await },
        )
    }

    /// [`Sandbox::exec_argv`] with options; see [`crate::Sandbox::exec_argv_with`].
    pub fn exec_argv_with<S: AsRef<str>>(
        &self,
        argv: &[S],
        options: ExecOptions,
    ) -> Result<ExecOutput> {
        let (sb, argv) = (self.inner.clone(), owned(argv));
        self.client.block("Sandbox::exec_argv_with", async move {
            sb.exec_argv_with(&argv, options).await
        })
    }

    /// Runs a shell command and fails on a non-zero exit; see
    /// [`crate::Sandbox::exec_checked`].
    pub fn exec_checked(&self, command: &str) -> Result<ExecOutput> {
        let (sb, command) = (self.inner.clone(), command.to_owned());
        self.client.block("Sandbox::exec_checked", async move {
            sb.exec_checked(&command).await
        })
    }

    /// Waits until the sandbox is running; see [`crate::Sandbox::wait_until_running`].
    pub fn wait_until_running(&self) -> Result<SandboxSummary> {
        let sb = self.inner.clone();
        self.client
            .block("Sandbox::wait_until_running", async move {
                sb.wait_until_running().await
            })
    }

    /// [`Sandbox::wait_until_running`] with options; see
    /// [`crate::Sandbox::wait_until_running_with`].
    pub fn wait_until_running_with(&self, options: WaitOptions) -> Result<SandboxSummary> {
        let sb = self.inner.clone();
        self.client
            .block("Sandbox::wait_until_running_with", async move {
                sb.wait_until_running_with(options).await
            })
    }

    /// Waits until the sandbox is stopped; see [`crate::Sandbox::wait_until_stopped`].
    pub fn wait_until_stopped(&self) -> Result<SandboxSummary> {
        let sb = self.inner.clone();
        self.client
            .block("Sandbox::wait_until_stopped", async move {
                sb.wait_until_stopped().await
            })
    }

    /// [`Sandbox::wait_until_stopped`] with options; see
    /// [`crate::Sandbox::wait_until_stopped_with`].
    pub fn wait_until_stopped_with(&self, options: WaitOptions) -> Result<SandboxSummary> {
        let sb = self.inner.clone();
        self.client
            .block("Sandbox::wait_until_stopped_with", async move {
                sb.wait_until_stopped_with(options).await
            })
    }

    /// Waits until the sandbox is gone; see [`crate::Sandbox::wait_until_deleted`].
    pub fn wait_until_deleted(&self) -> Result<()> {
        let sb = self.inner.clone();
        self.client
            .block("Sandbox::wait_until_deleted", async move {
                sb.wait_until_deleted().await
            })
    }

    /// [`Sandbox::wait_until_deleted`] with options; see
    /// [`crate::Sandbox::wait_until_deleted_with`].
    pub fn wait_until_deleted_with(&self, options: WaitOptions) -> Result<()> {
        let sb = self.inner.clone();
        self.client
            .block("Sandbox::wait_until_deleted_with", async move {
                sb.wait_until_deleted_with(options).await
            })
    }

    /// Stops the sandbox; see [`crate::Sandbox::stop`].
    pub fn stop(&self) -> Result<Stopping> {
        let sb = self.inner.clone();
        let inner = self
            .client
            .block("Sandbox::stop", async move { sb.stop().await })?;
        Ok(Stopping {
            sandbox: self.with_inner(inner.sandbox().clone()),
            inner,
        })
    }

    /// Resumes the sandbox; see [`crate::Sandbox::resume`].
    pub fn resume(&self) -> Result<Resuming> {
        let sb = self.inner.clone();
        let inner = self
            .client
            .block("Sandbox::resume", async move { sb.resume().await })?;
        Ok(Resuming {
            sandbox: self.with_inner(inner.sandbox().clone()),
            inner,
        })
    }

    /// Deletes the sandbox; see [`crate::Sandbox::delete`].
    pub fn delete(&self) -> Result<Deleting> {
        let sb = self.inner.clone();
        let inner = self
            .client
            .block("Sandbox::delete", async move { sb.delete().await })?;
        Ok(Deleting {
            sandbox: self.with_inner(inner.sandbox().clone()),
            inner,
        })
    }

    /// Starts a change of resources, labels or timeouts; see [`crate::Sandbox::update`].
    pub fn update(&self) -> UpdateSandbox {
        UpdateSandbox {
            inner: self.inner.update(),
            client: self.client.clone(),
        }
    }

    /// Starts a clone of this sandbox; see [`crate::Sandbox::clone_sandbox`].
    pub fn clone_sandbox(&self) -> CloneSandbox {
        CloneSandbox {
            inner: self.inner.clone_sandbox(),
            client: self.client.clone(),
        }
    }

    /// The sandbox's files; see [`crate::Sandbox::files`].
    pub fn files(&self) -> Files {
        Files {
            inner: self.inner.files(),
            client: self.client.clone(),
        }
    }

    /// The sandbox's forwarded ports; see [`crate::Sandbox::ports`].
    pub fn ports(&self) -> Ports {
        Ports {
            inner: self.inner.ports(),
            client: self.client.clone(),
        }
    }

    /// The sandbox's shares; see [`crate::Sandbox::sharing`].
    pub fn sharing(&self) -> Sharing {
        Sharing {
            inner: self.inner.sharing(),
            client: self.client.clone(),
        }
    }

    /// The sandbox's backups; see [`crate::Sandbox::backups`].
    pub fn backups(&self) -> Backups {
        Backups {
            inner: self.inner.backups(),
            client: self.client.clone(),
        }
    }

    /// Agent mode; see [`crate::Sandbox::agent`].
    pub fn agent(&self) -> Agent {
        Agent {
            inner: self.inner.agent(),
            client: self.client.clone(),
        }
    }

    fn with_inner(&self, inner: crate::Sandbox) -> Sandbox {
        Sandbox {
            inner,
            client: self.client.clone(),
        }
    }
}

fn owned<S: AsRef<str>>(argv: &[S]) -> Vec<String> {
    argv.iter().map(|a| a.as_ref().to_owned()).collect()
}

/// A sandbox creation being built (blocking); see [`crate::CreateSandbox`]. Finish it with
/// [`CreateSandbox::send`], [`CreateSandbox::create_or_get`] or [`CreateSandbox::guarded`].
///
/// ```no_run
/// # fn demo(client: agenttier::blocking::Client) -> agenttier::Result<()> {
/// let sb = client
///     .create_sandbox("demo")
///     .template("general-coding")
///     .wait_until_running()
///     .send()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a CreateSandbox does nothing until sent"]
pub struct CreateSandbox {
    pub(crate) inner: crate::CreateSandbox,
    pub(crate) client: Client,
}

impl CreateSandbox {
    /// See [`crate::CreateSandbox::template`].
    pub fn template(mut self, template: impl Into<String>) -> Self {
        self.inner = self.inner.template(template);
        self
    }

    /// See [`crate::CreateSandbox::namespace`].
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.inner = self.inner.namespace(ns);
        self
    }

    /// See [`crate::CreateSandbox::storage`].
    pub fn storage(mut self, storage: StorageSpec) -> Self {
        self.inner = self.inner.storage(storage);
        self
    }

    /// See [`crate::CreateSandbox::storage_size`].
    pub fn storage_size(mut self, size: impl Into<String>) -> Self {
        self.inner = self.inner.storage_size(size);
        self
    }

    /// See [`crate::CreateSandbox::idle_timeout`].
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.inner = self.inner.idle_timeout(d);
        self
    }

    /// See [`crate::CreateSandbox::timeout`].
    pub fn timeout(mut self, d: Duration) -> Self {
        self.inner = self.inner.timeout(d);
        self
    }

    /// Also waits until the sandbox runs; see [`crate::CreateSandbox::wait_until_running`].
    pub fn wait_until_running(mut self) -> Self {
        self.inner = self.inner.wait_until_running();
        self
    }

    /// See [`crate::CreateSandbox::wait_until_running_with`].
    pub fn wait_until_running_with(mut self, options: WaitOptions) -> Self {
        self.inner = self.inner.wait_until_running_with(options);
        self
    }

    /// Sends the create; see [`crate::CreateSandbox::send`].
    pub fn send(self) -> Result<Sandbox> {
        let create = self.inner;
        let sb = self
            .client
            .block("CreateSandbox::send", async move { create.send().await })?;
        Ok(self.client.sandbox_handle(sb))
    }

    /// Creates the sandbox or returns the existing one; see
    /// [`crate::CreateSandbox::create_or_get`].
    pub fn create_or_get(self) -> Result<Sandbox> {
        let create = self.inner;
        let sb = self
            .client
            .block("CreateSandbox::create_or_get", async move {
                create.create_or_get().await
            })?;
        Ok(self.client.sandbox_handle(sb))
    }

    /// Creates the sandbox behind a guard that deletes it; see
    /// [`crate::CreateSandbox::guarded`] and [`SandboxGuard`].
    pub fn guarded(self) -> Result<SandboxGuard> {
        let create = self.inner;
        let guard =
            self.client.block(
                "CreateSandbox::guarded",
                async move { create.guarded().await },
            )?;
        // The async guard's own drop would need a runtime on this thread: take its sandbox.
        let sb = guard.keep();
        Ok(SandboxGuard {
            sandbox: Some(self.client.sandbox_handle(sb)),
        })
    }
}

/// A sandbox that is deleted when the guard goes away (blocking); derefs to [`Sandbox`]. See
/// [`crate::SandboxGuard`].
///
/// A guard dropped while armed sends the delete and parks until the Router has answered
/// (inside a Tokio runtime it can only log that the sandbox was left behind).
///
/// ```no_run
/// # fn demo(client: agenttier::blocking::Client) -> agenttier::Result<()> {
/// let sb = client.new_sandbox().template("general-coding").guarded()?;
/// sb.exec("make test")?.check()?; // `?` here still deletes the sandbox
/// sb.close()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a SandboxGuard deletes its sandbox when dropped"]
pub struct SandboxGuard {
    sandbox: Option<Sandbox>,
}

impl SandboxGuard {
    /// Deletes the sandbox (without waiting for it to be gone) and disarms the guard; see
    /// [`crate::SandboxGuard::close`].
    pub fn close(mut self) -> Result<()> {
        match self.sandbox.take() {
            Some(sb) => sb.delete().map(drop),
            None => Ok(()),
        }
    }

    /// Disarms the guard and returns the sandbox; see [`crate::SandboxGuard::keep`].
    pub fn keep(mut self) -> Sandbox {
        self.sandbox
            .take()
            .expect("an armed guard holds its sandbox")
    }
}

impl Deref for SandboxGuard {
    type Target = Sandbox;

    fn deref(&self) -> &Sandbox {
        self.sandbox
            .as_ref()
            .expect("an armed guard holds its sandbox")
    }
}

impl Drop for SandboxGuard {
    fn drop(&mut self) {
        let Some(sb) = self.sandbox.take() else {
            return;
        };
        tracing::warn!(sandbox = %sb.id(), "a blocking SandboxGuard was dropped without close(): deleting the sandbox");
        if let Err(e) = sb.delete() {
            tracing::warn!(sandbox = %sb.id(), error = %e, "could not delete the sandbox of a dropped SandboxGuard");
        }
    }
}

/// A stop the Router accepted (blocking); see [`crate::Stopping`].
#[derive(Clone, Debug)]
pub struct Stopping {
    inner: crate::Stopping,
    sandbox: Sandbox,
}

impl Stopping {
    /// The Router's answer; see [`crate::Stopping::ack`].
    pub fn ack(&self) -> &StatusAck {
        self.inner.ack()
    }

    /// The sandbox; see [`crate::Stopping::sandbox`].
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Waits until the sandbox is stopped; see [`crate::Stopping::wait`].
    pub fn wait(self) -> Result<SandboxSummary> {
        let s = self.inner;
        self.sandbox
            .client
            .block("Stopping::wait", async move { s.wait().await })
    }

    /// [`Stopping::wait`] with options; see [`crate::Stopping::wait_with`].
    pub fn wait_with(self, options: WaitOptions) -> Result<SandboxSummary> {
        let s = self.inner;
        self.sandbox.client.block(
            "Stopping::wait_with",
            async move { s.wait_with(options).await },
        )
    }
}

/// A resume the Router accepted (blocking); see [`crate::Resuming`].
#[derive(Clone, Debug)]
pub struct Resuming {
    inner: crate::Resuming,
    sandbox: Sandbox,
}

impl Resuming {
    /// The Router's answer; see [`crate::Resuming::ack`].
    pub fn ack(&self) -> &StatusAck {
        self.inner.ack()
    }

    /// The sandbox; see [`crate::Resuming::sandbox`].
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Waits until the sandbox runs; see [`crate::Resuming::wait`].
    pub fn wait(self) -> Result<SandboxSummary> {
        let s = self.inner;
        self.sandbox
            .client
            .block("Resuming::wait", async move { s.wait().await })
    }

    /// [`Resuming::wait`] with options; see [`crate::Resuming::wait_with`].
    pub fn wait_with(self, options: WaitOptions) -> Result<SandboxSummary> {
        let s = self.inner;
        self.sandbox.client.block(
            "Resuming::wait_with",
            async move { s.wait_with(options).await },
        )
    }
}

/// A delete the Router accepted (blocking); see [`crate::Deleting`].
#[derive(Clone, Debug)]
pub struct Deleting {
    inner: crate::Deleting,
    sandbox: Sandbox,
}

impl Deleting {
    /// The sandbox; see [`crate::Deleting::sandbox`].
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Waits until the sandbox is gone; see [`crate::Deleting::wait`].
    pub fn wait(self) -> Result<()> {
        let s = self.inner;
        self.sandbox
            .client
            .block("Deleting::wait", async move { s.wait().await })
    }

    /// [`Deleting::wait`] with options; see [`crate::Deleting::wait_with`].
    pub fn wait_with(self, options: WaitOptions) -> Result<()> {
        let s = self.inner;
        self.sandbox.client.block(
            "Deleting::wait_with",
            async move { s.wait_with(options).await },
        )
    }
}

/// A change of a sandbox being built (blocking); see [`crate::UpdateSandbox`].
#[derive(Clone, Debug)]
#[must_use = "an UpdateSandbox does nothing until sent"]
pub struct UpdateSandbox {
    inner: crate::UpdateSandbox,
    client: Client,
}

impl UpdateSandbox {
    /// See [`crate::UpdateSandbox::idle_timeout`].
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.inner = self.inner.idle_timeout(d);
        self
    }

    /// See [`crate::UpdateSandbox::resources`].
    pub fn resources(mut self, resources: ResourceRequirements) -> Self {
        self.inner = self.inner.resources(resources);
        self
    }

    /// See [`crate::UpdateSandbox::cpu_limit`].
    pub fn cpu_limit(mut self, quantity: impl Into<String>) -> Self {
        self.inner = self.inner.cpu_limit(quantity);
        self
    }

    /// See [`crate::UpdateSandbox::memory_limit`].
    pub fn memory_limit(mut self, quantity: impl Into<String>) -> Self {
        self.inner = self.inner.memory_limit(quantity);
        self
    }

    /// See [`crate::UpdateSandbox::cpu_request`].
    pub fn cpu_request(mut self, quantity: impl Into<String>) -> Self {
        self.inner = self.inner.cpu_request(quantity);
        self
    }

    /// See [`crate::UpdateSandbox::memory_request`].
    pub fn memory_request(mut self, quantity: impl Into<String>) -> Self {
        self.inner = self.inner.memory_request(quantity);
        self
    }

    /// See [`crate::UpdateSandbox::labels`].
    pub fn labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.inner = self.inner.labels(labels);
        self
    }

    /// See [`crate::UpdateSandbox::label`].
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.inner = self.inner.label(key, value);
        self
    }

    /// See [`crate::UpdateSandbox::annotations`].
    pub fn annotations(mut self, annotations: BTreeMap<String, String>) -> Self {
        self.inner = self.inner.annotations(annotations);
        self
    }

    /// See [`crate::UpdateSandbox::annotation`].
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.inner = self.inner.annotation(key, value);
        self
    }

    /// Sends the change; see [`crate::UpdateSandbox::send`].
    pub fn send(self) -> Result<PatchSandboxResponse> {
        let u = self.inner;
        self.client
            .block("UpdateSandbox::send", async move { u.send().await })
    }
}

/// A clone of a sandbox being built (blocking); see [`crate::CloneSandbox`].
#[derive(Clone, Debug)]
#[must_use = "a CloneSandbox does nothing until sent"]
pub struct CloneSandbox {
    inner: crate::CloneSandbox,
    client: Client,
}

impl CloneSandbox {
    /// See [`crate::CloneSandbox::name`].
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.inner = self.inner.name(name);
        self
    }

    /// See [`crate::CloneSandbox::snapshot_class`].
    pub fn snapshot_class(mut self, class: impl Into<String>) -> Self {
        self.inner = self.inner.snapshot_class(class);
        self
    }

    /// Sends the clone; see [`crate::CloneSandbox::send`].
    pub fn send(self) -> Result<Cloned> {
        let c = self.inner;
        let cloned = self
            .client
            .block("CloneSandbox::send", async move { c.send().await })?;
        Ok(Cloned {
            sandbox: self.client.sandbox_handle(cloned.sandbox),
            response: cloned.response,
        })
    }
}

/// A clone the Router accepted (blocking); see [`crate::Cloned`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Cloned {
    /// The new sandbox.
    pub sandbox: Sandbox,
    /// The Router's answer.
    pub response: CloneSandboxResponse,
}

/// A sandbox's backups (blocking); see [`crate::Backups`].
#[derive(Clone, Debug)]
pub struct Backups {
    inner: crate::Backups,
    client: Client,
}

impl Backups {
    /// The backups; see [`crate::Backups::list`].
    pub fn list(&self) -> Result<Vec<Backup>> {
        let b = self.inner.clone();
        self.client
            .block("Backups::list", async move { b.list().await })
    }

    /// Starts a backup; see [`crate::Backups::create`].
    pub fn create(&self) -> CreateBackup {
        CreateBackup {
            inner: self.inner.create(),
            client: self.client.clone(),
        }
    }

    /// Starts a restore into a new sandbox; see [`crate::Backups::restore`].
    pub fn restore(&self, snapshot: impl Into<String>) -> RestoreBackup {
        RestoreBackup {
            inner: self.inner.restore(snapshot),
            client: self.client.clone(),
        }
    }

    /// Deletes a backup; see [`crate::Backups::delete`].
    pub fn delete(&self, snapshot: &str) -> Result<DeleteBackupResponse> {
        let (b, snapshot) = (self.inner.clone(), snapshot.to_owned());
        self.client
            .block("Backups::delete", async move { b.delete(&snapshot).await })
    }
}

/// A backup being built (blocking); see [`crate::CreateBackup`].
#[derive(Clone, Debug)]
#[must_use = "a CreateBackup does nothing until sent"]
pub struct CreateBackup {
    inner: crate::CreateBackup,
    client: Client,
}

impl CreateBackup {
    /// See [`crate::CreateBackup::snapshot_class`].
    pub fn snapshot_class(mut self, class: impl Into<String>) -> Self {
        self.inner = self.inner.snapshot_class(class);
        self
    }

    /// Sends the backup; see [`crate::CreateBackup::send`].
    pub fn send(self) -> Result<Backup> {
        let b = self.inner;
        self.client
            .block("CreateBackup::send", async move { b.send().await })
    }
}

/// A restore being built (blocking); see [`crate::RestoreBackup`].
#[derive(Clone, Debug)]
#[must_use = "a RestoreBackup does nothing until sent"]
pub struct RestoreBackup {
    inner: crate::RestoreBackup,
    client: Client,
}

impl RestoreBackup {
    /// See [`crate::RestoreBackup::name`].
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.inner = self.inner.name(name);
        self
    }

    /// Sends the restore; see [`crate::RestoreBackup::send`].
    pub fn send(self) -> Result<Restored> {
        let r = self.inner;
        let restored = self
            .client
            .block("RestoreBackup::send", async move { r.send().await })?;
        Ok(Restored {
            sandbox: self.client.sandbox_handle(restored.sandbox),
            response: restored.response,
        })
    }
}

/// A restore the Router accepted (blocking); see [`crate::Restored`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Restored {
    /// The new sandbox.
    pub sandbox: Sandbox,
    /// The Router's answer.
    pub response: RestoreBackupResponse,
}
