//! `ocimg login HOST` and `ocimg logout HOST | --all`: credentials checked against the
//! registry, then stored the way `skopeo login` stores them (auth.json at `--authfile`,
//! `REGISTRY_AUTH_FILE` or `${XDG_RUNTIME_DIR}/containers/auth.json`, or the
//! `credHelpers` helper), and removed the way `skopeo logout` removes them.

use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use oci_registry::credentials::{AuthEnv, AuthFileEditor, Stored};
use oci_registry::proxy::ProxyConfig;
use oci_registry::tls::TlsOptions;

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
    match check::credentials(&registry, &username, &password, &tls)? {
        check::Verdict::Accepted => {}
        check::Verdict::Rejected(why) => {
            return Err(crate::check_failed(anyhow::anyhow!(
                "{registry}: the registry refused the credentials of {username} ({why}); nothing stored"
            )));
        }
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

/// The registry's answer to credentials: `GET /v2/` with them, through the bearer token
/// endpoint when the registry challenges for one.
// TODO(reg-core): replace with oci_registry's ping and authentication once they land.
mod check {
    use super::*;

    /// Whether the registry took the credentials.
    pub enum Verdict {
        Accepted,
        Rejected(String),
    }

    fn new_agent(url: &str, tls: &TlsOptions, host: &str) -> anyhow::Result<ureq::Agent> {
        let proxy = ProxyConfig::from_process().ureq_proxy_for(url)?;
        let tls = tls.config_for(host)?;
        Ok(ureq::Agent::config_builder()
            .tls_config(tls)
            .proxy(proxy)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)))
            .timeout_connect(Some(Duration::from_secs(10)))
            .user_agent(concat!("ocimg/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent())
    }

    /// `Scheme k="v", k2=v2` split into the scheme and its parameters.
    fn challenge(header: &str) -> (String, Vec<(String, String)>) {
        let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        let mut params = Vec::new();
        let mut chars = rest.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
                chars.next();
            }
            let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
            if name.is_empty() {
                break;
            }
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                value = chars.by_ref().take_while(|c| *c != ',').collect();
            }
            params.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        (scheme.to_ascii_lowercase(), params)
    }

    fn encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                b => format!("%{b:02X}"),
            })
            .collect()
    }

    pub fn credentials(
        registry: &str,
        username: &str,
        password: &str,
        tls: &TlsOptions,
    ) -> anyhow::Result<Verdict> {
        let host = if registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            registry
        };
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
        );
        let https = format!("https://{host}/v2/");
        let (url, agent, response) = {
            let agent = new_agent(&https, tls, registry)?;
            match agent.get(&https).call() {
                Ok(response) => (https, agent, response),
                Err(e) if !tls.verify => {
                    let http = format!("http://{host}/v2/");
                    tracing::debug!(error = %e, "https failed; trying plain http");
                    let agent = new_agent(&http, tls, registry)?;
                    let response = agent
                        .get(&http)
                        .call()
                        .with_context(|| format!("GET {http} (after {https}: {e})"))?;
                    (http, agent, response)
                }
                Err(e) => return Err(e).with_context(|| format!("GET {https}")),
            }
        };
        let status = response.status().as_u16();
        if status != 401 {
            anyhow::ensure!(
                (200..300).contains(&status),
                "GET {url}: HTTP status {status}"
            );
            // The registry asks for nothing: any credentials do.
            return Ok(Verdict::Accepted);
        }
        let header = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let (scheme, params) = challenge(&header);
        match scheme.as_str() {
            "basic" => {
                let status = agent
                    .get(&url)
                    .header("Authorization", &basic)
                    .call()
                    .with_context(|| format!("GET {url}"))?
                    .status()
                    .as_u16();
                match status {
                    200..=299 => Ok(Verdict::Accepted),
                    401 | 403 => Ok(Verdict::Rejected(format!(
                        "GET {url}: HTTP status {status}"
                    ))),
                    _ => anyhow::bail!("GET {url}: HTTP status {status}"),
                }
            }
            "bearer" => {
                let param = |name: &str| {
                    params
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.as_str())
                };
                let realm = param("realm")
                    .with_context(|| format!("GET {url}: bearer challenge without a realm"))?;
                let mut token_url = format!("{realm}?account={}", encode(username));
                if let Some(service) = param("service") {
                    token_url.push_str(&format!("&service={}", encode(service)));
                }
                let agent = new_agent(&token_url, tls, registry)?;
                let status = agent
                    .get(&token_url)
                    .header("Authorization", &basic)
                    .call()
                    .with_context(|| format!("GET {realm}"))?
                    .status()
                    .as_u16();
                match status {
                    200..=299 => Ok(Verdict::Accepted),
                    401 | 403 => Ok(Verdict::Rejected(format!(
                        "token endpoint {realm}: HTTP status {status}"
                    ))),
                    _ => anyhow::bail!("token endpoint {realm}: HTTP status {status}"),
                }
            }
            _ => anyhow::bail!("GET {url}: 401 with an unknown challenge {header:?}"),
        }
    }
}
