//! The subset of the OCI runtime-spec `config.json` (runtime-spec v1.0.2) that a bundle
//! made from an image needs.
//!
//! Plain data with public fields, in the member order of the runtime-spec Go structs;
//! every map is a `BTreeMap`, so [`Spec::to_bytes`] is deterministic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A runtime-spec `config.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    /// `ociVersion`: the runtime-spec version (`1.0.2-dev` from the converter, as runc 1.1.5).
    pub oci_version: String,
    /// `process`: what to run.
    pub process: Process,
    /// `root`: the root filesystem, relative to the bundle.
    pub root: Root,
    /// `hostname` in the container's UTS namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `mounts`, in mount order.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// `annotations`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// `linux`: Linux-specific settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux: Option<Linux>,
}

/// `process`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    /// `terminal`: whether to attach a pseudo-terminal.
    #[serde(default)]
    pub terminal: bool,
    /// `user` the process runs as.
    pub user: User,
    /// `args`: the executable and its arguments.
    pub args: Vec<String>,
    /// `env`: `NAME=VALUE` entries.
    #[serde(default)]
    pub env: Vec<String>,
    /// `cwd`: absolute working directory.
    pub cwd: String,
    /// `capabilities`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    /// `rlimits`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rlimits: Vec<Rlimit>,
    /// `noNewPrivileges`.
    #[serde(default)]
    pub no_new_privileges: bool,
}

/// `process.user`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// `uid`.
    pub uid: u32,
    /// `gid`.
    pub gid: u32,
    /// `additionalGids`: supplementary groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_gids: Option<Vec<u32>>,
}

/// `process.capabilities`: the capability sets, names such as `CAP_KILL`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// `bounding`.
    #[serde(default)]
    pub bounding: Vec<String>,
    /// `effective`.
    #[serde(default)]
    pub effective: Vec<String>,
    /// `permitted`.
    #[serde(default)]
    pub permitted: Vec<String>,
    /// `ambient`.
    #[serde(default)]
    pub ambient: Vec<String>,
}

/// One entry of `process.rlimits`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    /// `type`, such as `RLIMIT_NOFILE`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `hard` limit.
    pub hard: u64,
    /// `soft` limit.
    pub soft: u64,
}

/// `root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    /// `path`, relative to the bundle.
    pub path: String,
    /// `readonly`.
    #[serde(default)]
    pub readonly: bool,
}

/// One entry of `mounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// `destination`: absolute path in the container.
    pub destination: String,
    /// `type` of filesystem (`proc`, `tmpfs`, `bind`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// `source`: a device, a dummy, or for bind mounts a path absolute or relative to
    /// the bundle.
    pub source: String,
    /// `options`, as for mount(8).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// `linux`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    /// `uidMappings` of the user namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uid_mappings: Vec<IdMapping>,
    /// `gidMappings` of the user namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gid_mappings: Vec<IdMapping>,
    /// `resources`: cgroup settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// `namespaces` to create.
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
    /// `maskedPaths`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked_paths: Vec<String>,
    /// `readonlyPaths`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readonly_paths: Vec<String>,
}

/// One entry of `linux.uidMappings` or `linux.gidMappings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdMapping {
    /// `containerID`: first id in the container.
    #[serde(rename = "containerID")]
    pub container_id: u32,
    /// `hostID`: first id on the host.
    #[serde(rename = "hostID")]
    pub host_id: u32,
    /// `size` of the range.
    pub size: u32,
}

/// `linux.resources` (only the device rules are used here).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// `devices`: the device cgroup rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceRule>,
}

/// One entry of `linux.resources.devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRule {
    /// `allow` or deny.
    pub allow: bool,
    /// `access`: some of `r`, `w`, `m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
}

/// One entry of `linux.namespaces`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    /// `type`: `pid`, `network`, `ipc`, `uts`, `mount`, `user`, `cgroup`.
    #[serde(rename = "type")]
    pub kind: String,
}

impl Spec {
    /// The `config.json` bytes: pretty JSON with two-space indents and a final newline.
    /// The same `Spec` always gives the same bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes =
            serde_json::to_vec_pretty(self).expect("a Spec has string keys and no floats");
        bytes.push(b'\n');
        bytes
    }
}
