//! The blocking sandbox areas: files, ports and the preview proxy, sharing.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::Client;
use crate::operations::Method;
use crate::types::{self, FileList, ForwardedPort, PutFileResult, ShareLinkCreated};
use crate::{
    FileData, PreviewResponse, Result, ShareKind, ShareLevel, ShareLinkOptions, TransferOptions,
    TreeTransfer, Url,
};

/// A sandbox's files (blocking); see [`crate::Files`].
///
/// ```no_run
/// # fn demo(sb: agenttier::blocking::Sandbox) -> agenttier::Result<()> {
/// sb.files().write("/workspace/hello.txt", "hello\n")?;
/// assert_eq!(sb.files().read_to_string("/workspace/hello.txt")?, "hello\n");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Files {
    pub(crate) inner: crate::Files,
    pub(crate) client: Client,
}

impl Files {
    /// Lists a directory; see [`crate::Files::list`].
    pub fn list(&self, dir: &str) -> Result<FileList> {
        let (f, dir) = (self.inner.clone(), dir.to_owned());
        self.client
            .block("Files::list", async move { f.list(&dir).await })
    }

    /// Reads a file; see [`crate::Files::read`].
    pub fn read(&self, path: &str) -> Result<Bytes> {
        let (f, path) = (self.inner.clone(), path.to_owned());
        self.client
            .block("Files::read", async move { f.read(&path).await })
    }

    /// Reads a UTF-8 file; see [`crate::Files::read_to_string`].
    pub fn read_to_string(&self, path: &str) -> Result<String> {
        let (f, path) = (self.inner.clone(), path.to_owned());
        self.client.block("Files::read_to_string", async move {
            f.read_to_string(&path).await
        })
    }

    /// Writes a file; see [`crate::Files::write`].
    pub fn write(&self, path: &str, data: impl Into<FileData>) -> Result<PutFileResult> {
        let (f, path, data) = (self.inner.clone(), path.to_owned(), data.into());
        self.client
            .block("Files::write", async move { f.write(&path, data).await })
    }

    /// Writes a file with options; see [`crate::Files::write_with`].
    pub fn write_with(
        &self,
        path: &str,
        data: impl Into<FileData>,
        options: TransferOptions,
    ) -> Result<PutFileResult> {
        let (f, path, data) = (self.inner.clone(), path.to_owned(), data.into());
        self.client.block("Files::write_with", async move {
            f.write_with(&path, data, options).await
        })
    }

    /// Uploads a local file; see [`crate::Files::upload`].
    pub fn upload(&self, local: impl AsRef<Path>, path: &str) -> Result<u64> {
        let (f, local, path) = (self.inner.clone(), local_path(local), path.to_owned());
        self.client.block(
            "Files::upload",
            async move { f.upload(&local, &path).await },
        )
    }

    /// Uploads a local file with options; see [`crate::Files::upload_with`].
    pub fn upload_with(
        &self,
        local: impl AsRef<Path>,
        path: &str,
        options: TransferOptions,
    ) -> Result<u64> {
        let (f, local, path) = (self.inner.clone(), local_path(local), path.to_owned());
        self.client.block("Files::upload_with", async move {
            f.upload_with(&local, &path, options).await
        })
    }

    /// Downloads a file; see [`crate::Files::download`].
    pub fn download(&self, path: &str, local: impl AsRef<Path>) -> Result<u64> {
        let (f, path, local) = (self.inner.clone(), path.to_owned(), local_path(local));
        self.client.block(
            "Files::download",
            async move { f.download(&path, &local).await },
        )
    }

    /// Downloads a file with options; see [`crate::Files::download_with`].
    pub fn download_with(
        &self,
        path: &str,
        local: impl AsRef<Path>,
        options: TransferOptions,
    ) -> Result<u64> {
        let (f, path, local) = (self.inner.clone(), path.to_owned(), local_path(local));
        self.client.block("Files::download_with", async move {
            f.download_with(&path, &local, options).await
        })
    }

    /// Downloads a directory as a tar archive; see [`crate::Files::archive`].
    pub fn archive(&self, dir: &str, local: impl AsRef<Path>) -> Result<u64> {
        let (f, dir, local) = (self.inner.clone(), dir.to_owned(), local_path(local));
        self.client.block(
            "Files::archive",
            async move { f.archive(&dir, &local).await },
        )
    }

    /// [`Files::archive`] with options; see [`crate::Files::archive_with`].
    pub fn archive_with(
        &self,
        dir: &str,
        local: impl AsRef<Path>,
        options: TransferOptions,
    ) -> Result<u64> {
        let (f, dir, local) = (self.inner.clone(), dir.to_owned(), local_path(local));
        self.client.block("Files::archive_with", async move {
            f.archive_with(&dir, &local, options).await
        })
    }

    /// Uploads a local directory tree; see [`crate::Files::upload_dir`].
    pub fn upload_dir(&self, local: impl AsRef<Path>, remote: &str) -> Result<TreeTransfer> {
        let (f, local, remote) = (self.inner.clone(), local_path(local), remote.to_owned());
        self.client.block("Files::upload_dir", async move {
            f.upload_dir(&local, &remote).await
        })
    }

    /// [`Files::upload_dir`] with options; see [`crate::Files::upload_dir_with`].
    pub fn upload_dir_with(
        &self,
        local: impl AsRef<Path>,
        remote: &str,
        options: TransferOptions,
    ) -> Result<TreeTransfer> {
        let (f, local, remote) = (self.inner.clone(), local_path(local), remote.to_owned());
        self.client.block("Files::upload_dir_with", async move {
            f.upload_dir_with(&local, &remote, options).await
        })
    }

    /// Downloads a remote directory tree; see [`crate::Files::download_dir`].
    pub fn download_dir(&self, remote: &str, local: impl AsRef<Path>) -> Result<TreeTransfer> {
        let (f, remote, local) = (self.inner.clone(), remote.to_owned(), local_path(local));
        self.client.block("Files::download_dir", async move {
            f.download_dir(&remote, &local).await
        })
    }

    /// [`Files::download_dir`] with options; see [`crate::Files::download_dir_with`].
    pub fn download_dir_with(
        &self,
        remote: &str,
        local: impl AsRef<Path>,
        options: TransferOptions,
    ) -> Result<TreeTransfer> {
        let (f, remote, local) = (self.inner.clone(), remote.to_owned(), local_path(local));
        self.client.block("Files::download_dir_with", async move {
            f.download_dir_with(&remote, &local, options).await
        })
    }
}

fn local_path(p: impl AsRef<Path>) -> PathBuf {
    p.as_ref().to_path_buf()
}

/// A sandbox's forwarded ports (blocking); see [`crate::Ports`].
#[derive(Clone, Debug)]
pub struct Ports {
    pub(crate) inner: crate::Ports,
    pub(crate) client: Client,
}

impl Ports {
    /// The forwarded ports; see [`crate::Ports::list`].
    pub fn list(&self) -> Result<Vec<ForwardedPort>> {
        let p = self.inner.clone();
        self.client
            .block("Ports::list", async move { p.list().await })
    }

    /// Forwards a TCP port; see [`crate::Ports::forward`].
    pub fn forward(&self, port: u32) -> Result<ForwardedPort> {
        let p = self.inner.clone();
        self.client
            .block("Ports::forward", async move { p.forward(port).await })
    }

    /// Forwards a port with a protocol; see [`crate::Ports::forward_as`].
    pub fn forward_as(&self, port: u32, protocol: &str) -> Result<ForwardedPort> {
        let (p, protocol) = (self.inner.clone(), protocol.to_owned());
        self.client.block("Ports::forward_as", async move {
            p.forward_as(port, &protocol).await
        })
    }

    /// Stops forwarding a port; see [`crate::Ports::remove`].
    pub fn remove(&self, port: u32) -> Result<()> {
        let p = self.inner.clone();
        self.client
            .block("Ports::remove", async move { p.remove(port).await })
    }

    /// The port's URL through the Router, without a request; see
    /// [`crate::Ports::preview_url`].
    pub fn preview_url(&self, port: u32) -> Result<Url> {
        self.inner.preview_url(port)
    }

    /// Requests to the port through the preview proxy; see [`crate::Ports::preview`].
    pub fn preview(&self, port: u32) -> Preview {
        Preview {
            inner: self.inner.preview(port),
            client: self.client.clone(),
        }
    }
}

/// Requests to a sandbox's port through the Router's preview proxy (blocking); see
/// [`crate::Preview`].
#[derive(Clone, Debug)]
pub struct Preview {
    inner: crate::Preview,
    client: Client,
}

impl Preview {
    /// A request with any method; see [`crate::Preview::request`].
    pub fn request(&self, method: Method, path: &str) -> PreviewRequest {
        self.wrap(self.inner.request(method, path))
    }

    /// A `GET`; see [`crate::Preview::get`].
    pub fn get(&self, path: &str) -> PreviewRequest {
        self.wrap(self.inner.get(path))
    }

    /// A `POST`; see [`crate::Preview::post`].
    pub fn post(&self, path: &str) -> PreviewRequest {
        self.wrap(self.inner.post(path))
    }

    /// A `PUT`; see [`crate::Preview::put`].
    pub fn put(&self, path: &str) -> PreviewRequest {
        self.wrap(self.inner.put(path))
    }

    /// A `PATCH`; see [`crate::Preview::patch`].
    pub fn patch(&self, path: &str) -> PreviewRequest {
        self.wrap(self.inner.patch(path))
    }

    /// A `DELETE`; see [`crate::Preview::delete`].
    pub fn delete(&self, path: &str) -> PreviewRequest {
        self.wrap(self.inner.delete(path))
    }

    fn wrap(&self, inner: crate::PreviewRequest) -> PreviewRequest {
        PreviewRequest {
            inner,
            client: self.client.clone(),
        }
    }
}

/// A request through the preview proxy being built (blocking); see [`crate::PreviewRequest`].
#[derive(Debug)]
#[must_use = "a PreviewRequest does nothing until sent"]
pub struct PreviewRequest {
    inner: crate::PreviewRequest,
    client: Client,
}

impl PreviewRequest {
    /// See [`crate::PreviewRequest::query`].
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.inner = self.inner.query(name, value);
        self
    }

    /// See [`crate::PreviewRequest::header`].
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner = self.inner.header(name, value);
        self
    }

    /// See [`crate::PreviewRequest::body`].
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.inner = self.inner.body(body);
        self
    }

    /// See [`crate::PreviewRequest::json`].
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Result<Self> {
        self.inner = self.inner.json(value)?;
        Ok(self)
    }

    /// Sends the request; see [`crate::PreviewRequest::send`].
    pub fn send(self) -> Result<PreviewResponse> {
        let r = self.inner;
        self.client
            .block("PreviewRequest::send", async move { r.send().await })
    }
}

/// A sandbox's shares (blocking); see [`crate::Sharing`].
#[derive(Clone, Debug)]
pub struct Sharing {
    pub(crate) inner: crate::Sharing,
    pub(crate) client: Client,
}

impl Sharing {
    /// The shares; see [`crate::Sharing::get`].
    pub fn get(&self) -> Result<types::Sharing> {
        let s = self.inner.clone();
        self.client
            .block("Sharing::get", async move { s.get().await })
    }

    /// Shares the sandbox; see [`crate::Sharing::grant`].
    pub fn grant(
        &self,
        identity: &str,
        level: ShareLevel,
        kind: ShareKind,
    ) -> Result<types::Sharing> {
        let (s, identity) = (self.inner.clone(), identity.to_owned());
        self.client.block("Sharing::grant", async move {
            s.grant(&identity, level, kind).await
        })
    }

    /// Removes a share; see [`crate::Sharing::revoke`].
    pub fn revoke(&self, identity: &str) -> Result<types::RevokeShareResponse> {
        let (s, identity) = (self.inner.clone(), identity.to_owned());
        self.client
            .block("Sharing::revoke", async move { s.revoke(&identity).await })
    }

    /// Creates a share link; see [`crate::Sharing::create_link`].
    pub fn create_link(&self, options: ShareLinkOptions) -> Result<ShareLinkCreated> {
        let s = self.inner.clone();
        self.client.block("Sharing::create_link", async move {
            s.create_link(options).await
        })
    }
}
