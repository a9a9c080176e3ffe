//! TLS trust: the system roots plus `--cert-dir DIR` and `/etc/containers/certs.d/HOST/`.
