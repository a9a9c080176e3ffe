//! The checks of each document kind.

use super::check::{
    self, Cx, Platform, PlatformRules, Role, child, expect_object, item, opt_string,
    opt_string_array,
};
use super::formats;
use crate::json::{Node, NumClass, quote};
use crate::media_type;

/// The four layer types every implementation must support (M18), which portable image
/// manifests should use (M19).
const PORTABLE_LAYERS: [&str; 4] = [
    media_type::LAYER_TAR,
    media_type::LAYER_TAR_GZIP,
    media_type::LAYER_NONDISTRIBUTABLE_TAR,
    media_type::LAYER_NONDISTRIBUTABLE_TAR_GZIP,
];

pub(super) fn descriptor(cx: &mut Cx, root: &Node) {
    check::descriptor(cx, root, "", Role::Standalone);
}

/// `schemaVersion`: present and the integer 2.
fn schema_version(cx: &mut Cx, root: &Node, rule: &'static str) {
    let ptr = "/schemaVersion";
    match root.get("schemaVersion") {
        None => cx.error(ptr, rule, "schemaVersion is missing"),
        Some(Node::Number(n)) if n.class() == NumClass::Integer(2) => {}
        Some(other) => cx.error(
            ptr,
            rule,
            format!(
                "schemaVersion must be the integer 2, found {}",
                other.describe()
            ),
        ),
    }
}

/// The top-level `mediaType`: should be set (`should`), must be `expected` (`must`).
fn top_media_type(
    cx: &mut Cx,
    root: &Node,
    expected: &str,
    should: &'static str,
    must: &'static str,
) {
    let ptr = "/mediaType";
    match root.get("mediaType") {
        None => cx.warn(
            ptr,
            should,
            format!("mediaType should be set to {expected}"),
        ),
        Some(Node::String(s)) if s == expected => {}
        Some(other) => cx.error(
            ptr,
            must,
            format!("mediaType {} is not {expected}", other.describe()),
        ),
    }
}

/// The top-level `artifactType`, when set: an RFC 6838 media type. Returns whether set.
fn artifact_type(cx: &mut Cx, root: &Node, rule: &'static str) -> bool {
    let ptr = "/artifactType";
    match root.get("artifactType") {
        None => false,
        Some(Node::String(s)) => {
            check::media_type_value(cx, ptr, rule, s);
            true
        }
        Some(other) => {
            cx.error(
                ptr,
                rule,
                format!("artifactType must be a string, found {}", other.describe()),
            );
            true
        }
    }
}

pub(super) fn manifest(cx: &mut Cx, root: &Node) {
    if !expect_object(cx, root, "", "M1", "an image manifest") {
        return;
    }
    schema_version(cx, root, "M1");
    top_media_type(cx, root, media_type::IMAGE_MANIFEST, "M2", "M3");
    let is_artifact = artifact_type(cx, root, "M4");
    let config_type = match root.get("config") {
        None => {
            cx.error("/config", "M7", "config is missing");
            None
        }
        Some(c) => check::descriptor(cx, c, "/config", Role::Config),
    };
    let mut layer_types = Vec::new();
    let mut layer_count = None;
    match root.get("layers") {
        None => cx.error("/layers", "M13", "layers is missing"),
        Some(Node::Array(layers)) => {
            layer_count = Some(layers.len());
            if layers.is_empty() {
                cx.warn(
                    "/layers",
                    "M14",
                    "layers is empty; for portability it should have at least one entry",
                );
            }
            for (i, layer) in layers.iter().enumerate() {
                let p = item("/layers", i);
                if let Some(t) = check::descriptor(cx, layer, &p, Role::Layer) {
                    layer_types.push((p, t));
                }
            }
        }
        Some(other) => cx.error(
            "/layers",
            "M13",
            format!(
                "layers must be an array of descriptors, found {}",
                other.describe()
            ),
        ),
    }
    if let Some(s) = root.get("subject") {
        check::descriptor(cx, s, "/subject", Role::Subject { in_index: false });
    }
    if let Some(a) = root.get("annotations") {
        check::annotations(cx, a, "/annotations", "A1", false);
    }
    if config_type == Some(media_type::EMPTY) && !is_artifact {
        cx.error(
            "/artifactType",
            "M5",
            format!(
                "artifactType must be set because config.mediaType is {}",
                media_type::EMPTY
            ),
        );
    }
    if is_artifact && config_type == Some(media_type::IMAGE_CONFIG) {
        cx.error(
            "/config/mediaType",
            "M25",
            format!(
                "an artifact (artifactType is set) must not use the image config type {}; use an artifact-specific type or {}",
                media_type::IMAGE_CONFIG,
                media_type::EMPTY
            ),
        );
    }
    if is_artifact && layer_count == Some(0) {
        cx.warn(
            "/layers",
            "M27",
            "an artifact without layers of its own should still include one layer of non-zero size (the empty descriptor)",
        );
    }
    if config_type == Some(media_type::IMAGE_CONFIG) {
        for (p, t) in layer_types {
            if !PORTABLE_LAYERS.contains(&t) {
                cx.warn(
                    &child(&p, "mediaType"),
                    "M19",
                    format!(
                        "layer media type {} is not one of the four portable OCI layer types",
                        quote(t)
                    ),
                );
            }
        }
    }
}

pub(super) fn index(cx: &mut Cx, root: &Node) {
    if !expect_object(cx, root, "", "I2", "an image index") {
        return;
    }
    schema_version(cx, root, "I2");
    top_media_type(cx, root, media_type::IMAGE_INDEX, "I3", "I4");
    artifact_type(cx, root, "I5");
    match root.get("manifests") {
        None => cx.error("/manifests", "I6", "manifests is missing"),
        Some(Node::Array(entries)) => {
            for (i, entry) in entries.iter().enumerate() {
                let p = item("/manifests", i);
                let t = check::descriptor(cx, entry, &p, Role::IndexEntry);
                if let Some(t) = t
                    && t != media_type::IMAGE_MANIFEST
                    && t != media_type::IMAGE_INDEX
                {
                    cx.warn(
                        &child(&p, "mediaType"),
                        "I10",
                        format!(
                            "entry media type {} is neither the OCI manifest nor index type, which portable indexes should use",
                            quote(t)
                        ),
                    );
                }
            }
        }
        Some(other) => cx.error(
            "/manifests",
            "I6",
            format!(
                "manifests must be an array of descriptors, found {}",
                other.describe()
            ),
        ),
    }
    if let Some(s) = root.get("subject") {
        check::descriptor(cx, s, "/subject", Role::Subject { in_index: true });
    }
    if let Some(a) = root.get("annotations") {
        check::annotations(cx, a, "/annotations", "A1", false);
    }
}

pub(super) fn oci_layout(cx: &mut Cx, root: &Node) {
    if !expect_object(cx, root, "", "L3", "the oci-layout file") {
        return;
    }
    let ptr = "/imageLayoutVersion";
    match root.get("imageLayoutVersion") {
        None => cx.error(ptr, "L3", "imageLayoutVersion is missing"),
        Some(Node::String(s)) if s == "1.0.0" => {}
        Some(other) => cx.error(
            ptr,
            "L3",
            format!(
                "imageLayoutVersion {} is not \"1.0.0\", the only defined version",
                other.describe()
            ),
        ),
    }
}

pub(super) fn config(cx: &mut Cx, root: &Node) {
    if !expect_object(cx, root, "", "C6", "an image config") {
        return;
    }
    if let Some(created) = opt_string(cx, root, "", "created", "C5", true) {
        date_time(cx, "/created", created, "C5");
    }
    opt_string(cx, root, "", "author", "C4", true);
    let mut required = |key: &str, rule: &'static str| match root.get(key) {
        None => {
            cx.error(&child("", key), rule, format!("{key} is missing"));
            None
        }
        Some(Node::String(s)) => Some(s.as_str()),
        Some(other) => {
            cx.error(
                &child("", key),
                rule,
                format!("{key} must be a string, found {}", other.describe()),
            );
            None
        }
    };
    let arch = required("architecture", "C6");
    let os = required("os", "C7");
    opt_string(cx, root, "", "os.version", "C8", true);
    let features = opt_string_array(cx, root, "", "os.features", "C8", true);
    let variant = opt_string(cx, root, "", "variant", "C9", true);
    check::platform_values(
        cx,
        "",
        PlatformRules {
            arch: "C6",
            os: "C7",
            win32k: "C8",
            variant: "C9",
        },
        Platform {
            arch,
            os,
            variant,
            os_features: &features,
        },
    );
    match root.get("config") {
        None | Some(Node::Null) => {}
        Some(c) => {
            if expect_object(cx, c, "/config", "C4", "config") {
                exec_config(cx, c, "/config");
            }
        }
    }
    let diff_ids = rootfs(cx, root.get("rootfs"));
    match root.get("history") {
        None | Some(Node::Null) => {}
        Some(Node::Array(entries)) => {
            let mut non_empty = Some(0usize);
            for (i, entry) in entries.iter().enumerate() {
                match history_entry(cx, entry, &item("/history", i)) {
                    Some(true) => non_empty = non_empty.map(|n| n + 1),
                    Some(false) => {}
                    // An entry already in error does not count either way.
                    None => non_empty = None,
                }
            }
            if let (Some(n), Some(non_empty)) = (diff_ids, non_empty)
                && n != non_empty
            {
                cx.warn(
                    "/history",
                    "C19",
                    format!(
                        "history has {non_empty} entries that are not empty_layer but rootfs.diff_ids has {n}"
                    ),
                );
            }
        }
        Some(other) => cx.error(
            "/history",
            "C18",
            format!("history must be an array, found {}", other.describe()),
        ),
    }
}

fn date_time(cx: &mut Cx, ptr: &str, s: &str, rule: &'static str) {
    if !formats::is_rfc3339(s) {
        cx.error(
            ptr,
            rule,
            format!("{} is not an RFC 3339 date-time", quote(s)),
        );
    }
}

/// Checks `rootfs` (C14). Returns the number of diff_ids when it is an array.
fn rootfs(cx: &mut Cx, node: Option<&Node>) -> Option<usize> {
    let ptr = "/rootfs";
    let Some(node) = node else {
        cx.error(ptr, "C14", "rootfs is missing");
        return None;
    };
    if !expect_object(cx, node, ptr, "C14", "rootfs") {
        return None;
    }
    match node.get("type") {
        None => cx.error("/rootfs/type", "C14", "rootfs.type is missing"),
        Some(Node::String(s)) if s == "layers" => {}
        Some(other) => cx.error(
            "/rootfs/type",
            "C14",
            format!("rootfs.type must be \"layers\", found {}", other.describe()),
        ),
    }
    match node.get("diff_ids") {
        None => {
            cx.error("/rootfs/diff_ids", "C14", "rootfs.diff_ids is missing");
            None
        }
        Some(Node::Array(ids)) => {
            for (i, id) in ids.iter().enumerate() {
                let p = item("/rootfs/diff_ids", i);
                match id {
                    Node::String(s) => {
                        check::digest_value(cx, &p, s);
                    }
                    other => cx.error(
                        &p,
                        "C14",
                        format!(
                            "diff_ids entries must be digest strings, found {}",
                            other.describe()
                        ),
                    ),
                }
            }
            Some(ids.len())
        }
        Some(other) => {
            cx.error(
                "/rootfs/diff_ids",
                "C14",
                format!(
                    "rootfs.diff_ids must be an array of digests, found {}",
                    other.describe()
                ),
            );
            None
        }
    }
}

/// Checks one history entry (C18). Returns whether it counts as a layer (not
/// empty_layer), or `None` when the entry is not an object or empty_layer is not a boolean.
fn history_entry(cx: &mut Cx, node: &Node, ptr: &str) -> Option<bool> {
    if !expect_object(cx, node, ptr, "C18", "a history entry") {
        return None;
    }
    if let Some(created) = opt_string(cx, node, ptr, "created", "C18", true) {
        date_time(cx, &child(ptr, "created"), created, "C18");
    }
    for key in ["author", "created_by", "comment"] {
        opt_string(cx, node, ptr, key, "C18", true);
    }
    match node.get("empty_layer") {
        Some(Node::Bool(b)) => Some(!b),
        None | Some(Node::Null) => Some(true),
        Some(other) => {
            cx.error(
                &child(ptr, "empty_layer"),
                "C18",
                format!("empty_layer must be a boolean, found {}", other.describe()),
            );
            None
        }
    }
}

/// Checks the execution parameters, `config.config`.
fn exec_config(cx: &mut Cx, node: &Node, ptr: &str) {
    for key in ["User", "WorkingDir", "StopSignal"] {
        opt_string(cx, node, ptr, key, "C4", true);
    }
    for key in ["Entrypoint", "Cmd"] {
        opt_string_array(cx, node, ptr, key, "C4", true);
    }
    for (p, entry) in opt_string_array(cx, node, ptr, "Env", "C13", true) {
        if entry
            .split_once('=')
            .is_none_or(|(name, _)| name.is_empty())
        {
            cx.warn(
                &p,
                "C13",
                format!(
                    "Env entry {} is not of the form VARNAME=VARVALUE",
                    quote(entry)
                ),
            );
        }
    }
    for key in ["ExposedPorts", "Volumes"] {
        let p = child(ptr, key);
        match node.get(key) {
            None | Some(Node::Null) => {}
            Some(Node::Object(members)) => {
                for (k, v) in members {
                    if !matches!(v, Node::Object(_)) {
                        cx.error(
                            &child(&p, k),
                            "C4",
                            format!(
                                "{key} values must be objects (usually {{}}), found {}",
                                v.describe()
                            ),
                        );
                    }
                }
            }
            Some(other) => cx.error(
                &p,
                "C4",
                format!("{key} must be an object, found {}", other.describe()),
            ),
        }
    }
    if let Some(labels) = node.get("Labels") {
        check::annotations(cx, labels, &child(ptr, "Labels"), "C12", true);
    }
    match node.get("ArgsEscaped") {
        None | Some(Node::Null) => {}
        Some(Node::Bool(_)) => cx.warn(
            &child(ptr, "ArgsEscaped"),
            "C20",
            "ArgsEscaped is deprecated and should not be written by new builders",
        ),
        Some(other) => cx.error(
            &child(ptr, "ArgsEscaped"),
            "C4",
            format!("ArgsEscaped must be a boolean, found {}", other.describe()),
        ),
    }
    for key in ["Memory", "MemorySwap", "CpuShares", "Healthcheck"] {
        if node.get(key).is_some() {
            cx.warn(
                &child(ptr, key),
                "C20",
                format!("{key} is reserved by the image spec"),
            );
        }
    }
}
