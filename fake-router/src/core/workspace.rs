//! A sandbox's filesystem: an in-memory tree, or a temporary directory with `local_exec`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use super::wire;
use super::zip::ZipEntry;

/// The Router's download and upload cap (32 MiB).
pub(crate) const FILE_CAP: usize = 33_554_432;

#[derive(Clone, Debug)]
enum Node {
    Dir,
    File(Bytes),
}

/// An in-memory file tree keyed by absolute, cleaned path.
#[derive(Clone, Debug)]
pub(crate) struct FileTree {
    nodes: BTreeMap<String, (Node, SystemTime)>,
}

/// One `ls -la` row.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub name: String,
    pub size: u64,
    pub is_dir: bool,
    pub mode: String,
    pub modified: i64,
}

/// Why a read failed.
pub(crate) enum ReadError {
    NotFound,
    TooLarge(u64),
    Io(String),
}

/// Why a removal failed.
pub(crate) enum RemoveError {
    /// Nothing is there (`rm -f` ignores it).
    Missing,
    /// Anything else, as the command's stderr.
    Other(String),
}

/// A sandbox's root filesystem.
pub(crate) enum Workspace {
    Memory(FileTree),
    /// `local_exec`: the container root is this directory (no isolation).
    Local(Arc<tempfile::TempDir>),
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Workspace::Memory(_) => f.write_str("Workspace::Memory"),
            Workspace::Local(d) => write!(f, "Workspace::Local({})", d.path().display()),
        }
    }
}

fn parent(p: &str) -> &str {
    match p.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &p[..i],
    }
}

fn child_prefix(dir: &str) -> String {
    if dir == "/" {
        "/".to_string()
    } else {
        format!("{dir}/")
    }
}

impl FileTree {
    fn new() -> Self {
        let now = SystemTime::now();
        let mut nodes = BTreeMap::new();
        for d in ["/", "/tmp", "/workspace"] {
            nodes.insert(d.to_string(), (Node::Dir, now));
        }
        FileTree { nodes }
    }
}

impl Workspace {
    /// A fresh root with `/workspace` and `/tmp`.
    pub(crate) fn new(local: bool) -> std::io::Result<Workspace> {
        if !local {
            return Ok(Workspace::Memory(FileTree::new()));
        }
        let dir = tempfile::Builder::new().prefix("fake-sandbox-").tempdir()?;
        std::fs::create_dir_all(dir.path().join("workspace"))?;
        std::fs::create_dir_all(dir.path().join("tmp"))?;
        Ok(Workspace::Local(Arc::new(dir)))
    }

    /// The local root directory, when running commands for real.
    pub(crate) fn local_root(&self) -> Option<PathBuf> {
        match self {
            Workspace::Local(d) => Some(d.path().to_path_buf()),
            Workspace::Memory(_) => None,
        }
    }

    fn host(root: &Path, p: &str) -> PathBuf {
        root.join(p.trim_start_matches('/'))
    }

    /// A deep copy (what a VolumeSnapshot captures).
    pub(crate) fn snapshot(&self) -> std::io::Result<Workspace> {
        match self {
            Workspace::Memory(t) => Ok(Workspace::Memory(t.clone())),
            Workspace::Local(d) => {
                let copy = tempfile::Builder::new()
                    .prefix("fake-snapshot-")
                    .tempdir()?;
                copy_dir(d.path(), copy.path())?;
                Ok(Workspace::Local(Arc::new(copy)))
            }
        }
    }

    /// Write a file, creating parent directories. `Err` is the shell's stderr.
    pub(crate) fn write(&mut self, path: &str, data: &[u8]) -> Result<(), String> {
        match self {
            Workspace::Memory(t) => {
                if matches!(t.nodes.get(path), Some((Node::Dir, _))) {
                    return Err(format!("sh: can't create {path}: Is a directory"));
                }
                let now = SystemTime::now();
                let mut dirs = Vec::new();
                let mut p = parent(path);
                loop {
                    match t.nodes.get(p) {
                        Some((Node::Dir, _)) => break,
                        Some((Node::File(_), _)) => {
                            return Err(format!(
                                "mkdir: can't create directory '{p}': Not a directory"
                            ));
                        }
                        None => dirs.push(p.to_string()),
                    }
                    p = parent(p);
                }
                for d in dirs {
                    t.nodes.insert(d, (Node::Dir, now));
                }
                t.nodes.insert(
                    path.to_string(),
                    (Node::File(Bytes::copy_from_slice(data)), now),
                );
                Ok(())
            }
            Workspace::Local(d) => {
                let target = Self::host(d.path(), path);
                if target.is_dir() {
                    return Err(format!("sh: can't create {path}: Is a directory"));
                }
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| format!("mkdir: {e}"))?;
                }
                std::fs::write(&target, data).map_err(|e| format!("sh: can't create {path}: {e}"))
            }
        }
    }

    /// Make a directory (`mkdir`, `mkdir -p` with `parents`). `Err` is the command's stderr.
    pub(crate) fn mkdir(&mut self, path: &str, parents: bool) -> Result<(), String> {
        match self {
            Workspace::Memory(t) => {
                match t.nodes.get(path) {
                    Some((Node::Dir, _)) if parents => return Ok(()),
                    Some(_) => {
                        return Err(format!(
                            "mkdir: can't create directory '{path}': File exists"
                        ));
                    }
                    None => {}
                }
                let now = SystemTime::now();
                let mut missing = vec![path.to_string()];
                let mut p = parent(path);
                loop {
                    match t.nodes.get(p) {
                        Some((Node::Dir, _)) => break,
                        Some((Node::File(_), _)) => {
                            return Err(format!(
                                "mkdir: can't create directory '{path}': Not a directory"
                            ));
                        }
                        None if parents => missing.push(p.to_string()),
                        None => {
                            return Err(format!(
                                "mkdir: can't create directory '{path}': No such file or directory"
                            ));
                        }
                    }
                    p = parent(p);
                }
                for d in missing {
                    t.nodes.insert(d, (Node::Dir, now));
                }
                Ok(())
            }
            Workspace::Local(d) => {
                let target = Self::host(d.path(), path);
                let made = if parents {
                    std::fs::create_dir_all(&target)
                } else {
                    std::fs::create_dir(&target)
                };
                made.map_err(|e| format!("mkdir: can't create directory '{path}': {e}"))
            }
        }
    }

    /// Read a regular file.
    pub(crate) fn read(&self, path: &str) -> Result<Bytes, ReadError> {
        match self {
            Workspace::Memory(t) => match t.nodes.get(path) {
                Some((Node::File(data), _)) if data.len() > FILE_CAP => {
                    Err(ReadError::TooLarge(data.len() as u64))
                }
                Some((Node::File(data), _)) => Ok(data.clone()),
                _ => Err(ReadError::NotFound),
            },
            Workspace::Local(d) => {
                let target = Self::host(d.path(), path);
                match std::fs::metadata(&target) {
                    Ok(m) if m.is_file() => {
                        if m.len() > FILE_CAP as u64 {
                            return Err(ReadError::TooLarge(m.len()));
                        }
                        std::fs::read(&target)
                            .map(Bytes::from)
                            .map_err(|e| ReadError::Io(e.to_string()))
                    }
                    _ => Err(ReadError::NotFound),
                }
            }
        }
    }

    /// List a directory; `None` when it is missing or not a directory.
    pub(crate) fn list(&self, path: &str) -> Option<Vec<Entry>> {
        match self {
            Workspace::Memory(t) => {
                if !matches!(t.nodes.get(path), Some((Node::Dir, _))) {
                    return None;
                }
                let prefix = child_prefix(path);
                let entries = t
                    .nodes
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .filter(|(k, _)| k.len() > prefix.len() && !k[prefix.len()..].contains('/'))
                    .map(|(k, (node, mtime))| {
                        let (is_dir, size, mode) = match node {
                            Node::Dir => (true, 4096, "drwxr-xr-x"),
                            Node::File(d) => (false, d.len() as u64, "-rw-r--r--"),
                        };
                        Entry {
                            name: k[prefix.len()..].to_string(),
                            size,
                            is_dir,
                            mode: mode.to_string(),
                            modified: wire::unix_secs(*mtime),
                        }
                    })
                    .collect();
                Some(entries)
            }
            Workspace::Local(d) => {
                let dir = Self::host(d.path(), path);
                let rd = std::fs::read_dir(&dir).ok()?;
                let mut entries: Vec<Entry> = rd
                    .filter_map(Result::ok)
                    .filter_map(|e| {
                        let meta = e.path().symlink_metadata().ok()?;
                        let mut name = e.file_name().to_string_lossy().into_owned();
                        if meta.file_type().is_symlink() {
                            let target = std::fs::read_link(e.path()).ok()?;
                            name = format!("{name} -> {}", target.display());
                        }
                        let mode = mode_string(&meta);
                        Some(Entry {
                            name,
                            size: meta.len(),
                            is_dir: mode.starts_with('d'),
                            mode,
                            modified: meta.modified().map(wire::unix_secs).unwrap_or(0),
                        })
                    })
                    .collect();
                entries.sort_by(|a, b| a.name.cmp(&b.name));
                Some(entries)
            }
        }
    }

    /// Remove a file, or a directory with everything under it when `recursive` (`rm [-r]`).
    /// `Err` is the command's stderr; a missing path is [`RemoveError::Missing`].
    pub(crate) fn remove(&mut self, path: &str, recursive: bool) -> Result<(), RemoveError> {
        if path == "/" {
            return Err(RemoveError::Other("rm: refusing to remove '/'".to_string()));
        }
        match self {
            Workspace::Memory(t) => match t.nodes.get(path) {
                None => Err(RemoveError::Missing),
                Some((Node::File(_), _)) => {
                    t.nodes.remove(path);
                    Ok(())
                }
                Some((Node::Dir, _)) if !recursive => Err(RemoveError::Other(format!(
                    "rm: can't remove '{path}': Is a directory"
                ))),
                Some((Node::Dir, _)) => {
                    let prefix = child_prefix(path);
                    let under: Vec<String> = t
                        .nodes
                        .range(prefix.clone()..)
                        .take_while(|(k, _)| k.starts_with(&prefix))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in under {
                        t.nodes.remove(&k);
                    }
                    t.nodes.remove(path);
                    Ok(())
                }
            },
            Workspace::Local(d) => {
                let target = Self::host(d.path(), path);
                let meta = target
                    .symlink_metadata()
                    .map_err(|_| RemoveError::Missing)?;
                let removed = if meta.is_dir() {
                    if !recursive {
                        return Err(RemoveError::Other(format!(
                            "rm: can't remove '{path}': Is a directory"
                        )));
                    }
                    std::fs::remove_dir_all(&target)
                } else {
                    std::fs::remove_file(&target)
                };
                removed.map_err(|e| RemoveError::Other(format!("rm: can't remove '{path}': {e}")))
            }
        }
    }

    /// Rename `from` to `to` in one step (`mv`): an existing file at `to` is replaced, a
    /// directory moves with everything under it. `to` must not be an existing directory
    /// (the caller moves into it instead). `Err` is the command's stderr.
    pub(crate) fn rename(&mut self, from: &str, to: &str) -> Result<(), String> {
        let cant = |why: &str| format!("mv: can't rename '{from}': {why}");
        if from == to {
            return Ok(());
        }
        match self {
            Workspace::Memory(t) => {
                let Some((node, _)) = t.nodes.get(from).cloned() else {
                    return Err(cant("No such file or directory"));
                };
                if from == "/" || to.starts_with(&child_prefix(from)) {
                    return Err(cant("Invalid argument"));
                }
                match t.nodes.get(parent(to)) {
                    Some((Node::Dir, _)) => {}
                    Some(_) => return Err(cant("Not a directory")),
                    None => return Err(cant("No such file or directory")),
                }
                match (&node, t.nodes.get(to)) {
                    (_, Some((Node::Dir, _))) => return Err(cant("Is a directory")),
                    (Node::Dir, Some((Node::File(_), _))) => return Err(cant("Not a directory")),
                    _ => {}
                }
                let now = SystemTime::now();
                if let Node::Dir = node {
                    let prefix = child_prefix(from);
                    let under: Vec<String> = t
                        .nodes
                        .range(prefix.clone()..)
                        .take_while(|(k, _)| k.starts_with(&prefix))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in under {
                        if let Some(v) = t.nodes.remove(&k) {
                            t.nodes.insert(format!("{to}/{}", &k[prefix.len()..]), v);
                        }
                    }
                }
                if let Some((node, _)) = t.nodes.remove(from) {
                    t.nodes.insert(to.to_string(), (node, now));
                }
                Ok(())
            }
            Workspace::Local(d) => {
                let (src, dst) = (Self::host(d.path(), from), Self::host(d.path(), to));
                if src.symlink_metadata().is_err() {
                    return Err(cant("No such file or directory"));
                }
                std::fs::rename(&src, &dst).map_err(|e| cant(&e.to_string()))
            }
        }
    }

    /// Whether anything (file or directory) is at `path`.
    pub(crate) fn exists(&self, path: &str) -> bool {
        match self {
            Workspace::Memory(t) => t.nodes.contains_key(path),
            Workspace::Local(d) => Self::host(d.path(), path).symlink_metadata().is_ok(),
        }
    }

    /// Whether `path` is a directory.
    pub(crate) fn is_dir(&self, path: &str) -> bool {
        match self {
            Workspace::Memory(t) => matches!(t.nodes.get(path), Some((Node::Dir, _))),
            Workspace::Local(d) => Self::host(d.path(), path).is_dir(),
        }
    }

    /// The entries of a ZIP of `dir`, relative to it.
    pub(crate) fn zip_entries(&self, dir: &str) -> std::io::Result<Vec<ZipEntry>> {
        let mut out = Vec::new();
        match self {
            Workspace::Memory(t) => {
                let prefix = child_prefix(dir);
                for (k, (node, mtime)) in t
                    .nodes
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                {
                    let rel = &k[prefix.len()..];
                    if rel.is_empty() {
                        continue;
                    }
                    out.push(match node {
                        Node::Dir => ZipEntry::dir(rel, *mtime),
                        Node::File(d) => ZipEntry::file(rel, d.to_vec(), *mtime),
                    });
                }
            }
            Workspace::Local(d) => {
                let base = Self::host(d.path(), dir);
                walk(&base, "", &mut out)?;
            }
        }
        Ok(out)
    }
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<ZipEntry>) -> std::io::Result<()> {
    let mut children: Vec<_> = std::fs::read_dir(dir)?.filter_map(Result::ok).collect();
    children.sort_by_key(|e| e.file_name());
    for e in children {
        let name = format!("{rel}{}", e.file_name().to_string_lossy());
        let meta = e.path().symlink_metadata()?;
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(e.path())?;
            let target = target.to_string_lossy().into_owned().into_bytes();
            out.push(ZipEntry::file(&name, target, mtime));
        } else if meta.is_dir() {
            out.push(ZipEntry::dir(&name, mtime));
            walk(&e.path(), &format!("{name}/"), out)?;
        } else if meta.is_file() {
            out.push(ZipEntry::file(&name, std::fs::read(e.path())?, mtime));
        }
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let meta = e.path().symlink_metadata()?;
        let dest = to.join(e.file_name());
        if meta.is_dir() {
            copy_dir(&e.path(), &dest)?;
        } else if meta.is_file() {
            std::fs::copy(e.path(), dest)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn mode_string(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::PermissionsExt;
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        'd'
    } else if ft.is_symlink() {
        'l'
    } else if ft.is_file() {
        '-'
    } else {
        'p'
    };
    let mode = meta.permissions().mode();
    let mut s = String::with_capacity(10);
    s.push(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

#[cfg(not(unix))]
fn mode_string(meta: &std::fs::Metadata) -> String {
    if meta.is_dir() {
        "drwxr-xr-x".to_string()
    } else {
        "-rw-r--r--".to_string()
    }
}
