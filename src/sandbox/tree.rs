//! Whole directory trees to and from a sandbox, one file at a time over the file routes.

use std::path::{Path, PathBuf};

use super::files::{Files, TransferOptions};
use crate::{Error, Result, wire};

/// What a directory transfer moved.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let moved = sb.files().upload_dir("./src", "/workspace/src").await?;
/// println!("{} files, {} bytes", moved.files, moved.bytes);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TreeTransfer {
    /// Files transferred.
    pub files: u64,
    /// Bytes transferred.
    pub bytes: u64,
}

/// The deepest directory tree walked (a guard against link loops and runaway listings).
const MAX_DEPTH: usize = 64;

impl Files {
    /// Uploads every regular file under the local directory `local` to the same relative
    /// place under `remote` (an absolute sandbox path; parents are created). Every path is
    /// checked before anything is sent. Symbolic links and empty directories are not copied.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.files().upload_dir("./project", "/workspace/project").await?;
    /// # Ok(()) }
    /// ```
    pub async fn upload_dir(&self, local: impl AsRef<Path>, remote: &str) -> Result<TreeTransfer> {
        self.upload_dir_with(local, remote, TransferOptions::default())
            .await
    }

    /// [`Files::upload_dir`] with options (applied to each file).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use agenttier::TransferOptions;
    /// let opts = TransferOptions::default().progress(|p| eprintln!("{} bytes", p.done));
    /// sb.files().upload_dir_with("./project", "/workspace/project", opts).await?;
    /// # Ok(()) }
    /// ```
    pub async fn upload_dir_with(
        &self,
        local: impl AsRef<Path>,
        remote: &str,
        options: TransferOptions,
    ) -> Result<TreeTransfer> {
        wire::remote_path(remote)?;
        let remote = wire::clean_remote_path(remote);
        let root = local.as_ref().to_path_buf();
        let files = tokio::task::spawn_blocking(move || local_files(&root))
            .await
            .map_err(|e| Error::invalid("local", format!("walking the directory failed: {e}")))??;
        let mut plan = Vec::with_capacity(files.len());
        for (path, relative) in files {
            let target = format!("{}/{relative}", remote.trim_end_matches('/'));
            wire::remote_file_path(&target)?;
            plan.push((path, target));
        }
        let mut moved = TreeTransfer::default();
        for (path, target) in plan {
            moved.bytes += self.upload_with(&path, &target, options.clone()).await?;
            moved.files += 1;
        }
        Ok(moved)
    }

    /// Downloads every regular file under the sandbox directory `remote` into the same
    /// relative place under `local` (directories are created). Each file is written the way
    /// [`Files::download`] writes one. Symbolic links are skipped; names are taken from the
    /// Router's listing, which folds runs of spaces into one.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.files().download_dir("/workspace/out", "./out").await?;
    /// # Ok(()) }
    /// ```
    pub async fn download_dir(
        &self,
        remote: &str,
        local: impl AsRef<Path>,
    ) -> Result<TreeTransfer> {
        self.download_dir_with(remote, local, TransferOptions::default())
            .await
    }

    /// [`Files::download_dir`] with options (applied to each file).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use agenttier::TransferOptions;
    /// let opts = TransferOptions::default().progress(|p| eprintln!("{} bytes", p.done));
    /// sb.files().download_dir_with("/workspace/out", "./out", opts).await?;
    /// # Ok(()) }
    /// ```
    pub async fn download_dir_with(
        &self,
        remote: &str,
        local: impl AsRef<Path>,
        options: TransferOptions,
    ) -> Result<TreeTransfer> {
        wire::remote_path(remote)?;
        let root = wire::clean_remote_path(remote);
        let local = local.as_ref().to_path_buf();
        let mut moved = TreeTransfer::default();
        let mut pending = vec![(root.clone(), local.clone(), 0usize)];
        while let Some((dir, into, depth)) = pending.pop() {
            if depth > MAX_DEPTH {
                return Err(Error::invalid(
                    "remote",
                    format!("{dir} is more than {MAX_DEPTH} directories deep"),
                ));
            }
            tokio::fs::create_dir_all(&into)
                .await
                .map_err(|e| Error::io(&into, e))?;
            for entry in self.list(&dir).await? {
                // Symbolic links show as `name -> target`; they are not followed.
                if entry.mode.starts_with('l') || entry.name.contains(" -> ") {
                    continue;
                }
                if entry.name.is_empty() || entry.name.contains('/') || entry.name == ".." {
                    continue;
                }
                let remote_child = format!("{}/{}", dir.trim_end_matches('/'), entry.name);
                let local_child = into.join(&entry.name);
                if entry.is_dir {
                    pending.push((remote_child, local_child, depth + 1));
                } else if entry.mode.starts_with('-') {
                    moved.bytes += self
                        .download_with(&remote_child, &local_child, options.clone())
                        .await?;
                    moved.files += 1;
                }
            }
        }
        Ok(moved)
    }
}

/// Every regular file under `root`, with its path relative to `root` (`/`-separated).
fn local_files(root: &Path) -> Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    let mut pending = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = pending.pop() {
        if depth > MAX_DEPTH {
            return Err(Error::invalid(
                "local",
                format!(
                    "{} is more than {MAX_DEPTH} directories deep",
                    dir.display()
                ),
            ));
        }
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
            if kind.is_dir() {
                pending.push((path, depth + 1));
            } else if kind.is_file() {
                let relative = path.strip_prefix(root).map_err(|_| {
                    Error::invalid("local", format!("{} escaped the tree", path.display()))
                })?;
                let parts: Option<Vec<&str>> = relative
                    .components()
                    .map(|c| c.as_os_str().to_str())
                    .collect();
                let Some(parts) = parts else {
                    return Err(Error::invalid(
                        "local",
                        format!("{} is not a UTF-8 path", path.display()),
                    ));
                };
                out.push((path.clone(), parts.join("/")));
            }
        }
    }
    out.sort();
    Ok(out)
}
