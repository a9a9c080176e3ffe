//! Authentication: where credentials come from ([`CredentialSource`]), the
//! `WWW-Authenticate` challenge ([`parse_challenges`]), token scopes ([`Scope`]) and the
//! cache of bearer tokens per scope set.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use crate::credentials::Credential;

/// Why a credential lookup failed (a file or a helper).
pub type CredentialError = Box<dyn std::error::Error + Send + Sync>;

/// Where the client gets the credential for a registry. `oci_registry::credentials`'
/// lookup (`--creds`, auth.json, helpers) implements it; [`Anonymous`] and a
/// [`Credential`] (the same for every registry) do too.
pub trait CredentialSource: fmt::Debug + Send + Sync {
    /// The credential for `repository` (a path such as `ns/app`, or empty) at `registry`
    /// (`HOST[:PORT]`); `None` for anonymous access.
    fn credential(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Option<Credential>, CredentialError>;
}

/// No credentials: anonymous access everywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct Anonymous;

impl CredentialSource for Anonymous {
    fn credential(&self, _: &str, _: &str) -> Result<Option<Credential>, CredentialError> {
        Ok(None)
    }
}

impl CredentialSource for Credential {
    fn credential(&self, _: &str, _: &str) -> Result<Option<Credential>, CredentialError> {
        Ok(Some(self.clone()))
    }
}

/// One credential per registry (`HOST[:PORT]`), anonymous elsewhere.
#[derive(Debug, Clone, Default)]
pub struct StaticCredentials(pub BTreeMap<String, Credential>);

impl CredentialSource for StaticCredentials {
    fn credential(&self, registry: &str, _: &str) -> Result<Option<Credential>, CredentialError> {
        Ok(self.0.get(registry).cloned())
    }
}

/// One challenge of a `WWW-Authenticate` header: `Bearer realm="...",service="..."`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, lowercased (`bearer`, `basic`).
    pub scheme: String,
    /// The parameters, names lowercased, values unquoted and unescaped.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// The value of parameter `name` (lowercase).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Parses a `WWW-Authenticate` value (RFC 9110 section 11.6.1): challenges separated by
/// commas, each a scheme followed by `name=value` parameters (values bare tokens or
/// quoted strings with `\` escapes) or a token68. Never fails: what cannot be read ends
/// the parse, keeping the challenges read so far. Several header lines are parsed one by
/// one and their challenges concatenated.
///
/// ```
/// use oci_registry::parse_challenges;
///
/// let c = parse_challenges(r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull""#);
/// assert_eq!(c[0].scheme, "bearer");
/// assert_eq!(c[0].param("service"), Some("reg"));
/// assert_eq!(c[0].param("scope"), Some("repository:a:pull"));
/// ```
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let chars: Vec<char> = header.chars().take(16 * 1024).collect();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && (chars[*i] == ' ' || chars[*i] == '\t') {
            *i += 1;
        }
    };
    let token = |i: &mut usize| -> String {
        let start = *i;
        while *i < chars.len() && is_tchar(chars[*i]) {
            *i += 1;
        }
        chars[start..*i].iter().collect()
    };
    loop {
        // Empty list elements are allowed.
        while i < chars.len() && (chars[i] == ',' || chars[i] == ' ' || chars[i] == '\t') {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let start = i;
        let scheme = token(&mut i);
        if scheme.is_empty() {
            break;
        }
        let mut challenge = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: BTreeMap::new(),
        };
        // Parameters: name=value pairs separated by commas, until a token that is not
        // followed by '=' (the next challenge's scheme).
        loop {
            skip_ws(&mut i);
            let before = i;
            let name = token(&mut i);
            if name.is_empty() {
                // A token68 (base64 and '=' padding) is not needed by registries: skip it.
                while i < chars.len() && chars[i] != ',' {
                    i += 1;
                }
                break;
            }
            skip_ws(&mut i);
            if i >= chars.len() || chars[i] != '=' {
                if challenge.params.is_empty() && i >= chars.len() {
                    // `Basic abc` style token68 at the end.
                    break;
                }
                // The start of the next challenge.
                i = before;
                break;
            }
            i += 1;
            skip_ws(&mut i);
            let mut value = String::new();
            if i < chars.len() && chars[i] == '"' {
                i += 1;
                let mut closed = false;
                while i < chars.len() {
                    match chars[i] {
                        '\\' if i + 1 < chars.len() => {
                            value.push(chars[i + 1]);
                            i += 2;
                        }
                        '"' => {
                            i += 1;
                            closed = true;
                            break;
                        }
                        c => {
                            value.push(c);
                            i += 1;
                        }
                    }
                }
                if !closed {
                    challenge.params.insert(name.to_ascii_lowercase(), value);
                    out.push(challenge);
                    return out;
                }
            } else {
                value = token(&mut i);
                // token68-like values with '=' padding or '/'.
                while i < chars.len() && (chars[i] == '=' || chars[i] == '/') {
                    value.push(chars[i]);
                    i += 1;
                    value.push_str(&token(&mut i));
                }
            }
            challenge
                .params
                .entry(name.to_ascii_lowercase())
                .or_insert(value);
            skip_ws(&mut i);
            if i < chars.len() && chars[i] == ',' {
                i += 1;
                continue;
            }
            break;
        }
        out.push(challenge);
        if i == start {
            i += 1;
        }
        if out.len() >= 16 {
            break;
        }
    }
    out
}

/// A token scope: `repository:NAME:ACTIONS` (or any other resource type).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    /// The resource type (`repository`, `registry`).
    pub resource_type: String,
    /// The resource name (the repository).
    pub name: String,
    /// The actions (`pull`, `push`, `delete`, `*`), in order, no repeats.
    pub actions: Vec<String>,
}

impl Scope {
    /// `repository:NAME:pull`.
    pub fn pull(repository: &str) -> Scope {
        Scope::repository(repository, &["pull"])
    }

    /// `repository:NAME:pull,push`.
    pub fn push(repository: &str) -> Scope {
        Scope::repository(repository, &["pull", "push"])
    }

    /// `repository:NAME:ACTIONS`.
    pub fn repository(repository: &str, actions: &[&str]) -> Scope {
        Scope {
            resource_type: "repository".to_owned(),
            name: repository.to_owned(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// Parses `TYPE:NAME:ACTIONS` (the name may hold colons, as `host:port/x` can).
    pub fn parse(s: &str) -> Option<Scope> {
        let (rest, actions) = s.rsplit_once(':')?;
        let (resource_type, name) = rest.split_once(':')?;
        if resource_type.is_empty() || name.is_empty() {
            return None;
        }
        let mut list: Vec<String> = Vec::new();
        for a in actions.split(',').filter(|a| !a.is_empty()) {
            if !list.iter().any(|x| x == a) {
                list.push(a.to_owned());
            }
        }
        Some(Scope {
            resource_type: resource_type.to_owned(),
            name: name.to_owned(),
            actions: list,
        })
    }

    fn covers(&self, other: &Scope) -> bool {
        self.resource_type == other.resource_type
            && self.name == other.name
            && other
                .actions
                .iter()
                .all(|a| self.actions.iter().any(|x| x == a || x == "*"))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.resource_type,
            self.name,
            self.actions.join(",")
        )
    }
}

/// Merges scopes: one scope per resource with the union of its actions, in the order
/// resources were first named (so a push scope asked first stays first).
pub fn merge_scopes<'a>(scopes: impl IntoIterator<Item = &'a Scope>) -> Vec<Scope> {
    let mut out: Vec<Scope> = Vec::new();
    for s in scopes {
        match out
            .iter_mut()
            .find(|o| o.resource_type == s.resource_type && o.name == s.name)
        {
            Some(o) => {
                for a in &s.actions {
                    if !o.actions.contains(a) {
                        o.actions.push(a.clone());
                    }
                }
            }
            None => out.push(s.clone()),
        }
    }
    out
}

/// Whether `have` grants everything in `want`.
pub(crate) fn covers(have: &[Scope], want: &[Scope]) -> bool {
    want.iter().all(|w| have.iter().any(|h| h.covers(w)))
}

/// A bearer token and what it is good for.
#[derive(Clone)]
pub(crate) struct Token {
    pub scopes: Vec<Scope>,
    pub value: String,
    pub expires: Instant,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("scopes", &self.scopes)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// How a host authenticates, learnt from its challenges.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum HostAuth {
    /// Not known yet (no 401 seen).
    #[default]
    Unknown,
    /// HTTP basic.
    Basic,
    /// Bearer tokens from `realm`.
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// The tokens of every host, by scope set; a few per host, newest last.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    tokens: HashMap<String, Vec<Token>>,
}

const TOKENS_PER_HOST: usize = 16;

impl TokenCache {
    /// A live token of `host` whose scopes cover `want`.
    pub fn find(&self, host: &str, want: &[Scope]) -> Option<Token> {
        let now = Instant::now();
        self.tokens
            .get(host)?
            .iter()
            .rev()
            .find(|t| t.expires > now && covers(&t.scopes, want))
            .cloned()
    }

    /// The scopes of the newest token of `host` (merged into the next request, so one
    /// token serves several repositories).
    pub fn newest_scopes(&self, host: &str) -> Vec<Scope> {
        self.tokens
            .get(host)
            .and_then(|v| v.last())
            .map(|t| t.scopes.clone())
            .unwrap_or_default()
    }

    pub fn insert(&mut self, host: &str, token: Token) {
        let list = self.tokens.entry(host.to_owned()).or_default();
        list.retain(|t| t.scopes != token.scopes);
        list.push(token);
        if list.len() > TOKENS_PER_HOST {
            list.remove(0);
        }
    }

    /// Forgets a token the registry refused.
    pub fn forget(&mut self, host: &str, value: &str) {
        if let Some(list) = self.tokens.get_mut(host) {
            list.retain(|t| t.value != value);
        }
    }
}

/// What a token endpoint answers.
#[derive(serde::Deserialize)]
pub(crate) struct TokenResponse {
    pub token: Option<String>,
    pub access_token: Option<String>,
    pub expires_in: Option<u64>,
}

impl TokenResponse {
    pub fn value(self) -> Option<(String, Duration)> {
        let value = self.token.filter(|t| !t.is_empty()).or(self.access_token)?;
        if value.is_empty() {
            return None;
        }
        // The token spec's default lifetime is 60 seconds; keep a margin.
        let life = self.expires_in.unwrap_or(60).clamp(10, 24 * 3600);
        Some((value, Duration::from_secs(life - life / 10)))
    }
}
