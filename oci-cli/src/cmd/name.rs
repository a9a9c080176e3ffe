//! `ocimg name parse|resolve|discover`: image names as references, as registries.conf
//! rewrites them, and as DNS-federated discovery finds them.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use oci_naming::{ConfigLocations, HostBasedName, LocalConfig, RegistriesConf};
use oci_registry::discovery::{DiscoverError, Discoverer, Limits};
use oci_registry::http::{Client, ClientOptions};
use serde_json::{Value, json};

use crate::Outcome;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg name parse alpine
  ocimg name resolve alpine:3.20
  ocimg name discover example.com/app#1.0")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Parse and normalize a reference (docker.io, library/ added; no default tag).
    Parse(ParseArgs),
    /// List the physical references a pull would try, in order (mirrors first).
    Resolve(ResolveArgs),
    /// Find the ref engines, CAS engines and index entries of a host-based name.
    Discover(DiscoverArgs),
}

/// Which implementation's reference rules to follow.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DialectArg {
    /// github.com/distribution/reference.
    Distribution,
    /// containers/image 5.23, as skopeo 1.9 parses.
    ContainersImage,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  # docker.io/library/alpine (no tag is added)
  ocimg name parse alpine
  ocimg name parse --json ghcr.io/org/app:1.0
  # As skopeo 1.9 reads it
  ocimg name parse --dialect containers-image localhost/app")]
struct ParseArgs {
    /// The reference.
    reference: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// The grammar to follow.
    #[arg(long, value_enum, default_value = "distribution")]
    dialect: DialectArg,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg name resolve alpine
  ocimg name resolve --registries-conf ./registries.conf --json app:1.0")]
struct ResolveArgs {
    /// The reference, short or fully qualified.
    reference: String,
    /// The registries.conf to read (default: as containers/image chooses).
    #[arg(long, value_name = "FILE")]
    registries_conf: Option<PathBuf>,
    /// The only drop-in directory to read (default: the system and user registries.conf.d).
    #[arg(long, value_name = "DIR")]
    registries_conf_dir: Option<PathBuf>,
    /// Print one JSON array.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg name discover example.com/app#1.0
  # A test server on this machine, over plain http
  ocimg name discover --insecure --resolve example.com=127.0.0.1:8080 example.com/app")]
struct DiscoverArgs {
    /// The name: HOST/PATH[#FRAGMENT].
    name: String,
    #[command(flatten)]
    net: NetArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    match args.command {
        Command::Parse(a) => parse(a),
        Command::Resolve(a) => resolve(a),
        Command::Discover(a) => discover(a),
    }
}

fn parse(args: ParseArgs) -> anyhow::Result<Outcome> {
    let dialect = match args.dialect {
        DialectArg::Distribution => oci_naming::Dialect::Distribution,
        DialectArg::ContainersImage => oci_naming::Dialect::ContainersImage,
    };
    let r = match dialect.parse_normalized(&args.reference) {
        Ok(r) => r,
        Err(e) => {
            return Err(crate::check_failed(
                match hint(dialect, &args.reference, &e) {
                    Some(hint) => anyhow::anyhow!("{e}; {hint}"),
                    None => e.into(),
                },
            ));
        }
    };
    if let Some(first) = uppercase_host(dialect, &args.reference)
        && !crate::progress::quiet()
    {
        eprintln!(
            "ocimg: note: {first:?} is read as a registry host (a first component with an \
             uppercase letter names one, as Docker reads it); repository names are lowercase"
        );
    }
    let familiar = r.familiar().to_string();
    if args.json {
        crate::print_json(&json!({
            "domain": r.domain(),
            "path": r.path(),
            "tag": r.tag(),
            "digest": r.digest(),
            "name": r.name(),
            "familiar": familiar,
        }))?;
    } else {
        println!("reference: {r}");
        println!("name:      {}", r.name());
        println!("domain:    {}", r.domain());
        println!("path:      {}", r.path());
        println!("tag:       {}", r.tag().unwrap_or("-"));
        println!("digest:    {}", r.digest().unwrap_or("-"));
        println!("familiar:  {familiar}");
    }
    Ok(Outcome::Ok)
}

/// What upstream makes of a reference whose first component holds an uppercase letter,
/// for the message of an uppercase error: whether that component is read as a registry
/// host or as part of the repository name.
fn hint(dialect: oci_naming::Dialect, input: &str, error: &oci_naming::Error) -> Option<String> {
    use oci_naming::Error as E;
    if !matches!(
        error,
        E::RemoteNameUppercase { .. } | E::NameContainsUppercase { .. }
    ) {
        return None;
    }
    let (first, _) = input.split_once('/')?;
    if first == "localhost" || first.contains(['.', ':']) {
        return None;
    }
    if uppercase_host(dialect, input).is_some() {
        Some(format!(
            "{first:?} would be read as a registry host (a first component with an uppercase \
             letter, \".\" or \":\", or \"localhost\", names a registry), and the repository \
             after it must be lowercase"
        ))
    } else if first.to_lowercase() != first {
        Some(format!(
            "{first:?} is not read as a registry host (only a first component with \".\" or \
             \":\", or \"localhost\", names one), so it is part of the repository name, which \
             must be lowercase"
        ))
    } else {
        None
    }
}

/// The first component of `input` when `dialect` reads it as a registry host only
/// because it holds an uppercase letter (distribution's rule: `Foo/bar` is repository
/// `bar` on host `Foo`).
fn uppercase_host(dialect: oci_naming::Dialect, input: &str) -> Option<&str> {
    let (first, _) = input.split_once('/')?;
    let plain = first != "localhost" && !first.contains(['.', ':']);
    (dialect == oci_naming::Dialect::Distribution && plain && first.to_lowercase() != first)
        .then_some(first)
}

/// The registries.conf to read: `--registries-conf`, else `CONTAINERS_REGISTRIES_CONF`
/// (as containers/image reads it), else none (the default locations).
fn registries_conf(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(|| {
        std::env::var_os("CONTAINERS_REGISTRIES_CONF")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

fn resolve(args: ResolveArgs) -> anyhow::Result<Outcome> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let registries_conf = registries_conf(args.registries_conf);
    let locations = ConfigLocations::containers_default(
        registries_conf.as_deref(),
        args.registries_conf_dir.as_deref(),
        home.as_deref(),
    );
    let conf = RegistriesConf::load(&locations)?;
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let resolution = match conf.resolve(&args.reference, interactive) {
        Ok(r) => r,
        // Every resolve error is a refused name (blocked, ambiguous, invalid).
        Err(e) => return Err(crate::check_failed(e)),
    };
    if resolution.needs_choice {
        eprintln!(
            "ocimg: {:?} is a short name with several candidates; a pull would ask which one to use",
            args.reference
        );
    }
    for b in &resolution.blocked {
        eprintln!("ocimg: {b} is blocked in the registries configuration, left out");
    }
    if args.json {
        crate::print_json(&resolution.sources)?;
    } else {
        for s in &resolution.sources {
            let mut line = s.reference.clone();
            if s.mirror {
                line.push_str("  (mirror)");
            }
            if s.insecure {
                line.push_str("  (insecure)");
            }
            println!("{line}");
        }
    }
    Ok(Outcome::Ok)
}

fn parse_resolve(spec: &str) -> anyhow::Result<(String, SocketAddr)> {
    let (host, addr) = spec
        .split_once('=')
        .with_context(|| format!("--resolve {spec:?}: expected HOST=ADDR:PORT"))?;
    anyhow::ensure!(!host.is_empty(), "--resolve {spec:?}: empty host");
    let addr: SocketAddr = addr
        .parse()
        .with_context(|| format!("--resolve {spec:?}: {addr:?} is not ADDR:PORT"))?;
    Ok((host.to_owned(), addr))
}

/// The network options of discovery (CLI.md), shared by `name discover` and
/// `copy discover:...`.
#[derive(Debug, clap::Args)]
pub(crate) struct NetArgs {
    /// Allow plain http for the well-known URI and for engine URIs.
    #[arg(long)]
    insecure: bool,
    /// Connect to ADDR:PORT whenever HOST is asked for (repeatable).
    #[arg(long, value_name = "HOST=ADDR:PORT")]
    resolve: Vec<String>,
    /// A ref-engine-discovery.json to consult before the network (default: the XDG
    /// configuration directories).
    #[arg(long, value_name = "FILE")]
    discovery_config: Option<PathBuf>,
}

impl NetArgs {
    /// Every `--resolve HOST=ADDR:PORT`, parsed.
    pub(crate) fn connect_to(&self) -> anyhow::Result<Vec<(String, SocketAddr)>> {
        self.resolve.iter().map(|s| parse_resolve(s)).collect()
    }

    /// The discoverer these options ask for, connecting as `connect_to` says.
    pub(crate) fn discoverer(
        &self,
        connect_to: Vec<(String, SocketAddr)>,
    ) -> anyhow::Result<Discoverer> {
        let local = match &self.discovery_config {
            Some(file) => LocalConfig::load_file(file)?,
            None => LocalConfig::load_xdg()?,
        };
        let client = Client::new(ClientOptions {
            insecure: self.insecure,
            connect_to,
            ..ClientOptions::default()
        });
        Ok(Discoverer::new(client, local, Limits::default()))
    }
}

fn discover(args: DiscoverArgs) -> anyhow::Result<Outcome> {
    let connect_to = args.net.connect_to()?;
    let name = match HostBasedName::parse(&args.name) {
        Ok(n) => n,
        Err(e) => return Err(crate::check_failed(e)),
    };
    let discoverer = args.net.discoverer(connect_to)?;
    let found = match discoverer.discover(&name) {
        Ok(found) => found,
        // A ref engine answered and rejected the name: a failed check; else unreachable.
        Err(
            e @ DiscoverError::NotFound {
                index_seen: true, ..
            },
        ) => return Err(crate::check_failed(e)),
        Err(e) => return Err(e.into()),
    };
    for a in &found.tried {
        eprintln!("ocimg: {} did not answer: {}", a.host, a.reasons());
    }
    let raw = |engines: &[oci_naming::Engine]| -> Vec<Value> {
        engines.iter().map(|e| e.raw.clone()).collect()
    };
    if args.json {
        crate::print_json(&json!({
            "name": found.name,
            "answeredBy": found.answered_by,
            "tried": found.tried.iter().map(|a| a.host.clone()).collect::<Vec<_>>(),
            "refEngines": raw(&found.ref_engines),
            "casEngines": raw(&found.cas_engines),
            "entries": found.entries.iter().map(|e| e.descriptor.clone()).collect::<Vec<_>>(),
        }))?;
    } else {
        println!("answered by: {}", found.answered_by);
        for a in &found.tried {
            println!("tried:       {}", a.host);
        }
        println!("index:       {}", found.index_url);
        for e in &found.entries {
            println!(
                "entry:       {} {} {}",
                e.digest.as_str(),
                e.media_type,
                e.size
            );
        }
    }
    Ok(Outcome::Ok)
}
