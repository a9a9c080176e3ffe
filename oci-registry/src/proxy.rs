//! Proxies from `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`, chosen per scheme as Go's
//! `golang.org/x/net/http/httpproxy` chooses them (the rules skopeo and the containers
//! tools follow):
//!
//! - each variable is read in upper case, else lower case; `HTTP_PROXY` is ignored when
//!   `REQUEST_METHOD` is set (a CGI environment, where a client can set it);
//! - `https` URLs use `HTTPS_PROXY`, `http` URLs `HTTP_PROXY`; a value without a scheme
//!   means `http://VALUE`;
//! - `localhost` and loopback addresses are never proxied;
//! - `NO_PROXY` is a comma-separated list of `*` (nothing is proxied), IP addresses and
//!   CIDR blocks, and domain names that match themselves and their subdomains
//!   (`example.com`), or subdomains only (`.example.com`, `*.example.com`); any entry may
//!   carry a `:port` (`[v6]:port` for IPv6).
//!
//! Host names are compared as ASCII, lower case; internationalized names are compared as
//! given (registry names are ASCII).
//!
//! ```
//! use oci_registry::proxy::{ProxyConfig, ProxyEnv};
//!
//! let proxies = ProxyConfig::new(&ProxyEnv {
//!     https_proxy: "proxy.corp:3128".into(),
//!     no_proxy: ".internal,10.0.0.0/8".into(),
//!     ..ProxyEnv::default()
//! });
//! assert_eq!(
//!     proxies.proxy_for("https://quay.io/v2/").unwrap().as_deref(),
//!     Some("http://proxy.corp:3128")
//! );
//! assert_eq!(proxies.proxy_for("https://registry.internal/v2/").unwrap(), None);
//! assert_eq!(proxies.proxy_for("https://10.1.2.3:5000/v2/").unwrap(), None);
//! assert_eq!(proxies.proxy_for("https://localhost:5000/v2/").unwrap(), None);
//! ```

use std::net::IpAddr;

/// The proxy settings as the environment spells them (empty: unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    /// `HTTP_PROXY` (or `http_proxy`).
    pub http_proxy: String,
    /// `HTTPS_PROXY` (or `https_proxy`).
    pub https_proxy: String,
    /// `NO_PROXY` (or `no_proxy`).
    pub no_proxy: String,
    /// `REQUEST_METHOD` is set: a CGI environment, where `HTTP_PROXY` is not used.
    pub cgi: bool,
}

impl ProxyEnv {
    /// The settings of this process: each variable in upper case, else lower case.
    pub fn from_process() -> ProxyEnv {
        let any = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
                .unwrap_or_default()
        };
        ProxyEnv {
            http_proxy: any(["HTTP_PROXY", "http_proxy"]),
            https_proxy: any(["HTTPS_PROXY", "https_proxy"]),
            no_proxy: any(["NO_PROXY", "no_proxy"]),
            cgi: std::env::var_os("REQUEST_METHOD").is_some_and(|v| !v.is_empty()),
        }
    }
}

/// Why no proxy decision could be made for a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// `HTTP_PROXY` is set in a CGI environment (`REQUEST_METHOD` set), where a request
    /// header can set it: refused, as Go refuses it.
    #[error("refusing to use HTTP_PROXY in a CGI environment (REQUEST_METHOD is set) for {url}")]
    Cgi {
        /// The URL being fetched.
        url: String,
    },
    /// The proxy named for the URL cannot be used (unparsable, or a scheme other than
    /// http, https, socks4, socks4a, socks5 or socks5h).
    #[error("{variable}: unusable proxy {proxy:?} for {url}")]
    Unusable {
        /// `HTTP_PROXY` or `HTTPS_PROXY`.
        variable: &'static str,
        /// The proxy URL.
        proxy: String,
        /// The URL being fetched.
        url: String,
    },
}

/// The proxy decision for every URL: built once from a [`ProxyEnv`], asked per request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyConfig {
    http: Option<String>,
    https: Option<String>,
    cgi: bool,
    no_proxy: NoProxy,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct NoProxy {
    all: bool,
    ips: Vec<IpRule>,
    domains: Vec<DomainRule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum IpRule {
    Address { ip: IpAddr, port: Option<String> },
    Cidr { network: IpAddr, bits: u8 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct DomainRule {
    /// With a leading dot.
    suffix: String,
    /// The domain itself matches too (the entry had no leading dot or `*.`).
    itself: bool,
    port: Option<String>,
}

/// A proxy value as Go reads it: kept when it has a scheme and a host, else `http://`
/// is put in front.
fn proxy_url(value: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    let has_scheme_and_host = value.split_once("://").is_some_and(|(scheme, rest)| {
        let scheme_ok = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit('@').next().unwrap_or("");
        scheme_ok && !host.is_empty()
    });
    Some(if has_scheme_and_host {
        value.to_owned()
    } else {
        format!("http://{value}")
    })
}

/// `host` and `port` of `[v6]:port`, `host:port` or `host`.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(rest) = s.strip_prefix('[')
        && let Some((host, after)) = rest.split_once(']')
    {
        return (host, after.strip_prefix(':'));
    }
    match s.rsplit_once(':') {
        // More than one colon and no brackets: a bare IPv6 address.
        Some((host, _)) if host.contains(':') => (s, None),
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    }
}

fn parse_cidr(s: &str) -> Option<IpRule> {
    let (addr, bits) = s.split_once('/')?;
    let ip: IpAddr = addr.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some(IpRule::Cidr { network: ip, bits })
}

fn in_network(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    let masked = |a: u128, width: u32| {
        let shift = width - u32::from(bits);
        if shift >= 128 { 0 } else { a >> shift }
    };
    match (ip, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            masked(u128::from(u32::from(a)), 32) == masked(u128::from(u32::from(n)), 32)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => masked(u128::from(a), 128) == masked(u128::from(n), 128),
        _ => false,
    }
}

impl NoProxy {
    fn parse(value: &str) -> NoProxy {
        let mut rules = NoProxy::default();
        for entry in value.split(',') {
            let entry = entry.trim().to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                return NoProxy {
                    all: true,
                    ..NoProxy::default()
                };
            }
            if let Some(rule) = parse_cidr(&entry) {
                rules.ips.push(rule);
                continue;
            }
            let (host, port) = if entry.parse::<IpAddr>().is_ok() {
                (entry.as_str(), None)
            } else {
                split_host_port(&entry)
            };
            if host.is_empty() {
                // A malformed entry such as ":1": ignored, as Go ignores it.
                continue;
            }
            let port = port.map(str::to_owned);
            if let Ok(ip) = host.parse::<IpAddr>() {
                rules.ips.push(IpRule::Address { ip, port });
                continue;
            }
            let host = host
                .strip_prefix('*')
                .filter(|h| h.starts_with('.'))
                .unwrap_or(host);
            let (suffix, itself) = match host.strip_prefix('.') {
                Some(_) => (host.to_owned(), false),
                None => (format!(".{host}"), true),
            };
            rules.domains.push(DomainRule {
                suffix,
                itself,
                port,
            });
        }
        rules
    }

    /// Whether a request to `host` (lower case, no brackets) on `port` goes direct.
    fn bypasses(&self, host: &str, port: &str) -> bool {
        if self.all {
            return true;
        }
        // An IPv6 zone is not part of a name (Go strips it before matching).
        let unzoned = host.split('%').next().unwrap_or(host);
        if let Ok(ip) = unzoned.parse::<IpAddr>() {
            return self.ips.iter().any(|rule| match rule {
                IpRule::Address {
                    ip: rule_ip,
                    port: p,
                } => *rule_ip == ip && p.as_deref().is_none_or(|p| p == port),
                IpRule::Cidr { network, bits } => in_network(ip, *network, *bits),
            });
        }
        self.domains.iter().any(|rule| {
            let name_matches =
                host.ends_with(&rule.suffix) || (rule.itself && host == &rule.suffix[1..]);
            name_matches && rule.port.as_deref().is_none_or(|p| p == port)
        })
    }
}

impl ProxyConfig {
    /// The decision these settings give.
    pub fn new(env: &ProxyEnv) -> ProxyConfig {
        ProxyConfig {
            http: proxy_url(&env.http_proxy),
            https: proxy_url(&env.https_proxy),
            cgi: env.cgi,
            no_proxy: NoProxy::parse(&env.no_proxy),
        }
    }

    /// The decision of this process's environment.
    pub fn from_process() -> ProxyConfig {
        ProxyConfig::new(&ProxyEnv::from_process())
    }

    /// No proxy for anything.
    pub fn none() -> ProxyConfig {
        ProxyConfig::default()
    }

    /// The proxy URL for a request to `url` (`http://...` or `https://...`), `None` to go
    /// direct (also for other schemes and URLs without a host).
    pub fn proxy_for(&self, url: &str) -> Result<Option<String>, ProxyError> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Ok(None);
        };
        let scheme = scheme.to_ascii_lowercase();
        let (proxy, default_port) = match scheme.as_str() {
            "https" => (self.https.as_ref(), "443"),
            "http" => (self.http.as_ref(), "80"),
            _ => return Ok(None),
        };
        let Some(proxy) = proxy else {
            return Ok(None);
        };
        if scheme == "http" && self.cgi {
            return Err(ProxyError::Cgi {
                url: url.to_owned(),
            });
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.rsplit('@').next().unwrap_or("");
        let (host, port) = split_host_port(authority);
        let host = percent_decode(host).to_ascii_lowercase();
        let port = port.filter(|p| !p.is_empty()).unwrap_or(default_port);
        if host.is_empty() || is_local(&host) || self.no_proxy.bypasses(&host, port) {
            return Ok(None);
        }
        Ok(Some(proxy.clone()))
    }

    /// The proxy for a request to `url` as ureq takes it (for a request's or an agent's
    /// `proxy` setting); `None` to go direct. The proxy's user and password, if any, are
    /// sent to it as basic auth.
    pub fn ureq_proxy_for(&self, url: &str) -> Result<Option<ureq::Proxy>, ProxyError> {
        let Some(proxy) = self.proxy_for(url)? else {
            return Ok(None);
        };
        let https = url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
        ureq::Proxy::new(&proxy)
            .map(Some)
            .map_err(|_| ProxyError::Unusable {
                variable: if https { "HTTPS_PROXY" } else { "HTTP_PROXY" },
                proxy,
                url: url.to_owned(),
            })
    }
}

/// `localhost` and loopback addresses, never proxied.
fn is_local(host: &str) -> bool {
    host == "localhost"
        || host
            .split('%')
            .next()
            .and_then(|h| h.parse::<IpAddr>().ok())
            .is_some_and(|ip| ip.is_loopback())
}

/// `%XX` escapes decoded (an IPv6 zone is written `%25` in a URL).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
