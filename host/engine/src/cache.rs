//! The on-disk cache of compiled components (and of built policy components): what is loaded from
//! it is only what this user wrote there.
//!
//! Compiled code is run as it is read (wasmtime cannot check it), so an entry is trusted only when
//! it carries a MAC under the cache's own key (HMAC-SHA256 over the entry's name and content): a
//! file placed in the cache by anyone who does not hold the key, under any name, or a genuine entry
//! renamed to another's name, is not loaded (the component is compiled again and the entry
//! replaced). The key is a random file in the cache folder, readable by its owner only; the folder
//! itself must belong to the user running yungui and be writable by nobody else, else the cache
//! is not used at all (every component is compiled, a warning says why).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use hmac::{KeyInit as _, Mac as _};

type Hmac = hmac::Hmac<sha2_mac::Sha256>;

/// The key file's name in the cache folder.
const KEY_FILE: &str = "key";
const KEY_BYTES: usize = 32;
const TAG_BYTES: usize = 32;
/// An entry larger than this is not read (a compiled component is ~15 MB).
const MAX_ENTRY_BYTES: u64 = 1 << 30;

/// A cache folder checked for ownership and permissions, with its key.
pub(crate) struct Cache {
    dir: PathBuf,
    key: [u8; KEY_BYTES],
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cache({})", self.dir.display())
    }
}

impl Cache {
    /// Opens (creating it, readable by its owner only) the cache folder and its key; an error
    /// saying why when the folder cannot be trusted.
    pub(crate) fn open(dir: &Path) -> Result<Self, String> {
        create_private_dir(dir)
            .map_err(|e| format!("cannot create the cache folder `{}`: {e}", dir.display()))?;
        check_private(dir, true)?;
        let key = key(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            key,
        })
    }

    /// Opens the cache folder, or logs why it is not used.
    pub(crate) fn open_or_warn(dir: &Path) -> Option<Self> {
        match Self::open(dir) {
            Ok(cache) => Some(cache),
            Err(why) => {
                tracing::warn!("the compile cache is not used, components are compiled: {why}");
                None
            }
        }
    }

    /// The folder.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn tag(&self, name: &str, content: &[u8]) -> Result<Hmac, String> {
        let mut mac =
            Hmac::new_from_slice(&self.key).map_err(|e| format!("the cache's key: {e}"))?;
        mac.update(&(name.len() as u64).to_le_bytes());
        mac.update(name.as_bytes());
        mac.update(content);
        Ok(mac)
    }

    /// The entry `name` (a path relative to the folder), when present and written by this cache;
    /// why not otherwise (`Ok(None)`: not there).
    pub(crate) fn read(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        let path = self.dir.join(name);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("`{}`: {e}", path.display())),
        };
        if !meta.file_type().is_file() {
            return Err(format!("`{}` is not a regular file", path.display()));
        }
        check_private(&path, false)?;
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        std::fs::File::open(&path)
            .and_then(|f| f.take(MAX_ENTRY_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| format!("`{}`: {e}", path.display()))?;
        if bytes.len() as u64 > MAX_ENTRY_BYTES || bytes.len() < TAG_BYTES {
            return Err(format!("`{}` is not a cache entry", path.display()));
        }
        let tag = bytes.split_off(bytes.len() - TAG_BYTES);
        self.tag(name, &bytes)?.verify_slice(&tag).map_err(|_| {
            format!(
                "`{}` was not written by this cache (its MAC does not match)",
                path.display()
            )
        })?;
        Ok(Some(bytes))
    }

    /// Writes the entry `name` with its MAC (whole or not at all).
    pub(crate) fn write(&self, name: &str, content: &[u8]) -> std::io::Result<()> {
        let tag = self
            .tag(name, content)
            .map_err(std::io::Error::other)?
            .finalize()
            .into_bytes();
        let mut bytes = Vec::with_capacity(content.len() + TAG_BYTES);
        bytes.extend_from_slice(content);
        bytes.extend_from_slice(&tag);
        write_private(&self.dir.join(name), &bytes)
    }
}

/// Writes a file readable and writable by its owner only (whatever the umask: an entry others
/// could write would be refused when read back) under a temporary name, then renames it into
/// place, so no reader ever sees it half-written.
fn write_private(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let dir = target.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{}-{n}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&tmp)
        .and_then(|mut file| file.write_all(bytes))
        .and_then(|()| std::fs::rename(&tmp, target));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The user yungui runs as.
#[cfg(unix)]
#[allow(
    unsafe_code,
    reason = "geteuid has no preconditions and cannot fail; libc declares every foreign function unsafe"
)]
fn effective_uid() -> u32 {
    // SAFETY: see the reason above.
    unsafe { libc::geteuid() }
}

/// `path` (a folder, or a file in the cache) belongs to the user yungui runs as and nobody else
/// can write it (nor, for a file, read it when `private`).
fn check_private(path: &Path, folder: bool) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::metadata(path).map_err(|e| format!("`{}`: {e}", path.display()))?;
        if folder && !meta.is_dir() {
            return Err(format!("`{}` is not a folder", path.display()));
        }
        let me = effective_uid();
        if meta.uid() != me {
            return Err(format!(
                "`{}` belongs to uid {}, not to uid {me} running yungui: only a folder of its own is trusted",
                path.display(),
                meta.uid()
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(format!(
                "`{}` can be written by others (mode {:o}): only a folder nobody else can write is trusted; `chmod go-w` it",
                path.display(),
                meta.mode() & 0o7777
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, folder);
    Ok(())
}

/// The cache's key: read, or created (readable by its owner only) the first time.
fn key(dir: &Path) -> Result<[u8; KEY_BYTES], String> {
    let path = dir.join(KEY_FILE);
    if !path.exists() {
        create_key(dir, &path)
            .map_err(|e| format!("cannot create the cache's key `{}`: {e}", path.display()))?;
    }
    let meta =
        std::fs::symlink_metadata(&path).map_err(|e| format!("`{}`: {e}", path.display()))?;
    if !meta.file_type().is_file() {
        return Err(format!(
            "the cache's key `{}` is not a regular file",
            path.display()
        ));
    }
    check_private(&path, false)?;
    #[cfg(unix)]
    if std::os::unix::fs::MetadataExt::mode(&meta) & 0o077 != 0 {
        return Err(format!(
            "the cache's key `{}` can be read by others: remove it (a new one is made)",
            path.display()
        ));
    }
    let mut key = [0; KEY_BYTES];
    let mut file = std::fs::File::open(&path).map_err(|e| format!("`{}`: {e}", path.display()))?;
    file.read_exact(&mut key)
        .map_err(|e| format!("the cache's key `{}`: {e}", path.display()))?;
    Ok(key)
}

/// Writes a new random key under a temporary name, then links it into place (so a reader never
/// sees it half-written, and of two processes creating it at once one key wins).
fn create_key(dir: &Path, path: &Path) -> std::io::Result<()> {
    let mut key = [0; KEY_BYTES];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    let tmp = dir.join(format!(".key-{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(&key)?;
    file.sync_all()?;
    drop(file);
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_read_back_only_as_written_under_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        cache.write("a.cwasm", b"compiled a").unwrap();
        cache.write("b.cwasm", b"compiled b").unwrap();
        assert_eq!(cache.read("a.cwasm").unwrap().unwrap(), b"compiled a");
        assert_eq!(cache.read("nothing.cwasm").unwrap(), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("a.cwasm"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A genuine entry under another's name, a tampered one, a file without a MAC.
        std::fs::copy(dir.path().join("b.cwasm"), dir.path().join("a.cwasm")).unwrap();
        assert!(cache.read("a.cwasm").unwrap_err().contains("MAC"));
        let mut bytes = std::fs::read(dir.path().join("b.cwasm")).unwrap();
        bytes[0] ^= 1;
        std::fs::write(dir.path().join("b.cwasm"), bytes).unwrap();
        assert!(cache.read("b.cwasm").is_err());
        std::fs::write(dir.path().join("c.cwasm"), b"x").unwrap();
        assert!(cache.read("c.cwasm").is_err());
        // Another cache (another key) does not trust this one's entries.
        let other = tempfile::tempdir().unwrap();
        let theirs = Cache::open(other.path()).unwrap();
        theirs.write("a.cwasm", b"compiled a").unwrap();
        std::fs::copy(other.path().join("a.cwasm"), dir.path().join("a.cwasm")).unwrap();
        assert!(cache.read("a.cwasm").is_err());
        // The key stays: a new handle reads what the first wrote.
        cache.write("a.cwasm", b"compiled a").unwrap();
        let again = Cache::open(dir.path()).unwrap();
        assert_eq!(again.read("a.cwasm").unwrap().unwrap(), b"compiled a");
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_or_key_others_can_write_or_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        Cache::open(&cache).unwrap();
        assert_eq!(
            std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
            0o700
        );
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
        let why = Cache::open(&cache).unwrap_err();
        assert!(why.contains("can be written by others"), "{why}");
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755)).unwrap();
        Cache::open(&cache).unwrap();
        std::fs::set_permissions(cache.join(KEY_FILE), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let why = Cache::open(&cache).unwrap_err();
        assert!(why.contains("can be read by others"), "{why}");
    }
}
