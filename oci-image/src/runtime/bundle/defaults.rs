//! Implementation-defined defaults: what `runc spec` (runc 1.1.5) and
//! `runc spec --rootless` write, minus its `process` and `root.readonly`.

use super::HostIds;
use super::spec::{
    Capabilities, DeviceRule, IdMapping, Linux, Mount, Namespace, Resources, Rlimit,
};

/// `PATH` added to `process.env` when `Config.Env` has no `PATH` (the value of `runc spec`).
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// `TERM` added to `process.env` with a terminal when `Config.Env` has no `TERM`.
pub const DEFAULT_TERM: &str = "TERM=xterm";

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|&s| s.to_owned()).collect()
}

/// The capability sets of `runc spec`.
pub fn capabilities() -> Capabilities {
    let set = strings(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    Capabilities {
        bounding: set.clone(),
        effective: set.clone(),
        permitted: set.clone(),
        ambient: set,
    }
}

/// `RLIMIT_NOFILE` 1024/1024, as `runc spec`.
pub fn rlimits() -> Vec<Rlimit> {
    vec![Rlimit {
        kind: "RLIMIT_NOFILE".to_owned(),
        hard: 1024,
        soft: 1024,
    }]
}

fn mount(destination: &str, kind: &str, source: &str, options: &[&str]) -> Mount {
    Mount {
        destination: destination.to_owned(),
        kind: kind.to_owned(),
        source: source.to_owned(),
        options: strings(options),
    }
}

/// The mounts of `runc spec` (`--rootless`: no `gid=5` on devpts, `/sys` bind-mounted
/// from the host since an unprivileged user cannot mount sysfs).
pub fn mounts(rootless: bool) -> Vec<Mount> {
    let devpts: &[&str] = if rootless {
        &[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
        ]
    } else {
        &[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]
    };
    let sys = if rootless {
        mount(
            "/sys",
            "none",
            "/sys",
            &["rbind", "nosuid", "noexec", "nodev", "ro"],
        )
    } else {
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        )
    };
    vec![
        mount("/proc", "proc", "proc", &[]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount("/dev/pts", "devpts", "devpts", devpts),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        sys,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    ]
}

/// The `linux` section of `runc spec`; rootless: no network namespace (the container
/// shares the host's network), a user namespace mapping container root to `host`, and
/// no device cgroup rules.
pub fn linux(rootless: Option<HostIds>) -> Linux {
    let mut namespaces = vec!["pid", "network", "ipc", "uts", "mount"];
    let (uid_mappings, gid_mappings, resources) = match rootless {
        Some(host) => {
            namespaces.retain(|&ns| ns != "network");
            namespaces.push("user");
            let map = |host_id| {
                vec![IdMapping {
                    container_id: 0,
                    host_id,
                    size: 1,
                }]
            };
            (map(host.uid), map(host.gid), None)
        }
        None => (
            Vec::new(),
            Vec::new(),
            Some(Resources {
                devices: vec![DeviceRule {
                    allow: false,
                    access: Some("rwm".to_owned()),
                }],
            }),
        ),
    };
    Linux {
        uid_mappings,
        gid_mappings,
        resources,
        namespaces: namespaces
            .into_iter()
            .map(|kind| Namespace {
                kind: kind.to_owned(),
            })
            .collect(),
        masked_paths: strings(&[
            "/proc/acpi",
            "/proc/asound",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/sys/firmware",
            "/proc/scsi",
        ]),
        readonly_paths: strings(&[
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger",
        ]),
    }
}
