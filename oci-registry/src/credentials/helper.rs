//! The docker-credential-helpers protocol: `docker-credential-NAME get|store|erase|list`,
//! the server URL or a JSON object on standard input, JSON on standard output.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Read, Write as _};
use std::process::{Command, Stdio};

use super::Credential;

/// The most a helper may print on standard output or standard error.
const OUTPUT_LIMIT: u64 = 1024 * 1024;

/// What helpers print when they hold nothing for a server (the protocol's own words).
const NOT_FOUND: &str = "credentials not found in native keychain";

/// The user name a helper answers with when the secret is an identity token.
const TOKEN_USER: &str = "<token>";

/// A credential helper program, `docker-credential-NAME`, found on `PATH`.
///
/// ```no_run
/// use oci_registry::credentials::CredentialHelper;
///
/// let helper = CredentialHelper::new("pass");
/// let credential = helper.get("registry.example.com")?;
/// # Ok::<(), oci_registry::credentials::HelperError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialHelper {
    name: String,
    search_path: Option<OsString>,
}

/// Why a credential helper failed. Each variant names the helper program.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    /// The program could not be started (most often: not on `PATH`).
    #[error("credential helper {program} could not be started (is it on PATH?)")]
    Start {
        /// The program, `docker-credential-NAME`.
        program: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Writing to or reading from the program failed.
    #[error("credential helper {program} {action}: broken pipe or read error")]
    Io {
        /// The program.
        program: String,
        /// The action (`get`, `store`, `erase`, `list`).
        action: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The program printed more than the limit.
    #[error("credential helper {program} {action}: output larger than {limit} bytes")]
    TooLarge {
        /// The program.
        program: String,
        /// The action.
        action: &'static str,
        /// The limit.
        limit: u64,
    },
    /// The program exited with a failure other than "credentials not found".
    #[error("credential helper {program} {action} failed ({status}): {message}")]
    Failed {
        /// The program.
        program: String,
        /// The action.
        action: &'static str,
        /// How it exited.
        status: String,
        /// What it printed (standard output, else standard error), trimmed.
        message: String,
    },
    /// The program's answer is not the JSON the protocol defines.
    #[error("credential helper {program} {action}: answer is not the protocol's JSON")]
    BadAnswer {
        /// The program.
        program: String,
        /// The action.
        action: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

#[derive(serde::Deserialize)]
struct GetAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

#[derive(serde::Serialize)]
struct StoreRequest<'a> {
    #[serde(rename = "ServerURL")]
    server_url: &'a str,
    #[serde(rename = "Username")]
    username: &'a str,
    #[serde(rename = "Secret")]
    secret: &'a str,
}

/// What a run of the helper gave: its output, or "not found".
enum Answer {
    Output(Vec<u8>),
    NotFound,
}

impl CredentialHelper {
    /// The helper `docker-credential-NAME`, looked up on this process's `PATH`.
    pub fn new(name: &str) -> CredentialHelper {
        CredentialHelper {
            name: name.to_owned(),
            search_path: None,
        }
    }

    /// The helper `docker-credential-NAME`, looked up on `search_path` (a `PATH` value)
    /// instead of this process's `PATH`; the program runs with that `PATH`.
    pub fn with_search_path(name: &str, search_path: OsString) -> CredentialHelper {
        CredentialHelper {
            name: name.to_owned(),
            search_path: Some(search_path),
        }
    }

    /// The helper's name (after `docker-credential-`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The program, `docker-credential-NAME`.
    pub fn program(&self) -> String {
        format!("docker-credential-{}", self.name)
    }

    /// The credential the helper holds for `server`, `None` when it holds none.
    pub fn get(&self, server: &str) -> Result<Option<Credential>, HelperError> {
        let out = match self.run("get", server.as_bytes())? {
            Answer::Output(out) => out,
            Answer::NotFound => return Ok(None),
        };
        let answer: GetAnswer =
            serde_json::from_slice(&out).map_err(|source| HelperError::BadAnswer {
                program: self.program(),
                action: "get",
                source,
            })?;
        Ok(if answer.username == TOKEN_USER {
            (!answer.secret.is_empty()).then_some(Credential::IdentityToken(answer.secret))
        } else if answer.username.is_empty() && answer.secret.is_empty() {
            None
        } else {
            Some(Credential::Basic {
                username: answer.username,
                password: answer.secret,
            })
        })
    }

    /// Stores `credential` for `server` in the helper.
    pub fn store(&self, server: &str, credential: &Credential) -> Result<(), HelperError> {
        let (username, secret) = match credential {
            Credential::Basic { username, password } => (username.as_str(), password.as_str()),
            Credential::IdentityToken(token) => (TOKEN_USER, token.as_str()),
        };
        let request = StoreRequest {
            server_url: server,
            username,
            secret,
        };
        let input = serde_json::to_vec(&request).expect("strings serialize");
        match self.run("store", &input)? {
            Answer::Output(_) => Ok(()),
            Answer::NotFound => Err(self.failed("store", "exit status 1", NOT_FOUND)),
        }
    }

    /// Removes what the helper holds for `server`; `false` when it held nothing.
    pub fn erase(&self, server: &str) -> Result<bool, HelperError> {
        Ok(matches!(
            self.run("erase", server.as_bytes())?,
            Answer::Output(_)
        ))
    }

    /// Every server the helper holds credentials for, with its user name.
    pub fn list(&self) -> Result<BTreeMap<String, String>, HelperError> {
        match self.run("list", b"")? {
            Answer::Output(out) => {
                serde_json::from_slice(&out).map_err(|source| HelperError::BadAnswer {
                    program: self.program(),
                    action: "list",
                    source,
                })
            }
            Answer::NotFound => Ok(BTreeMap::new()),
        }
    }

    fn failed(&self, action: &'static str, status: &str, message: &str) -> HelperError {
        HelperError::Failed {
            program: self.program(),
            action,
            status: status.to_owned(),
            message: message.to_owned(),
        }
    }

    /// Runs `PROGRAM action` with `input` on standard input; both outputs bounded.
    fn run(&self, action: &'static str, input: &[u8]) -> Result<Answer, HelperError> {
        let program = self.program();
        tracing::debug!(helper = %program, action, "credential helper");
        let mut command = Command::new(&program);
        command
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(path) = &self.search_path {
            command.env("PATH", path);
        }
        let mut child = command.spawn().map_err(|source| HelperError::Start {
            program: program.clone(),
            source,
        })?;
        let io_error = |source| HelperError::Io {
            program: program.clone(),
            action,
            source,
        };
        let mut stdin = child.stdin.take().expect("piped stdin");
        let input = input.to_vec();
        // A writer thread, so that a helper that answers before reading cannot block us.
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let stderr = child.stderr.take().expect("piped stderr");
        let reader = std::thread::spawn(move || bounded(stderr));
        let stdout = bounded(child.stdout.take().expect("piped stdout"));
        let status = child.wait().map_err(io_error)?;
        let stderr = reader.join().unwrap_or_else(|_| Ok(Vec::new()));
        // A helper that exits without reading its input is not an error in itself.
        let _ = writer.join();
        let (stdout, stderr) = (stdout.map_err(io_error)?, stderr.map_err(io_error)?);
        if stdout.len() as u64 > OUTPUT_LIMIT || stderr.len() as u64 > OUTPUT_LIMIT {
            return Err(HelperError::TooLarge {
                program,
                action,
                limit: OUTPUT_LIMIT,
            });
        }
        if status.success() {
            return Ok(Answer::Output(stdout));
        }
        let message = String::from_utf8_lossy(&stdout).trim().to_owned();
        let message = if message.is_empty() {
            String::from_utf8_lossy(&stderr).trim().to_owned()
        } else {
            message
        };
        if message == NOT_FOUND {
            return Ok(Answer::NotFound);
        }
        Err(self.failed(action, &status.to_string(), &message))
    }
}

/// Reads at most one byte over the limit, then drains the rest so the program never
/// blocks on a full pipe.
fn bounded(mut from: impl Read) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    (&mut from).take(OUTPUT_LIMIT + 1).read_to_end(&mut out)?;
    io::copy(&mut from, &mut io::sink())?;
    Ok(out)
}
