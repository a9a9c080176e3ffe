//! The collector of violations and the checks shared by every kind: JSON-wide rules,
//! descriptors, platforms and annotations.

use super::formats;
use super::{Level, Violation};
use crate::digest::Digest;
use crate::json::{Node, NumClass, quote};
use crate::media_type::{self, MediaType};

/// Collects violations.
#[derive(Debug, Default)]
pub(super) struct Cx {
    out: Vec<Violation>,
}

impl Cx {
    pub(super) fn error(&mut self, pointer: &str, rule: &'static str, message: impl Into<String>) {
        self.push(pointer, rule, Level::Error, message.into());
    }

    pub(super) fn warn(&mut self, pointer: &str, rule: &'static str, message: impl Into<String>) {
        self.push(pointer, rule, Level::Warning, message.into());
    }

    fn push(&mut self, pointer: &str, rule: &'static str, level: Level, message: String) {
        self.out.push(Violation {
            pointer: pointer.to_owned(),
            rule,
            level,
            message,
        });
    }

    pub(super) fn into_violations(self) -> Vec<Violation> {
        self.out
    }
}

/// The pointer of member `key` under `parent` (RFC 6901 escaping of `~` and `/`).
pub(super) fn child(parent: &str, key: &str) -> String {
    let mut s = String::with_capacity(parent.len() + key.len() + 1);
    s.push_str(parent);
    s.push('/');
    for c in key.chars() {
        match c {
            '~' => s.push_str("~0"),
            '/' => s.push_str("~1"),
            c => s.push(c),
        }
    }
    s
}

/// The pointer of item `i` under `parent`.
pub(super) fn item(parent: &str, i: usize) -> String {
    format!("{parent}/{i}")
}

/// Counts member names of one object, in linear time (hostile objects have many members).
#[derive(Debug, Default)]
struct Occurrences<'a>(std::collections::HashMap<&'a str, usize>);

impl<'a> Occurrences<'a> {
    /// How many times `key` was seen before; records this occurrence.
    fn count(&mut self, key: &'a str) -> usize {
        let n = self.0.entry(key).or_insert(0);
        *n += 1;
        *n - 1
    }
}

/// One step of a path into the tree, rendered into a pointer only when a violation needs
/// it (so deep documents with long keys cost no more than their size).
#[derive(Debug, Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn render(path: &[Step<'_>]) -> String {
    let mut s = String::new();
    for step in path {
        s = match step {
            Step::Key(k) => child(&s, k),
            Step::Index(i) => item(&s, *i),
        };
    }
    s
}

/// Rules that hold anywhere in the tree: duplicate member names (J2; A3 inside annotation
/// maps, reported by [`annotations`]) and numbers beyond double precision (J3).
pub(super) fn json_wide(cx: &mut Cx, node: &Node) {
    walk(cx, node, &mut Vec::new(), false);
}

fn walk<'a>(cx: &mut Cx, node: &'a Node, path: &mut Vec<Step<'a>>, annotation_map: bool) {
    match node {
        Node::Number(n) if n.beyond_double_precision() => cx.warn(
            &render(path),
            "J3",
            format!(
                "number {n} is beyond the exact integer range (2^53) or the range of IEEE 754 doubles"
            ),
        ),
        Node::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(Step::Index(i));
                walk(cx, v, path, false);
                path.pop();
            }
        }
        Node::Object(members) => {
            let mut seen = Occurrences::default();
            for (k, v) in members {
                path.push(Step::Key(k));
                let before = seen.count(k);
                if !annotation_map && before > 0 {
                    cx.error(
                        &render(path),
                        "J2",
                        format!("duplicate member name {} (occurrence {})", quote(k), before + 1),
                    );
                }
                walk(cx, v, path, k == "annotations" || k == "Labels");
                path.pop();
            }
        }
        _ => {}
    }
}

/// Requires an object, reporting `rule` otherwise. Returns whether it is one.
pub(super) fn expect_object(
    cx: &mut Cx,
    node: &Node,
    ptr: &str,
    rule: &'static str,
    what: &str,
) -> bool {
    if matches!(node, Node::Object(_)) {
        true
    } else {
        cx.error(
            ptr,
            rule,
            format!("{what} must be an object, found {}", node.describe()),
        );
        false
    }
}

/// A member that must be a string when present; `nullable` allows `null` (C4).
pub(super) fn opt_string<'a>(
    cx: &mut Cx,
    obj: &'a Node,
    ptr: &str,
    key: &str,
    rule: &'static str,
    nullable: bool,
) -> Option<&'a str> {
    match obj.get(key)? {
        Node::String(s) => Some(s),
        Node::Null if nullable => None,
        other => {
            cx.error(
                &child(ptr, key),
                rule,
                format!("{key} must be a string, found {}", other.describe()),
            );
            None
        }
    }
}

/// A member that must be an array of strings when present. Returns the strings with
/// their pointers.
pub(super) fn opt_string_array<'a>(
    cx: &mut Cx,
    obj: &'a Node,
    ptr: &str,
    key: &str,
    rule: &'static str,
    nullable: bool,
) -> Vec<(String, &'a str)> {
    let p = child(ptr, key);
    let mut out = Vec::new();
    match obj.get(key) {
        None => {}
        Some(Node::Null) if nullable => {}
        Some(Node::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                let ip = item(&p, i);
                match v {
                    Node::String(s) => out.push((ip, s.as_str())),
                    other => cx.error(
                        &ip,
                        rule,
                        format!("{key} entries must be strings, found {}", other.describe()),
                    ),
                }
            }
        }
        Some(other) => cx.error(
            &p,
            rule,
            format!(
                "{key} must be an array of strings, found {}",
                other.describe()
            ),
        ),
    }
    out
}

/// Where a descriptor sits, which decides the rule ids of its faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// A standalone descriptor document.
    Standalone,
    /// `config` of a manifest (M7, M12).
    Config,
    /// An entry of `layers` (M13, M22).
    Layer,
    /// `subject` of a manifest or index (M23, I19).
    Subject { in_index: bool },
    /// An entry of `manifests` in an index (I7).
    IndexEntry,
}

impl Role {
    fn shape_rule(self) -> &'static str {
        match self {
            Role::Standalone => "D3",
            Role::Config => "M7",
            Role::Layer => "M13",
            Role::Subject { in_index: false } => "M23",
            Role::Subject { in_index: true } => "I19",
            Role::IndexEntry => "I7",
        }
    }

    fn media_type_rule(self) -> &'static str {
        match self {
            Role::Config => "M12",
            Role::Layer => "M22",
            _ => "D4",
        }
    }
}

/// Checks one descriptor. Returns its media type when it is a well-formed one.
pub(super) fn descriptor<'a>(
    cx: &mut Cx,
    node: &'a Node,
    ptr: &str,
    role: Role,
) -> Option<&'a str> {
    if !expect_object(cx, node, ptr, role.shape_rule(), "a descriptor") {
        return None;
    }
    let media_type = match node.get("mediaType") {
        None => {
            cx.error(&child(ptr, "mediaType"), "D3", "mediaType is missing");
            None
        }
        Some(Node::String(s)) => {
            media_type_value(cx, &child(ptr, "mediaType"), role.media_type_rule(), s)
                .then_some(s.as_str())
        }
        Some(other) => {
            cx.error(
                &child(ptr, "mediaType"),
                "D3",
                format!("mediaType must be a string, found {}", other.describe()),
            );
            None
        }
    };
    let digest = match node.get("digest") {
        None => {
            cx.error(&child(ptr, "digest"), "D5", "digest is missing");
            None
        }
        Some(Node::String(s)) => digest_value(cx, &child(ptr, "digest"), s),
        Some(other) => {
            cx.error(
                &child(ptr, "digest"),
                "D5",
                format!("digest must be a string, found {}", other.describe()),
            );
            None
        }
    };
    let size = size_value(cx, node.get("size"), &child(ptr, "size"));
    urls(cx, node, ptr);
    if let Some(a) = node.get("annotations") {
        annotations(cx, a, &child(ptr, "annotations"), "A1", false);
    }
    match node.get("artifactType") {
        None => {}
        Some(Node::String(s)) => {
            media_type_value(cx, &child(ptr, "artifactType"), "D16", s);
        }
        Some(other) => cx.error(
            &child(ptr, "artifactType"),
            "D16",
            format!("artifactType must be a string, found {}", other.describe()),
        ),
    }
    match node.get("data") {
        None => {}
        Some(Node::String(s)) => {
            formats::data(cx, &child(ptr, "data"), s, digest.as_ref(), size);
        }
        Some(other) => cx.error(
            &child(ptr, "data"),
            "D13",
            format!("data must be a base64 string, found {}", other.describe()),
        ),
    }
    match node.get("platform") {
        Some(p) => platform(cx, p, &child(ptr, "platform")),
        None => {
            let points_at_manifest = media_type == Some(media_type::IMAGE_MANIFEST);
            if points_at_manifest && matches!(role, Role::Standalone | Role::IndexEntry) {
                cx.warn(
                    &child(ptr, "platform"),
                    "D17",
                    "a descriptor of an image manifest should carry platform",
                );
            }
        }
    }
    media_type
}

/// Checks an RFC 6838 media type value under `rule`; returns whether it is one.
pub(super) fn media_type_value(cx: &mut Cx, ptr: &str, rule: &'static str, s: &str) -> bool {
    match MediaType::check(s) {
        Ok(()) => true,
        Err(e) => {
            cx.error(ptr, rule, e.to_string());
            false
        }
    }
}

/// Checks a digest string: grammar (DG1) and registered-algorithm encoding (DG6-DG8).
pub(super) fn digest_value(cx: &mut Cx, ptr: &str, s: &str) -> Option<Digest> {
    match Digest::parse(s) {
        Ok(d) => Some(d),
        Err(e) => {
            cx.error(ptr, e.rule(), e.to_string());
            None
        }
    }
}

/// Checks `size`: present (D7), an integer in int64 (D7), not negative (D9).
fn size_value(cx: &mut Cx, node: Option<&Node>, ptr: &str) -> Option<u64> {
    match node {
        None => {
            cx.error(ptr, "D7", "size is missing");
            None
        }
        Some(Node::Number(n)) => match n.class() {
            NumClass::Integer(i) if i < 0 => {
                cx.error(ptr, "D9", format!("size {i} is negative"));
                None
            }
            NumClass::Integer(i) => u64::try_from(i).ok(),
            NumClass::OutOfInt64 => {
                cx.error(ptr, "D7", format!("size {n} is out of the int64 range"));
                None
            }
            NumClass::NotInteger => {
                cx.error(ptr, "D7", format!("size {n} is not an integer"));
                None
            }
        },
        Some(other) => {
            cx.error(
                ptr,
                "D7",
                format!("size must be an integer, found {}", other.describe()),
            );
            None
        }
    }
}

/// Checks `urls`: an array of RFC 3986 URIs (D10), http or https (D11, a warning).
fn urls(cx: &mut Cx, node: &Node, ptr: &str) {
    for (p, url) in opt_string_array(cx, node, ptr, "urls", "D10", false) {
        match iri_string::types::UriStr::new(url) {
            Ok(uri) => {
                let scheme = uri.scheme_str();
                if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
                    cx.warn(
                        &p,
                        "D11",
                        format!("url {} should use the http or https scheme", quote(url)),
                    );
                }
            }
            Err(e) => cx.error(
                &p,
                "D10",
                format!("url {} is not an RFC 3986 URI: {e}", quote(url)),
            ),
        }
    }
}

/// Annotation keys the image spec defines (annotations.md and conversion.md).
const IMAGE_ANNOTATIONS: &[&str] = &[
    "created",
    "authors",
    "url",
    "documentation",
    "source",
    "version",
    "revision",
    "vendor",
    "licenses",
    "ref.name",
    "title",
    "description",
    "base.digest",
    "base.name",
    // Implicit annotations of conversion.md.
    "os",
    "architecture",
    "variant",
    "os.version",
    "os.features",
    "author",
    "stopSignal",
    "exposedPorts",
];

const CREATED: &str = "org.opencontainers.image.created";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Checks an annotation map (A1-A7, A9, A10). `type_rule` is the rule for a value that is
/// not a map (A1, or C12 for config labels); `nullable` allows `null` (config labels).
pub(super) fn annotations(
    cx: &mut Cx,
    node: &Node,
    ptr: &str,
    type_rule: &'static str,
    nullable: bool,
) {
    let members = match node {
        Node::Object(m) => m,
        Node::Null if nullable => return,
        Node::Null => {
            cx.error(
                ptr,
                "A7",
                "annotations must be absent or an empty map when there are none, found null",
            );
            return;
        }
        other => {
            cx.error(
                ptr,
                type_rule,
                format!(
                    "annotations must be a map of strings, found {}",
                    other.describe()
                ),
            );
            return;
        }
    };
    let mut seen = Occurrences::default();
    for (key, value) in members {
        let p = child(ptr, key);
        let before = seen.count(key);
        if before > 0 {
            cx.error(
                &p,
                "A3",
                format!(
                    "duplicate annotation key {} (occurrence {})",
                    quote(key),
                    before + 1
                ),
            );
        }
        let value = match value {
            Node::String(s) => Some(s.as_str()),
            Node::Null => {
                cx.error(
                    &p,
                    "A2",
                    format!("annotation {} has no value (null)", quote(key)),
                );
                None
            }
            other => {
                cx.error(
                    &p,
                    type_rule,
                    format!(
                        "annotation {} must have a string value, found {}",
                        quote(key),
                        other.describe()
                    ),
                );
                None
            }
        };
        if before > 0 {
            // The key was judged at its first occurrence.
        } else if let Some(rest) = key.strip_prefix("org.opencontainers.") {
            match rest.strip_prefix("image.") {
                Some(name) if !IMAGE_ANNOTATIONS.contains(&name) => cx.warn(
                    &p,
                    "A6",
                    format!(
                        "annotation key {} uses the org.opencontainers.image prefix reserved for the image spec, which does not define it",
                        quote(key)
                    ),
                ),
                Some(_) => {}
                None => cx.warn(
                    &p,
                    "A5",
                    format!(
                        "annotation key {} uses the org.opencontainers prefix reserved for OCI specifications",
                        quote(key)
                    ),
                ),
            }
        } else if !key.contains('.') {
            cx.warn(
                &p,
                "A4",
                format!(
                    "annotation key {} should use reverse-domain notation",
                    quote(key)
                ),
            );
        }
        let Some(value) = value else { continue };
        if key == CREATED && !formats::is_rfc3339(value) {
            cx.error(
                &p,
                "A9",
                format!(
                    "{CREATED} value {} is not an RFC 3339 date-time",
                    quote(value)
                ),
            );
        }
        if key == REF_NAME && !formats::is_ref_name(value) {
            cx.warn(
                &p,
                "A10",
                format!(
                    "{REF_NAME} value {} does not follow the ref.name grammar",
                    quote(value)
                ),
            );
        }
    }
}

/// Checks a platform object of a descriptor (I13-I17, I21).
fn platform(cx: &mut Cx, node: &Node, ptr: &str) {
    if !expect_object(cx, node, ptr, "I13", "platform") {
        return;
    }
    let mut required = |key: &str| match node.get(key) {
        None => {
            cx.error(
                &child(ptr, key),
                "I13",
                format!("platform.{key} is missing"),
            );
            None
        }
        Some(Node::String(s)) => Some(s.as_str()),
        Some(other) => {
            cx.error(
                &child(ptr, key),
                "I13",
                format!(
                    "platform.{key} must be a string, found {}",
                    other.describe()
                ),
            );
            None
        }
    };
    let arch = required("architecture");
    let os = required("os");
    opt_string(cx, node, ptr, "os.version", "I13", false);
    let features = opt_string_array(cx, node, ptr, "os.features", "I15", false);
    let variant = opt_string(cx, node, ptr, "variant", "I16", false);
    platform_values(
        cx,
        ptr,
        PlatformRules {
            arch: "I14",
            os: "I14",
            win32k: "I15",
            variant: "I16",
        },
        Platform {
            arch,
            os,
            variant,
            os_features: &features,
        },
    );
    match node.get("features") {
        None => {}
        Some(_) => cx.warn(
            &child(ptr, "features"),
            "I17",
            "platform.features is reserved for future versions of the spec",
        ),
    }
}

/// The rule ids of the platform value checks (index and config number them differently).
#[derive(Debug, Clone, Copy)]
pub(super) struct PlatformRules {
    pub(super) arch: &'static str,
    pub(super) os: &'static str,
    pub(super) win32k: &'static str,
    pub(super) variant: &'static str,
}

/// Platform values to check against the Go lists and the variants table.
#[derive(Debug, Clone, Copy)]
pub(super) struct Platform<'a> {
    pub(super) arch: Option<&'a str>,
    pub(super) os: Option<&'a str>,
    pub(super) variant: Option<&'a str>,
    pub(super) os_features: &'a [(String, &'a str)],
}

/// Warnings for unknown GOARCH/GOOS values, variants and Windows features.
pub(super) fn platform_values(cx: &mut Cx, ptr: &str, rules: PlatformRules, p: Platform<'_>) {
    if let Some(arch) = p.arch
        && !formats::GOARCH.contains(&arch)
    {
        cx.warn(
            &child(ptr, "architecture"),
            rules.arch,
            format!("architecture {} is not a GOARCH value", quote(arch)),
        );
    }
    if let Some(os) = p.os
        && !formats::GOOS.contains(&os)
    {
        cx.warn(
            &child(ptr, "os"),
            rules.os,
            format!("os {} is not a GOOS value", quote(os)),
        );
    }
    if let (Some(arch), Some(variant)) = (p.arch, p.variant)
        && !formats::known_variant(arch, variant)
    {
        cx.warn(
            &child(ptr, "variant"),
            rules.variant,
            format!(
                "variant {} is not in the platform variants table for architecture {}",
                quote(variant),
                quote(arch)
            ),
        );
    }
    if p.os == Some("windows") {
        for (fp, feature) in p.os_features {
            if *feature != "win32k" {
                cx.warn(
                    fp,
                    rules.win32k,
                    format!(
                        "os.features value {} is not a standardised Windows feature (win32k)",
                        quote(feature)
                    ),
                );
            }
        }
    }
}
