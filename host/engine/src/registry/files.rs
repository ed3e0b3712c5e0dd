//! A registry read from files: one Cedar entities JSON file, or a directory of them.
//!
//! A directory holds every file directly in it whose name ends in `.json` and does not start with
//! `.` (so the `..data` links of a Kubernetes ConfigMap volume are skipped), read in name order; a
//! uid in two files is an error naming both. Such a registry can be cut by team, by operator or by
//! export (a projected volume of several ConfigMaps, each under the API server's 1 MiB limit), and a
//! change is read file by file: only the files whose modification time, size or inode changed are
//! read again, so a change to one small file of a million-tenant registry costs that file.
//!
//! Changes are applied per file ([`Files::update`]): a file that cannot be read, that does not
//! parse, whose changed entities fail the caller's check (the schema), or that claims a uid another
//! file holds, is refused and keeps its last good entities in force (two files newly claiming one
//! uid are both refused: neither takes it); the other files' changes are applied, together, as one
//! new generation. A file removed from the directory removes its
//! entities.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::value::RawValue;

use super::{Diff, Key, Registry, RegistryError, keyed, namespace_tenant, read_file, same_entity};

/// What a file looked like when last read: any part changing means it may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode,
    })
}

/// Entities keyed by uid.
type Keyed = Vec<(Key, Box<RawValue>)>;

/// What each file of a directory holds.
type ByFile = BTreeMap<PathBuf, Held>;

/// One file of the registry, as last looked at.
#[derive(Debug)]
struct Held {
    /// Its stamp when last read (applied or refused for what it holds): an unchanged file is not
    /// read again.
    seen: Option<Stamp>,
    /// The uids of its entities in force; `None` for a registry that is this one file (it holds
    /// every uid: a change is diffed against the whole registry, with no second index).
    keys: Option<HashSet<Key>>,
}

/// The files a registry was read from, and which uids each holds: what [`Files::update`] needs to
/// apply a change to one file without reading the others.
#[derive(Debug)]
pub struct Files {
    root: PathBuf,
    directory: bool,
    held: ByFile,
}

/// What one [`Files::update`] did.
#[derive(Debug, Default)]
pub struct Update {
    /// The registry with the accepted changes, if any file's change was accepted and changed
    /// anything.
    pub registry: Option<Registry>,
    /// The files whose change was applied, with the entities added or replaced, and removed.
    pub applied: Vec<(PathBuf, usize, usize)>,
    /// The files whose change was refused (their last good entities stay in force), and why.
    pub refused: Vec<(PathBuf, String)>,
}

/// A changed file, read.
struct Changed {
    path: PathBuf,
    seen: Option<Stamp>,
    /// Its entities now (none: the file is gone from the directory).
    entities: Keyed,
    keys: HashSet<Key>,
    diff: Diff,
}

impl Files {
    /// Reads a registry file, or every registry file of a directory.
    pub fn load(path: &Path) -> Result<(Registry, Self), RegistryError> {
        if !path.is_dir() {
            let seen = stamp(path);
            let registry = Registry::from_entities(read_file(path)?)?;
            let held = BTreeMap::from([(path.to_owned(), Held { seen, keys: None })]);
            return Ok((
                registry,
                Self {
                    root: path.to_owned(),
                    directory: false,
                    held,
                },
            ));
        }
        let (all, held) = read_directory(path)?;
        // A uid twice in one file is found reading it; in two files, here (then named).
        let registry = Registry::from_entities(all).map_err(|err| match err {
            RegistryError::Duplicate(uid) => {
                let mut files = held.iter().filter(|(_, h)| {
                    h.keys
                        .as_ref()
                        .is_some_and(|keys| keys.iter().any(|k| k.to_string() == uid))
                });
                match (files.next(), files.next()) {
                    (Some((first, _)), Some((second, _))) => RegistryError::InTwoFiles {
                        uid,
                        first: first.display().to_string(),
                        second: second.display().to_string(),
                    },
                    _ => RegistryError::Duplicate(uid),
                }
            }
            other => other,
        })?;
        Ok((
            registry,
            Self {
                root: path.to_owned(),
                directory: true,
                held,
            },
        ))
    }

    /// The file or directory read.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads the files changed since they were last read and applies their changes to `current`
    /// (the registry these files were last applied to), each checked first by `check` (a
    /// non-empty diff; say why it is refused). Files refused for what they hold are not read again
    /// until they change; a file refused because another holds one of its uids is tried again on
    /// every call, since the other may change.
    pub fn update(
        &mut self,
        current: &Registry,
        check: impl Fn(&Diff) -> Result<(), String>,
    ) -> Update {
        let mut update = Update::default();
        let mut changed = Vec::new();
        for (path, seen) in self.changed_files() {
            match self.read_change(current, &path, seen.is_none()) {
                Ok((entities, keys, diff)) => match check(&diff) {
                    Ok(()) => changed.push(Changed {
                        path,
                        seen,
                        entities,
                        keys,
                        diff,
                    }),
                    Err(why) => self.refuse(&mut update, path, seen, why),
                },
                Err(err) => self.refuse(&mut update, path, seen, err.to_string()),
            }
        }
        // A uid a file newly holds must not be held by another file once this update is done:
        // refuse such files (their old uids stay theirs) until no such claim is left. Every file
        // in conflict is refused at once, so when two files newly claim the same uid neither
        // takes it (whichever came first in the listing would otherwise win, possibly a stale
        // copy): what is in force follows from the files as they are now, and a uid in two of
        // them is in neither's change.
        loop {
            let conflicts: Vec<(usize, Key, PathBuf)> = changed
                .iter()
                .enumerate()
                .filter_map(|(index, file)| {
                    let old = self.held.get(&file.path).and_then(|h| h.keys.as_ref());
                    file.keys
                        .iter()
                        .filter(|key| old.is_none_or(|old| !old.contains(*key)))
                        .find_map(|key| {
                            self.holder(key, &file.path, &changed)
                                .map(|other| (index, key.clone(), other.to_owned()))
                        })
                })
                .collect();
            if conflicts.is_empty() {
                break;
            }
            // From the last index down, so the earlier indices stay valid.
            for (index, key, other) in conflicts.into_iter().rev() {
                let file = changed.remove(index);
                update.refused.push((
                    file.path.clone(),
                    RegistryError::InTwoFiles {
                        uid: key.to_string(),
                        first: other.display().to_string(),
                        second: file.path.display().to_string(),
                    }
                    .to_string(),
                ));
            }
            // Not marked seen: tried again once the other file changes.
        }
        if changed.is_empty() {
            return update;
        }
        // One diff for all accepted files; a uid one file drops and another takes is kept.
        let taken: HashSet<&Key> = changed.iter().flat_map(|file| &file.keys).collect();
        let mut diff = Diff::default();
        for file in &changed {
            diff.puts.extend(file.diff.puts.iter().cloned());
            diff.removes.extend(
                file.diff
                    .removes
                    .iter()
                    .filter(|key| !taken.contains(key))
                    .cloned(),
            );
        }
        let registry = if diff.is_empty() {
            None
        } else {
            match current.apply(diff) {
                Ok(next) => Some(next),
                Err(err) => {
                    let why = err.to_string();
                    for file in changed {
                        update.refused.push((file.path, why.clone()));
                    }
                    return update;
                }
            }
        };
        for file in changed {
            update.applied.push((
                file.path.clone(),
                file.diff.puts.len(),
                file.diff.removes.len(),
            ));
            if file.entities.is_empty() && file.seen.is_none() {
                self.held.remove(&file.path);
                continue;
            }
            let keys = self.directory.then_some(file.keys);
            self.held.insert(
                file.path,
                Held {
                    seen: file.seen,
                    keys,
                },
            );
        }
        update.registry = registry;
        update
    }

    /// The files whose stamp differs from when last read, with their stamp now: for a directory
    /// also the files new in it and those gone from it.
    fn changed_files(&self) -> Vec<(PathBuf, Option<Stamp>)> {
        let mut paths: Vec<PathBuf> = self.held.keys().cloned().collect();
        if self.directory {
            // A directory that cannot be listed now is left as it is: its files are stamped one by
            // one below (a file gone has no stamp, and its entities go).
            if let Ok(now) = list(&self.root) {
                paths.extend(now.into_iter().filter(|p| !self.held.contains_key(p)));
            }
        }
        paths
            .into_iter()
            .filter_map(|path| {
                let now = stamp(&path);
                let seen = self.held.get(&path).and_then(|h| h.seen);
                (now != seen || !self.held.contains_key(&path)).then_some((path, now))
            })
            .collect()
    }

    /// A changed file's entities, their uids and the diff from what it held.
    fn read_change(
        &self,
        current: &Registry,
        path: &Path,
        gone: bool,
    ) -> Result<(Keyed, HashSet<Key>, Diff), RegistryError> {
        if !self.directory {
            let entities = read_keyed(path)?;
            let keys = HashSet::new();
            let diff = current.diff_keyed(&entities);
            return Ok((entities, keys, diff));
        }
        // Gone from the directory: its entities go too.
        let entities = if gone { Vec::new() } else { read_keyed(path)? };
        let keys: HashSet<Key> = entities.iter().map(|(key, _)| key.clone()).collect();
        let puts = entities
            .iter()
            .filter(|(key, raw)| {
                !current
                    .get_key(key)
                    .is_some_and(|old| same_entity(old, raw))
            })
            .cloned()
            .collect();
        let removes = self
            .held
            .get(path)
            .and_then(|held| held.keys.as_ref())
            .map(|old| old.iter().filter(|k| !keys.contains(*k)).cloned().collect())
            .unwrap_or_default();
        Ok((entities, keys, Diff { puts, removes }))
    }

    /// Another file that will hold `key` once the `changed` files are applied.
    fn holder<'a>(&'a self, key: &Key, file: &Path, changed: &'a [Changed]) -> Option<&'a Path> {
        if let Some(other) = changed
            .iter()
            .find(|c| c.path != file && c.keys.contains(key))
        {
            return Some(&other.path);
        }
        self.held
            .iter()
            .filter(|(path, _)| path.as_path() != file && !changed.iter().any(|c| &c.path == *path))
            .find(|(_, held)| held.keys.as_ref().is_some_and(|keys| keys.contains(key)))
            .map(|(path, _)| path.as_path())
    }

    fn refuse(&mut self, update: &mut Update, path: PathBuf, seen: Option<Stamp>, why: String) {
        match self.held.get_mut(&path) {
            Some(held) => held.seen = seen,
            // A new file refused: remembered as holding nothing, so it is not read again until
            // it changes.
            None => {
                self.held.insert(
                    path.clone(),
                    Held {
                        seen,
                        keys: Some(HashSet::new()),
                    },
                );
            }
        }
        update.refused.push((path, why));
    }
}

/// Every entity of a registry file, or of every registry file of a directory (a uid in two files
/// is an error naming both): what `yungui registry import` loads.
pub fn read_entities(path: &Path) -> Result<Vec<Box<RawValue>>, RegistryError> {
    if !path.is_dir() {
        return read_file(path).map_err(|error| in_file(path, error));
    }
    let (registry, _) = Files::load(path)?;
    registry
        .texts()
        .map(|text| RawValue::from_string(text.to_owned()).map_err(RegistryError::Json))
        .collect()
}

/// A directory's entities, and what each file holds.
fn read_directory(path: &Path) -> Result<(Vec<Box<RawValue>>, ByFile), RegistryError> {
    let mut all = Vec::new();
    let mut held = BTreeMap::new();
    let listed = list(path)?;
    if listed.is_empty() {
        return Err(RegistryError::EmptyDirectory(path.display().to_string()));
    }
    for file in listed {
        let seen = stamp(&file);
        let entities = read_keyed(&file)?;
        let mut keys = HashSet::with_capacity(entities.len());
        for (key, raw) in entities {
            keys.insert(key);
            all.push(raw);
        }
        held.insert(
            file,
            Held {
                seen,
                keys: Some(keys),
            },
        );
    }
    Ok((all, held))
}

/// `error`, naming the file it is about (an I/O error names it already).
fn in_file(path: &Path, error: RegistryError) -> RegistryError {
    match error {
        io @ RegistryError::Io { .. } => io,
        other => RegistryError::InFile {
            path: path.display().to_string(),
            error: Box::new(other),
        },
    }
}

/// The registry files of a directory, in name order.
fn list(dir: &Path) -> Result<Vec<PathBuf>, RegistryError> {
    let io = |source| RegistryError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let path = entry.path();
        // Follows links (a ConfigMap volume's files are links into `..data`).
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// A file's entities keyed by uid, each namespace naming one tenant; errors name the file.
fn read_keyed(path: &Path) -> Result<Keyed, RegistryError> {
    let in_file = |error| in_file(path, error);
    let entities = keyed(read_file(path).map_err(in_file)?).map_err(in_file)?;
    for (key, raw) in &entities {
        if key.type_name() == super::NAMESPACE_TYPE {
            namespace_tenant(key, raw).map_err(in_file)?;
        }
    }
    Ok(entities)
}

#[cfg(test)]
mod tests;
