//! `ocimg sign IMAGE --key FILE --identity REF [--format simple|cosign] [--storage
//! tag|referrers] [--passphrase-file FILE] [--registries.d DIR] [--json]`: signs the
//! manifest digest IMAGE resolves to and stores the signature with the image.

use std::path::PathBuf;

use anyhow::Context as _;
use oci_image::signatures::{NewSignature, Storage, open_signature_destination, put_signature};
use oci_image::{Endpoint, MAX_DOCUMENT_SIZE};
use oci_sign::cosign::{COSIGN_PRIVATE_KEY_LABEL, CosignPrivateKey, SIGSTORE_PRIVATE_KEY_LABEL};
use oci_sign::openpgp::SecretKey;
use oci_sign::{COSIGN_TYPE, Payload, SimpleSignOptions, manifest_digest, sign_simple};

use super::init::{fail, open_image};
use super::key::read_passphrase;
use crate::Outcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FormatArg {
    /// containers/image simple signing (an OpenPGP signed message).
    Simple,
    /// cosign's key-based signature (ECDSA P-256).
    Cosign,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StorageArg {
    /// The format's own place: cosign's sha256-<hex>.sig tag; for a simple signature the
    /// lookaside staging directory registries.d names for the image's registry, else (a
    /// layout or archive) a referrer beside the image.
    Tag,
    /// An OCI 1.1 referrer: an artifact manifest whose subject is the signed manifest.
    Referrers,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ocimg sign oci:img:v1 --key signer.gpg --identity example.com/app:v1\n  ocimg sign oci:img:v1 --key cosign.key --passphrase-file pw --identity example.com/app"
)]
pub struct Args {
    /// The image: oci:DIR[:REF], oci-archive:FILE[:REF], or DIR[:REF] (a layout); its
    /// manifest (or index) digest is signed.
    #[arg(value_name = "IMAGE")]
    name: String,
    /// The private key: an OpenPGP secret key (`gpg --export-secret-keys`, binary or
    /// armored) or a cosign key (`ocimg key generate`, `cosign generate-key-pair`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The identity signed: a Docker reference, normalized (`example.com/app:v1`; simple
    /// signatures should name a tag).
    #[arg(long, value_name = "REF")]
    identity: String,
    /// The signature format (default: from the key, `simple` for OpenPGP, `cosign` for a
    /// cosign key).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Where the signature goes.
    #[arg(long, value_enum, default_value = "tag")]
    storage: StorageArg,
    /// Read the key's passphrase from FILE (its first line); without it, empty.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// The registries.d directory naming lookaside staging directories (default:
    /// ~/.config/containers/registries.d when it exists, else /etc/containers/registries.d).
    #[arg(long = "registries.d", value_name = "DIR")]
    registries_d: Option<PathBuf>,
    /// Print one JSON object `{"image", "digest", "format", "stored"}` on standard output.
    #[arg(long)]
    json: bool,
    // Network options for discover: images.
    #[command(flatten)]
    net: super::name::NetArgs,
}

/// A signing key, by its kind.
enum Key {
    OpenPgp(Box<SecretKey>),
    Cosign(Box<CosignPrivateKey>),
}

fn read_key(bytes: &[u8], passphrase: &[u8]) -> anyhow::Result<Key> {
    let text = String::from_utf8_lossy(bytes);
    if text.contains(&format!("-----BEGIN {COSIGN_PRIVATE_KEY_LABEL}-----"))
        || text.contains(&format!("-----BEGIN {SIGSTORE_PRIVATE_KEY_LABEL}-----"))
    {
        return Ok(Key::Cosign(Box::new(CosignPrivateKey::from_encrypted_pem(
            bytes, passphrase,
        )?)));
    }
    Ok(Key::OpenPgp(Box::new(SecretKey::from_bytes(bytes)?)))
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let passphrase = match &args.passphrase_file {
        Some(path) => read_passphrase(path)?,
        None => Vec::new(),
    };
    let key_bytes =
        std::fs::read(&args.key).with_context(|| format!("read key {}", args.key.display()))?;
    let key =
        read_key(&key_bytes, &passphrase).with_context(|| format!("key {}", args.key.display()))?;
    let format = match (&key, args.format) {
        (Key::OpenPgp(_), None | Some(FormatArg::Simple)) => FormatArg::Simple,
        (Key::Cosign(_), None | Some(FormatArg::Cosign)) => FormatArg::Cosign,
        (_, Some(f)) => anyhow::bail!(
            "--format {} does not fit the key {} (an {} key)",
            if f == FormatArg::Simple {
                "simple"
            } else {
                "cosign"
            },
            args.key.display(),
            if f == FormatArg::Simple {
                "cosign"
            } else {
                "OpenPGP"
            }
        ),
    };
    let identity = oci_naming::Reference::parse_normalized(&args.identity)
        .with_context(|| format!("--identity {:?}", args.identity))?;
    let config = super::policy::load_registries_d(args.registries_d.as_deref())?;
    let endpoint = Endpoint::parse_image(&args.name).map_err(|e| anyhow::anyhow!(e))?;
    let source = match open_image("sign", &args.name, &args.net) {
        Ok(source) => source,
        Err(outcome) => return outcome,
    };
    let signed = source.root().clone();
    let manifest = match source.read_small(&signed, MAX_DOCUMENT_SIZE) {
        Ok(m) => m,
        Err(e) => {
            let check = e.is_check_failure();
            return fail("sign", check, e);
        }
    };
    let signature = match &key {
        Key::OpenPgp(key) => NewSignature::Simple(sign_simple(
            key,
            &passphrase,
            &manifest,
            &identity.to_string(),
            &SimpleSignOptions::default(),
        )?),
        Key::Cosign(key) => {
            let mut payload = Payload::new(&manifest_digest(&manifest)?, &identity.to_string());
            payload.signature_type = COSIGN_TYPE.to_owned();
            let payload = payload.to_bytes();
            NewSignature::Cosign {
                signature: key.sign(&payload),
                payload,
            }
        }
    };
    let storage = match args.storage {
        StorageArg::Tag => Storage::Tag,
        StorageArg::Referrers => Storage::Referrers,
    };
    let destination = open_signature_destination(&endpoint).context("sign")?;
    let origin = put_signature(
        destination.as_ref(),
        Some(source.as_ref()),
        &signed,
        &signature,
        storage,
        &config,
    )
    .map_err(|e| {
        let check = e.is_check_failure();
        fail("sign", check, e).unwrap_err()
    })?;
    destination.finish().context("sign")?;
    let stored = format!("{}: {origin}", source.describe());
    let format = if format == FormatArg::Simple {
        "simple"
    } else {
        "cosign"
    };
    if args.json {
        crate::print_json(&serde_json::json!({
            "image": args.name,
            "digest": signed.digest,
            "format": format,
            "stored": [stored],
        }))?;
    } else {
        println!("signed {} ({format}); stored in {stored}", signed.digest);
    }
    Ok(Outcome::Ok)
}
