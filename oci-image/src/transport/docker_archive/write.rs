//! Writing a docker-archive: [`write_docker_archive`] (byte for byte what skopeo writes)
//! and [`DockerArchiveDestination`].

use super::*;

/// What [`write_docker_archive`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerArchiveWritten {
    /// The config's digest.
    pub config: Digest,
    /// The number of layers of the image (a layer repeated counts each time).
    pub layers: usize,
    /// The size of the archive written.
    pub bytes: u64,
}

/// Writes the image `manifest` (an OCI or Docker image manifest, read through `source`)
/// as a docker-archive at `file` (refused when `file` exists and is not empty, as skopeo
/// does; written to a temp file and renamed). Layers are stored uncompressed, named by
/// diffID, each diffID verified against the config. The bytes are those skopeo writes
/// for the same image and tags (`repo_tags` are normalized as docker does).
pub fn write_docker_archive(
    source: &dyn Source,
    manifest: &Descriptor,
    repo_tags: &[String],
    file: &Path,
    scratch: &Path,
) -> Result<DockerArchiveWritten, DockerArchiveError> {
    let io_err = |file: &Path| {
        let file = file.to_path_buf();
        move |source| DockerArchiveError::Io {
            file: file.clone(),
            source,
        }
    };
    match fs::metadata(file) {
        Ok(m) if m.len() > 0 => {
            return Err(DockerArchiveError::Exists {
                file: file.to_path_buf(),
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(file)(e)),
    }
    let mut tags: Vec<NormalTag> = Vec::new();
    for tag in repo_tags {
        let tag = normalize_tag(tag)?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }

    let manifest_err = |problem: ManifestProblem| DockerArchiveError::Manifest {
        digest: manifest.digest.clone(),
        problem,
    };
    let bytes = source.read_small(manifest, MAX_DOCUMENT_SIZE)?;
    let parsed = AnyManifest::parse(&bytes, Some(manifest.media_type.as_str()))
        .map_err(|e| manifest_err(ManifestProblem::Parse(e)))?;
    let (Some(config), Some(layers)) = (parsed.config(), parsed.layers()) else {
        return Err(manifest_err(ManifestProblem::Index));
    };
    let config_bytes = source.read_small(config, MAX_DOCUMENT_SIZE)?;
    let diff_ids = serde_json::from_slice::<ConfigRootFs>(&config_bytes)
        .ok()
        .and_then(|c| c.rootfs)
        .map(|r| r.diff_ids)
        .ok_or_else(|| {
            manifest_err(ManifestProblem::NoDiffIds {
                config: config.digest.clone(),
            })
        })?;
    if diff_ids.len() != layers.len() {
        return Err(manifest_err(ManifestProblem::LayerCount {
            config: config.digest.clone(),
            layers: layers.len(),
            diff_ids: diff_ids.len(),
        }));
    }
    let members = top_level_members(&config_bytes).ok_or_else(|| {
        manifest_err(ManifestProblem::ConfigNotObject {
            config: config.digest.clone(),
        })
    })?;

    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let base = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{base}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    let temp_path = temp.path().to_path_buf();
    let mut out = GoTar::new(BufWriter::with_capacity(BUFFER, temp.as_file()));
    let werr = io_err(&temp_path);

    // The layers, each once, in order.
    let mut written = BTreeSet::new();
    for (layer, diff_id) in layers.iter().zip(&diff_ids) {
        if written.insert(diff_id.clone()) {
            write_layer(source, layer, diff_id, scratch, &mut out, &temp_path)?;
        }
    }
    out.bytes(&format!("{}.json", config.digest.encoded()), &config_bytes)
        .map_err(&werr)?;

    // The legacy (docker load of Docker < 1.10) layout: one directory per layer, as
    // containers/image computes it.
    let mut chain: Option<Digest> = None;
    let mut last_id: Option<String> = None;
    let mut legacy_done = BTreeSet::new();
    for (i, diff_id) in diff_ids.iter().enumerate() {
        let mut fields: BTreeMap<&str, String> = BTreeMap::new();
        if let Some(parent) = &last_id {
            fields.insert("parent", json_string(parent));
        }
        if i + 1 == diff_ids.len() {
            for attr in [
                "architecture",
                "config",
                "container",
                "container_config",
                "created",
                "docker_version",
                "os",
            ] {
                let value = members
                    .iter()
                    .rev()
                    .find(|(k, _)| k == attr)
                    .map_or_else(|| "null".to_owned(), |(_, v)| go_compact(v));
                fields.insert(attr, value);
            }
        }
        let chain_id = match chain {
            None => diff_id.clone(),
            Some(c) => sha256(format!("{c} {diff_id}").as_bytes()),
        };
        fields.insert("layer_id", json_string(chain_id.as_str()));
        let id = sha256(json_object(&fields).as_bytes()).encoded().to_owned();
        fields.remove("layer_id");
        fields.insert("id", json_string(&id));
        if legacy_done.insert(id.clone()) {
            out.symlink(
                &format!("{id}/layer.tar"),
                &format!("../{}.tar", diff_id.encoded()),
            )
            .map_err(&werr)?;
            out.bytes(&format!("{id}/VERSION"), b"1.0").map_err(&werr)?;
            out.bytes(&format!("{id}/json"), json_object(&fields).as_bytes())
                .map_err(&werr)?;
        }
        chain = Some(chain_id);
        last_id = Some(id);
    }

    let tag_strings: Vec<String> = tags.iter().map(ToString::to_string).collect();
    let items = [ItemOut {
        config: format!("{}.json", config.digest.encoded()),
        repo_tags: &tag_strings,
        layers: diff_ids
            .iter()
            .map(|d| format!("{}.tar", d.encoded()))
            .collect(),
    }];
    let manifest_json = serde_json::to_vec(&items).map_err(|e| werr(io::Error::other(e)))?;
    out.bytes(MANIFEST_JSON, &manifest_json).map_err(&werr)?;
    let mut repositories: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    if let Some(last) = &last_id {
        for tag in &tags {
            repositories
                .entry(&tag.name)
                .or_default()
                .insert(&tag.tag, last);
        }
    }
    let repositories = serde_json::to_vec(&repositories).map_err(|e| werr(io::Error::other(e)))?;
    out.bytes(REPOSITORIES, &repositories).map_err(&werr)?;
    let bytes = out.finish().map_err(&werr)?;
    temp.as_file().sync_all().map_err(&werr)?;
    temp.persist(file).map_err(|e| DockerArchiveError::Io {
        file: file.to_path_buf(),
        source: e.error,
    })?;
    Ok(DockerArchiveWritten {
        config: config.digest.clone(),
        layers: layers.len(),
        bytes,
    })
}

fn sha256(bytes: &[u8]) -> Digest {
    Digester::digest_bytes(Algorithm::Sha256, bytes).digest
}

/// A JSON string as Go's encoder writes it (with `<`, `>`, `&` escaped).
fn json_string(s: &str) -> String {
    let plain = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    go_compact(plain.as_bytes())
}

/// `{"k":v,...}` from already-encoded values, keys in order (Go sorts map keys).
fn json_object(fields: &BTreeMap<&str, String>) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json_string(k));
        out.push(':');
        out.push_str(v);
    }
    out.push('}');
    out
}

/// Go's `json.Compact` with HTML escaping, as `json.Marshal` applies it to a
/// `json.RawMessage`: insignificant whitespace dropped, `<` `>` `&` U+2028 U+2029 escaped.
/// `raw` must be valid JSON.
fn go_compact(raw: &[u8]) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
        } else if c == b'"' {
            in_string = true;
        } else if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
            continue;
        }
        match c {
            b'<' | b'>' | b'&' => {
                out.extend_from_slice(format!("\\u00{c:02x}").as_bytes());
            }
            0xe2 if raw.get(i + 1) == Some(&0x80)
                && matches!(raw.get(i + 2), Some(0xa8 | 0xa9)) =>
            {
                let last = if raw[i + 2] == 0xa8 { '8' } else { '9' };
                out.extend_from_slice(format!("\\u202{last}").as_bytes());
                i += 3;
                continue;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The top-level members of a JSON object, each value as its raw bytes, in document
/// order; None when `bytes` is not a valid JSON object.
fn top_level_members(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    // Validate first: the scanner below trusts the syntax.
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if !value.is_object() {
        return None;
    }
    let mut members = Vec::new();
    let skip_ws = |mut i: usize| {
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        i
    };
    // The end (exclusive) of the string starting at `i` (a quote).
    let string_end = |mut i: usize| {
        i += 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => return i + 1,
                _ => i += 1,
            }
        }
        i
    };
    let mut i = skip_ws(0) + 1; // past '{'
    loop {
        i = skip_ws(i);
        if i >= bytes.len() || bytes[i] == b'}' {
            break;
        }
        if bytes[i] == b',' {
            i += 1;
            continue;
        }
        let key_end = string_end(i);
        let key: String = serde_json::from_slice(&bytes[i..key_end]).ok()?;
        i = skip_ws(key_end) + 1; // past ':'
        i = skip_ws(i);
        let start = i;
        match bytes.get(i)? {
            b'"' => i = string_end(i),
            b'{' | b'[' => {
                let mut depth = 0usize;
                while i < bytes.len() {
                    match bytes[i] {
                        b'"' => {
                            i = string_end(i);
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            _ => {
                while i < bytes.len()
                    && !matches!(bytes[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                {
                    i += 1;
                }
            }
        }
        members.push((key, bytes[start..i.min(bytes.len())].to_vec()));
    }
    Some(members)
}

/// Writes one layer, uncompressed, verifying its digest and its diffID.
fn write_layer(
    source: &dyn Source,
    layer: &Descriptor,
    diff_id: &Digest,
    scratch: &Path,
    out: &mut GoTar<BufWriter<&File>>,
    out_path: &Path,
) -> Result<(), DockerArchiveError> {
    let Some(algorithm) = diff_id.algorithm() else {
        return Err(DockerArchiveError::DiffIdMismatch {
            digest: layer.digest.clone(),
            expected: diff_id.clone(),
            actual: layer.digest.clone(),
        });
    };
    let name = format!("{}.tar", diff_id.encoded());
    let mut reader = source.open(layer)?;
    let read_err = |e: io::Error| DockerArchiveError::Blob(read_error(source, layer, &e));
    let (head, got) = read_head(&mut reader).map_err(read_err)?;
    let (gzip, zstd) = compression_of(&head[..got]);
    let mut chained = Cursor::new(&head[..got]).chain(reader);
    let mut digester = Digester::new(algorithm);
    let werr = |e| DockerArchiveError::Io {
        file: out_path.to_path_buf(),
        source: e,
    };
    // A plain layer stored under its diffID is verified by the source's reader already.
    let verified_by_reader = !gzip && !zstd && layer.digest == *diff_id;
    if !gzip && !zstd {
        // Stored as is: the size is the blob's.
        out.header(&name, layer.size, None).map_err(werr)?;
        let mut buf = vec![0u8; BUFFER];
        loop {
            let n = match chained.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_err(e)),
            };
            if !verified_by_reader {
                digester.update(&buf[..n]);
            }
            out.data(&buf[..n]).map_err(werr)?;
        }
        out.end_entry(layer.size).map_err(werr)?;
    } else {
        let mut temp = tempfile::tempfile_in(scratch).map_err(|e| DockerArchiveError::Io {
            file: scratch.to_path_buf(),
            source: e,
        })?;
        let terr = |e| DockerArchiveError::Io {
            file: scratch.to_path_buf(),
            source: e,
        };
        let decode_err = |e: io::Error| {
            if VerifyError::from_io(&e).is_some() {
                read_err(e)
            } else {
                DockerArchiveError::Decompress {
                    digest: layer.digest.clone(),
                    source: e,
                }
            }
        };
        let buffered = io::BufReader::with_capacity(BUFFER, chained);
        let mut rest = if gzip {
            let mut decoder = flate2::read::MultiGzDecoder::new(buffered);
            pump(&mut decoder, &mut digester, &mut temp)
                .map_err(|e| e.into_error(decode_err, terr))?;
            decoder.into_inner()
        } else {
            let mut decoder =
                zstd::stream::read::Decoder::with_buffer(buffered).map_err(decode_err)?;
            pump(&mut decoder, &mut digester, &mut temp)
                .map_err(|e| e.into_error(decode_err, terr))?;
            decoder.finish()
        };
        // Read the blob to its end, so that its digest is verified.
        io::copy(&mut rest, &mut io::sink()).map_err(read_err)?;
        let size = temp.stream_position().map_err(terr)?;
        temp.rewind().map_err(terr)?;
        out.header(&name, size, None).map_err(werr)?;
        out.copy_file(&mut temp, size).map_err(werr)?;
        out.end_entry(size).map_err(werr)?;
    }
    if verified_by_reader {
        return Ok(());
    }
    let actual = digester.finish().digest;
    if actual != *diff_id {
        return Err(DockerArchiveError::DiffIdMismatch {
            digest: layer.digest.clone(),
            expected: diff_id.clone(),
            actual,
        });
    }
    Ok(())
}

enum PumpError {
    Read(io::Error),
    Write(io::Error),
}

impl PumpError {
    fn into_error(
        self,
        read: impl FnOnce(io::Error) -> DockerArchiveError,
        write: impl FnOnce(io::Error) -> DockerArchiveError,
    ) -> DockerArchiveError {
        match self {
            PumpError::Read(e) => read(e),
            PumpError::Write(e) => write(e),
        }
    }
}

/// Copies `from` into `to`, hashing what passes: `from` is read (decompressed) in this
/// thread while another hashes and writes, through a few recycled buffers.
fn pump(from: &mut impl Read, digester: &mut Digester, to: &mut File) -> Result<(), PumpError> {
    const BUFFERS: usize = 4;
    let (full_tx, full_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(BUFFERS);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
    for _ in 0..BUFFERS {
        let _ = empty_tx.send(vec![0u8; BUFFER]);
    }
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> io::Result<()> {
            for (buf, n) in full_rx {
                digester.update(&buf[..n]);
                to.write_all(&buf[..n])?;
                // The reader may be gone (it failed): nothing to recycle for.
                let _ = empty_tx.send(buf);
            }
            Ok(())
        });
        let read_result = 'outer: loop {
            // No buffer coming back: the writer stopped (and says why below).
            let Ok(mut buf) = empty_rx.recv() else {
                break Ok(());
            };
            let n = loop {
                match from.read(&mut buf) {
                    Ok(0) => break 'outer Ok(()),
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break 'outer Err(e),
                }
            };
            if full_tx.send((buf, n)).is_err() {
                break Ok(());
            }
        };
        drop(full_tx);
        let write_result = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the hashing thread panicked")));
        match (read_result, write_result) {
            (Err(e), _) => Err(PumpError::Read(e)),
            (Ok(()), Err(e)) => Err(PumpError::Write(e)),
            (Ok(()), Ok(())) => Ok(()),
        }
    })
}

/// A tar writer producing the bytes of Go's `archive/tar` for the headers containers/image
/// writes: USTAR, mode 0444 (symlinks 0), uid/gid 0, no user names, mtime 0; PAX records
/// only for what USTAR cannot hold.
struct GoTar<W: Write> {
    out: W,
    written: u64,
}

impl<W: Write> GoTar<W> {
    fn new(out: W) -> Self {
        GoTar { out, written: 0 }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Writes the header of an entry (its data follows by [`Self::data`] then
    /// [`Self::end_entry`]), with `oci_layer`'s header writer in Go's style.
    fn header(&mut self, name: &str, size: u64, symlink_target: Option<&str>) -> io::Result<()> {
        let mut blocks = Vec::with_capacity(3 * 512);
        oci_layer::tar::Header {
            path: name.as_bytes(),
            typeflag: if symlink_target.is_some() {
                oci_layer::tar::typeflag::SYMLINK
            } else {
                oci_layer::tar::typeflag::FILE
            },
            mode: if symlink_target.is_some() { 0 } else { 0o444 },
            uid: 0,
            gid: 0,
            size,
            mtime: 0,
            linkname: symlink_target.unwrap_or_default().as_bytes(),
            devmajor: 0,
            devminor: 0,
            xattrs: &[],
            style: oci_layer::tar::HeaderStyle::Go,
        }
        .encode(&mut blocks);
        self.write(&blocks)
    }

    fn data(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write(bytes)
    }

    fn end_entry(&mut self, size: u64) -> io::Result<()> {
        self.pad(size)
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % 512) as usize;
        if rem != 0 {
            self.write(&[0u8; 512][..512 - rem])?;
        }
        Ok(())
    }

    fn bytes(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        self.header(name, data.len() as u64, None)?;
        self.write(data)?;
        self.pad(data.len() as u64)
    }

    fn symlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        self.header(name, 0, Some(target))
    }

    /// Writes the end-of-archive blocks and flushes; returns the archive's size.
    fn finish(mut self) -> io::Result<u64> {
        self.write(&[0u8; 1024])?;
        self.out.flush()?;
        Ok(self.written)
    }
}

impl GoTar<BufWriter<&File>> {
    /// Copies `size` bytes of `from` (from its current position) as entry data, by the
    /// kernel (`copy_file_range`) where it can.
    fn copy_file(&mut self, from: &mut File, size: u64) -> io::Result<()> {
        self.out.flush()?;
        let mut to: &File = self.out.get_ref();
        let copied = io::copy(&mut from.take(size), &mut to)?;
        self.written += copied;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("a temp file of {size} bytes gave {copied}"),
            ));
        }
        Ok(())
    }
}

/// `docker-archive:FILE[:NAME:TAG]` as a destination: one image. Blobs are gathered,
/// verified, in a temp layout beside FILE; [`commit`](Destination::commit) writes the
/// archive from it ([`write_docker_archive`]: a temp file renamed into place). FILE must
/// not exist or be empty, as skopeo requires.
#[derive(Debug)]
pub struct DockerArchiveDestination {
    file: PathBuf,
    repo_tags: Vec<String>,
    layout: Layout,
    scratch: tempfile::TempDir,
}

impl DockerArchiveDestination {
    /// Checks that `file` is absent or empty and makes the temp layout beside it;
    /// `repo_tags` (normalized as docker does) go into the archive's `RepoTags`.
    pub fn open(
        file: &Path,
        repo_tags: Vec<String>,
    ) -> Result<DockerArchiveDestination, DestinationError> {
        match fs::metadata(file) {
            Ok(m) if m.len() > 0 => {
                return Err(DockerArchiveError::Exists {
                    file: file.to_path_buf(),
                }
                .into());
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(DestinationError::Io {
                    action: "read",
                    path: file.to_path_buf(),
                    source,
                });
            }
        }
        for tag in &repo_tags {
            normalize_tag(tag)?;
        }
        let scratch = scratch_beside(file)?;
        let layout = Layout::init(scratch.path().join("layout"))?;
        Ok(DockerArchiveDestination {
            file: file.to_path_buf(),
            repo_tags,
            layout,
            scratch,
        })
    }
}

impl Destination for DockerArchiveDestination {
    fn describe(&self) -> String {
        let tag = self.repo_tags.first().map(String::as_str);
        describe_destination(Transport::DockerArchive, &self.file, tag)
    }

    fn transport(&self) -> Transport {
        Transport::DockerArchive
    }

    fn location(&self) -> Location {
        Location::Path(self.file.clone())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            indexes: false,
            zstd: false,
            own_format: true,
        }
    }

    fn staging(&self) -> Option<&Layout> {
        Some(&self.layout)
    }

    fn commit(self: Box<Self>, root: &Descriptor) -> Result<Descriptor, DestinationError> {
        let source = LayoutSource::new(self.layout.clone(), root.clone());
        let written = write_docker_archive(
            &source,
            root,
            &self.repo_tags,
            &self.file,
            self.scratch.path(),
        )?;
        let size = source
            .read_small(root, MAX_DOCUMENT_SIZE)
            .ok()
            .and_then(|bytes| {
                let parsed = AnyManifest::parse(&bytes, Some(root.media_type.as_str())).ok()?;
                parsed.config().map(|c| c.size)
            })
            .unwrap_or(0);
        Ok(Descriptor::new(
            media_type::DOCKER_CONFIG,
            written.config,
            size,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_compact_escapes_like_go() {
        assert_eq!(
            go_compact(b"{ \"a\" : [1, 2],\n \"b\": \"x <y> & \xe2\x80\xa8 \\\" z\" }"),
            "{\"a\":[1,2],\"b\":\"x \\u003cy\\u003e \\u0026 \\u2028 \\\" z\"}"
        );
    }

    #[test]
    fn top_level_members_keep_raw_values() {
        let m = top_level_members(
            br#" { "a" : { "x" : [1, "}"] } , "b":null, "c" : "s\"}" , "d": 1.50 } "#,
        )
        .expect("object");
        let m: Vec<(String, String)> = m
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v).expect("utf8")))
            .collect();
        assert_eq!(
            m,
            [
                ("a".to_owned(), r#"{ "x" : [1, "}"] }"#.to_owned()),
                ("b".to_owned(), "null".to_owned()),
                ("c".to_owned(), r#""s\"}""#.to_owned()),
                ("d".to_owned(), "1.50".to_owned()),
            ]
        );
        assert!(top_level_members(b"[1]").is_none());
        assert!(top_level_members(b"{").is_none());
    }

    #[test]
    fn long_names_read_back() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/unit-docker-archive");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("mkdir");
        let split = format!("{}/layer.tar", "a".repeat(128));
        let pax = format!("{}.tar", "b".repeat(128));
        let link = format!("{}/link", "c".repeat(40));
        let target = format!("../{pax}");
        let mut bytes = Vec::new();
        {
            let mut out = GoTar::new(&mut bytes);
            out.bytes(&pax, b"pax named").expect("pax");
            out.bytes(&split, b"split").expect("split");
            out.symlink(&link, &target).expect("link");
            out.finish().expect("finish");
        }
        let file = dir.join("long.tar");
        fs::write(&file, &bytes).expect("write");
        let index = TarIndex::open(&file, &dir).expect("index");
        assert_eq!(
            index.read_entry(&pax, 100).expect("read"),
            Some(b"pax named".to_vec())
        );
        assert_eq!(
            index.read_entry(&split, 100).expect("read"),
            Some(b"split".to_vec())
        );
        assert_eq!(
            index.read_entry(&link, 100).expect("read"),
            Some(b"pax named".to_vec())
        );
        // The tar crate reads the same names.
        let mut archive = tar::Archive::new(&bytes[..]);
        let names: Vec<String> = archive
            .entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(names, [pax, split, link]);
    }

    #[test]
    fn names_normalize_as_docker_does() {
        let n = normalize_tag("busybox").expect("busybox");
        assert_eq!(n.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(
            normalize_tag("docker.io/library/busybox:latest").expect("full"),
            n
        );
        assert!(
            normalize_tag(
                "busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000"
            )
            .is_err()
        );
        assert!(normalize_tag("Not Valid").is_err());
    }
}
