//! `ocimg tags docker://HOST/REPO [registry options] [--json]`: every tag of a repository
//! (every page of the tag list), and `ocimg delete docker://HOST/REPO:TAG|@DIGEST`.

use oci_image::Endpoint;

use super::init::fail;
use super::registry::RegistryArgs;
use crate::Outcome;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg tags docker://registry.example/team/app
  ocimg tags --json --creds ann:secret docker://127.0.0.1:5000/team/app")]
pub struct Args {
    /// The repository: docker://HOST/REPO.
    #[arg(value_name = "REPOSITORY")]
    name: String,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print one JSON object `{"repository", "tags": [...]}` on standard output.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg delete docker://registry.example/team/app:old
  ocimg delete --json docker://registry.example/team/app@sha256:4f1d6d0c1c2bca8e6a5f8d4e0c9f3b7a2e1d5c6b7a8f9e0d1c2b3a4f5e6d7c8b")]
pub struct DeleteArgs {
    /// The image: docker://HOST/REPO:TAG or docker://HOST/REPO@DIGEST (a tag is resolved
    /// to its manifest, which is deleted with every tag pointing at it).
    #[arg(value_name = "IMAGE")]
    name: String,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print one JSON object `{"deleted": DIGEST}` on standard output.
    #[arg(long)]
    json: bool,
}

/// The registry reference a `docker://` name gives, or the usage error.
fn reference(command: &str, name: &str) -> Result<oci_naming::Reference, anyhow::Result<Outcome>> {
    match Endpoint::parse(name) {
        Ok(Endpoint::Docker(reference)) => Ok(reference),
        Ok(other) => Err(Err(anyhow::anyhow!(
            "{command}: {other} is not a registry name (docker://HOST/REPO)"
        ))),
        Err(e) => Err(fail(command, false, e)),
    }
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let reference = match reference("tags", &args.name) {
        Ok(r) => r.trim(),
        Err(outcome) => return outcome,
    };
    let tags = match oci_image::list_tags(&reference, &args.registry.options()) {
        // Sorted: registries list in no particular order, and output is deterministic.
        Ok(mut tags) => {
            tags.sort();
            tags
        }
        Err(e) => {
            let check = e.is_check_failure();
            return fail("tags", check, e);
        }
    };
    if args.json {
        crate::print_json(&serde_json::json!({
            "repository": reference.name(),
            "tags": tags,
        }))?;
    } else {
        for tag in &tags {
            println!("{tag}");
        }
    }
    Ok(Outcome::Ok)
}

pub fn run_delete(args: DeleteArgs) -> anyhow::Result<Outcome> {
    let reference = match reference("delete", &args.name) {
        Ok(r) => r,
        Err(outcome) => return outcome,
    };
    let deleted = match oci_image::delete_image(&reference, &args.registry.options()) {
        Ok(digest) => digest,
        Err(e) => {
            let check = e.is_check_failure();
            return fail("delete", check, e);
        }
    };
    if args.json {
        crate::print_json(&serde_json::json!({ "deleted": deleted }))?;
    } else {
        println!("deleted {deleted} from {}", reference.name());
    }
    Ok(Outcome::Ok)
}
