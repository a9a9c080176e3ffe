//! `ocimg login HOST` and `ocimg logout HOST | --all`: credentials checked against the
//! registry, then stored the way `skopeo login` stores them (auth.json at `--authfile`,
//! `REGISTRY_AUTH_FILE` or `${XDG_RUNTIME_DIR}/containers/auth.json`, or the
//! `credHelpers` helper), and removed the way `skopeo logout` removes them.

use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use oci_registry::credentials::{AuthEnv, AuthFileEditor, Credential, Stored};
use oci_registry::tls::{ContainersNetwork, TlsOptions};
use oci_registry::{ErrorKind, RegistryClient, RegistryOptions};

use crate::Outcome;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    ocimg login registry.example.com -u ann\n  \
    printf '%s' \"$TOKEN\" | ocimg login ghcr.io -u ann --password-stdin\n\n\
    Without --password or --password-stdin the password is asked on the terminal.")]
pub struct Args {
    /// Print one JSON object `{"registry", "authfile"}` on standard output.
    #[arg(long)]
    json: bool,
    /// The user name (asked on the terminal when not given).
    #[arg(short = 'u', long, value_name = "USER")]
    username: Option<String>,
    /// Read the password from standard input (up to its end; one trailing newline is
    /// dropped).
    #[arg(long, conflicts_with = "password", requires = "username")]
    password_stdin: bool,
    /// The password, given on the command line (visible to other users of this machine
    /// in the process list: prefer the prompt or --password-stdin).
    #[arg(short = 'p', long, value_name = "PASSWORD")]
    password: Option<String>,
    #[command(flatten)]
    file: AuthfileArg,
    /// Verify the registry's TLS certificate; `--tls-verify=false` also allows plain
    /// HTTP.
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        require_equals = true,
        action = clap::ArgAction::Set
    )]
    tls_verify: bool,
    /// CA certificates (*.crt) and a client certificate pair (*.cert, *.key) for the
    /// registry, instead of /etc/containers/certs.d/HOST/.
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,
    /// The registry (`host[:port]`), or a namespace or repository under it
    /// (`host/ns/repo`) to keep credentials for that part only.
    #[arg(value_name = "HOST")]
    host: String,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  ocimg logout registry.example.com\n  ocimg logout --all")]
pub struct LogoutArgs {
    /// Print one JSON object `{"registry", "authfile"}` on standard output (`registry`
    /// null with --all).
    #[arg(long)]
    json: bool,
    /// Remove the credentials of every registry.
    #[arg(long, conflicts_with = "host")]
    all: bool,
    #[command(flatten)]
    file: AuthfileArg,
    /// The registry (or namespace) whose credentials are removed, as given to login.
    #[arg(value_name = "HOST", required_unless_present = "all")]
    host: Option<String>,
}

#[derive(Debug, clap::Args)]
struct AuthfileArg {
    /// The credentials file to change (default: REGISTRY_AUTH_FILE, then
    /// ${XDG_RUNTIME_DIR}/containers/auth.json).
    #[arg(long, value_name = "FILE")]
    authfile: Option<PathBuf>,
}

/// The key a login is stored under: `HOST` or `HOST/PATH`, a URL's scheme and trailing
/// slash dropped; a tag or digest is refused.
fn credentials_key(arg: &str) -> anyhow::Result<String> {
    let key = arg
        .strip_prefix("https://")
        .or_else(|| arg.strip_prefix("http://"))
        .unwrap_or(arg)
        .trim_end_matches('/');
    anyhow::ensure!(!key.is_empty(), "{arg:?}: no registry named");
    if key.contains('/') {
        let reference = oci_naming::Reference::parse(key)
            .with_context(|| format!("{arg:?} is not a registry or repository name"))?;
        anyhow::ensure!(
            reference.tag().is_none() && reference.digest().is_none(),
            "{arg:?}: credentials are kept for a registry or repository, not a tag or digest"
        );
    } else {
        anyhow::ensure!(
            !key.contains(['@', ' ']),
            "{arg:?} is not a registry host name"
        );
    }
    Ok(key.to_owned())
}

/// Reads a line from the terminal, with echo off for secrets.
fn prompt(label: &str, secret: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    eprint!("{label}");
    let _ = std::io::stderr().flush();
    let restore = if secret {
        let old = rustix::termios::tcgetattr(&stdin).context("read terminal settings")?;
        let mut quiet = old.clone();
        quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
        rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet)
            .context("turn terminal echo off")?;
        Some(old)
    } else {
        None
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(old) = restore {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &old);
        eprintln!();
    }
    read.context("read from the terminal")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

fn username(args: &Args) -> anyhow::Result<String> {
    let name = match &args.username {
        Some(name) => name.clone(),
        None if std::io::stdin().is_terminal() => prompt("Username: ", false)?,
        None => anyhow::bail!("no user name: give -u USER (standard input is not a terminal)"),
    };
    anyhow::ensure!(!name.is_empty(), "the user name is empty");
    Ok(name)
}

fn password(args: &Args) -> anyhow::Result<String> {
    let password = if let Some(password) = &args.password {
        password.clone()
    } else if args.password_stdin {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("read the password from standard input")?;
        let text = String::from_utf8(bytes).context("the password is not UTF-8")?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        text.strip_suffix('\r').unwrap_or(text).to_owned()
    } else if std::io::stdin().is_terminal() {
        prompt("Password: ", true)?
    } else {
        anyhow::bail!(
            "no password: standard input is not a terminal; use --password-stdin (or --password)"
        );
    };
    anyhow::ensure!(!password.is_empty(), "the password is empty");
    Ok(password)
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let key = credentials_key(&args.host)?;
    let registry = key.split('/').next().unwrap_or(&key).to_owned();
    let env = AuthEnv::from_process();
    let authfile = env.primary_file(args.file.authfile.as_deref());
    let username = username(&args)?;
    let password = password(&args)?;
    let tls = TlsOptions {
        verify: args.tls_verify,
        cert_dir: args.cert_dir.clone(),
        ..TlsOptions::default()
    };
    if let Some(why) = refusal(&registry, &username, &password, tls)? {
        return Err(crate::check_failed(anyhow::Error::new(why).context(
            format!(
                "{registry}: the registry refused the credentials of {username}; nothing stored"
            ),
        )));
    }
    let editor = AuthFileEditor::new(authfile.clone(), &env);
    let stored = editor
        .store(&key, &username, &password)
        .with_context(|| format!("store the credentials for {key}"))?;
    if args.json {
        crate::print_json(&serde_json::json!({ "registry": key, "authfile": authfile }))?;
    } else {
        if let Stored::Helper(name) = &stored {
            eprintln!("credentials stored by docker-credential-{name}");
        }
        println!("Login Succeeded!");
    }
    Ok(Outcome::Ok)
}

pub fn run_logout(args: LogoutArgs) -> anyhow::Result<Outcome> {
    let env = AuthEnv::from_process();
    let authfile = env.primary_file(args.file.authfile.as_deref());
    let editor = AuthFileEditor::new(authfile.clone(), &env);
    let key = match &args.host {
        Some(host) if !args.all => {
            let key = credentials_key(host)?;
            let removed = editor
                .remove(&key)
                .with_context(|| format!("remove the credentials for {key}"))?;
            anyhow::ensure!(
                removed,
                "not logged in to {key} (no credentials for it in {})",
                authfile.display()
            );
            Some(key)
        }
        _ => {
            editor
                .remove_all()
                .context("remove the credentials of every registry")?;
            None
        }
    };
    if args.json {
        crate::print_json(&serde_json::json!({ "registry": key, "authfile": authfile }))?;
    } else {
        match &key {
            Some(key) => println!("Removed login credentials for {key}"),
            None => println!("Removed login credentials for all registries"),
        }
    }
    Ok(Outcome::Ok)
}

/// Whether the registry took the credentials: `GET /v2/` with them (through the bearer
/// token endpoint where the registry challenges for one). A refusal is `Ok(Some(why))`;
/// anything else that fails (network, TLS, an odd answer) is an error.
fn refusal(
    registry: &str,
    username: &str,
    password: &str,
    tls: TlsOptions,
) -> anyhow::Result<Option<oci_registry::Error>> {
    let client = RegistryClient::new(RegistryOptions {
        credentials: Arc::new(Credential::Basic {
            username: username.to_owned(),
            password: password.to_owned(),
        }),
        insecure_all: !tls.verify,
        network: Arc::new(ContainersNetwork::from_process(tls)),
        ..RegistryOptions::default()
    });
    match client.ping(registry) {
        Ok(()) => Ok(None),
        Err(e) if matches!(e.kind(), ErrorKind::Unauthorized | ErrorKind::Denied) => Ok(Some(e)),
        Err(e) => Err(e.into()),
    }
}
