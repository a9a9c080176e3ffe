//! Peers (gpg, skopeo, openssl, python3) and fixtures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Whether `peer` runs (`peer VERSION_ARG` succeeds); when it does not, fails under
/// CI=true, else says it is skipped ([`oci_test_support::cli::peer_with`]).
pub fn peer(peer: &str, version_arg: &str) -> bool {
    oci_test_support::cli::peer_with(peer, Command::new(peer).arg(version_arg))
}

/// Runs a command, returning its output whatever the exit status.
pub fn output(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"))
}

/// Runs a command that must succeed.
pub fn run(command: &mut Command) -> Output {
    let out = output(command);
    assert!(out.status.success(), "{command:?}: {out:?}");
    out
}

/// A small OCI image manifest (its exact bytes are what is signed).
pub fn manifest() -> Vec<u8> {
    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#.to_vec()
}

/// A private gnupg home with one key pair; the agent is stopped on drop.
pub struct Gpg {
    pub dir: tempfile::TempDir,
    pub fingerprint: String,
}

/// How to make the key.
#[derive(Default)]
pub struct KeySpec<'a> {
    /// `--faked-system-time` for key creation (and later gpg calls made with it).
    pub faked_time: Option<&'a str>,
    /// Expiry as gpg spells it (`never`, `1d`).
    pub expire: Option<&'a str>,
    /// A passphrase (none: unprotected).
    pub passphrase: Option<&'a str>,
    /// The algorithm (`ed25519`, `rsa2048`, `nistp256`).
    pub algo: Option<&'a str>,
}

impl Gpg {
    pub fn new(spec: &KeySpec<'_>) -> Gpg {
        let dir = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let mut g = Gpg {
            dir,
            fingerprint: String::new(),
        };
        let mut cmd = g.gpg(spec.faked_time);
        cmd.args([
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            spec.passphrase.unwrap_or(""),
        ]);
        cmd.args([
            "--quick-gen-key",
            "Test Signer <t@example.com>",
            spec.algo.unwrap_or("ed25519"),
            "sign",
            spec.expire.unwrap_or("never"),
        ]);
        run(&mut cmd);
        let out = run(g.gpg(None).args(["--list-keys", "--with-colons"]));
        let text = String::from_utf8(out.stdout).unwrap();
        g.fingerprint = text
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .unwrap()
            .to_owned();
        g
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    pub fn gpg(&self, faked_time: Option<&str>) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", self.home())
            .args(["--batch", "--yes", "--quiet"]);
        if let Some(t) = faked_time {
            c.args(["--faked-system-time", t]);
        }
        c
    }

    pub fn public_keyring(&self) -> Vec<u8> {
        run(self.gpg(None).args(["--export", &self.fingerprint])).stdout
    }

    pub fn secret_key(&self, passphrase: &str) -> Vec<u8> {
        run(self.gpg(None).args([
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            passphrase,
            "--export-secret-keys",
            &self.fingerprint,
        ]))
        .stdout
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.home().join(name)
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// Now, in Unix seconds.
pub fn now() -> u64 {
    oci_sign::openpgp::unix_now()
}
