//! Snapshots: vecgate's learned state on disk, written atomically, refused when foreign, old or
//! corrupt.
//!
//! # File format (version [`FORMAT_VERSION`])
//! ```text
//! 0   8 bytes   magic "VECGATE\0"
//! 8   u32 le    format version
//! 12  u32 le    reserved (0)
//! 16  u64 le    payload length
//! 24  u64 le    xxh3-64 of the payload
//! 32  payload   rkyv archive of `Vec<Section>`
//! ```
//! A reader checks, in order: magic ([`SnapshotError::Foreign`]), version
//! ([`SnapshotError::Version`]), length and checksum, then rkyv's structural validation
//! ([`SnapshotError::Corrupt`]). Nothing is interpreted before all of these pass.
//!
//! # Sections: the hook for other state
//! A [`Snapshot`] is a list of named, individually versioned byte sections. The index writes
//! [`STORE_SECTION`] (see [`store_section`] and [`restore_store`]) and [`GRAPH_SECTION`] (see
//! [`graph_section`] and [`restore_store_with_graph`]); any other component adds its
//! own with [`Snapshot::put`] (the learner, for instance, `"vecgate.learner"`) and reads it back
//! with [`Snapshot::section`], checking its own section version. Readers ignore sections they do
//! not know, so adding a section never breaks an older reader of the same format version.
//!
//! # Atomicity
//! [`Snapshot::write`] writes a temporary file beside the target, fsyncs it, renames it over the
//! target and fsyncs the directory: a crash leaves either the old snapshot or the new one.

mod graph_section;
mod store_section;

pub use graph_section::{GRAPH_SECTION, GRAPH_SECTION_VERSION, GRAPH_SNAPSHOT_WAIT, graph_section};
pub use store_section::{
    STORE_SECTION, STORE_SECTION_VERSION, restore_store, restore_store_with_graph, store_section,
};

use crate::error::SnapshotError;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A section's bytes, copied to the alignment rkyv reads from, once its layout version is
/// the one this build reads (`refuse` words the error for the section's owner).
pub(crate) fn aligned_bytes(
    section: &Section,
    version: u32,
    refuse: impl Fn(String) -> SnapshotError,
) -> Result<rkyv::util::AlignedVec<16>, SnapshotError> {
    if section.version != version {
        return Err(refuse(format!(
            "section version {}, this build reads {version}",
            section.version
        )));
    }
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(section.bytes.len());
    aligned.extend_from_slice(&section.bytes);
    Ok(aligned)
}

/// The file's first eight bytes.
pub const MAGIC: [u8; 8] = *b"VECGATE\0";
/// The container format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
const HEADER: usize = 32;
const CHECKSUM_SEED: u64 = 0x736e_6170; // "snap"

/// One named piece of state.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Section {
    /// Owner-chosen name, e.g. `"vecgate.store"`.
    pub name: String,
    /// The owner's version of this section's layout.
    pub version: u32,
    /// The owner's encoding of its state.
    pub bytes: Vec<u8>,
}

/// A whole snapshot: named sections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The sections, in insertion order.
    pub sections: Vec<Section>,
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Snapshot {
        Snapshot::default()
    }

    /// Adds or replaces the section `name`.
    pub fn put(&mut self, section: Section) {
        match self.sections.iter_mut().find(|s| s.name == section.name) {
            Some(existing) => *existing = section,
            None => self.sections.push(section),
        }
    }

    /// The section `name`, if present.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Encodes the snapshot (header + payload) into bytes.
    pub fn encode(&self) -> Result<Vec<u8>, SnapshotError> {
        let payload = rkyv::to_bytes::<rkyv::rancor::Error>(&self.sections)
            .map_err(|e| SnapshotError::Encode(e.to_string()))?;
        let mut out = Vec::with_capacity(HEADER + payload.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        let checksum = xxhash_rust::xxh3::xxh3_64_with_seed(&payload, CHECKSUM_SEED);
        out.extend_from_slice(&checksum.to_le_bytes());
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Decodes bytes produced by [`Snapshot::encode`]; `path` only names the source in errors.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Snapshot, SnapshotError> {
        let corrupt = |reason: String| SnapshotError::Corrupt {
            path: path.to_owned(),
            reason,
        };
        if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
            return Err(SnapshotError::Foreign {
                path: path.to_owned(),
            });
        }
        if bytes.len() < HEADER {
            return Err(corrupt(format!(
                "header truncated at {} bytes",
                bytes.len()
            )));
        }
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let long = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let version = word(8);
        if version != FORMAT_VERSION {
            return Err(SnapshotError::Version {
                path: path.to_owned(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let payload = &bytes[HEADER..];
        if long(16) != payload.len() as u64 {
            return Err(corrupt(format!(
                "payload is {} bytes, header says {}",
                payload.len(),
                long(16)
            )));
        }
        if xxhash_rust::xxh3::xxh3_64_with_seed(payload, CHECKSUM_SEED) != long(24) {
            return Err(corrupt("checksum mismatch".into()));
        }
        let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(payload.len());
        aligned.extend_from_slice(payload);
        let sections = rkyv::from_bytes::<Vec<Section>, rkyv::rancor::Error>(&aligned)
            .map_err(|e| corrupt(format!("invalid archive: {e}")))?;
        Ok(Snapshot { sections })
    }

    /// Writes the snapshot to `path` atomically (temp file, fsync, rename, directory fsync).
    pub fn write(&self, path: &Path) -> Result<(), SnapshotError> {
        let bytes = self.encode()?;
        let io = |source| SnapshotError::Io {
            path: path.to_owned(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let file_name = path.file_name().ok_or_else(|| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "snapshot path has no file name",
            ))
        })?;
        let mut tmp_name = file_name.to_owned();
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        let tmp = dir.join(tmp_name);
        let result = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)?;
            // The rename is durable only once the directory entry is.
            std::fs::File::open(&dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io)
    }

    /// Reads and verifies the snapshot at `path`.
    pub fn read(path: &Path) -> Result<Snapshot, SnapshotError> {
        let bytes = std::fs::read(path).map_err(|source| SnapshotError::Io {
            path: path.to_owned(),
            source,
        })?;
        Snapshot::decode(&bytes, path)
    }
}

#[cfg(test)]
mod tests;
