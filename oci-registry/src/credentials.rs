//! Credentials for a registry, found as the containers tools find them (`--creds`,
//! `--authfile`, `REGISTRY_AUTH_FILE`, `${XDG_RUNTIME_DIR}/containers/auth.json`,
//! `~/.docker/config.json`, `credsStore` and `credHelpers`).

use std::fmt;

/// What a registry is asked to accept for one host.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A user name and password (HTTP basic, or exchanged for a bearer token).
    Basic {
        /// The user name.
        username: String,
        /// The password; never printed.
        password: String,
    },
    /// An identity (refresh) token, exchanged at the token endpoint; never printed.
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}
