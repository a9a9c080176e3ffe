//! `ocimg index create [--json] DIR:TAG DIR:REF...`: a multi-platform image index of
//! images of one layout, each entry with the platform of its image's config.

use oci_image::{ImageName, Reference};

use super::init::{fail, open};
use crate::Outcome;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg index create layout:multi layout:amd64 layout:arm64")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create an image index from images of a layout and tag it.
    Create(CreateArgs),
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  # One index over two images of the layout, tagged multi
  ocimg index create layout:multi layout:amd64 layout:arm64
  ocimg index create --json layout:multi layout:sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")]
pub struct CreateArgs {
    /// Print one JSON object `{"ref", "digest"}` on standard output.
    #[arg(long)]
    json: bool,
    /// The layout and the new index's tag: DIR:TAG.
    #[arg(value_name = "DIR:TAG")]
    name: String,
    /// The images, DIR:REF each (a tag or a digest), all in DIR.
    #[arg(value_name = "DIR:REF", required = true)]
    images: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    match args.command {
        Command::Create(a) => create(a),
    }
}

fn create(args: CreateArgs) -> anyhow::Result<Outcome> {
    let name = ImageName::parse(&args.name)?;
    let Some(Reference::Tag(tag)) = &name.reference else {
        anyhow::bail!(
            "ocimg index create: {} names no tag (expected DIR:TAG)",
            args.name
        );
    };
    let mut sources = Vec::with_capacity(args.images.len());
    for image in &args.images {
        let image_name = ImageName::parse(image)?;
        if !same_dir(&image_name.dir, &name.dir) {
            anyhow::bail!(
                "ocimg index create: {image} is not in layout {} (every image must be in the same DIR)",
                name.dir.display()
            );
        }
        let Some(reference) = image_name.reference else {
            anyhow::bail!("ocimg index create: {image} names no image (expected DIR:REF)");
        };
        sources.push(reference);
    }
    let layout = match open("index create", &name.dir) {
        Ok(layout) => layout,
        Err(outcome) => return outcome,
    };
    let entry = match layout.create_index(tag, &sources) {
        Ok(entry) => entry,
        Err(e) => {
            let check = e.is_check_failure();
            return fail("index create", check, e);
        }
    };
    if args.json {
        crate::print_json(&serde_json::json!({ "ref": tag, "digest": entry.digest }))?;
    } else {
        println!(
            "created index {} as {}:{tag}",
            entry.digest,
            name.dir.display()
        );
    }
    Ok(Outcome::Ok)
}

/// Whether two paths name the same directory (spelled differently or not).
fn same_dir(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
