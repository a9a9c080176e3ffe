//! What the caller chooses (options, limits, id mapping, expected digests) and what an
//! apply reports back.

use oci_spec_types::digest::Digest;

use crate::tar::Limits;

/// How an apply behaves. `ApplyOptions::default()` is the safe choice for untrusted layers
/// applied by root.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Rootless mode: no ownership changes (unless `id_map` is set, and then failures to
    /// change ownership are warnings), devices become empty files with a warning,
    /// directories without write permission for their owner are made writable while their
    /// children are written and restored afterwards.
    pub rootless: bool,
    /// Duplicate entries (the same path twice in one layer) are an error instead of the
    /// last one winning.
    pub strict: bool,
    /// Limits against hostile input.
    pub limits: Limits,
    /// Maps the uids and gids of the layer to those written on disk.
    pub id_map: Option<IdMap>,
    /// How paths are resolved inside the root.
    pub resolver: Resolver,
}

/// How paths are resolved inside the root. Both confine every path to the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolver {
    /// `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` where the kernel has it, the
    /// component walk otherwise.
    #[default]
    Auto,
    /// Always the component-by-component walk with `openat(O_NOFOLLOW)`, which resolves
    /// symbolic links lexically inside the root (the fallback of `Auto`, selectable for
    /// tests and for kernels whose `openat2` is filtered).
    Walk,
}

/// One contiguous range of a uid or gid mapping, as in `/proc/PID/uid_map`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// First id inside the layer.
    pub inside: u32,
    /// The id it maps to on disk.
    pub outside: u32,
    /// Number of ids in the range.
    pub count: u32,
}

/// A uid and gid mapping from the layer's ids to the ids written on disk. An id outside
/// every range is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMap {
    /// Ranges for user ids.
    pub uids: Vec<IdRange>,
    /// Ranges for group ids.
    pub gids: Vec<IdRange>,
}

impl IdMap {
    /// Maps a layer uid, `None` when no range holds it.
    pub fn uid(&self, id: u64) -> Option<u32> {
        map_id(&self.uids, id)
    }

    /// Maps a layer gid, `None` when no range holds it.
    pub fn gid(&self, id: u64) -> Option<u32> {
        map_id(&self.gids, id)
    }
}

fn map_id(ranges: &[IdRange], id: u64) -> Option<u32> {
    ranges.iter().find_map(|r| {
        let offset = id.checked_sub(u64::from(r.inside))?;
        (offset < u64::from(r.count))
            .then(|| u64::from(r.outside) + offset)
            .and_then(|v| u32::try_from(v).ok())
    })
}

/// The identities a layer is expected to have. Each one given is checked while
/// streaming, after reading the input to its very end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// Digest of the layer as given (compressed bytes).
    pub digest: Option<Digest>,
    /// DiffID: digest of the uncompressed tar stream.
    pub diff_id: Option<Digest>,
}

/// What one apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Entries applied (whiteouts included; PAX records and long names not counted).
    pub entries: u64,
    /// Bytes of regular file contents written.
    pub bytes: u64,
    /// Things skipped or changed on the way (devices in rootless mode, unsupported
    /// attributes), one sentence each, naming the entry.
    pub warnings: Vec<String>,
    /// The layer's digest, when one was expected (and so computed).
    pub digest: Option<Digest>,
    /// The layer's diffID, when one was expected (and so computed).
    pub diff_id: Option<Digest>,
}

impl Applied {
    /// Adds the counts and warnings of another apply (for several layers in a row).
    pub fn add(&mut self, other: Applied) {
        self.entries += other.entries;
        self.bytes += other.bytes;
        self.warnings.extend(other.warnings);
        self.digest = other.digest;
        self.diff_id = other.diff_id;
    }
}
