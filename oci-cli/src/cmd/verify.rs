//! `ocimg verify IMAGE [--policy FILE] [--registries.d DIR] [--json]`: applies a trust
//! policy to an image and its signatures; exit 0 accepted, 1 rejected.

use std::path::PathBuf;

use oci_image::Endpoint;
use oci_sign::policy::default_policy_path;

use super::init::{fail, open_image};
use crate::Outcome;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example: ocimg verify oci:img:v1 --policy policy.json --json\n\nThe default policy file is containers/image's: ~/.config/containers/policy.json when it\nexists, else /etc/containers/policy.json. ocimg keeps that order (the issue's draft named\n/etc first) so that a user's own policy overrides the system's, and so that ocimg and\nskopeo or podman run by the same user decide under the same file."
)]
pub struct Args {
    /// The image: oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:NAME:TAG],
    /// discover:HOST/PATH[#FRAGMENT], or DIR[:REF] (a layout).
    #[arg(value_name = "IMAGE")]
    name: String,
    /// The trust policy (containers-policy.json(5)); default:
    /// ~/.config/containers/policy.json when it exists, else /etc/containers/policy.json.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// The registries.d directory naming lookaside signature stores (default:
    /// ~/.config/containers/registries.d when it exists, else /etc/containers/registries.d).
    #[arg(long = "registries.d", value_name = "DIR")]
    registries_d: Option<PathBuf>,
    /// Print one JSON object `{"image", "digest", "accepted", "requirements",
    /// "signatures"}` on standard output (also when rejected).
    #[arg(long)]
    json: bool,
    // Network options for discover: images.
    #[command(flatten)]
    net: super::name::NetArgs,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let policy_path = args.policy.clone().unwrap_or_else(default_policy_path);
    let policy = super::policy::load_policy(&policy_path)?;
    let config = super::policy::load_registries_d(args.registries_d.as_deref())?;
    let endpoint = Endpoint::parse_image(&args.name).map_err(|e| anyhow::anyhow!(e))?;
    let source = match open_image("verify", &args.name, &args.net) {
        Ok(source) => source,
        Err(outcome) => return outcome,
    };
    let check = match oci_image::signatures::check_policy(
        &endpoint,
        source.as_ref(),
        &policy,
        &config,
        oci_sign::openpgp::unix_now(),
    ) {
        Ok(check) => check,
        Err(e) => {
            let check = e.is_check_failure();
            return fail("verify", check, e);
        }
    };
    let verdict = &check.verdict;
    if args.json {
        crate::print_json(&serde_json::json!({
            "image": args.name,
            "digest": check.signed.digest,
            "accepted": verdict.accepted,
            "requirements": verdict.requirements,
            "signatures": verdict.signatures,
        }))?;
    } else {
        println!(
            "{} {} ({}) under {} scope {:?}",
            if verdict.accepted {
                "accepted"
            } else {
                "rejected"
            },
            args.name,
            check.signed.digest,
            policy_path.display(),
            verdict.scope
        );
        for r in &verdict.requirements {
            let mark = if r.accepted { "ok" } else { "REJECTED" };
            println!("  requirement {}: {mark}: {}", r.requirement_type, r.reason);
        }
        for s in &verdict.signatures {
            let mark = if s.accepted { "accepted" } else { "rejected" };
            println!(
                "  signature {} by {} for {}: {mark}: {}",
                s.format,
                s.signer.as_deref().unwrap_or("-"),
                s.identity.as_deref().unwrap_or("-"),
                s.reason
            );
        }
    }
    Ok(if verdict.accepted {
        Outcome::Ok
    } else {
        Outcome::CheckFailed
    })
}
