//! Files in a sandbox: list, read, write, streamed download and upload, and zip archives.
//!
//! These routes are sent by hand on the shared pipeline (same pool, credentials, retries,
//! tracing and errors as everything else) because the file path must keep its slashes: the
//! generated client percent-encodes `/` inside a path parameter.
//!
//! How transfers work is described on [`Files`].

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// The Router's cap on one request body and on one file read (32 MiB): reads and downloads
/// stop there with [`Error::BodyTooLarge`], and a single-request write above it is refused.
/// Split uploads (the default above [`DEFAULT_CHUNK_THRESHOLD`]) send parts and are not
/// bound by it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> agenttier::Result<()> {
/// use agenttier::TransferOptions;
/// let client = agenttier::Client::builder("http://localhost:8080").build()?;
/// let sb = client.sandbox("demo")?;
/// // One request of one byte over 32 MiB is refused before any request is sent.
/// let too_big = vec![0u8; 32 * 1024 * 1024 + 1];
/// let one_request = TransferOptions::default().chunking(false);
/// let err = sb.files().write_with("/workspace/big.bin", too_big, one_request).await.unwrap_err();
/// assert!(matches!(err, agenttier::Error::InvalidInput { .. }));
/// # Ok(()) }
/// ```
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// The largest part [`TransferOptions::part_size`] accepts (92 KiB). The Router puts the
/// base64 of an upload's body inside one `sh -c` argument and Linux caps one argument at
/// 128 KiB, so a single request fails from about 96 KiB (openapi.yaml, `writeFile`); 92 KiB
/// leaves room for the command around the payload and a long path.
///
/// ```
/// use agenttier::{TransferOptions, MAX_PART_SIZE};
/// // The largest parts the Router takes, with margin.
/// let opts = TransferOptions::default().part_size(MAX_PART_SIZE);
/// # let _ = opts;
/// ```
pub const MAX_PART_SIZE: usize = 92 * 1024;

/// Uploads above this size are split into parts by default (one part's worth, 88 KiB).
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// // 200 KiB is above the 88 KiB threshold, so it goes up in three parts.
/// let data = vec![b'x'; 200 * 1024];
/// sb.files().write("/workspace/data.txt", data).await?;
/// # Ok(()) }
/// ```
pub const DEFAULT_CHUNK_THRESHOLD: u64 = DEFAULT_PART_SIZE as u64;

/// Size of each part of a split upload (88 KiB: close to the Router's limit, with margin).
///
/// ```
/// use agenttier::TransferOptions;
/// // Smaller parts than the default, e.g. behind a proxy with a small body limit.
/// let opts = TransferOptions::default().part_size(32 * 1024);
/// # let _ = opts;
/// ```
pub const DEFAULT_PART_SIZE: usize = 88 * 1024;

/// How many parts of one upload are in flight at once by default.
///
/// ```
/// use agenttier::{TransferOptions, DEFAULT_CONCURRENCY};
/// let opts = TransferOptions::default().concurrency(2 * DEFAULT_CONCURRENCY);
/// # let _ = opts;
/// ```
pub const DEFAULT_CONCURRENCY: usize = 4;

/// The most parts of one upload [`TransferOptions::concurrency`] accepts in flight.
///
/// ```
/// use agenttier::{TransferOptions, MAX_CONCURRENCY};
/// let opts = TransferOptions::default().concurrency(MAX_CONCURRENCY);
/// # let _ = opts;
/// ```
pub const MAX_CONCURRENCY: usize = 64;

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
    concurrency: usize,
    timeout: Duration,
}

impl Default for TransferOptions {
    fn default() -> Self {
        Self {
            progress: None,
            chunking: true,
            chunk_threshold: DEFAULT_CHUNK_THRESHOLD,
            part_size: DEFAULT_PART_SIZE,
            concurrency: DEFAULT_CONCURRENCY,
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
            .field("concurrency", &self.concurrency)
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

    /// Uploads larger than this are split (default 88 KiB, one part).
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

    /// The size of each part (default [`DEFAULT_PART_SIZE`], 88 KiB). Parts are zero-copy
    /// slices of in-memory data, or read from a local file one at a time. A size of 0 or
    /// above [`MAX_PART_SIZE`] makes the transfer fail with [`Error::InvalidInput`] before
    /// any request is sent.
    ///
    /// ```
    /// let opts = agenttier::TransferOptions::default().part_size(48 * 1024);
    /// # let _ = opts;
    /// ```
    pub fn part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes;
        self
    }

    /// How many parts of one upload are sent at once (default [`DEFAULT_CONCURRENCY`]).
    /// Memory held by an upload from a file is about `concurrency × part_size`. 0 or above
    /// [`MAX_CONCURRENCY`] makes the transfer fail with [`Error::InvalidInput`] before any
    /// request is sent.
    ///
    /// ```
    /// // One part at a time, in order.
    /// let opts = agenttier::TransferOptions::default().concurrency(1);
    /// # let _ = opts;
    /// ```
    pub fn concurrency(mut self, parts: usize) -> Self {
        self.concurrency = parts;
        self
    }

    /// Timeout of each HTTP request of the transfer (default 10 minutes; at most a day, the
    /// longest an exec may run, since an upload's join is one).
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

    /// Refuses options the Router cannot honour, before any request.
    fn validate(&self) -> Result<()> {
        if self.part_size == 0 || self.part_size > MAX_PART_SIZE {
            return Err(Error::invalid(
                "part_size",
                format!(
                    "{} bytes: must be between 1 and {MAX_PART_SIZE} (the Router fails requests above about 96 KiB)",
                    self.part_size
                ),
            ));
        }
        // The join of an upload runs as an exec with this timeout: a value the exec would
        // refuse is refused here, before any part is sent.
        if self.timeout.is_zero() || self.timeout > super::exec::MAX_EXEC_TIMEOUT {
            return Err(Error::invalid(
                "timeout",
                format!(
                    "{:?}: must be more than zero and at most {:?}",
                    self.timeout,
                    super::exec::MAX_EXEC_TIMEOUT
                ),
            ));
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(Error::invalid(
                "concurrency",
                format!(
                    "{}: must be between 1 and {MAX_CONCURRENCY}",
                    self.concurrency
                ),
            ));
        }
        Ok(())
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
/// # Uploads
///
/// The Router writes an upload through one `sh -c` argument, so one request fails from about
/// 96 KiB. Anything above [`DEFAULT_CHUNK_THRESHOLD`] therefore goes up in parts of
/// [`TransferOptions::part_size`] (88 KiB by default, at most [`MAX_PART_SIZE`]), with
/// [`TransferOptions::concurrency`] parts in flight (4 by default). Parts of in-memory data
/// are zero-copy slices of it ([`Bytes::slice`]); parts of a local file
/// ([`Files::upload`]) are read one at a time as a slot frees up, so memory stays at about
/// `concurrency × part_size` whatever the file's size. Retried parts are idempotent (each
/// has its own name).
///
/// The parts are joined in the sandbox atomically: `cat` into a temporary file next to the
/// target, a size check, then `mv -f` over the target. The target is never emptied first: a
/// failed, interrupted or late join leaves the old content, and two uploads to one path each
/// land whole (the last rename wins). On failure the parts are removed.
///
/// # Downloads
///
/// [`Files::download`] streams the body to a temporary file in the destination's folder and
/// renames it over the destination once complete; on any error, or if the future is dropped,
/// the temporary file is removed and an existing file is left as it was. A file read is
/// capped at the Router's [`MAX_FILE_BYTES`] (32 MiB): more is [`Error::BodyTooLarge`].
///
/// # Progress
///
/// [`TransferOptions::progress`] is called with bytes done and the total: after each part
/// (uploads) or chunk (downloads), never going backwards, ending at the total on success,
/// and once more with where it stopped when the transfer fails.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// use agenttier::TransferOptions;
/// let opts = TransferOptions::default()
///     .concurrency(8)
///     .progress(|p| eprintln!("{}/{:?} bytes", p.done, p.total));
/// sb.files().upload_with("model.bin", "/workspace/model.bin", opts.clone()).await?;
/// sb.files().download_with("/workspace/out.csv", "out.csv", opts).await?;
/// # Ok(()) }
/// ```
///
/// # Example
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
        options.validate()?;
        let data = data.into().0;
        let total = data.len() as u64;
        wire::remote_file_path(path)?;
        if options.chunking && total > options.chunk_threshold {
            // Zero-copy: each part is a slice of the caller's buffer.
            let step = options.part_size;
            let parts = (0..data.len())
                .step_by(step)
                .map(move |start| Ok(data.slice(start..(start + step).min(data.len()))));
            return self
                .upload_parts(path, total, futures::stream::iter(parts), &options)
                .await;
        }
        check_size(path, total)?;
        match self.put(path, data, &options).await {
            Ok(result) => {
                options.report(total, Some(total));
                Ok(result)
            }
            Err(e) => {
                options.report(0, Some(total));
                Err(e)
            }
        }
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
    /// above the chunk threshold go up in parts (several at once, see
    /// [`TransferOptions::concurrency`]) that are joined in the sandbox atomically: into a
    /// temporary file next to the target, size-checked, then renamed over the target with
    /// `mv -f`. The target is never emptied first; a failed or interrupted upload leaves the
    /// old content in place, and its parts are removed. Returns the bytes written.
    ///
    /// Split uploads are not bound by the Router's 32 MiB per-request cap (each part is one
    /// request); a single request ([`TransferOptions::chunking`] off) is.
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
    /// let opts = TransferOptions::default()
    ///     .concurrency(8)
    ///     .timeout(Duration::from_secs(30 * 60));
    /// let n = sb.files().upload_with("model.bin", "/workspace/model.bin", opts).await?;
    /// # Ok(()) }
    /// ```
    pub async fn upload_with(
        &self,
        local: impl AsRef<Path>,
        path: &str,
        options: TransferOptions,
    ) -> Result<u64> {
        options.validate()?;
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
        if options.chunking && total > options.chunk_threshold {
            let part_size = options.part_size;
            // One part read at a time, when a slot is free: memory stays at about
            // `concurrency × part_size` whatever the file's size.
            let source = futures::stream::try_unfold(file, move |mut f| async move {
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
            })
            .map(move |r: std::io::Result<Bytes>| r.map_err(|e| Error::io(local, e)));
            self.upload_parts(path, total, source, &options).await?;
            return Ok(total);
        }
        check_size(path, total)?;
        // At most the threshold (or chunking is off and the caller accepts one request).
        let mut buf = Vec::with_capacity(total as usize);
        file.read_to_end(&mut buf)
            .await
            .map_err(|e| Error::io(local, e))?;
        match self.put(path, Bytes::from(buf), &options).await {
            Ok(written) => {
                options.report(total, Some(total));
                Ok(written.bytes as u64)
            }
            Err(e) => {
                options.report(0, Some(total));
                Err(e)
            }
        }
    }

    /// Sends `parts` as `.<name>.agenttier-<tag>.pNNNNNNNN` next to the target, at most
    /// `concurrency` at once, then joins them atomically (see [`join_command`]). On any
    /// failure the parts (and the join's temporary file) are removed, and the progress
    /// callback gets a final report.
    async fn upload_parts<S>(
        &self,
        path: &str,
        total: u64,
        parts: S,
        options: &TransferOptions,
    ) -> Result<PutFileResult>
    where
        S: futures::Stream<Item = Result<Bytes>>,
    {
        let target = wire::clean_remote_path(path);
        let (dir, name) = target.rsplit_once('/').unwrap_or(("", &target));
        let dir = if dir.is_empty() { "/" } else { dir };
        let tag: u64 = rand::rng().random();
        let prefix = format!("{dir}/.{name}.agenttier-{tag:016x}").replace("//", "/");
        let failed = AtomicBool::new(false);
        let attempted = AtomicBool::new(false);
        let mut sent = 0u64;
        let mut count = 0usize;
        let outcome: Result<()> = async {
            let mut first_error = None;
            {
                let prefix = &prefix;
                let failed = &failed;
                let attempted = &attempted;
                // After the first failure no new part starts, but the ones in flight are
                // awaited, so the cleanup below runs after the last part landed.
                let puts = parts
                    .take_while(|_| std::future::ready(!failed.load(Ordering::Relaxed)))
                    .enumerate()
                    .map(|(index, part)| async move {
                        let part = part?;
                        let len = part.len() as u64;
                        attempted.store(true, Ordering::Relaxed);
                        self.put(&format!("{prefix}.p{index:08}"), part, options)
                            .await?;
                        Ok::<u64, Error>(len)
                    })
                    .buffer_unordered(options.concurrency);
                futures::pin_mut!(puts);
                while let Some(result) = puts.next().await {
                    match result {
                        Ok(len) => {
                            sent += len;
                            count += 1;
                            options.report(sent, Some(total));
                        }
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
            if let Some(e) = first_error {
                return Err(e);
            }
            if sent != total {
                return Err(Error::invalid(
                    "local file",
                    format!("changed while uploading ({sent} of {total} bytes read)"),
                ));
            }
            let out = self
                .sandbox
                .exec_with(
                    &join_command(&prefix, &target, total),
                    super::ExecOptions::default().timeout(options.timeout),
                )
                .await?;
            if !out.success() {
                return Err(Error::UploadFailed {
                    path: target.clone(),
                    message: format!(
                        "joining {count} parts gave {} bytes, expected {total}; the target was left as it was (exit {}: {})",
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
            options.report(sent, Some(total));
            // Parts may exist even when none reported success (a request cut after the Router
            // wrote it), so clean up whenever one was attempted.
            if attempted.load(Ordering::Relaxed) {
                let quoted = wire::shell_quote(&prefix);
                let cleanup = format!("rm -f {quoted}.p* {quoted}.join");
                if let Err(cleanup) = self.sandbox.exec(&cleanup).await {
                    tracing::warn!(error = %cleanup, "could not remove the parts of a failed upload");
                }
            }
            return Err(err);
        }
        options.report(total, Some(total));
        Ok(PutFileResult {
            path: target,
            bytes: total as i64,
        })
    }

    /// Streams a sandbox file to a local path, chunk by chunk, without holding it in memory.
    /// The bytes go to a temporary file in the destination's folder, renamed over the
    /// destination once complete; on any error (a cut connection, a body over
    /// [`MAX_FILE_BYTES`], which is [`Error::BodyTooLarge`]) it is removed and an existing
    /// file is left as it was. Returns the bytes written.
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
        let resp = match self.sandbox.client.stream(call).await {
            Ok(r) => r,
            Err(e) => {
                options.report(0, None);
                return Err(e);
            }
        };
        stream_to_file(
            &op::READ_FILE,
            resp,
            local.as_ref(),
            &options,
            Some(MAX_FILE_BYTES),
        )
        .await
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
        let resp = match c.stream(call).await {
            Ok(r) => r,
            Err(e) => {
                options.report(0, None);
                return Err(e);
            }
        };
        // Archives have no length and may pass 32 MiB (the Router stops at 5 GiB).
        stream_to_file(&op::DOWNLOAD_ARCHIVE, resp, local.as_ref(), &options, None).await
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

/// Streams a response body into `local` atomically: the bytes go to a temporary file in
/// the same folder (`.<name>.agenttier-<tag>.part`), renamed over `local` once the body is
/// complete; on any error (a cut connection, a short body, the cap, a dropped future) the
/// temporary file is removed and an existing `local` is left as it was. `cap` refuses a
/// body larger than the Router could send ([`MAX_FILE_BYTES`] for files) with
/// [`Error::BodyTooLarge`], from the `Content-Length` before any byte is written, or as
/// soon as the count passes it. The progress callback gets a final report on every path.
async fn stream_to_file(
    op: &'static crate::operations::Operation,
    resp: reqwest::Response,
    local: &Path,
    options: &TransferOptions,
    cap: Option<u64>,
) -> Result<u64> {
    let total = resp.content_length();
    let mut done = 0u64;
    let result = stream_to_temp(op, resp, local, options, cap, total, &mut done).await;
    match &result {
        Ok(n) => options.report(*n, total.or(Some(*n))),
        Err(_) => options.report(done, total),
    }
    result
}

async fn stream_to_temp(
    op: &'static crate::operations::Operation,
    resp: reqwest::Response,
    local: &Path,
    options: &TransferOptions,
    cap: Option<u64>,
    total: Option<u64>,
    done: &mut u64,
) -> Result<u64> {
    let too_large = |status| Error::BodyTooLarge {
        operation: op.name,
        limit: cap.unwrap_or(u64::MAX).try_into().unwrap_or(usize::MAX),
        status,
        request_id: None,
    };
    if let (Some(cap), Some(total)) = (cap, total)
        && total > cap
    {
        return Err(too_large(Some(200)));
    }
    let temp = TempFile::beside(local);
    let mut file = tokio::fs::File::create(&temp.path)
        .await
        .map_err(|e| Error::io(&temp.path, e))?;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::from_reqwest(op.name, e))?;
        let next = *done + chunk.len() as u64;
        if cap.is_some_and(|cap| next > cap) {
            return Err(too_large(Some(200)));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| Error::io(&temp.path, e))?;
        *done = next;
        options.report(*done, total);
    }
    file.flush().await.map_err(|e| Error::io(&temp.path, e))?;
    drop(file);
    if let Some(expected) = total
        && expected != *done
    {
        return Err(Error::decode(
            op.name,
            Some(200),
            None,
            format!("body ended after {done} of {expected} bytes"),
            b"",
        ));
    }
    temp.persist(local).await?;
    Ok(*done)
}

/// A temporary file next to its destination, removed when dropped unless persisted (so a
/// cancelled download cleans up too).
struct TempFile {
    path: std::path::PathBuf,
    keep: bool,
}

impl TempFile {
    fn beside(local: &Path) -> Self {
        let name = local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "download".to_owned());
        let tag: u64 = rand::rng().random();
        let path = local.with_file_name(format!(".{name}.agenttier-{tag:016x}.part"));
        TempFile { path, keep: false }
    }

    async fn persist(mut self, local: &Path) -> Result<()> {
        tokio::fs::rename(&self.path, local)
            .await
            .map_err(|e| Error::io(local, e))?;
        self.keep = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The remote join of a split upload, one `sh` script:
///
/// 1. `cat` the parts (zero-padded names sort in order under the glob) into
///    `<prefix>.join`, a temporary file in the target's folder;
/// 2. check its size against `total`;
/// 3. `mv -f` it over the target: a rename within one folder, so readers see the old file or
///    the new one, never a partial one;
/// 4. remove the parts and the temporary file whatever happened.
///
/// The target is never opened for writing, so a join that fails, or runs late after the
/// client's cleanup removed some or all parts (a timeout), cannot empty or truncate it: it
/// finds too few bytes and stops before the rename. Two uploads to one path use different
/// prefixes; each rename is atomic, so the last one wins whole. Every path is quoted with
/// [`wire::shell_quote`]; the glob stays outside the quotes.
fn join_command(prefix: &str, target: &str, total: u64) -> String {
    let p = wire::shell_quote(prefix);
    let t = wire::shell_quote(&format!("{prefix}.join"));
    let target = wire::shell_quote(target);
    format!(
        "n=0; if cat {p}.p* > {t} && n=$(($(wc -c < {t}))) && [ \"$n\" -eq {total} ] && mv -f {t} {target}; then r=0; else r=1; fi; rm -f {p}.p* {t}; echo \"$n\"; exit $r"
    )
}
