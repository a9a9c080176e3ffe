//! TLS configurations from certificate directories, checked by real handshakes against
//! `openssl s_server` on loopback, with certificates `openssl` makes here.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oci_registry::tls::{TlsError, TlsOptions};
use oci_test_support::cli::{path_str, peer_with, run_ok};
use oci_test_support::scratch;

fn openssl(dir: &Path, args: &[&str]) {
    run_ok(Command::new("openssl").current_dir(dir).args(args));
}

fn have_openssl() -> bool {
    peer_with("openssl", Command::new("openssl").arg("version"))
}

/// A CA (`NAME-ca.pem`, `NAME-ca.key`) and a certificate it signs for `subject` with
/// `san` (`NAME.pem`, `NAME.key`), in `dir`.
fn make_pair(dir: &Path, name: &str, subject: &str, san: &str) {
    let ca = format!("{name}-ca");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    std::fs::write(
        dir.join(format!("{name}.ext")),
        format!("subjectAltName={san}\n"),
    )
    .expect("write ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// `openssl s_server` on a free loopback port, killed (by pid) when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(dir: &Path, extra: &[&str]) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let accept = addr.to_string();
        let mut args = vec![
            "s_server",
            "-accept",
            &accept,
            "-cert",
            "server.pem",
            "-key",
            "server.key",
            "-www",
            "-quiet",
        ];
        args.extend_from_slice(extra);
        let child = Command::new("openssl")
            .current_dir(dir)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openssl s_server");
        let server = Server { child, addr };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "s_server did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }

    /// A GET of `/` with the TLS configuration `options` gives for this host.
    fn get(&self, options: &TlsOptions) -> Result<u16, String> {
        let tls = options
            .config_for(&self.host())
            .map_err(|e| e.to_string())?;
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .proxy(None)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        agent
            .get(&format!("https://{}/", self.host()))
            .call()
            .map(|r| r.status().as_u16())
            .map_err(|e| format!("{e}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn only_dir(dir: PathBuf) -> TlsOptions {
    TlsOptions {
        verify: true,
        cert_dir: Some(dir),
        certs_d: Vec::new(),
    }
}

fn no_dirs() -> TlsOptions {
    TlsOptions {
        verify: true,
        cert_dir: None,
        certs_d: Vec::new(),
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
}

#[test]
fn a_server_is_trusted_with_its_ca_in_the_cert_dir_and_refused_without() {
    if !have_openssl() {
        return;
    }
    let dir = scratch!("tls-trust");
    make_pair(
        &dir,
        "server",
        "/CN=127.0.0.1",
        "IP:127.0.0.1,DNS:localhost",
    );
    let server = Server::start(&dir, &[]);
    let certs = dir.join("certs");
    std::fs::create_dir(&certs).unwrap();
    copy(&dir.join("server-ca.pem"), &certs.join("ca.crt"));

    assert_eq!(server.get(&only_dir(certs.clone())), Ok(200));
    let refused = server
        .get(&no_dirs())
        .expect_err("an unknown CA is refused");
    assert!(refused.to_lowercase().contains("certificate"), "{refused}");
    // Without verification, the unknown CA does not matter.
    let insecure = TlsOptions {
        verify: false,
        ..no_dirs()
    };
    assert_eq!(server.get(&insecure), Ok(200));

    // The per-host directory ROOT/HOST:PORT is found when no --cert-dir is given.
    let root = dir.join("certs.d");
    std::fs::create_dir_all(root.join(server.host())).unwrap();
    copy(
        &dir.join("server-ca.pem"),
        &root.join(server.host()).join("ca.crt"),
    );
    let per_host = TlsOptions {
        certs_d: vec![dir.join("missing"), root.clone()],
        ..no_dirs()
    };
    assert_eq!(
        per_host.cert_dir_for(&server.host()),
        Some(root.join(server.host()))
    );
    assert_eq!(server.get(&per_host), Ok(200));
    // Another port's directory is not this host's.
    assert_eq!(per_host.cert_dir_for("127.0.0.1:1"), None);
}

#[test]
fn a_server_requiring_a_client_certificate_accepts_the_pair_from_the_cert_dir() {
    if !have_openssl() {
        return;
    }
    let dir = scratch!("tls-client");
    make_pair(&dir, "server", "/CN=127.0.0.1", "IP:127.0.0.1");
    make_pair(&dir, "client", "/CN=ann", "DNS:ann.example");
    let server = Server::start(&dir, &["-Verify", "1", "-CAfile", "client-ca.pem"]);
    let certs = dir.join("certs");
    std::fs::create_dir(&certs).unwrap();
    copy(&dir.join("server-ca.pem"), &certs.join("ca.crt"));

    let without = server.get(&only_dir(certs.clone()));
    assert!(without.is_err(), "no client certificate: {without:?}");

    copy(&dir.join("client.pem"), &certs.join("ann.cert"));
    copy(&dir.join("client.key"), &certs.join("ann.key"));
    assert_eq!(server.get(&only_dir(certs)), Ok(200));
}

#[test]
fn errors_name_the_file_at_fault() {
    if !have_openssl() {
        return;
    }
    let dir = scratch!("tls-errors");
    make_pair(&dir, "client", "/CN=ann", "DNS:ann.example");
    let check = |files: &[(&str, &[u8])], want: &str| {
        let certs = dir.join("case");
        let _ = std::fs::remove_dir_all(&certs);
        std::fs::create_dir(&certs).unwrap();
        for (name, bytes) in files {
            std::fs::write(certs.join(name), bytes).unwrap();
        }
        let err = only_dir(certs.clone())
            .config_for("example.com")
            .expect_err("refused");
        let message = err.to_string();
        assert!(
            message.contains(&path_str(&certs.join(want)).to_string()),
            "{message} names {want}"
        );
        err
    };
    let cert = std::fs::read(dir.join("client.pem")).unwrap();
    let key = std::fs::read(dir.join("client.key")).unwrap();
    let err = check(&[("ann.cert", &cert)], "ann.key");
    assert!(matches!(err, TlsError::MissingKey { .. }), "{err}");
    let err = check(&[("ann.key", &key)], "ann.cert");
    assert!(matches!(err, TlsError::MissingCert { .. }), "{err}");
    let err = check(&[("ca.crt", b"not a certificate\n")], "ca.crt");
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
    let err = check(
        &[(
            "ca.crt",
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )],
        "ca.crt",
    );
    assert!(matches!(err, TlsError::Pem { .. }), "{err}");
    let err = check(&[("ann.cert", &cert), ("ann.key", &cert)], "ann.key");
    assert!(matches!(err, TlsError::NoKey { .. }), "{err}");
    // A missing --cert-dir holds nothing: the system roots alone.
    assert!(
        only_dir(dir.join("absent"))
            .config_for("example.com")
            .is_ok()
    );
}
