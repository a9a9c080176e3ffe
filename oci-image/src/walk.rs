//! Reachability: what `index.json` keeps alive, and referrers (manifests whose `subject`
//! is reachable), shared by `gc` and `fsck`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;

use oci_spec_types::document::{AnyManifest, ManifestKind};
use oci_spec_types::{Descriptor, Digest};

use crate::layout::Layout;
use crate::resolve::{BlobError, MAX_DOCUMENT_SIZE};

/// Every digest reachable from `roots`: the roots, the entries of indexes, the configs and
/// layers of manifests, recursively. Documents are read verified; a reachable manifest or
/// index that cannot be read is an error (its children would be unknown). A descriptor of
/// an unknown media type is kept, and followed when its blob parses as a manifest or index.
pub(crate) fn reachable(
    layout: &Layout,
    roots: impl IntoIterator<Item = Descriptor>,
    seen: &mut BTreeSet<Digest>,
) -> Result<(), BlobError> {
    let mut stack: Vec<Descriptor> = roots.into_iter().collect();
    while let Some(descriptor) = stack.pop() {
        if !seen.insert(descriptor.digest.clone()) {
            continue;
        }
        let manifest = if ManifestKind::from_media_type(descriptor.media_type.as_str()).is_some() {
            layout.read_manifest(&descriptor)?.1
        } else if descriptor.media_type.is_layer() || descriptor.media_type.is_image_config() {
            continue;
        } else {
            match sniff_json(layout, &descriptor.digest)
                .and_then(|(_, bytes)| AnyManifest::parse(&bytes, None).ok())
            {
                Some(manifest) => manifest,
                None => continue,
            }
        };
        if let Some(entries) = manifest.entries() {
            stack.extend(entries.iter().cloned());
        }
        if let Some(config) = manifest.config() {
            stack.push(config.clone());
        }
        if let Some(layers) = manifest.layers() {
            stack.extend(layers.iter().cloned());
        }
    }
    Ok(())
}

/// A blob that may be a JSON document: present, at most [`MAX_DOCUMENT_SIZE`] bytes,
/// starting with `{` (after whitespace), and matching its digest. Its size and bytes.
pub(crate) fn sniff_json(layout: &Layout, digest: &Digest) -> Option<(u64, Vec<u8>)> {
    let size = layout.blobs().stat(digest).ok()??;
    if size > MAX_DOCUMENT_SIZE {
        return None;
    }
    let mut reader = layout.blobs().open(digest).ok()??;
    let mut head = [0u8; 64];
    let n = reader.read(&mut head).ok()?;
    let first = head[..n].iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    let bytes = layout.blobs().read_verified(digest, Some(size)).ok()??;
    Some((size, bytes))
}

/// For each of `candidates` that is a manifest or index with a `subject`: a descriptor of
/// it, and the subject's digest.
pub(crate) fn subjects_of<'a>(
    layout: &Layout,
    candidates: impl IntoIterator<Item = &'a Digest>,
) -> BTreeMap<Digest, (Descriptor, Digest)> {
    let mut found = BTreeMap::new();
    for digest in candidates {
        let Some((size, bytes)) = sniff_json(layout, digest) else {
            continue;
        };
        let Ok(manifest) = AnyManifest::parse(&bytes, None) else {
            continue;
        };
        let (subject, artifact_type) = match &manifest {
            AnyManifest::OciManifest(m) => (m.subject.as_ref(), m.artifact_type.clone()),
            AnyManifest::OciIndex(i) => (i.subject.as_ref(), i.artifact_type.clone()),
            _ => (None, None),
        };
        let Some(subject) = subject else { continue };
        let mut descriptor = Descriptor::new(manifest.kind().media_type(), digest.clone(), size);
        descriptor.artifact_type = artifact_type;
        found.insert(digest.clone(), (descriptor, subject.digest.clone()));
    }
    found
}

/// Takes out of `candidates` the referrers whose subject is in `reachable`, until none is
/// left: referrers of referrers count too. `visit` walks each referrer found (adding what
/// it reaches to `reachable`).
pub(crate) fn take_referrers<E>(
    candidates: &mut BTreeMap<Digest, (Descriptor, Digest)>,
    reachable: &mut BTreeSet<Digest>,
    mut visit: impl FnMut(Descriptor, &mut BTreeSet<Digest>) -> Result<(), E>,
) -> Result<(), E> {
    loop {
        let ready: Vec<Digest> = candidates
            .iter()
            .filter(|(digest, (_, subject))| {
                reachable.contains(subject) && !reachable.contains(*digest)
            })
            .map(|(digest, _)| digest.clone())
            .collect();
        if ready.is_empty() {
            return Ok(());
        }
        for digest in ready {
            if let Some((descriptor, _)) = candidates.remove(&digest) {
                visit(descriptor, reachable)?;
            }
        }
    }
}
