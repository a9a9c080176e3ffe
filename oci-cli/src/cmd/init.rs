//! `ocimg init [--json] DIR`: creates an empty OCI image layout. Also the helpers the
//! layout commands share.

use std::path::PathBuf;

use oci_image::{Endpoint, Layout, OpenOptions, Source};
use oci_spec_types::Platform;

use crate::Outcome;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg init layout
  ocimg init --json /tmp/layout")]
pub struct Args {
    /// Print one JSON object `{"layout"}` on standard output.
    #[arg(long)]
    json: bool,
    /// The layout directory (created when missing; must not hold a layout yet).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let layout = match Layout::init(&args.dir) {
        Ok(layout) => layout,
        Err(e) => return fail("init", false, e),
    };
    if args.json {
        crate::print_json(&serde_json::json!({ "layout": layout.root() }))?;
    } else {
        println!("initialized OCI image layout {}", layout.root().display());
    }
    Ok(Outcome::Ok)
}

/// Reports a library error through `main`: exit 1 when a check failed, else exit 2.
pub(crate) fn fail<E>(command: &str, check_failed: bool, error: E) -> anyhow::Result<Outcome>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let error = anyhow::Error::new(error).context(command.to_owned());
    Err(if check_failed {
        crate::check_failed(error)
    } else {
        error
    })
}

/// Opens a layout, or reports why it cannot be opened.
pub(crate) fn open(
    command: &str,
    dir: &std::path::Path,
) -> Result<Layout, anyhow::Result<Outcome>> {
    Layout::open(dir).map_err(|e| {
        let check = e.is_check_failure();
        fail(command, check, e)
    })
}

/// Opens IMAGE for reading, whatever its transport (CLI.md: `oci:DIR[:REF]`,
/// `oci-archive:FILE[:REF]`, `docker-archive:FILE[:NAME:TAG]`, `docker://HOST/REPO...`,
/// `discover:NAME`, or a bare `DIR[:REF]`), or reports why it cannot be opened. `net`
/// configures discovery; a registry is reached with the default registry options.
// Commands without registry options (and those in flight on other branches) use it.
#[allow(dead_code)]
pub(crate) fn open_image(
    command: &str,
    image: &str,
    net: &super::name::NetArgs,
) -> Result<Box<dyn Source>, anyhow::Result<Outcome>> {
    open_endpoint_with(command, image, OpenOptions::default(), Some(net))
}

/// Opens IMAGE for reading as [`open_image`] does, reaching a registry with `registry`'s
/// options (and discovery with `net`'s, when given).
pub(crate) fn open_image_with(
    command: &str,
    image: &str,
    registry: &super::registry::RegistryArgs,
    net: Option<&super::name::NetArgs>,
) -> Result<Box<dyn Source>, anyhow::Result<Outcome>> {
    let options = OpenOptions {
        registry: registry.options(),
        ..OpenOptions::default()
    };
    open_endpoint_with(command, image, options, net)
}

fn open_endpoint_with(
    command: &str,
    image: &str,
    mut options: OpenOptions,
    net: Option<&super::name::NetArgs>,
) -> Result<Box<dyn Source>, anyhow::Result<Outcome>> {
    let endpoint = Endpoint::parse_image(image).map_err(|e| fail(command, false, e))?;
    if let (Endpoint::Discover(_), Some(net)) = (&endpoint, net) {
        let discoverer = net
            .connect_to()
            .and_then(|connect_to| net.discoverer(connect_to))
            .map_err(|e| Err(e.context(command.to_owned())))?;
        options.discoverer = Some(discoverer);
    }
    oci_image::open_endpoint(&endpoint, &options).map_err(|e| {
        let check = e.is_check_failure();
        fail(command, check, e)
    })
}

/// The `--platform` value parser.
pub(crate) fn parse_platform(s: &str) -> Result<Platform, String> {
    Platform::parse(s).map_err(|e| e.to_string())
}
