//! The `oci:DIR[:REF]` transport: an image in an OCI layout on disk, read
//! ([`LayoutSource`]) and written ([`LayoutDestination`]: blobs verified into the store,
//! the tag written last under the layout lock).

use std::io::Read;
use std::path::Path;

use oci_digest::PutError;
use oci_spec_types::annotations::REF_NAME;
use oci_spec_types::document::{AnyManifest, probe};
use oci_spec_types::{Descriptor, Digest, Platform};

use super::{
    BlobOpenError, BlobReader, Capabilities, Damage, Destination, DestinationError, Location,
    ReferrersError, Source, SourceError, Transport, describe_destination,
};
use crate::layout::Layout;
use crate::name::{ImageName, Reference};
use crate::resolve::{MAX_DOCUMENT_SIZE, ResolveError};

/// `oci:DIR[:REF]`: an image of an OCI layout.
#[derive(Debug, Clone)]
pub struct LayoutSource {
    layout: Layout,
    name: String,
    root: Descriptor,
    candidates: Vec<Descriptor>,
}

impl LayoutSource {
    /// Opens the layout `name.dir` and finds the entry `name.reference` names (for
    /// `platform` where several entries share it), as [`Layout::resolve`] does.
    pub fn open(
        name: &ImageName,
        platform: Option<&Platform>,
    ) -> Result<LayoutSource, SourceError> {
        let layout = Layout::open(&name.dir)?;
        let root = layout.resolve(name.reference.as_ref(), platform)?;
        Ok(LayoutSource {
            layout,
            name: format!("oci:{name}"),
            candidates: vec![root.clone()],
            root,
        })
    }

    /// Opens the layout `name.dir` and finds every entry `name.reference` names (several
    /// when one tag has one entry per platform): the platform choice among them is left
    /// to the reader ([`Source::candidates`]); the root is the entry for this machine's
    /// platform, else the first.
    pub fn open_all(name: &ImageName) -> Result<LayoutSource, SourceError> {
        let layout = Layout::open(&name.dir)?;
        let reference = name.reference.as_ref();
        let index = layout.index().map_err(ResolveError::from)?.into_value();
        let candidates: Vec<Descriptor> = index
            .manifests
            .into_iter()
            .filter(|d| match reference {
                Some(Reference::Tag(tag)) => d.ref_name() == Some(tag.as_str()),
                Some(Reference::Digest(digest)) => d.digest == *digest,
                None => true,
            })
            .collect();
        let root = match layout.resolve(reference, None) {
            Ok(root) => root,
            Err(ResolveError::NoPlatform { .. }) if !candidates.is_empty() => candidates[0].clone(),
            Err(e) => return Err(e.into()),
        };
        let candidates = if candidates.contains(&root) {
            candidates
        } else {
            vec![root.clone()]
        };
        Ok(LayoutSource {
            layout,
            name: format!("oci:{name}"),
            root,
            candidates,
        })
    }

    /// A source for the image `root` of `layout`.
    pub fn new(layout: Layout, root: Descriptor) -> LayoutSource {
        LayoutSource {
            name: format!("oci:{}", layout.root().display()),
            layout,
            candidates: vec![root.clone()],
            root,
        }
    }

    /// The layout read from.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
}

impl Source for LayoutSource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn transport(&self) -> Transport {
        Transport::Oci
    }

    fn location(&self) -> Location {
        Location::Path(self.layout.root().to_path_buf())
    }

    fn root(&self) -> &Descriptor {
        &self.root
    }

    fn candidates(&self) -> &[Descriptor] {
        &self.candidates
    }

    /// The manifests of `index.json` (tagged or not) whose `subject` is `subject`, each
    /// read verified and its subject checked.
    fn referrers(&self, subject: &Digest) -> Result<Option<Vec<Descriptor>>, ReferrersError> {
        let index = self.layout.index()?.into_value();
        Ok(Some(referrers_among(self, &index.manifests, subject)?))
    }

    /// The `index.json` entry of that ref name (the first, as reading picks it).
    fn tagged(&self, tag: &str) -> Result<Option<Descriptor>, ReferrersError> {
        let index = self.layout.index()?.into_value();
        Ok(tagged_among(&index.manifests, tag))
    }

    fn open(&self, descriptor: &Descriptor) -> Result<BlobReader<'_>, BlobOpenError> {
        let digest = &descriptor.digest;
        match self.layout.blobs().open_sized(digest, descriptor.size) {
            Ok(Some(reader)) => Ok(Box::new(reader)),
            Ok(None) => Err(BlobOpenError::missing(self, digest)),
            Err(e @ oci_digest::OpenError::Io { .. }) => {
                Err(BlobOpenError::unavailable(self, digest, e))
            }
            Err(e) => Err(BlobOpenError::damaged(self, digest, Damage::Store(e))),
        }
    }
}

/// The first of `entries` whose ref name is `tag`, without its ref-name annotation.
pub(crate) fn tagged_among(entries: &[Descriptor], tag: &str) -> Option<Descriptor> {
    let mut found = entries.iter().find(|d| d.ref_name() == Some(tag))?.clone();
    if let Some(annotations) = &mut found.annotations {
        annotations.remove(REF_NAME);
        if annotations.is_empty() {
            found.annotations = None;
        }
    }
    Some(found)
}

/// Stores a manifest blob and its `index.json` entry (tagged or not) in `layout`.
pub(crate) fn put_manifest(
    layout: &Layout,
    destination: &str,
    descriptor: &Descriptor,
    bytes: &[u8],
    tag: Option<&str>,
) -> Result<(), DestinationError> {
    if let Some(tag) = tag
        && !crate::name::is_valid_tag(tag)
    {
        return Err(DestinationError::InvalidTag {
            tag: tag.to_owned(),
        });
    }
    put_blob(layout, descriptor, &mut &bytes[..]).map_err(|source| DestinationError::Put {
        destination: destination.to_owned(),
        digest: descriptor.digest.clone(),
        source: Box::new(source),
    })?;
    set_entry(layout, descriptor, tag)
}

/// The descriptors among `entries` of manifests whose `subject` is `subject` (each read
/// through `source`, verified, its subject checked), each listed once, with the
/// manifest's `artifactType` (or its config's media type) and annotations.
pub(crate) fn referrers_among(
    source: &dyn Source,
    entries: &[Descriptor],
    subject: &Digest,
) -> Result<Vec<Descriptor>, BlobOpenError> {
    let mut found: Vec<Descriptor> = Vec::new();
    for entry in entries {
        if found.iter().any(|d| d.digest == entry.digest) {
            continue;
        }
        if !matches!(
            entry.media_type.as_str(),
            oci_spec_types::media_type::IMAGE_MANIFEST | oci_spec_types::media_type::IMAGE_INDEX
        ) {
            continue;
        }
        let bytes = source.read_small(entry, MAX_DOCUMENT_SIZE)?;
        let Ok(kind) = probe(&bytes) else { continue };
        let Some(kind) = kind.kind() else { continue };
        let Ok(parsed) = AnyManifest::parse(&bytes, Some(kind.media_type())) else {
            continue;
        };
        let (referrer_subject, artifact_type, annotations) = match &parsed {
            AnyManifest::OciManifest(m) => (
                m.subject.as_ref(),
                m.artifact_type
                    .clone()
                    .or_else(|| Some(m.config.media_type.clone())),
                m.annotations.clone(),
            ),
            AnyManifest::OciIndex(i) => (
                i.subject.as_ref(),
                i.artifact_type.clone(),
                i.annotations.clone(),
            ),
            _ => continue,
        };
        if referrer_subject.is_none_or(|s| s.digest != *subject) {
            continue;
        }
        let mut descriptor = Descriptor::new(kind.media_type(), entry.digest.clone(), entry.size);
        descriptor.artifact_type = artifact_type;
        descriptor.annotations = annotations;
        found.push(descriptor);
    }
    Ok(found)
}

/// `oci:DIR[:TAG]` as a destination: the layout (created when missing) receives the
/// blobs, verified; [`commit`](Destination::commit) writes the entry last, under the
/// layout lock, replacing any entry of that tag (without a tag the entry has no ref
/// name, as skopeo writes it).
#[derive(Debug)]
pub struct LayoutDestination {
    layout: Layout,
    tag: Option<String>,
    /// Referrers copied with the image, listed (untagged) after the root at commit.
    referrers: std::sync::Mutex<Vec<Descriptor>>,
}

impl LayoutDestination {
    /// Opens (or creates) the layout in `dir`; `tag` is what [`commit`](Destination::commit)
    /// names.
    pub fn open(dir: &Path, tag: Option<String>) -> Result<LayoutDestination, DestinationError> {
        Ok(LayoutDestination {
            layout: Layout::open_or_init(dir)?,
            tag,
            referrers: std::sync::Mutex::default(),
        })
    }

    /// A destination writing into `layout`.
    pub fn new(layout: Layout, tag: Option<String>) -> LayoutDestination {
        LayoutDestination {
            layout,
            tag,
            referrers: std::sync::Mutex::default(),
        }
    }

    /// The layout written to.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
}

impl Destination for LayoutDestination {
    fn describe(&self) -> String {
        describe_destination(Transport::Oci, self.layout.root(), self.tag.as_deref())
    }

    fn transport(&self) -> Transport {
        Transport::Oci
    }

    fn location(&self) -> Location {
        Location::Path(self.layout.root().to_path_buf())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::OCI_LAYOUT
    }

    fn staging(&self) -> Option<&Layout> {
        Some(&self.layout)
    }

    fn add_referrer(&self, referrer: &Descriptor) {
        self.referrers.lock().expect("lock").push(referrer.clone());
    }

    fn commit(self: Box<Self>, root: &Descriptor) -> Result<Descriptor, DestinationError> {
        set_entry(&self.layout, root, self.tag.as_deref())?;
        for referrer in self.referrers.lock().expect("lock").iter() {
            set_entry(&self.layout, referrer, None)?;
        }
        Ok(root.clone())
    }

    fn can_put_manifests(&self) -> bool {
        true
    }

    /// Stores the blob and writes its `index.json` entry at once, under the layout lock.
    fn put_manifest(
        &self,
        descriptor: &Descriptor,
        bytes: &[u8],
        tag: Option<&str>,
    ) -> Result<(), DestinationError> {
        put_manifest(&self.layout, &self.describe(), descriptor, bytes, tag)
    }
}

/// Whether the layout's store has the blob, with the right size.
pub(crate) fn has_blob(layout: &Layout, descriptor: &Descriptor) -> bool {
    // Something that is not a regular file: writing over it will tell.
    matches!(layout.blobs().stat(&descriptor.digest), Ok(Some(size)) if size == descriptor.size)
}

/// Stores a blob into the layout's store, verified as it streams.
pub(crate) fn put_blob(
    layout: &Layout,
    descriptor: &Descriptor,
    reader: &mut dyn Read,
) -> Result<(), PutError> {
    let mut writer = layout
        .blobs()
        .writer_verified(&descriptor.digest, Some(descriptor.size))?;
    writer.copy_from(reader)?;
    writer.commit()?;
    Ok(())
}

/// Writes `root` into `index.json` under the layout lock: with a tag, replacing every
/// entry of that tag (the new entry takes the place of the first); without, added unless
/// an untagged entry of that digest is already there.
pub(crate) fn set_entry(
    layout: &Layout,
    root: &Descriptor,
    tag: Option<&str>,
) -> Result<(), DestinationError> {
    let mut entry = root.clone();
    if let Some(annotations) = &mut entry.annotations {
        annotations.remove(REF_NAME);
    }
    if let Some(tag) = tag {
        entry
            .annotations
            .get_or_insert_with(Default::default)
            .insert(REF_NAME.to_owned(), tag.to_owned());
    }
    if entry.annotations.as_ref().is_some_and(|a| a.is_empty()) {
        entry.annotations = None;
    }
    let lock = layout.lock()?;
    let mut index = lock.read_index()?.into_value();
    match tag {
        Some(tag) => crate::tag::place_tagged(&mut index, entry, tag),
        None => {
            if index
                .manifests
                .iter()
                .any(|d| d.ref_name().is_none() && d.digest == entry.digest)
            {
                return Ok(());
            }
            index.manifests.push(entry);
        }
    }
    lock.write_index(index)?;
    Ok(())
}
