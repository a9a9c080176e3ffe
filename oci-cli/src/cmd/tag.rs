//! `ocimg tag [--platform P] [--json] DIR:REF NEWTAG` and `ocimg untag [--json] DIR:TAG`.

use oci_image::{ImageName, Reference};
use oci_spec_types::Platform;

use super::init::{fail, open, parse_platform};
use crate::Outcome;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg tag layout:1.0 latest
  # The arm64 image among entries sharing the name 1.0
  ocimg tag --platform linux/arm64 layout:1.0 1.0-arm64")]
pub struct Args {
    /// Where several entries share the source's name, the platform to tag
    /// (OS/ARCH[/VARIANT]; default: this machine's).
    #[arg(long, value_parser = parse_platform)]
    platform: Option<Platform>,
    /// Print one JSON object `{"ref", "digest"}` on standard output.
    #[arg(long)]
    json: bool,
    /// The image to tag: DIR:REF (a tag or a digest), or DIR when it holds one image.
    #[arg(value_name = "DIR:REF")]
    source: String,
    /// The new tag (an org.opencontainers.image.ref.name); an entry already tagged so is
    /// replaced.
    #[arg(value_name = "NEWTAG")]
    tag: String,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg untag layout:old
  ocimg untag --json layout:1.0-rc1")]
pub struct UntagArgs {
    /// Print one JSON object `{"ref", "digest"}` on standard output.
    #[arg(long)]
    json: bool,
    /// The tag to remove, as DIR:TAG (every entry with that name goes).
    #[arg(value_name = "DIR:TAG")]
    name: String,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let name = ImageName::parse(&args.source)?;
    let layout = match open("tag", &name.dir) {
        Ok(layout) => layout,
        Err(outcome) => return outcome,
    };
    let entry = match layout.tag(name.reference.as_ref(), args.platform.as_ref(), &args.tag) {
        Ok(entry) => entry,
        Err(e) => {
            let check = e.is_check_failure();
            return fail("tag", check, e);
        }
    };
    if args.json {
        crate::print_json(&serde_json::json!({
            "ref": args.tag,
            "digest": entry.digest,
        }))?;
    } else {
        println!(
            "tagged {} as {}:{}",
            entry.digest,
            name.dir.display(),
            args.tag
        );
    }
    Ok(Outcome::Ok)
}

pub fn run_untag(args: UntagArgs) -> anyhow::Result<Outcome> {
    let name = ImageName::parse(&args.name)?;
    let Some(Reference::Tag(tag)) = &name.reference else {
        anyhow::bail!("ocimg untag: {} names no tag (expected DIR:TAG)", args.name);
    };
    let layout = match open("untag", &name.dir) {
        Ok(layout) => layout,
        Err(outcome) => return outcome,
    };
    let removed = match layout.untag(tag) {
        Ok(removed) => removed,
        Err(e) => {
            let check = e.is_check_failure();
            return fail("untag", check, e);
        }
    };
    if args.json {
        crate::print_json(&serde_json::json!({
            "ref": tag,
            "digest": removed.first().map(|d| &d.digest),
        }))?;
    } else {
        for entry in &removed {
            println!("untagged {}:{tag} ({})", name.dir.display(), entry.digest);
        }
    }
    Ok(Outcome::Ok)
}
