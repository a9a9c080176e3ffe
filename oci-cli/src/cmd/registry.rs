//! The registry options (CLI.md, "Registry options") shared by every command that reaches
//! a registry: `--creds`, `--authfile`, `--tls-verify`, `--cert-dir`,
//! `--registries-conf`, `--jobs`, `--retry-times`; `copy` spells the per-side ones as
//! skopeo does (`--src-creds`, `--dest-creds`, `--src-tls-verify`, `--dest-tls-verify`).

use std::path::PathBuf;

use oci_image::RegistryOptions;

/// Options of both sides.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CommonArgs {
    /// The auth file to read credentials from (default: REGISTRY_AUTH_FILE, then
    /// ${XDG_RUNTIME_DIR}/containers/auth.json, then ~/.docker/config.json).
    #[arg(long, value_name = "FILE")]
    authfile: Option<PathBuf>,
    /// A directory of CA certificates (*.crt) and client certificates (*.cert, *.key) for
    /// the registry, as containers' certs.d (default: /etc/containers/certs.d/HOST/).
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,
    /// The registries.conf for rewrites, mirrors, blocked and insecure registries
    /// (default: CONTAINERS_REGISTRIES_CONF, then the system file).
    #[arg(long, value_name = "FILE")]
    registries_conf: Option<PathBuf>,
    /// Parallel blob transfers per registry host.
    #[arg(long, value_name = "N", default_value_t = oci_image::DEFAULT_JOBS,
          value_parser = clap::value_parser!(usize))]
    jobs: usize,
    /// Retries after 408, 429, 5xx and broken connections (honouring Retry-After).
    #[arg(long, value_name = "N", default_value_t = 3)]
    retry_times: u32,
}

impl CommonArgs {
    /// The options of one side, with its credentials and TLS setting.
    fn side(&self, creds: Option<&String>, tls_verify: Option<bool>) -> RegistryOptions {
        RegistryOptions {
            creds: creds.cloned(),
            authfile: self.authfile.clone(),
            tls_verify,
            cert_dir: self.cert_dir.clone(),
            registries_conf: self.registries_conf.clone().or_else(|| {
                std::env::var_os("CONTAINERS_REGISTRIES_CONF")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            }),
            jobs: self.jobs.max(1),
            retry_times: self.retry_times,
        }
    }

    /// Parallel transfers asked for.
    pub(crate) fn jobs(&self) -> usize {
        self.jobs.max(1)
    }
}

/// The registry options of a command with one image.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RegistryArgs {
    /// Credentials for the registry.
    #[arg(long, value_name = "USER[:PASS]")]
    creds: Option<String>,
    /// Require HTTPS with verified certificates (--tls-verify=false allows plain HTTP and
    /// unverified TLS).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    tls_verify: Option<bool>,
    #[command(flatten)]
    common: CommonArgs,
}

impl RegistryArgs {
    /// The library's options.
    pub(crate) fn options(&self) -> RegistryOptions {
        self.common.side(self.creds.as_ref(), self.tls_verify)
    }

    /// Parallel transfers asked for.
    pub(crate) fn jobs(&self) -> usize {
        self.common.jobs()
    }
}

/// The registry options of `copy`: credentials and TLS per side.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CopyRegistryArgs {
    /// Credentials for the source registry.
    #[arg(long, value_name = "USER[:PASS]")]
    src_creds: Option<String>,
    /// Credentials for the destination registry.
    #[arg(long, value_name = "USER[:PASS]")]
    dest_creds: Option<String>,
    /// Require HTTPS with verified certificates from the source registry.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    src_tls_verify: Option<bool>,
    /// Require HTTPS with verified certificates from the destination registry.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    dest_tls_verify: Option<bool>,
    #[command(flatten)]
    common: CommonArgs,
}

impl CopyRegistryArgs {
    /// The source side's options.
    pub(crate) fn source(&self) -> RegistryOptions {
        self.common
            .side(self.src_creds.as_ref(), self.src_tls_verify)
    }

    /// The destination side's options.
    pub(crate) fn destination(&self) -> RegistryOptions {
        self.common
            .side(self.dest_creds.as_ref(), self.dest_tls_verify)
    }

    /// Parallel transfers asked for.
    pub(crate) fn jobs(&self) -> usize {
        self.common.jobs()
    }
}

/// Layers to fetch ahead while unpacking `image`: `jobs` from a registry, none from a
/// local file or layout (nothing to overlap there).
pub(crate) fn prefetch(image: &str, jobs: usize) -> usize {
    if image.starts_with("docker://") {
        jobs
    } else {
        0
    }
}
