//! `ocimg referrers IMAGE [--artifact-type T] [--platform P] [--json]`: the manifests
//! whose `subject` is the image (signatures, SBOMs), from a registry (the referrers API or
//! its tag fallback) or a layout.

use oci_spec_types::{Descriptor, Platform};

use super::init::{fail, open_image_with, parse_platform};
use super::registry::RegistryArgs;
use crate::Outcome;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg referrers docker://registry.example/team/app:1
  ocimg referrers --json --artifact-type application/vnd.dev.cosign.artifact.sig.v1+json oci:layout:app")]
pub struct Args {
    /// The image: any IMAGE (CLI.md); its root manifest or index is the subject.
    #[arg(value_name = "IMAGE")]
    name: String,
    /// Only referrers of this artifact type.
    #[arg(long, value_name = "TYPE")]
    artifact_type: Option<String>,
    /// Where several entries share the name, the subject is this platform's (default: this
    /// machine's).
    #[arg(long, value_parser = parse_platform)]
    platform: Option<Platform>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print the referrers as one JSON array of descriptors (`mediaType`, `digest`,
    /// `size`, `artifactType`, `annotations`) on standard output.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let source = match open_image_with("referrers", &args.name, &args.registry, None) {
        Ok(source) => source,
        Err(outcome) => return outcome,
    };
    let subject = match oci_image::select_root(source.as_ref(), args.platform.as_ref()) {
        Ok(root) => root,
        Err(e) => {
            let check = e.is_check_failure();
            return fail("referrers", check, e);
        }
    };
    let found = match source.referrers(&subject.digest) {
        Ok(found) => found.unwrap_or_default(),
        Err(e) => {
            let check = e.is_check_failure();
            return fail("referrers", check, e);
        }
    };
    let found: Vec<Descriptor> = found
        .into_iter()
        .filter(|d| {
            args.artifact_type
                .as_deref()
                .is_none_or(|t| d.artifact_type.as_ref().is_some_and(|a| a.as_str() == t))
        })
        .collect();
    if args.json {
        let list: Vec<serde_json::Value> = found
            .iter()
            .map(|d| {
                serde_json::json!({
                    "mediaType": d.media_type,
                    "digest": d.digest,
                    "size": d.size,
                    "artifactType": d.artifact_type,
                    "annotations": d.annotations,
                })
            })
            .collect();
        crate::print_json(&list)?;
    } else {
        for d in &found {
            let artifact = d.artifact_type.as_ref().map_or("-", |a| a.as_str());
            println!("{} {} {artifact}", d.digest, d.size);
        }
    }
    Ok(Outcome::Ok)
}
