//! `ocimg key generate PREFIX [--passphrase-file FILE] [--json]`: a cosign key pair,
//! `PREFIX.key` (encrypted as cosign writes it) and `PREFIX.pub` (SPKI PEM).

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use oci_sign::cosign::CosignPrivateKey;

use crate::Outcome;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg key generate cosign")]
pub struct Args {
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KeyCommand {
    /// Generate a cosign key pair: PREFIX.key (encrypted) and PREFIX.pub.
    Generate(GenerateArgs),
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  # cosign.key and cosign.pub, the key encrypted with the passphrase in pw.txt
  ocimg key generate --passphrase-file pw.txt cosign
  # An empty passphrase, as cosign generate-key-pair with COSIGN_PASSWORD=''
  ocimg key generate --json test-key")]
struct GenerateArgs {
    /// Print one JSON object `{"privateKey", "publicKey"}` on standard output.
    #[arg(long)]
    json: bool,
    /// Read the passphrase from FILE (its first line); without it the passphrase is empty.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Where to write: PREFIX.key and PREFIX.pub (neither may exist).
    #[arg(value_name = "PREFIX")]
    prefix: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    match args.command {
        KeyCommand::Generate(args) => generate(args),
    }
}

/// Reads a passphrase file as skopeo does: the first line, without its line end.
pub(crate) fn read_passphrase(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("read passphrase file {}", path.display()))?;
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    Ok(line.strip_suffix(b"\r").unwrap_or(line).to_vec())
}

fn write_new(path: &Path, mode: u32, contents: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("write {}", path.display()))
}

fn generate(args: GenerateArgs) -> anyhow::Result<Outcome> {
    let passphrase = match &args.passphrase_file {
        Some(path) => read_passphrase(path)?,
        None => Vec::new(),
    };
    let mut private = args.prefix.clone().into_os_string();
    private.push(".key");
    let mut public = args.prefix.into_os_string();
    public.push(".pub");
    let (private, public) = (PathBuf::from(private), PathBuf::from(public));
    for path in [&private, &public] {
        anyhow::ensure!(
            !path.exists(),
            "{} exists; not overwriting it",
            path.display()
        );
    }
    let key = CosignPrivateKey::generate();
    write_new(&private, 0o600, &key.to_encrypted_pem(&passphrase))?;
    write_new(&public, 0o644, &key.public_key().to_pem())?;
    if args.json {
        crate::print_json(&serde_json::json!({ "privateKey": private, "publicKey": public }))?;
    } else {
        println!("private key written to {}", private.display());
        println!("public key written to {}", public.display());
    }
    Ok(Outcome::Ok)
}
