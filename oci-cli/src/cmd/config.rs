//! `ocimg config DIR:REF --tag NEWTAG [config flags] [--clear-entrypoint] [--clear-cmd]
//! [--env-remove K] [--label-remove K]`: a new config and manifest, the layers untouched.
//! Also the config flags `ocimg build` shares.

use anyhow::Context as _;
use oci_image::{
    ConfigEdits, ImageName, Reference, check_absolute, check_signal, check_user, parse_exec_array,
    parse_key_value, parse_port,
};
use oci_spec_types::Platform;

use super::init::{fail, open, parse_platform};
use crate::Outcome;

/// An exec-form array (a newtype, so that clap takes it as one value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecArray(Vec<String>);

/// The config flags of `ocimg build` and `ocimg config`; every value is checked while
/// parsing, so a bad one is a usage error (exit 2). The library's checks name the value
/// and what is wrong with it; clap adds the flag (`invalid value 'X' for '--expose
/// <PORT[/PROTO]>': the protocol must be tcp, udp or sctp`).
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigFlags {
    /// Entrypoint, exec form as a JSON array: '["/bin/app","--flag"]'.
    #[arg(long, value_name = "JSON_ARRAY", value_parser = |s: &str| parse_exec_array(s).map(ExecArray).map_err(|e| e.to_string()))]
    entrypoint: Option<ExecArray>,
    /// Cmd, exec form as a JSON array: '["/bin/sh","-c","echo hi"]'.
    #[arg(long, value_name = "JSON_ARRAY", value_parser = |s: &str| parse_exec_array(s).map(ExecArray).map_err(|e| e.to_string()))]
    cmd: Option<ExecArray>,
    /// Set an environment variable (repeatable); an existing K is replaced in place.
    #[arg(long, value_name = "K=V", value_parser = |s: &str| parse_key_value(s).map_err(|e| e.to_string()))]
    env: Vec<(String, String)>,
    /// Working directory (absolute).
    #[arg(long, value_name = "DIR", value_parser = |s: &str| check_absolute(s).map(|()| s.to_owned()).map_err(|e| e.to_string()))]
    workdir: Option<String>,
    /// User to run as: USER[:GROUP], names or numeric ids.
    #[arg(long, value_name = "USER[:GROUP]", value_parser = |s: &str| check_user(s).map(|()| s.to_owned()).map_err(|e| e.to_string()))]
    user: Option<String>,
    /// Set a label (repeatable).
    #[arg(long, value_name = "K=V", value_parser = |s: &str| parse_key_value(s).map_err(|e| e.to_string()))]
    label: Vec<(String, String)>,
    /// Expose a port (repeatable): PORT[/PROTO], 80 meaning 80/tcp.
    #[arg(long, value_name = "PORT[/PROTO]", value_parser = |s: &str| parse_port(s).map_err(|e| e.to_string()))]
    expose: Vec<String>,
    /// Add a volume (repeatable; absolute path).
    #[arg(long, value_name = "PATH", value_parser = |s: &str| check_absolute(s).map(|()| s.to_owned()).map_err(|e| e.to_string()))]
    volume: Vec<String>,
    /// Signal that stops the container, such as SIGTERM.
    #[arg(long, value_name = "SIG", value_parser = |s: &str| check_signal(s).map(|()| s.to_owned()).map_err(|e| e.to_string()))]
    stop_signal: Option<String>,
    /// Author of the image and of its new history entry.
    #[arg(long, value_name = "TEXT")]
    author: Option<String>,
    /// Comment of the new history entry.
    #[arg(long, value_name = "TEXT")]
    history_comment: Option<String>,
}

impl ConfigFlags {
    /// The edits these flags ask for.
    pub fn edits(&self) -> ConfigEdits {
        ConfigEdits {
            entrypoint: self.entrypoint.clone().map(|a| a.0),
            cmd: self.cmd.clone().map(|a| a.0),
            env: self.env.clone(),
            working_dir: self.workdir.clone(),
            user: self.user.clone(),
            labels: self.label.clone(),
            expose: self.expose.clone(),
            volumes: self.volume.clone(),
            stop_signal: self.stop_signal.clone(),
            author: self.author.clone(),
            history_comment: self.history_comment.clone(),
            ..ConfigEdits::default()
        }
    }
}

/// `--source-date-epoch N`, else the SOURCE_DATE_EPOCH environment variable.
pub(crate) fn source_date_epoch(flag: Option<i64>) -> anyhow::Result<Option<i64>> {
    if flag.is_some() {
        return Ok(flag);
    }
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => v
            .trim()
            .parse()
            .map(Some)
            .with_context(|| format!("SOURCE_DATE_EPOCH {v:?} is not a number of seconds")),
        Err(_) => Ok(None),
    }
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg config layout:1.0 --tag 1.0-debug --env DEBUG=1
  ocimg config layout:1.0 --clear-entrypoint --cmd '[\"/bin/sh\"]'")]
pub struct Args {
    /// The new tag; default: REF itself when it is a tag (as umoci does).
    #[arg(long, value_name = "NEWTAG")]
    tag: Option<String>,
    #[command(flatten)]
    flags: ConfigFlags,
    /// Remove the Entrypoint (a new --entrypoint is then set).
    #[arg(long)]
    clear_entrypoint: bool,
    /// Remove the Cmd (a new --cmd is then set).
    #[arg(long)]
    clear_cmd: bool,
    /// Remove an environment variable (repeatable).
    #[arg(long, value_name = "K")]
    env_remove: Vec<String>,
    /// Remove a label (repeatable).
    #[arg(long, value_name = "K")]
    label_remove: Vec<String>,
    /// Where REF names an index or several entries, the platform to edit
    /// (OS/ARCH[/VARIANT]; default: this machine's).
    #[arg(long, value_parser = parse_platform)]
    platform: Option<Platform>,
    /// `created` and the history time, in seconds since the epoch; defaults to the
    /// SOURCE_DATE_EPOCH environment variable, else now.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    source_date_epoch: Option<i64>,
    /// Print one JSON object `{"ref", "digest"}` on standard output.
    #[arg(long)]
    json: bool,
    /// The image to edit: DIR:REF (a tag or a digest), or DIR when it holds one image.
    #[arg(value_name = "DIR:REF")]
    source: String,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let name = ImageName::parse(&args.source)?;
    let tag = match (&args.tag, &name.reference) {
        (Some(tag), _) => tag.clone(),
        (None, Some(Reference::Tag(tag))) => tag.clone(),
        (None, _) => anyhow::bail!("ocimg config: --tag NEWTAG is needed when REF is not a tag"),
    };
    let source_date_epoch = source_date_epoch(args.source_date_epoch)?;
    let layout = match open("config", &name.dir) {
        Ok(layout) => layout,
        Err(outcome) => return outcome,
    };
    let edits = ConfigEdits {
        clear_entrypoint: args.clear_entrypoint,
        clear_cmd: args.clear_cmd,
        env_remove: args.env_remove.clone(),
        label_remove: args.label_remove.clone(),
        ..args.flags.edits()
    };
    let written = match layout.edit_config(
        name.reference.as_ref(),
        args.platform.as_ref(),
        &tag,
        &edits,
        source_date_epoch,
    ) {
        Ok(written) => written,
        Err(e) => {
            let check = e.is_check_failure();
            return fail("config", check, e);
        }
    };
    if args.json {
        crate::print_json(&serde_json::json!({
            "ref": tag,
            "digest": written.manifest.digest,
        }))?;
    } else {
        println!(
            "wrote {} as {}:{tag}",
            written.manifest.digest,
            name.dir.display()
        );
    }
    Ok(Outcome::Ok)
}
