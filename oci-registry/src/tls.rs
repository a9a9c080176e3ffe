//! TLS trust for a registry host, as `containers-certs.d(5)` describes it: the system
//! roots plus the CA certificates (`*.crt`) of the host's certificate directory, and a
//! client certificate pair (`NAME.cert` with `NAME.key`) from the same directory. The
//! directory is `--cert-dir DIR` when given, else the first of
//! `/etc/containers/certs.d/HOST[:PORT]/`, `/etc/docker/certs.d/HOST[:PORT]/` and
//! `~/.config/containers/certs.d/HOST[:PORT]/` that exists. With verification off
//! (`--tls-verify=false`), server certificates are not checked at all; a client
//! certificate is still presented.
//!
//! ```no_run
//! use oci_registry::tls::TlsOptions;
//!
//! let options = TlsOptions { cert_dir: Some("certs".into()), ..TlsOptions::default() };
//! let config = options.config_for("localhost:5000")?;
//! let agent = ureq::Agent::config_builder().tls_config(config).build().new_agent();
//! # Ok::<(), oci_registry::tls::TlsError>(())
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// How the TLS configuration of a host is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// Verify server certificates (`--tls-verify`, default true).
    pub verify: bool,
    /// `--cert-dir DIR`: the certificate directory for every host, instead of the
    /// per-host directories.
    pub cert_dir: Option<PathBuf>,
    /// Where per-host directories (`ROOT/HOST[:PORT]/`) are looked for, in order;
    /// [`TlsOptions::default`] has the containers tools' list.
    pub certs_d: Vec<PathBuf>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        let mut certs_d = vec![
            PathBuf::from("/etc/containers/certs.d"),
            PathBuf::from("/etc/docker/certs.d"),
        ];
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            certs_d.push(PathBuf::from(home).join(".config/containers/certs.d"));
        }
        TlsOptions {
            verify: true,
            cert_dir: None,
            certs_d,
        }
    }
}

/// Why a host's TLS configuration could not be made. Each variant names the file or
/// directory at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate directory cannot be listed.
    #[error("cannot list certificate directory {}", dir.display())]
    ReadDir {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A certificate or key file cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file is not valid PEM.
    #[error("{}: not valid PEM", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: ureq::Error,
    },
    /// A `.crt` or `.cert` file holds no certificate.
    #[error("{}: no PEM certificate in it", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A `.key` file holds no private key.
    #[error("{}: no PEM private key in it", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// A client certificate has no key file beside it.
    #[error("client certificate {} has no key {}", cert.display(), key.display())]
    MissingKey {
        /// The `.cert` file.
        cert: PathBuf,
        /// The `.key` file expected.
        key: PathBuf,
    },
    /// A key has no client certificate beside it.
    #[error("key {} has no client certificate {}", key.display(), cert.display())]
    MissingCert {
        /// The `.key` file.
        key: PathBuf,
        /// The `.cert` file expected.
        cert: PathBuf,
    },
}

/// The system's trusted roots, loaded once (the same the platform verifier uses here).
fn system_roots() -> &'static [Certificate<'static>] {
    static ROOTS: OnceLock<Vec<Certificate<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        for error in &loaded.errors {
            tracing::debug!(%error, "system root certificates");
        }
        loaded
            .certs
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()).to_owned())
            .collect()
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Every PEM item of `path`.
fn pem_items(path: &Path) -> Result<Vec<PemItem<'static>>, TlsError> {
    let bytes = read(path)?;
    ureq::tls::parse_pem(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            path: path.to_path_buf(),
            source,
        })
}

fn certificates(path: &Path) -> Result<Vec<Certificate<'static>>, TlsError> {
    let certs: Vec<_> = pem_items(path)?
        .into_iter()
        .filter_map(|item| match item {
            PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKey<'static>, TlsError> {
    pem_items(path)?
        .into_iter()
        .find_map(|item| match item {
            PemItem::PrivateKey(k) => Some(k),
            _ => None,
        })
        .ok_or_else(|| TlsError::NoKey {
            path: path.to_path_buf(),
        })
}

/// What a certificate directory holds.
#[derive(Debug, Default)]
struct CertDir {
    cas: Vec<Certificate<'static>>,
    client: Option<ClientCert>,
}

/// Reads `dir` as containers' `SetupCertificates` does: `*.crt` are CAs, `*.cert` and
/// `*.key` pairs are client certificates (the first pair by name is used); a missing
/// directory holds nothing.
fn load_cert_dir(dir: &Path) -> Result<CertDir, TlsError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(CertDir::default()),
        Err(source) => {
            return Err(TlsError::ReadDir {
                dir: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut names = entries
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::ReadDir {
            dir: dir.to_path_buf(),
            source,
        })?;
    names.sort();
    let mut found = CertDir::default();
    for name in names {
        let Some(name) = name.to_str() else { continue };
        let path = dir.join(name);
        if name.ends_with(".crt") {
            found.cas.extend(certificates(&path)?);
        } else if let Some(stem) = name.strip_suffix(".cert") {
            let key = dir.join(format!("{stem}.key"));
            if !key.exists() {
                return Err(TlsError::MissingKey { cert: path, key });
            }
            if found.client.is_none() {
                let chain = certificates(&path)?;
                found.client = Some(ClientCert::new_with_certs(&chain, private_key(&key)?));
            }
        } else if let Some(stem) = name.strip_suffix(".key") {
            let cert = dir.join(format!("{stem}.cert"));
            if !cert.exists() {
                return Err(TlsError::MissingCert { key: path, cert });
            }
        }
    }
    Ok(found)
}

impl TlsOptions {
    /// The certificate directory used for `host` (`host[:port]` as the image reference
    /// spells it): `cert_dir`, else the first `ROOT/HOST` of `certs_d` that exists.
    pub fn cert_dir_for(&self, host: &str) -> Option<PathBuf> {
        if let Some(dir) = &self.cert_dir {
            return Some(dir.clone());
        }
        self.certs_d
            .iter()
            .map(|root| root.join(host))
            .find(|dir| dir.is_dir())
    }

    /// The TLS configuration for connections to `host` (`host[:port]`): for a ureq
    /// agent's or request's `tls_config`.
    pub fn config_for(&self, host: &str) -> Result<TlsConfig, TlsError> {
        let dir = match self.cert_dir_for(host) {
            Some(dir) => load_cert_dir(&dir)?,
            None => CertDir::default(),
        };
        let roots = if dir.cas.is_empty() {
            RootCerts::PlatformVerifier
        } else {
            let mut all = system_roots().to_vec();
            all.extend(dir.cas);
            RootCerts::Specific(Arc::new(all))
        };
        Ok(TlsConfig::builder()
            .root_certs(roots)
            .client_cert(dir.client)
            .disable_verification(!self.verify)
            .build())
    }
}

/// TLS trust as these options say (certs.d, `--cert-dir`), verification as the client
/// decides per host (off for an insecure registry); no proxy.
impl crate::Network for TlsOptions {
    fn tls_config(&self, host: &str, verify: bool) -> Result<TlsConfig, crate::NetworkError> {
        let options = TlsOptions {
            verify: verify && self.verify,
            ..self.clone()
        };
        Ok(options.config_for(host)?)
    }

    fn proxy(&self, _url: &str) -> Result<Option<ureq::Proxy>, crate::NetworkError> {
        Ok(None)
    }
}
