//! Reading a docker-archive: [`DockerArchiveSource`], a synthesized Docker v2.2 manifest
//! over the archive's config and layer files, each blob verified as it is read.

use super::*;

/// A layer file of the archive.
#[derive(Debug)]
struct LayerFile {
    /// Where its data is (links resolved).
    span: EntrySpan,
}

/// `docker-archive:FILE[:NAME:TAG]` as a copy source.
#[derive(Debug)]
pub struct DockerArchiveSource {
    index: TarIndex,
    file: PathBuf,
    described: String,
    root: Descriptor,
    manifest: Vec<u8>,
    config: Vec<u8>,
    config_digest: Digest,
    layers: BTreeMap<Digest, LayerFile>,
    repo_tags: Vec<String>,
}

impl DockerArchiveSource {
    /// Opens `docker-archive:FILE[:NAME:TAG]`; `name` picks a RepoTags entry, normalized as
    /// docker does (`busybox` is `docker.io/library/busybox:latest`), or `@N` the N-th image
    /// (from 0); None: the archive must hold exactly one image. Root: a synthesized Docker
    /// v2.2 manifest. A compressed archive is decompressed into a temp file in `scratch`.
    pub fn open(
        file: &Path,
        name: Option<&str>,
        scratch: &Path,
    ) -> Result<DockerArchiveSource, DockerArchiveError> {
        let index = TarIndex::open(file, scratch)?;
        let invalid = |problem: ArchiveProblem| DockerArchiveError::Invalid {
            file: file.to_path_buf(),
            problem,
        };
        let bytes = index
            .read_entry(MANIFEST_JSON, MAX_DOCUMENT_SIZE)?
            .ok_or_else(|| invalid(ArchiveProblem::NoManifest))?;
        let mut items: Vec<ItemIn> =
            serde_json::from_slice(&bytes).map_err(|e| invalid(ArchiveProblem::ManifestJson(e)))?;
        let chosen = choose(file, &items, name)?;
        let item = items.swap_remove(chosen);

        let config = index
            .read_entry(&item.config, MAX_DOCUMENT_SIZE)?
            .ok_or_else(|| {
                invalid(ArchiveProblem::NoConfig {
                    entry: item.config.clone(),
                })
            })?;
        let config_digest = Digester::digest_bytes(Algorithm::Sha256, &config).digest;
        let parsed: ConfigRootFs = serde_json::from_slice(&config).map_err(|source| {
            invalid(ArchiveProblem::ConfigJson {
                entry: item.config.clone(),
                source,
            })
        })?;
        let diff_ids = parsed
            .rootfs
            .ok_or_else(|| {
                invalid(ArchiveProblem::NoRootFs {
                    entry: item.config.clone(),
                })
            })?
            .diff_ids;
        if diff_ids.len() != item.layers.len() {
            return Err(invalid(ArchiveProblem::LayerCount {
                entry: item.config.clone(),
                layers: item.layers.len(),
                diff_ids: diff_ids.len(),
            }));
        }

        let mut layers = BTreeMap::new();
        let mut descriptors = Vec::with_capacity(diff_ids.len());
        // Entry (resolved to its data) -> the diffID it was given, to refuse one file
        // standing for two layers.
        let mut used: BTreeMap<(u64, u64), &Digest> = BTreeMap::new();
        // A compressed file is hashed once, however often it is listed.
        let mut hashed: BTreeMap<(u64, u64), (Digest, &'static str)> = BTreeMap::new();
        for (entry, diff_id) in item.layers.iter().zip(&diff_ids) {
            let Some(span) = index.lookup(entry)? else {
                if let Some(foreign) = item
                    .layer_sources
                    .as_ref()
                    .and_then(|s| s.get(diff_id.as_str()))
                {
                    descriptors.push(foreign.clone());
                    continue;
                }
                return Err(DockerArchiveError::MissingLayer {
                    file: file.to_path_buf(),
                    entry: entry.clone(),
                    diff_id: diff_id.clone(),
                });
            };
            let key = (span.offset(), span.size());
            match used.get(&key) {
                Some(other) if *other != diff_id => {
                    return Err(invalid(ArchiveProblem::SharedLayerFile {
                        entry: entry.clone(),
                        first: (*other).clone(),
                        second: diff_id.clone(),
                    }));
                }
                _ => {
                    used.insert(key, diff_id);
                }
            }
            let (digest, media) = match hashed.get(&key) {
                Some(known) => known.clone(),
                None => {
                    let found = match sniff(index.open_span(span), &index)? {
                        Sniffed::Plain => (diff_id.clone(), DOCKER_LAYER_TAR),
                        Sniffed::Compressed { digest, gzip } => (
                            digest,
                            if gzip {
                                media_type::DOCKER_LAYER_GZIP
                            } else {
                                media_type::LAYER_TAR_ZSTD
                            },
                        ),
                    };
                    hashed.insert(key, found.clone());
                    found
                }
            };
            descriptors.push(Descriptor::new(media, digest.clone(), span.size()));
            layers.insert(digest, LayerFile { span });
        }

        let manifest = DockerManifest {
            schema_version: 2,
            media_type: MediaType::from(media_type::DOCKER_MANIFEST),
            config: Descriptor::new(
                media_type::DOCKER_CONFIG,
                config_digest.clone(),
                config.len() as u64,
            ),
            layers: descriptors,
            extra: BTreeMap::new(),
        };
        let manifest = serde_json::to_vec(&manifest).map_err(|e| DockerArchiveError::Io {
            file: file.to_path_buf(),
            source: io::Error::other(e),
        })?;
        let root = Descriptor::new(
            media_type::DOCKER_MANIFEST,
            Digester::digest_bytes(Algorithm::Sha256, &manifest).digest,
            manifest.len() as u64,
        );
        let described = match name {
            Some(n) => format!("docker-archive:{}:{n}", file.display()),
            None => format!("docker-archive:{}", file.display()),
        };
        Ok(DockerArchiveSource {
            index,
            file: file.to_path_buf(),
            described,
            root,
            manifest,
            config,
            config_digest,
            layers,
            repo_tags: item.repo_tags.unwrap_or_default(),
        })
    }

    /// The `RepoTags` of the chosen image, as the archive gives them.
    pub fn repo_tags(&self) -> &[String] {
        &self.repo_tags
    }

    /// The synthesized manifest's bytes (what [`Source::root`] describes).
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest
    }
}

enum Sniffed {
    Plain,
    Compressed { digest: Digest, gzip: bool },
}

/// Looks at the first bytes of a layer file; hashes a compressed one whole.
fn sniff(mut reader: impl Read, index: &TarIndex) -> Result<Sniffed, DockerArchiveError> {
    let io_err = |source| {
        DockerArchiveError::Archive(TarIndexError::Io {
            file: index.path().to_path_buf(),
            source,
        })
    };
    let (head, got) = read_head(&mut reader).map_err(io_err)?;
    let (gzip, zstd) = compression_of(&head[..got]);
    if !gzip && !zstd {
        return Ok(Sniffed::Plain);
    }
    let mut digester = Digester::new(Algorithm::Sha256);
    digester.update(&head[..got]);
    io::copy(&mut reader, &mut digester).map_err(io_err)?;
    Ok(Sniffed::Compressed {
        digest: digester.finish().digest,
        gzip,
    })
}

/// Picks the image of `manifest.json` that `name` names.
fn choose(file: &Path, items: &[ItemIn], name: Option<&str>) -> Result<usize, DockerArchiveError> {
    let available = || -> Vec<String> {
        items
            .iter()
            .enumerate()
            .flat_map(|(i, item)| match item.repo_tags.as_deref() {
                Some(tags) if !tags.is_empty() => tags.to_vec(),
                _ => vec![format!("@{i}")],
            })
            .collect()
    };
    let Some(name) = name else {
        return match items.len() {
            1 => Ok(0),
            0 => Err(DockerArchiveError::Invalid {
                file: file.to_path_buf(),
                problem: ArchiveProblem::NoImage,
            }),
            _ => Err(DockerArchiveError::Ambiguous {
                file: file.to_path_buf(),
                available: available(),
            }),
        };
    };
    if let Some(n) = name.strip_prefix('@') {
        let n: usize = n.parse().map_err(|_| DockerArchiveError::BadName {
            name: name.to_owned(),
            problem: NameProblem::NotAnIndex,
        })?;
        return if n < items.len() {
            Ok(n)
        } else {
            Err(DockerArchiveError::NotFound {
                file: file.to_path_buf(),
                name: name.to_owned(),
                available: available(),
            })
        };
    }
    let wanted = normalize_tag(name)?;
    for (i, item) in items.iter().enumerate() {
        for tag in item.repo_tags.as_deref().unwrap_or_default() {
            if normalize_tag(tag).is_ok_and(|t| t == wanted) {
                return Ok(i);
            }
        }
    }
    Err(DockerArchiveError::NotFound {
        file: file.to_path_buf(),
        name: wanted.to_string(),
        available: available(),
    })
}

impl Source for DockerArchiveSource {
    fn describe(&self) -> String {
        self.described.clone()
    }

    fn transport(&self) -> Transport {
        Transport::DockerArchive
    }

    fn location(&self) -> Location {
        Location::Path(self.file.clone())
    }

    fn root(&self) -> &Descriptor {
        &self.root
    }

    fn open(&self, descriptor: &Descriptor) -> Result<BlobReader<'_>, BlobOpenError> {
        let digest = &descriptor.digest;
        let inner: BlobReader<'_> = if *digest == self.root.digest {
            Box::new(Cursor::new(&self.manifest[..]))
        } else if *digest == self.config_digest {
            Box::new(Cursor::new(&self.config[..]))
        } else if let Some(layer) = self.layers.get(digest) {
            if layer.span.size() != descriptor.size {
                return Err(BlobOpenError::damaged(
                    self,
                    digest,
                    Damage::Size {
                        expected: descriptor.size,
                        actual: layer.span.size(),
                    },
                ));
            }
            Box::new(self.index.open_span(layer.span))
        } else {
            return Err(BlobOpenError::missing(self, digest));
        };
        let verified = VerifyingReader::new(inner, digest, descriptor.size)
            .map_err(|e| BlobOpenError::damaged(self, digest, e))?;
        Ok(Box::new(verified))
    }
}
