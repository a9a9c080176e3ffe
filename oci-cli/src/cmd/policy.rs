//! The trust-policy options shared by `copy`, `unpack` and `bundle` (`--policy FILE`,
//! `--registries.d DIR`), and the policy and registries.d loading of `verify` and `sign`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use oci_image::{Endpoint, Source};
use oci_sign::policy::Policy;
use oci_sign::registries_d::RegistriesD;

use super::init::fail;
use crate::Outcome;

/// `--policy FILE` and `--registries.d DIR` for commands that read an image.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    /// Check the source against this trust policy (containers-policy.json(5)) before
    /// anything is written at the destination; a rejected source exits 1. Without
    /// --policy no policy is applied (an explicit setting: unlike skopeo, which always
    /// reads the default policy file, ocimg checks signatures only when asked; `ocimg
    /// verify` checks an image under the default policy).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The registries.d directory naming lookaside signature stores (default:
    /// ~/.config/containers/registries.d when it exists, else /etc/containers/registries.d).
    #[arg(long = "registries.d", value_name = "DIR")]
    pub registries_d: Option<PathBuf>,
}

/// Reads a policy file (exit 2 when missing or invalid: a usage error).
pub(crate) fn load_policy(path: &Path) -> anyhow::Result<Policy> {
    Policy::from_file(path).with_context(|| format!("policy {}", path.display()))
}

/// Reads registries.d (`dir`, or the default directories).
pub(crate) fn load_registries_d(dir: Option<&Path>) -> anyhow::Result<RegistriesD> {
    oci_image::signatures::load_registries_d(dir).context("registries.d")
}

impl PolicyArgs {
    /// The registries.d configuration these options name.
    pub(crate) fn registries_d(&self) -> anyhow::Result<RegistriesD> {
        load_registries_d(self.registries_d.as_deref())
    }

    /// With `--policy`, checks the opened `source` (named `image`) against it: `Ok(())`
    /// when accepted or when no policy was given, else the outcome to return (exit 1
    /// rejected, exit 2 unreadable).
    pub(crate) fn check(
        &self,
        command: &str,
        image: &str,
        source: &dyn Source,
    ) -> Result<(), anyhow::Result<Outcome>> {
        let Some(path) = &self.policy else {
            return Ok(());
        };
        let setup = || -> anyhow::Result<(Policy, RegistriesD, Endpoint)> {
            Ok((
                load_policy(path)?,
                self.registries_d()?,
                Endpoint::parse_image(image)?,
            ))
        };
        let (policy, config, endpoint) = setup().map_err(|e| Err(e.context(command.to_owned())))?;
        let check = oci_image::signatures::check_policy(
            &endpoint,
            source,
            &policy,
            &config,
            oci_sign::openpgp::unix_now(),
        )
        .map_err(|e| {
            let check = e.is_check_failure();
            fail(command, check, e)
        })?;
        if check.verdict.accepted {
            return Ok(());
        }
        let reasons: Vec<String> = check
            .verdict
            .requirements
            .iter()
            .filter(|r| !r.accepted)
            .map(|r| format!("{}: {}", r.requirement_type, r.reason))
            .collect();
        Err(Err(crate::check_failed(anyhow::anyhow!(
            "{command}: source {image} ({}) rejected by policy {}: {}",
            check.signed.digest,
            path.display(),
            reasons.join("; ")
        ))))
    }
}
