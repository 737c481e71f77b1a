//! The state file on disk: checked at start-up, written crash-safely, and
//! never fatal once the resolver runs.
//!
//! A write goes to a temporary file in the same directory, is fsynced,
//! renamed over the state file, and the directory is fsynced (ROLLOVER.md
//! §6): a crash at any instant leaves the old state or the new one.
//!
//! # Limitations
//! One writer per state file: two resolvers sharing a path overwrite each
//! other (whole files, never torn ones).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anchorage_wire::proto::rr::Name;
use tracing::{error, info, warn};

use crate::anchor::Anchor;
use crate::key::Transition;
use crate::state::{StateError, decode, encode};
use crate::timers::Timers;
use crate::tracker::Tracker;
use crate::utc::unix_secs;

/// What to do when the state directory cannot be written at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Refuse to start (the default).
    Required,
    /// Keep the state in memory, with a loud warning and a health flag.
    InMemoryOnFailure,
    /// Never touch the disk (tests, labs, read-only appliances).
    InMemory,
}

/// Why the state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory that should hold the state file does not exist.
    #[error("trust state directory {dir} does not exist")]
    DirectoryMissing {
        /// The directory.
        dir: PathBuf,
    },
    /// The path's parent is not a directory.
    #[error("trust state directory {dir} is not a directory")]
    NotADirectory {
        /// The path.
        dir: PathBuf,
    },
    /// A file cannot be created in the directory.
    #[error("cannot write in trust state directory {dir}")]
    DirectoryUnwritable {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The state file exists but cannot be read.
    #[error("cannot read trust state {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The state file is damaged or of another version; it was not loaded.
    #[error("refusing trust state {path}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: StateError,
    },
    /// Writing the state failed; the state is kept in memory.
    #[error("cannot write trust state to {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Where the state file stands, for health checks and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreHealth {
    /// The state lives only in memory: a restart loses it.
    pub in_memory: bool,
    /// Writes failed in a row since the last good one.
    pub consecutive_write_failures: u32,
    /// Writes failed since start.
    pub total_write_failures: u64,
}

impl StoreHealth {
    /// Whether the operator should be told: in memory or failing writes.
    pub fn is_degraded(&self) -> bool {
        self.in_memory || self.consecutive_write_failures > 0
    }
}

/// The state file of one trust point.
#[derive(Debug)]
pub struct StateStore {
    path: PathBuf,
    health: StoreHealth,
}

impl StateStore {
    /// Checks that the state file's directory exists and takes a file,
    /// as `persistence` asks.
    pub fn open(path: &Path, persistence: Persistence) -> Result<Self, StoreError> {
        let mut store = Self {
            path: path.to_path_buf(),
            health: StoreHealth::default(),
        };
        match persistence {
            Persistence::InMemory => store.health.in_memory = true,
            Persistence::Required => check_directory(path)?,
            Persistence::InMemoryOnFailure => {
                if let Err(why) = check_directory(path) {
                    error!(
                        error = %why,
                        cause = ?std::error::Error::source(&why).map(ToString::to_string),
                        "TRUST STATE IS NOT PERSISTED: keeping it in memory; a restart \
                         during a key rollover will start again from the built-in anchors"
                    );
                    store.health.in_memory = true;
                }
            }
        }
        Ok(store)
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Health of the store.
    pub fn health(&self) -> StoreHealth {
        self.health
    }

    /// Loads the tracker; `Ok(None)` if there is no state file (or the
    /// store is in memory). A damaged file is refused whole.
    pub fn load(&self, timers: Timers) -> Result<Option<Tracker>, StoreError> {
        if self.health.in_memory {
            return Ok(None);
        }
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StoreError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        decode(&text, timers)
            .map(Some)
            .map_err(|source| StoreError::Corrupt {
                path: self.path.clone(),
                source,
            })
    }

    /// Writes the tracker's state crash-safely. A failure is returned and
    /// counted, never fatal: the state stays in memory and the next save retries.
    pub fn save(&mut self, tracker: &Tracker, now: SystemTime) -> Result<(), StoreError> {
        if self.health.in_memory {
            return Ok(());
        }
        match write_atomically(&self.path, encode(tracker, now).as_bytes()) {
            Ok(()) => {
                self.health.consecutive_write_failures = 0;
                Ok(())
            }
            Err(source) => {
                self.health.consecutive_write_failures =
                    self.health.consecutive_write_failures.saturating_add(1);
                self.health.total_write_failures =
                    self.health.total_write_failures.saturating_add(1);
                Err(StoreError::Write {
                    path: self.path.clone(),
                    source,
                })
            }
        }
    }
}

/// How a tracker came to be at start-up; the caller logs it.
#[derive(Debug)]
pub enum StartOrigin {
    /// Resumed from the state file.
    Resumed,
    /// No state file: started again from the configured anchors.
    NoStateFile,
    /// Running in memory, from the configured anchors.
    InMemory,
}

/// What start-up needs.
#[derive(Debug, Clone)]
pub struct StartConfig {
    /// The trust point (`.`).
    pub zone: Name,
    /// The state file.
    pub state_path: PathBuf,
    /// What to do if it cannot be written.
    pub persistence: Persistence,
    /// Seed anchors: built-in, or an operator file that replaces them.
    pub anchors: Vec<Anchor>,
    /// Timers.
    pub timers: Timers,
}

/// A started tracker with its store.
#[derive(Debug)]
pub struct Startup {
    /// The tracker.
    pub tracker: Tracker,
    /// Its store.
    pub store: StateStore,
    /// Where its state came from.
    pub origin: StartOrigin,
    /// Configured anchors added to a resumed state.
    pub reconciled: Vec<Transition>,
}

/// Opens the store, loads or seeds the tracker, and writes the first state.
pub fn start(config: &StartConfig, now: SystemTime) -> Result<Startup, StoreError> {
    let mut store = StateStore::open(&config.state_path, config.persistence)?;
    let loaded = store.load(config.timers)?;
    let (tracker, origin, reconciled) = if let Some(mut tracker) = loaded {
        let reconciled = tracker.reconcile(&config.anchors, now);
        (tracker, StartOrigin::Resumed, reconciled)
    } else {
        let tracker = Tracker::new(config.zone.clone(), &config.anchors, config.timers, now);
        let origin = if store.health().in_memory {
            StartOrigin::InMemory
        } else {
            warn!(
                path = %config.state_path.display(),
                "no trust state file: starting again from the configured anchors"
            );
            StartOrigin::NoStateFile
        };
        (tracker, origin, Vec::new())
    };
    store.save(&tracker, now)?;
    info!(origin = ?origin, tags = ?tracker.trusted_tags(), "trust anchors ready");
    Ok(Startup {
        tracker,
        store,
        origin,
        reconciled,
    })
}

/// Renames a refused state file to `<name>.corrupt-<unix time>` so a fresh
/// start does not overwrite the evidence; returns the new path.
pub fn set_aside(path: &Path, now: SystemTime) -> io::Result<PathBuf> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".corrupt-{}", unix_secs(now)));
    let aside = path.with_file_name(name);
    fs::rename(path, &aside)?;
    Ok(aside)
}

/// Replaces `path` with `bytes`: temp file, fsync, rename, fsync directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = directory_of(path);
    let tmp = temp_path(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    // The rename is durable only once the directory entry is.
    File::open(dir)?.sync_all()
}

fn check_directory(path: &Path) -> Result<(), StoreError> {
    let dir = directory_of(path).to_path_buf();
    match fs::metadata(&dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(StoreError::DirectoryMissing { dir });
        }
        Err(source) => return Err(StoreError::DirectoryUnwritable { dir, source }),
        Ok(meta) if !meta.is_dir() => return Err(StoreError::NotADirectory { dir }),
        Ok(_) => {}
    }
    // Only creating a file proves the directory takes one (permissions,
    // read-only mounts, quotas, root on a read-only file system).
    let probe = temp_path(path);
    let result = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)
        .and_then(|mut f| f.write_all(b"probe").and_then(|()| f.sync_all()))
        .and_then(|()| fs::remove_file(&probe));
    result.map_err(|source| StoreError::DirectoryUnwritable { dir, source })
}

fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(".tmp");
    path.with_file_name(name)
}
