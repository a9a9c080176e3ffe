//! Image configs (config.md): `application/vnd.oci.image.config.v1+json`.
//!
//! Every OPTIONAL field is an `Option`, and `null` parses as absent (C4). Unknown members
//! survive a round trip at every level (C16), which also keeps the fields a Docker config
//! carries beyond the OCI ones (`container_config`, `Hostname`, `OnBuild`, ...).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::platform::Platform;

/// The only `rootfs.type` of the image-spec (C14).
pub const ROOTFS_TYPE_LAYERS: &str = "layers";

/// An image config. Field order is that of the image-spec Go struct, and the
/// serialization order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `created`: RFC 3339 date-time the image was created (C5), kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// `author` of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// `architecture`, a GOARCH value (C6).
    pub architecture: String,
    /// `os`, a GOOS value (C7).
    pub os: String,
    /// `os.version`.
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// `os.features` (C8).
    #[serde(
        default,
        rename = "os.features",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    /// `variant` of the CPU (C9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// `config`: the execution parameters (C10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ExecConfig>,
    /// `rootfs`: the layer DiffIDs (C14).
    pub rootfs: RootFs,
    /// `history` of each layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<History>>,
    /// Members this crate does not know, kept for the round trip (never a known member name).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The `config` object of an image config: execution parameters for a container.
///
/// Member names are Go-style (`User`, `Env`, ...) as in the spec. Field order is that of
/// the image-spec Go struct, then the reserved members.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecConfig {
    /// `User`: `user`, `uid`, `user:group`, `uid:gid`, `uid:group` or `user:gid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `ExposedPorts`: keys are `port/tcp`, `port/udp` or `port`; values are `{}` in
    /// practice and are kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    /// `Env`: `VARNAME=VARVALUE` entries (C13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// `Entrypoint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `Cmd`: default arguments to the entrypoint (C11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// `Volumes`: keys are paths; values are `{}` in practice and are kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    /// `WorkingDir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `Labels`, which follow the annotation rules (C12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// `StopSignal`, such as `SIGTERM` or `9`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `ArgsEscaped`: deprecated, Windows only; new builders should not write it (C20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    /// `Memory`: reserved (C20), kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<serde_json::Value>,
    /// `MemorySwap`: reserved (C20), kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_swap: Option<serde_json::Value>,
    /// `CpuShares`: reserved (C20), kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<serde_json::Value>,
    /// `Healthcheck`: reserved (C20), kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<serde_json::Value>,
    /// Members this crate does not know, kept for the round trip (never a known member name).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The `rootfs` object: the DiffIDs of the layers, base first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// `type`: must be `layers` (C14, C15); any string parses.
    #[serde(rename = "type")]
    pub kind: String,
    /// `diff_ids`: digests of the uncompressed layer tars, base first.
    pub diff_ids: Vec<Digest>,
    /// Members this crate does not know, kept for the round trip (never a known member name).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// One entry of `history`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// `created`: RFC 3339 date-time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// `created_by`: the command that created the layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// `author` of the layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// `comment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `empty_layer`: true when this step made no filesystem change (C19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
    /// Members this crate does not know, kept for the round trip (never a known member name).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl ImageConfig {
    /// A config for the given platform with the given DiffIDs and nothing else.
    pub fn new(platform: &Platform, diff_ids: Vec<Digest>) -> ImageConfig {
        ImageConfig {
            created: None,
            author: None,
            architecture: platform.architecture.clone(),
            os: platform.os.clone(),
            os_version: platform.os_version.clone(),
            os_features: platform.os_features.clone(),
            variant: platform.variant.clone(),
            config: None,
            rootfs: RootFs::layers(diff_ids),
            history: None,
            extra: BTreeMap::new(),
        }
    }

    /// The platform fields of this config (`architecture`, `os`, `os.version`,
    /// `os.features`, `variant`) as a [`Platform`].
    pub fn platform(&self) -> Platform {
        Platform {
            os_version: self.os_version.clone(),
            os_features: self.os_features.clone(),
            variant: self.variant.clone(),
            ..Platform::new(&self.os, &self.architecture)
        }
    }

    /// The history entries that describe a layer (`empty_layer` not true), which should be
    /// as many as `rootfs.diff_ids` (C19).
    pub fn layer_history(&self) -> impl Iterator<Item = &History> {
        self.history
            .iter()
            .flatten()
            .filter(|h| h.empty_layer != Some(true))
    }
}

impl RootFs {
    /// `{"type": "layers", "diff_ids": ...}`.
    pub fn layers(diff_ids: Vec<Digest>) -> RootFs {
        RootFs {
            kind: ROOTFS_TYPE_LAYERS.to_owned(),
            diff_ids,
            extra: BTreeMap::new(),
        }
    }
}
