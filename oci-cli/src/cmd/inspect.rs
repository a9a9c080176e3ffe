//! `ocimg inspect [--platform P] [--json] IMAGE`: an image's manifest, config, layers
//! and history, or an index, from any transport. Every blob read is verified.

use oci_image::Inspection;
use oci_spec_types::Platform;
use serde_json::{Value, json};

use super::init::{fail, open_image_with, parse_platform};
use crate::Outcome;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg inspect layout:1.0
  ocimg inspect --platform linux/arm64 --json oci:layout:multi
  ocimg inspect docker-archive:app.tar
  ocimg inspect discover:example.com/app#1.0")]
pub struct Args {
    /// Pick this platform's manifest (OS/ARCH[/VARIANT]) where several entries share the
    /// name, and descend into an index; without it an index is shown as such.
    #[arg(long, value_parser = parse_platform)]
    platform: Option<Platform>,
    /// Print one JSON object on standard output: `{"descriptor", "manifest", "config",
    /// "layers": [{"digest", "size", "mediaType", "diffID"}], "history"}`, or
    /// `{"descriptor", "index"}` for an index.
    #[arg(long)]
    json: bool,
    /// The image: oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:NAME:TAG],
    /// docker://HOST/REPO[:TAG|@DIGEST], discover:HOST/PATH[#FRAGMENT], or DIR[:REF] (a
    /// layout; DIR alone when it holds one image).
    #[arg(value_name = "IMAGE")]
    name: String,
    // Network options for discover: images.
    #[command(flatten)]
    net: super::name::NetArgs,
    // Options for docker:// images.
    #[command(flatten)]
    registry: super::registry::RegistryArgs,
}

/// A document's exact bytes as a JSON value.
fn value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let source = match open_image_with("inspect", &args.name, &args.registry, Some(&args.net)) {
        Ok(source) => source,
        Err(outcome) => return outcome,
    };
    let inspection = match oci_image::inspect(source.as_ref(), args.platform.as_ref()) {
        Ok(inspection) => inspection,
        Err(e) => {
            let check = e.is_check_failure();
            return fail("inspect", check, e);
        }
    };
    match inspection {
        Inspection::Index {
            descriptor,
            bytes,
            index,
        } => {
            if args.json {
                crate::print_json(&json!({
                    "descriptor": descriptor,
                    "index": value(&bytes),
                }))?;
            } else {
                println!("index {} ({} bytes)", descriptor.digest, descriptor.size);
                for entry in index.entries().unwrap_or_default() {
                    println!(
                        "  {}\t{}\t{}",
                        entry.digest,
                        oci_image::platform_string(entry).unwrap_or_else(|| "-".to_owned()),
                        entry.media_type
                    );
                }
            }
        }
        Inspection::Image(image) => {
            let history = image
                .config
                .as_ref()
                .and_then(|c| c.history.clone())
                .unwrap_or_default();
            if args.json {
                let layers: Vec<Value> = image
                    .layers
                    .iter()
                    .map(|l| {
                        json!({
                            "digest": l.descriptor.digest,
                            "size": l.descriptor.size,
                            "mediaType": l.descriptor.media_type,
                            "diffID": l.diff_id,
                        })
                    })
                    .collect();
                crate::print_json(&json!({
                    "descriptor": image.descriptor,
                    "manifest": value(&image.manifest_bytes),
                    "config": value(&image.config_bytes),
                    "layers": layers,
                    "history": history,
                }))?;
            } else {
                println!(
                    "manifest {} ({} bytes, {})",
                    image.descriptor.digest, image.descriptor.size, image.descriptor.media_type
                );
                if let Some(config) = &image.config {
                    println!(
                        "platform {}/{}{}",
                        config.os,
                        config.architecture,
                        config
                            .variant
                            .as_deref()
                            .map(|v| format!("/{v}"))
                            .unwrap_or_default()
                    );
                    if let Some(created) = &config.created {
                        println!("created  {created}");
                    }
                }
                println!("layers");
                for l in &image.layers {
                    println!(
                        "  {}\t{}\t{}",
                        l.descriptor.digest, l.descriptor.size, l.descriptor.media_type
                    );
                }
                if !history.is_empty() {
                    println!("history");
                    for h in &history {
                        println!(
                            "  {}\t{}{}",
                            h.created.as_deref().unwrap_or("-"),
                            h.created_by.as_deref().unwrap_or(""),
                            if h.empty_layer == Some(true) {
                                " (empty layer)"
                            } else {
                                ""
                            }
                        );
                    }
                }
            }
        }
    }
    Ok(Outcome::Ok)
}
