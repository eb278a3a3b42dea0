//! Files in a sandbox: list, read, write, streamed download and upload, and zip archives.
//!
//! These routes are sent by hand on the shared pipeline (same pool, credentials, retries,
//! tracing and errors as everything else) because the file path must keep its slashes: the
//! generated client percent-encodes `/` inside a path parameter.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Sandbox;
use crate::operations::op;
use crate::pipeline::Call;
use crate::types::{FileEntry, FileList, PutFileResult};
use crate::{Error, Result, wire};

/// The Router's cap on one file, both ways (32 MiB).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> agenttier::Result<()> {
/// let client = agenttier::Client::builder("http://localhost:8080").build()?;
/// let sb = client.sandbox("demo")?;
/// // One byte over 32 MiB is refused before any request is sent.
/// let too_big = vec![0u8; 32 * 1024 * 1024 + 1];
/// let err = sb.files().write("/workspace/big.bin", too_big).await.unwrap_err();
/// assert!(matches!(err, agenttier::Error::InvalidInput { .. }));
/// # Ok(()) }
/// ```
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// Uploads above this size are split into parts by default. The Router puts the base64 of
/// the body inside one `sh -c` argument, and Linux caps one argument at 128 KiB, so a single
/// request fails from about 96 KiB (openapi.yaml, `writeFile`).
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// // 200 KiB is above the 64 KiB threshold, so it goes up in parts.
/// let data = vec![b'x'; 200 * 1024];
/// sb.files().write("/workspace/data.txt", data).await?;
/// # Ok(()) }
/// ```
pub const DEFAULT_CHUNK_THRESHOLD: u64 = 64 * 1024;

/// Size of each part of a split upload.
///
/// ```
/// use agenttier::TransferOptions;
/// // Smaller parts than the default 64 KiB, e.g. behind a proxy with a small body limit.
/// let opts = TransferOptions::default().part_size(32 * 1024);
/// # let _ = opts;
/// ```
pub const DEFAULT_PART_SIZE: usize = 64 * 1024;

/// Transfer progress: bytes done, and the total when known.
///
/// ```
/// use agenttier::Progress;
/// let p = Progress { done: 512, total: Some(2048) };
/// assert_eq!(p.total.map(|t| p.done * 100 / t), Some(25));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes transferred so far.
    pub done: u64,
    /// Total bytes, when known (archives stream without a length).
    pub total: Option<u64>,
}

type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Options for uploads, downloads and archives.
///
/// ```
/// use std::time::Duration;
/// use agenttier::TransferOptions;
///
/// let opts = TransferOptions::default()
///     .progress(|p| eprintln!("{} of {:?} bytes", p.done, p.total))
///     .timeout(Duration::from_secs(30 * 60));
/// # let _ = opts;
/// ```
#[derive(Clone)]
pub struct TransferOptions {
    progress: Option<ProgressFn>,
    chunking: bool,
    chunk_threshold: u64,
    part_size: usize,
    timeout: Duration,
}

impl Default for TransferOptions {
    fn default() -> Self {
        Self {
            progress: None,
            chunking: true,
            chunk_threshold: DEFAULT_CHUNK_THRESHOLD,
            part_size: DEFAULT_PART_SIZE,
            timeout: Duration::from_secs(600),
        }
    }
}

impl fmt::Debug for TransferOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransferOptions")
            .field("progress", &self.progress.is_some())
            .field("chunking", &self.chunking)
            .field("chunk_threshold", &self.chunk_threshold)
            .field("part_size", &self.part_size)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl TransferOptions {
    /// Calls `f` as bytes move.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use agenttier::TransferOptions;
    ///
    /// let done = Arc::new(AtomicU64::new(0));
    /// let seen = done.clone();
    /// let opts = TransferOptions::default()
    ///     .progress(move |p| seen.store(p.done, Ordering::Relaxed));
    /// # let _ = opts;
    /// ```
    pub fn progress(mut self, f: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Splits uploads above the threshold into parts joined in the sandbox (default on).
    /// Off sends one request whatever the size, which the Router fails above ~96 KiB.
    ///
    /// ```
    /// // One request whatever the size (only for files well under 96 KiB).
    /// let opts = agenttier::TransferOptions::default().chunking(false);
    /// # let _ = opts;
    /// ```
    pub fn chunking(mut self, on: bool) -> Self {
        self.chunking = on;
        self
    }

    /// Uploads larger than this are split (default 64 KiB).
    ///
    /// ```
    /// // Split everything above 32 KiB.
    /// let opts = agenttier::TransferOptions::default().chunk_threshold(32 * 1024);
    /// # let _ = opts;
    /// ```
    pub fn chunk_threshold(mut self, bytes: u64) -> Self {
        self.chunk_threshold = bytes;
        self
    }

    /// The size of each part (default 64 KiB; keep it under ~96 KiB).
    ///
    /// ```
    /// let opts = agenttier::TransferOptions::default().part_size(48 * 1024);
    /// # let _ = opts;
    /// ```
    pub fn part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes.max(1);
        self
    }

    /// Timeout of each HTTP request of the transfer (default 10 minutes).
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = agenttier::TransferOptions::default().timeout(Duration::from_secs(60));
    /// # let _ = opts;
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    fn report(&self, done: u64, total: Option<u64>) {
        if let Some(f) = &self.progress {
            f(Progress { done, total });
        }
    }
}

/// File contents to write: anything that is bytes. `Bytes` and `Vec<u8>`/`String` are taken
/// without a copy; borrowed data (`&str`, `&[u8]`, `b"..."`) is copied once.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let files = sb.files();
/// files.write("/workspace/a.txt", "text\n").await?;
/// files.write("/workspace/b.bin", b"\x00\x01").await?;
/// files.write("/workspace/c.bin", vec![0u8; 16]).await?;
/// files.write("/workspace/d.txt", String::from("owned")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileData(pub Bytes);

impl From<Bytes> for FileData {
    fn from(b: Bytes) -> Self {
        FileData(b)
    }
}

impl From<Vec<u8>> for FileData {
    fn from(v: Vec<u8>) -> Self {
        FileData(Bytes::from(v))
    }
}

impl From<String> for FileData {
    fn from(s: String) -> Self {
        FileData(Bytes::from(s))
    }
}

impl From<&str> for FileData {
    fn from(s: &str) -> Self {
        FileData(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<&String> for FileData {
    fn from(s: &String) -> Self {
        FileData(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<&[u8]> for FileData {
    fn from(s: &[u8]) -> Self {
        FileData(Bytes::copy_from_slice(s))
    }
}

impl From<&Vec<u8>> for FileData {
    fn from(s: &Vec<u8>) -> Self {
        FileData(Bytes::copy_from_slice(s))
    }
}

impl<const N: usize> From<&[u8; N]> for FileData {
    fn from(s: &[u8; N]) -> Self {
        FileData(Bytes::copy_from_slice(s))
    }
}

impl<'a> IntoIterator for &'a FileList {
    type Item = &'a FileEntry;
    type IntoIter = std::slice::Iter<'a, FileEntry>;

    /// The entries of a listing.
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl IntoIterator for FileList {
    type Item = FileEntry;
    type IntoIter = std::vec::IntoIter<FileEntry>;

    /// The entries of a listing.
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

/// The files of one sandbox: `sandbox.files()`.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let files = sb.files();
/// files.write("/workspace/a.txt", "hello\n").await?;
/// assert_eq!(files.read("/workspace/a.txt").await?, "hello\n");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Files {
    sandbox: Sandbox,
}

impl Sandbox {
    /// File operations in this sandbox (it must be Running).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let listing = sb.files().list("/workspace").await?;
    /// println!("{} entries", listing.entries.len());
    /// # Ok(()) }
    /// ```
    pub fn files(&self) -> Files {
        Files {
            sandbox: self.clone(),
        }
    }
}

impl Files {
    /// A request for one of the file routes (`{id}` and an encoded remote `{path}`).
    fn file_call(&self, op: &'static crate::operations::Operation, path: &str) -> Result<Call> {
        let remote = wire::remote_file_path(path)?;
        self.sandbox.client.call(op, &[&self.sandbox.id, &remote])
    }

    /// Lists a directory (hidden files included; `.` and `..` left out).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// for entry in sb.files().list("/workspace").await?.entries {
    ///     println!("{} {} {}", entry.mode, entry.size, entry.name);
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "listFiles")]
    pub async fn list(&self, dir: &str) -> Result<FileList> {
        wire::remote_path(dir)?;
        let c = &self.sandbox.client;
        // The list route is the one route with a trailing slash (the operation's path has it).
        let call = c
            .call(&op::LIST_FILES, &[&self.sandbox.id])?
            .query("path", &wire::clean_remote_path(dir));
        c.json(call).await
    }

    /// Reads a whole file into memory (at most 32 MiB).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let bytes = sb.files().read("/workspace/a.txt").await?;
    /// println!("{}", String::from_utf8_lossy(&bytes));
    /// # Ok(()) }
    /// ```
    #[doc(alias = "readFile")]
    pub async fn read(&self, path: &str) -> Result<Bytes> {
        let call = self
            .file_call(&op::READ_FILE, path)?
            .accept("application/octet-stream");
        Ok(self.sandbox.client.buffered(call).await?.body)
    }

    /// Reads a whole text file. Invalid UTF-8 is [`Error::Decode`] (read bytes with
    /// [`Files::read`] instead).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let readme = sb.files().read_to_string("/workspace/README.md").await?;
    /// # Ok(()) }
    /// ```
    pub async fn read_to_string(&self, path: &str) -> Result<String> {
        let bytes = self.read(path).await?;
        String::from_utf8(bytes.to_vec()).map_err(|e| {
            Error::decode(
                op::READ_FILE.name,
                Some(200),
                None,
                format!("{path} is not UTF-8 text: {e}"),
                &bytes,
            )
        })
    }

    /// Writes `data` to `path` (parents are created; an existing file is replaced). Data above
    /// the chunk threshold is uploaded in parts, see [`Files::write_with`].
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let res = sb.files().write("/workspace/a.txt", "hello\n").await?;
    /// assert_eq!(res.bytes, 6);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "writeFile")]
    pub async fn write(&self, path: &str, data: impl Into<FileData>) -> Result<PutFileResult> {
        self.write_with(path, data, TransferOptions::default())
            .await
    }

    /// [`Files::write`] with options.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use agenttier::TransferOptions;
    /// let data = vec![0u8; 1024 * 1024];
    /// let opts = TransferOptions::default().progress(|p| eprintln!("{}/{:?}", p.done, p.total));
    /// sb.files().write_with("/workspace/blob.bin", data, opts).await?;
    /// # Ok(()) }
    /// ```
    pub async fn write_with(
        &self,
        path: &str,
        data: impl Into<FileData>,
        options: TransferOptions,
    ) -> Result<PutFileResult> {
        let data = data.into().0;
        let total = data.len() as u64;
        check_size(path, total)?;
        wire::remote_file_path(path)?;
        if options.chunking && total > options.chunk_threshold {
            let parts = data.chunks(options.part_size).map(Bytes::copy_from_slice);
            let mut source = futures::stream::iter(parts.map(Ok::<_, Error>));
            return self.upload_parts(path, total, &mut source, &options).await;
        }
        let result = self.put(path, data, &options).await?;
        options.report(total, Some(total));
        Ok(result)
    }

    async fn put(
        &self,
        path: &str,
        body: Bytes,
        options: &TransferOptions,
    ) -> Result<PutFileResult> {
        let call = self
            .file_call(&op::WRITE_FILE, path)?
            .bytes(body, "application/octet-stream")
            .at_least(options.timeout);
        self.sandbox.client.json(call).await
    }

    /// Streams a local file into the sandbox, without reading it whole into memory. Files
    /// above the chunk threshold go up in parts that are joined in the sandbox with `cat`;
    /// the final size is checked, and the parts are removed whether it worked or not.
    /// Returns the bytes written.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use agenttier::TransferOptions;
    /// let opts = TransferOptions::default().progress(|p| eprintln!("{}/{:?}", p.done, p.total));
    /// let n = sb.files().upload_with("dataset.csv", "/workspace/dataset.csv", opts).await?;
    /// # Ok(()) }
    /// ```
    pub async fn upload(&self, local: impl AsRef<Path>, path: &str) -> Result<u64> {
        self.upload_with(local, path, TransferOptions::default())
            .await
    }

    /// [`Files::upload`] with options.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// use agenttier::TransferOptions;
    /// let opts = TransferOptions::default().timeout(Duration::from_secs(30 * 60));
    /// let n = sb.files().upload_with("model.bin", "/workspace/model.bin", opts).await?;
    /// # Ok(()) }
    /// ```
    pub async fn upload_with(
        &self,
        local: impl AsRef<Path>,
        path: &str,
        options: TransferOptions,
    ) -> Result<u64> {
        let local = local.as_ref();
        wire::remote_file_path(path)?;
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|e| Error::io(local, e))?;
        let total = file
            .metadata()
            .await
            .map_err(|e| Error::io(local, e))?
            .len();
        check_size(path, total)?;
        if options.chunking && total > options.chunk_threshold {
            let part_size = options.part_size;
            let mut source = Box::pin(futures::stream::try_unfold(file, move |mut f| async move {
                let mut buf = vec![0u8; part_size];
                let mut filled = 0;
                while filled < part_size {
                    let n = f.read(&mut buf[filled..]).await?;
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                if filled == 0 {
                    return Ok(None);
                }
                buf.truncate(filled);
                Ok(Some((Bytes::from(buf), f)))
            }))
            .map(move |r: std::io::Result<Bytes>| r.map_err(|e| Error::io(local, e)));
            self.upload_parts(path, total, &mut source, &options)
                .await?;
            return Ok(total);
        }
        // At most the threshold (or chunking is off and the caller accepts one request).
        let mut buf = Vec::with_capacity(total as usize);
        file.read_to_end(&mut buf)
            .await
            .map_err(|e| Error::io(local, e))?;
        let written = self.put(path, Bytes::from(buf), &options).await?;
        options.report(total, Some(total));
        Ok(written.bytes as u64)
    }

    async fn upload_parts<S>(
        &self,
        path: &str,
        total: u64,
        source: &mut S,
        options: &TransferOptions,
    ) -> Result<PutFileResult>
    where
        S: futures::Stream<Item = Result<Bytes>> + Unpin,
    {
        let target = wire::clean_remote_path(path);
        let (dir, name) = target.rsplit_once('/').unwrap_or(("", &target));
        let dir = if dir.is_empty() { "/" } else { dir };
        let tag: u64 = rand::rng().random();
        let prefix = format!("{dir}/.{name}.agenttier-part-{tag:016x}").replace("//", "/");
        let mut sent = 0u64;
        let mut index = 0usize;
        let outcome: Result<()> = async {
            while let Some(part) = source.next().await {
                let part = part?;
                let len = part.len() as u64;
                self.put(&format!("{prefix}.{index:06}"), part, options)
                    .await?;
                sent += len;
                index += 1;
                options.report(sent, Some(total));
            }
            if sent != total {
                return Err(Error::invalid(
                    "local file",
                    format!("changed while uploading ({sent} of {total} bytes read)"),
                ));
            }
            // Zero-padded part names sort in order under the glob.
            let glob = format!("{}.*", wire::shell_join(&[prefix.as_str()])?);
            let quoted_target = wire::shell_join(&[target.as_str()])?;
            let join =
                format!("cat {glob} > {quoted_target} && rm -f {glob} && wc -c < {quoted_target}");
            let out = self
                .sandbox
                .exec_with(
                    &join,
                    super::ExecOptions::default().timeout(options.timeout),
                )
                .await?;
            let size: u64 = out.stdout.trim().parse().unwrap_or(u64::MAX);
            if !out.success() || size != total {
                return Err(Error::UploadFailed {
                    path: target.clone(),
                    message: format!(
                        "joining {index} parts gave {} bytes, expected {total} (exit {}: {})",
                        out.stdout.trim(),
                        out.exit_code,
                        out.stderr.trim()
                    ),
                });
            }
            Ok(())
        }
        .await;
        if let Err(err) = outcome {
            if index > 0 {
                let glob = format!(
                    "{}.*",
                    wire::shell_join(&[prefix.as_str()]).unwrap_or_default()
                );
                if let Err(cleanup) = self.sandbox.exec(&format!("rm -f {glob}")).await {
                    tracing::warn!(error = %cleanup, "could not remove the parts of a failed upload");
                }
            }
            return Err(err);
        }
        Ok(PutFileResult {
            path: target,
            bytes: total as i64,
        })
    }

    /// Streams a sandbox file to a local path, chunk by chunk. Returns the bytes written.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let n = sb.files().download("/workspace/report.pdf", "report.pdf").await?;
    /// println!("{n} bytes");
    /// # Ok(()) }
    /// ```
    pub async fn download(&self, path: &str, local: impl AsRef<Path>) -> Result<u64> {
        self.download_with(path, local, TransferOptions::default())
            .await
    }

    /// [`Files::download`] with options.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use agenttier::TransferOptions;
    /// let opts = TransferOptions::default().progress(|p| eprintln!("{}/{:?}", p.done, p.total));
    /// sb.files().download_with("/workspace/out/results.csv", "results.csv", opts).await?;
    /// # Ok(()) }
    /// ```
    pub async fn download_with(
        &self,
        path: &str,
        local: impl AsRef<Path>,
        options: TransferOptions,
    ) -> Result<u64> {
        let call = self
            .file_call(&op::READ_FILE, path)?
            .accept("application/octet-stream")
            .at_least(options.timeout);
        let resp = self.sandbox.client.stream(call).await?;
        stream_to_file(&op::READ_FILE, resp, local.as_ref(), &options).await
    }

    /// Streams a zip of `dir` (which must be `/workspace` or below) to a local path. Returns
    /// the zip's size. The Router cannot report a failure after it started sending, so a
    /// broken archive shows up as a truncated zip.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let size = sb.files().archive("/workspace", "workspace.zip").await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "downloadArchive")]
    pub async fn archive(&self, dir: &str, local: impl AsRef<Path>) -> Result<u64> {
        self.archive_with(dir, local, TransferOptions::default())
            .await
    }

    /// [`Files::archive`] with options.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use agenttier::TransferOptions;
    /// // Archives have no length: `total` is None.
    /// let opts = TransferOptions::default().progress(|p| eprintln!("{} bytes", p.done));
    /// sb.files().archive_with("/workspace/src", "src.zip", opts).await?;
    /// # Ok(()) }
    /// ```
    pub async fn archive_with(
        &self,
        dir: &str,
        local: impl AsRef<Path>,
        options: TransferOptions,
    ) -> Result<u64> {
        wire::remote_path(dir)?;
        let dir = wire::clean_remote_path(dir);
        if dir != "/workspace" && !dir.starts_with("/workspace/") {
            return Err(Error::invalid(
                "dir",
                "archives must be of /workspace or a directory below it",
            ));
        }
        let c = &self.sandbox.client;
        let call = c
            .call(&op::DOWNLOAD_ARCHIVE, &[&self.sandbox.id])?
            .query("path", &dir)
            .accept("application/zip")
            .at_least(options.timeout);
        let resp = c.stream(call).await?;
        stream_to_file(&op::DOWNLOAD_ARCHIVE, resp, local.as_ref(), &options).await
    }
}

fn check_size(path: &str, size: u64) -> Result<()> {
    if size > MAX_FILE_BYTES {
        return Err(Error::invalid(
            "data",
            format!("{size} bytes for {path} exceeds the Router's 32 MiB file cap"),
        ));
    }
    Ok(())
}

async fn stream_to_file(
    op: &'static crate::operations::Operation,
    resp: reqwest::Response,
    local: &Path,
    options: &TransferOptions,
) -> Result<u64> {
    let total = resp.content_length();
    let mut file = tokio::fs::File::create(local)
        .await
        .map_err(|e| Error::io(local, e))?;
    let mut stream = resp.bytes_stream();
    let mut done = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::from_reqwest(op.name, e))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| Error::io(local, e))?;
        done += chunk.len() as u64;
        options.report(done, total);
    }
    file.flush().await.map_err(|e| Error::io(local, e))?;
    if let Some(expected) = total
        && expected != done
    {
        return Err(Error::decode(
            op.name,
            Some(200),
            None,
            format!("body ended after {done} of {expected} bytes"),
            b"",
        ));
    }
    Ok(done)
}
