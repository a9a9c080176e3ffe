//! The bodies of the fuzz targets, as plain functions over bytes, and their seed corpus.
//!
//! cargo-fuzz calls them from `fuzz_targets/*.rs`; `cargo xtask fuzz` includes this file
//! as a module and replays them in-process when cargo-fuzz is not installed. So this file
//! uses only `oci_spec_types` and `serde_json`, which both builds have.
//!
//! A target panics only on a bug: a panic in the library, or a broken invariant checked
//! here (a round trip that does not round-trip, a pointer that is not RFC 6901).

use oci_spec_types::digest::Digest;
use oci_spec_types::document::{self, DocumentType};
use oci_spec_types::media_type::MediaType;
use oci_spec_types::validate::{self, Kind};
use oci_spec_types::{
    AnyManifest, Descriptor, DockerManifest, DockerManifestList, ImageConfig, ImageIndex,
    ImageManifest, OciLayout, Platform,
};

/// A fuzz target body.
pub type Target = fn(&[u8]);

/// The targets whose bodies live here, by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("document_parse", document_parse),
    ("validate", validate),
    ("digest_parse", digest_parse),
];

/// Every target declared in `fuzz/Cargo.toml`, including those written elsewhere.
pub const ALL_TARGET_NAMES: &[&str] = &[
    "document_parse",
    "validate",
    "digest_parse",
    "reference_parse",
    "layer_apply",
    "docker_archive",
    "registries_conf",
    "endpoint_parse",
    "docker_archive_manifest",
    "tar_reader",
    "sign_payload",
    "sign_openpgp",
    "sign_policy",
    "www_authenticate",
    "link_header",
    "auth_json",
];

/// Typed parse of every document type; what parses must serialize, parse again, and
/// serialize to the same bytes.
pub fn document_parse(data: &[u8]) {
    round_trip::<Descriptor>(data);
    round_trip::<Platform>(data);
    round_trip::<ImageManifest>(data);
    round_trip::<ImageIndex>(data);
    round_trip::<ImageConfig>(data);
    round_trip::<OciLayout>(data);
    round_trip::<DockerManifest>(data);
    round_trip::<DockerManifestList>(data);
    let _ = document::probe(data);
    let _ = AnyManifest::parse(data, None);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Platform::parse(s);
    }
}

fn round_trip<T: DocumentType>(data: &[u8]) {
    let Ok(value) = document::from_slice::<T>(data) else {
        return;
    };
    let bytes = document::to_bytes(&value);
    let again = match document::from_slice::<T>(&bytes) {
        Ok(again) => again,
        Err(e) => panic!(
            "{}: serialized form does not parse again: {e}\n{}",
            T::NAME,
            String::from_utf8_lossy(&bytes)
        ),
    };
    assert_eq!(
        document::to_bytes(&again),
        bytes,
        "{}: serialization is not stable",
        T::NAME
    );
}

/// The validator on every kind; its report must be well-formed.
pub fn validate(data: &[u8]) {
    for kind in Kind::ALL {
        let report = validate::validate(kind, data);
        for v in &report.violations {
            assert!(
                v.pointer.is_empty() || v.pointer.starts_with('/'),
                "pointer {:?} is not RFC 6901",
                v.pointer
            );
            assert!(!v.rule.is_empty() && !v.message.is_empty(), "{v:?}");
        }
        assert_eq!(
            report.is_valid(),
            report.errors().next().is_none(),
            "verdict disagrees with the errors"
        );
    }
}

/// Digest parsing (and media type checking) of arbitrary strings; a parsed digest must
/// give back its input and its parts.
pub fn digest_parse(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = Digest::parse(s) {
        assert_eq!(d.as_str(), s);
        assert_eq!(format!("{}:{}", d.algorithm_name(), d.encoded()), s);
        if let Some(algorithm) = d.algorithm() {
            assert_eq!(d.encoded().len(), algorithm.encoded_len(), "{s}");
        }
        assert!(Digest::parse(d.as_str()).is_ok());
    }
    let _ = MediaType::check(s);
}

const SHA: &str = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

/// The seed corpus of a target, generated here rather than committed.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let documents = documents();
    let strings: Vec<String> = vec![
        SHA.to_owned(),
        format!("sha512:{}", "ab".repeat(64)),
        format!("blake3:{}", "0f".repeat(32)),
        "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564".to_owned(),
        "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8".to_owned(),
        "sha256:".to_owned(),
        ":".to_owned(),
        "a.b-c_d+e:=".to_owned(),
        "application/vnd.oci.image.manifest.v1+json".to_owned(),
        "text/plain; charset=utf-8".to_owned(),
    ];
    let listed = |seeds: &[&str]| seeds.iter().map(|s| s.as_bytes().to_vec()).collect();
    match target {
        "digest_parse" => strings.into_iter().map(String::into_bytes).collect(),
        "registries_conf" => listed(REGISTRIES_CONF_SEEDS),
        "endpoint_parse" => listed(ENDPOINT_SEEDS),
        "docker_archive_manifest" => listed(DOCKER_ARCHIVE_MANIFEST_SEEDS),
        "www_authenticate" => listed(WWW_AUTHENTICATE_SEEDS),
        "link_header" => listed(LINK_SEEDS),
        "auth_json" => listed(AUTH_JSON_SEEDS),
        _ => documents.into_iter().map(String::into_bytes).collect(),
    }
}

/// `WWW-Authenticate` values as registries send them, and near misses.
const WWW_AUTHENTICATE_SEEDS: &[&str] = &[
    "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/alpine:pull\"",
    "Basic realm=\"Registry Realm\"",
    "Bearer realm=\"https://ghcr.io/token\",service=\"ghcr.io\",scope=\"repository:a/b:pull repository:c:pull,push\",error=\"insufficient_scope\"",
    "Basic realm=x, Bearer realm=\"y\", Negotiate",
    "Basic dXNlcjpwYXNz",
    "Bearer realm=\"unterminated",
    "Bearer realm=\"a\\\"b\",,, , service=svc",
    "=,=",
];

/// `Link` values of tag and referrers pages, and near misses.
const LINK_SEEDS: &[&str] = &[
    "</v2/app/tags/list?last=b&n=2>; rel=\"next\"",
    "<https://r.example/v2/x/referrers/sha256:00?n=1>; rel=next, <https://x/y>; rel=\"prev last\"",
    "<a>;rel=\"next\";title=\"t;,\\\"\",<b>",
    "<unterminated; rel=next",
    "garbage",
];

/// registries.conf files: v2 with mirrors, aliases and short-name modes; v1; broken.
const REGISTRIES_CONF_SEEDS: &[&str] = &[
    "unqualified-search-registries = [\"docker.io\", \"quay.io\"]\nshort-name-mode = \"enforcing\"\n\n[aliases]\n\"busybox\" = \"docker.io/library/busybox\"\n",
    "[[registry]]\nprefix = \"example.com/ns\"\nlocation = \"mirror.example.com/other\"\ninsecure = true\n\n[[registry.mirror]]\nlocation = \"localhost:5000/m\"\npull-from-mirror = \"digest-only\"\n",
    "[[registry]]\nprefix = \"*.example.com\"\nblocked = true\n",
    "[registries.search]\nregistries = [\"docker.io\"]\n[registries.insecure]\nregistries = [\"localhost:5000\"]\n",
    "[[registry]]\nlocation = \"\"\n",
    "unqualified-search-registries = 1",
];

/// Endpoint strings of every transport, and near misses.
const ENDPOINT_SEEDS: &[&str] = &[
    "oci:/tmp/layout:v1",
    "oci:dir@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "oci-archive:/tmp/a.tar:latest",
    "docker-archive:/tmp/d.tar:busybox:latest",
    "docker-archive:/tmp/d.tar:@1",
    "discover:example.com/app#v1",
    "layout:tag",
    "oci:",
    "docker://example.com/x",
    ":::",
];

/// auth.json, config.json and .dockercfg files: entries by host, namespace and URL,
/// helpers, identity tokens, and broken ones.
const AUTH_JSON_SEEDS: &[&str] = &[
    r#"{"auths":{"quay.io":{"auth":"YW5uOnNlY3JldA=="},"quay.io/ns":{"auth":"Ym9iOnB3"}}}"#,
    r#"{"auths":{"https://index.docker.io/v1/":{"auth":"YTpi","email":"x@y"}},"credsStore":"desktop"}"#,
    r#"{"auths":{"localhost:5000":{}},"credHelpers":{"localhost:5000":"pass"},"psFormat":"x"}"#,
    r#"{"auths":{"r.example":{"auth":"","identitytoken":"refresh"}}}"#,
    r#"{"https://index.docker.io/v1/":{"auth":"YTpi","email":"x@y"}}"#,
    r#"{"auths":{"q.io":{"auth":"bm9jb2xvbg=="}}}"#,
    r#"{"auths":{"q.io":{"auth":5}}}"#,
    r#"{"auths":null,"credHelpers":null}"#,
    r#"[]"#,
];

/// docker-archive `manifest.json` documents: one image, several, odd shapes.
const DOCKER_ARCHIVE_MANIFEST_SEEDS: &[&str] = &[
    r#"[{"Config":"config.json","RepoTags":["busybox:latest"],"Layers":["config.json"]}]"#,
    r#"[{"Config":"config.json","RepoTags":null,"Layers":[]},{"Config":"x.json","RepoTags":["a:b"],"Layers":["../l"]}]"#,
    r#"[{"Config":"config.json","RepoTags":["busybox:latest"],"Layers":["l.tar"],"LayerSources":{"sha256:00":{"mediaType":"x","size":1,"digest":"sha256:00"}}}]"#,
    r#"[]"#,
    r#"{}"#,
];

fn documents() -> Vec<String> {
    let layer = format!(
        r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{SHA}","size":32654,"urls":["https://example.org/l"],"annotations":{{"org.opencontainers.image.created":"2024-01-01T00:00:00Z"}}}}"#
    );
    let empty = r#"{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"data":"e30="}"#;
    let platform = r#"{"architecture":"arm64","os":"linux","variant":"v8","os.version":"6.1","os.features":["x"]}"#;
    vec![
        layer.clone(),
        empty.to_owned(),
        platform.to_owned(),
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{SHA}","size":7023}},"layers":[{layer},{layer}],"subject":{empty},"annotations":{{"com.example.key":"value"}}}}"#
        ),
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example+type","config":{empty},"layers":[]}}"#
        ),
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{SHA}","size":7143,"platform":{platform}}}],"annotations":{{"org.opencontainers.image.ref.name":"v1"}}}}"#
        ),
        format!(
            r#"{{"created":"2015-10-31T22:22:56.015925234Z","author":"a","architecture":"amd64","os":"linux","config":{{"User":"alice","ExposedPorts":{{"8080/tcp":{{}}}},"Env":["PATH=/bin","FOO"],"Entrypoint":["/bin/sh"],"Cmd":null,"Volumes":{{"/data":{{}}}},"WorkingDir":"/","Labels":{{"a.b":"c"}},"StopSignal":"SIGTERM","ArgsEscaped":true}},"rootfs":{{"type":"layers","diff_ids":["{SHA}"]}},"history":[{{"created":"2015-10-31T22:22:54Z","created_by":"x","empty_layer":true}}]}}"#
        ),
        r#"{"imageLayoutVersion":"1.0.0"}"#.to_owned(),
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":1,"digest":"{SHA}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":1,"digest":"{SHA}"}}]}}"#
        ),
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":1,"digest":"{SHA}","platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
        ),
        r#"{"a":1,"a":[1.5,-0,1e308,18446744073709551616,"\ud83d\ude00"],"b":{"c":null}}"#
            .to_owned(),
    ]
}

/// A small deterministic generator (xorshift64*), for the in-process replay.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Tokens that JSON parsers and the validator care about.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"\"",
    b"\\u",
    b"\\ud800",
    b"null",
    b"true",
    b"-1",
    b"0",
    b"1.0",
    b"1e400",
    b"9223372036854775808",
    b"9007199254740993",
    b"\xff",
    b"\xc3",
    b"\"mediaType\"",
    b"\"digest\"",
    b"\"size\"",
    b"\"data\"",
    b"\"urls\"",
    b"\"annotations\"",
    b"\"platform\"",
    b"\"sha256:",
    b"\"sha512:",
    b"\"blake3:",
    b"e30=",
    b"org.opencontainers.image.",
    b"\"application/vnd.oci.empty.v1+json\"",
    b"%",
    b"T",
    b"Z",
    b"+",
    b"/",
    b"~",
];

/// One mutation of `input`: flips, insertions, deletions, token splices, duplications.
pub fn mutate(rng: &mut Rng, input: &[u8], pool: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = if out.is_empty() {
            0
        } else {
            rng.below(out.len() + 1)
        };
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let byte = (rng.next_u64() & 0xff) as u8;
                out.insert(at, byte);
            }
            2 if !out.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                let start = at.min(end);
                out.drain(start..end);
            }
            3 | 4 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.iter().copied());
            }
            5 if !pool.is_empty() => {
                let other = &pool[rng.below(pool.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = (a + rng.below(64)).min(other.len());
                    out.splice(at..at, other[a..b].iter().copied());
                }
            }
            _ if !out.is_empty() => {
                let a = rng.below(out.len());
                let b = (a + rng.below(32)).min(out.len());
                let chunk = out[a..b].to_vec();
                out.splice(at..at, chunk);
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_run_clean() {
        for (name, target) in TARGETS {
            for seed in seeds(name) {
                target(&seed);
            }
        }
    }
}
