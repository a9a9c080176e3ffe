//! cosign signatures and keys, checked with openssl and Python's cryptography/PyNaCl.

use std::process::Command;

use oci_sign::cosign::{CosignError, CosignPrivateKey, CosignPublicKey};
use oci_sign::{COSIGN_TYPE, Payload};

use crate::support::{manifest, output, peer, run};

const PYTHON: &str = "/usr/bin/python3";

fn payload() -> Vec<u8> {
    let digest = oci_sign::manifest_digest(&manifest()).unwrap();
    let mut p = Payload::new(&digest, "index.docker.io/namespace/image");
    p.signature_type = COSIGN_TYPE.to_owned();
    p.to_bytes()
}

/// Whether Python with cryptography and PyNaCl runs (Debian: python3-cryptography,
/// python3-nacl); fails under CI=true when it does not.
#[allow(clippy::print_stderr)]
fn python() -> bool {
    let ok = Command::new(PYTHON)
        .args(["-c", "import nacl.secret, cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI: python3-nacl or python3-cryptography is not installed"
        );
        eprintln!("skipped: python3 with nacl and cryptography not installed");
    }
    ok
}

#[test]
fn signature_verifies_with_openssl() {
    if !peer("openssl", "version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = CosignPrivateKey::generate();
    let payload = payload();
    let sig = key.sign(&payload);
    key.public_key().verify(&payload, &sig).unwrap();
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(&sig)
        .unwrap();
    std::fs::write(dir.path().join("pub.pem"), key.public_key().to_pem()).unwrap();
    std::fs::write(dir.path().join("sig.der"), der).unwrap();
    std::fs::write(dir.path().join("payload"), &payload).unwrap();
    let verify = |file: &str| {
        output(Command::new("openssl").current_dir(dir.path()).args([
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-signature",
            "sig.der",
            file,
        ]))
    };
    let ok = verify("payload");
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("Verified OK"));
    let mut changed = payload.clone();
    changed[10] ^= 1;
    std::fs::write(dir.path().join("changed"), &changed).unwrap();
    assert!(!verify("changed").status.success());
    assert_eq!(
        key.public_key().verify(&changed, &sig),
        Err(CosignError::BadSignature)
    );
    // An openssl-made key pair and signature verify here.
    run(Command::new("openssl").current_dir(dir.path()).args([
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "k.pem",
    ]));
    run(Command::new("openssl")
        .current_dir(dir.path())
        .args(["ec", "-in", "k.pem", "-pubout", "-out", "k.pub"]));
    run(Command::new("openssl").current_dir(dir.path()).args([
        "dgst", "-sha256", "-sign", "k.pem", "-out", "k.sig", "payload",
    ]));
    let pubkey =
        CosignPublicKey::from_pem(&std::fs::read(dir.path().join("k.pub")).unwrap()).unwrap();
    let sig = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(dir.path().join("k.sig")).unwrap());
    pubkey.verify(&payload, &sig).unwrap();
}

#[test]
fn encrypted_key_round_trips_through_python() {
    if !python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = CosignPrivateKey::generate();
    let pem = key.to_encrypted_pem(b"hunter2");
    assert!(pem.starts_with("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n"));
    std::fs::write(dir.path().join("ours.key"), &pem).unwrap();
    std::fs::write(dir.path().join("payload"), payload()).unwrap();
    // Python decrypts our key (scrypt + secretbox + PKCS#8), signs with it, and writes a
    // key of its own with the standard cost and the SIGSTORE label.
    let script = r#"
import base64, hashlib, json, sys
from nacl.secret import SecretBox
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
pem = open('ours.key').read().strip().splitlines()
assert pem[0] == '-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----'
doc = json.loads(base64.b64decode(''.join(pem[1:-1])))
assert list(doc) == ['kdf', 'cipher', 'ciphertext'], list(doc)
p = doc['kdf']['params']
assert (p['N'], p['r'], p['p']) == (32768, 8, 1)
k = hashlib.scrypt(b'hunter2', salt=base64.b64decode(doc['kdf']['salt']), n=p['N'], r=p['r'], p=p['p'], dklen=32, maxmem=64*1024*1024)
der = SecretBox(k).decrypt(base64.b64decode(doc['ciphertext']), base64.b64decode(doc['cipher']['nonce']))
key = serialization.load_der_private_key(der, None)
sig = key.sign(open('payload','rb').read(), ec.ECDSA(hashes.SHA256()))
open('py.sig','w').write(base64.b64encode(sig).decode())
import os
new = ec.generate_private_key(ec.SECP256R1())
der = new.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
salt, nonce = os.urandom(32), os.urandom(24)
k = hashlib.scrypt(b'pw', salt=salt, n=65536, r=8, p=1, dklen=32, maxmem=128*1024*1024)
ct = SecretBox(k).encrypt(der, nonce).ciphertext
body = json.dumps({'kdf':{'name':'scrypt','params':{'N':65536,'r':8,'p':1},'salt':base64.b64encode(salt).decode()},'cipher':{'name':'nacl/secretbox','nonce':base64.b64encode(nonce).decode()},'ciphertext':base64.b64encode(ct).decode()}).encode()
b = base64.b64encode(body).decode()
open('py.key','w').write('-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n' + '\n'.join(b[i:i+64] for i in range(0,len(b),64)) + '\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n')
open('py.pub','wb').write(new.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
"#;
    run(Command::new(PYTHON)
        .current_dir(dir.path())
        .args(["-c", script]));
    let py_sig = std::fs::read_to_string(dir.path().join("py.sig")).unwrap();
    key.public_key().verify(&payload(), &py_sig).unwrap();
    let py_key = CosignPrivateKey::from_encrypted_pem(
        &std::fs::read(dir.path().join("py.key")).unwrap(),
        b"pw",
    )
    .unwrap();
    let py_pub =
        CosignPublicKey::from_pem(&std::fs::read(dir.path().join("py.pub")).unwrap()).unwrap();
    assert_eq!(py_key.public_key(), py_pub);
    // Our own key reads back; a wrong passphrase does not decrypt.
    let back = CosignPrivateKey::from_encrypted_pem(pem.as_bytes(), b"hunter2").unwrap();
    assert_eq!(back.public_key(), key.public_key());
    assert_eq!(
        CosignPrivateKey::from_encrypted_pem(pem.as_bytes(), b"wrong").err(),
        Some(CosignError::Decrypt)
    );
}

#[test]
fn hostile_key_parameters_and_labels_are_refused() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let doc = |n: u64| {
        let body = format!(
            r#"{{"kdf":{{"name":"scrypt","params":{{"N":{n},"r":8,"p":1}},"salt":"AAAA"}},"cipher":{{"name":"nacl/secretbox","nonce":"{}"}},"ciphertext":"AAAA"}}"#,
            b64.encode([0u8; 24])
        );
        format!(
            "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n{}\n-----END ENCRYPTED COSIGN PRIVATE KEY-----\n",
            b64.encode(body)
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        )
    };
    // A cost outside the three accepted sets is refused before any derivation (DoS guard).
    assert!(matches!(
        CosignPrivateKey::from_encrypted_pem(doc(1 << 30).as_bytes(), b""),
        Err(CosignError::Unsupported { .. })
    ));
    assert!(matches!(
        CosignPrivateKey::from_encrypted_pem(doc(1024).as_bytes(), b""),
        Err(CosignError::Unsupported { .. })
    ));
    let wrong_label = doc(32768).replace("ENCRYPTED COSIGN PRIVATE KEY", "PRIVATE KEY");
    assert!(matches!(
        CosignPrivateKey::from_encrypted_pem(wrong_label.as_bytes(), b""),
        Err(CosignError::Label { .. })
    ));
    assert!(matches!(
        CosignPublicKey::from_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
        Err(CosignError::PublicKey { .. } | CosignError::Pem { .. })
    ));
    let key = CosignPrivateKey::generate();
    assert!(matches!(
        key.public_key().verify(b"x", "not base64!"),
        Err(CosignError::SignatureEncoding { .. })
    ));
}
