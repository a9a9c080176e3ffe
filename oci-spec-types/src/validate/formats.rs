//! Value formats the schema cannot (or does not) check: RFC 3339 date-times, the
//! ref.name grammar, Go platform names, and embedded `data`.

use base64::Engine as _;
use sha2::Digest as _;

use super::check::Cx;
use crate::digest::{Algorithm, Digest};
use crate::json::quote;

/// Go's GOOS values (`go tool dist list` plus the historical ones).
pub(super) const GOOS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
    "zos",
];

/// Go's GOARCH values (including the reserved ones of `go/build`).
pub(super) const GOARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "arm64",
    "arm64be",
    "armbe",
    "loong64",
    "mips",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "mipsle",
    "ppc",
    "ppc64",
    "ppc64le",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

/// Whether `variant` is in the Platform Variants table for `arch`, or matches the Go
/// analogue (GOARM, GOARM64, GOAMD64, GOPPC64, GORISCV64; I21).
pub(super) fn known_variant(arch: &str, variant: &str) -> bool {
    match arch {
        "arm" => matches!(variant, "v5" | "v6" | "v7" | "v8"),
        "arm64" => {
            let Some(rest) = variant.strip_prefix('v') else {
                return false;
            };
            match rest.split_once('.') {
                None => matches!(rest, "8" | "9"),
                Some((major, minor)) => {
                    let minor_ok = |max: u8| {
                        minor.len() == 1
                            && minor.as_bytes()[0].is_ascii_digit()
                            && minor.as_bytes()[0] - b'0' <= max
                    };
                    match major {
                        "8" => minor_ok(9),
                        "9" => minor_ok(5),
                        _ => false,
                    }
                }
            }
        }
        "amd64" => matches!(variant, "v1" | "v2" | "v3" | "v4"),
        "ppc64" | "ppc64le" => matches!(variant, "power8" | "power9" | "power10"),
        "riscv64" => matches!(variant, "rva20u64" | "rva22u64" | "rva23u64"),
        _ => false,
    }
}

/// Whether `s` is an RFC 3339 section 5.6 `date-time` (`T`/`Z` in either case, as the
/// RFC allows; fractional seconds of any length; leap second 60; real calendar days).
pub(crate) fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        if part.iter().all(u8::is_ascii_digit) {
            Some(part.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
        } else {
            None
        }
    };
    let check = || -> Option<()> {
        let year = digits(0..4)?;
        (b.get(4) == Some(&b'-')).then_some(())?;
        let month = digits(5..7)?;
        (b.get(7) == Some(&b'-')).then_some(())?;
        let day = digits(8..10)?;
        matches!(b.get(10), Some(b'T' | b't')).then_some(())?;
        let hour = digits(11..13)?;
        (b.get(13) == Some(&b':')).then_some(())?;
        let minute = digits(14..16)?;
        (b.get(16) == Some(&b':')).then_some(())?;
        let second = digits(17..19)?;
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (day >= 1 && day <= days && hour <= 23 && minute <= 59 && second <= 60).then_some(())?;
        let mut i = 19;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            i = start;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            (i > start).then_some(())?;
        }
        match b.get(i)? {
            b'Z' | b'z' => (i + 1 == b.len()).then_some(()),
            b'+' | b'-' => {
                let oh = digits(i + 1..i + 3)?;
                (b.get(i + 3) == Some(&b':')).then_some(())?;
                let om = digits(i + 4..i + 6)?;
                (i + 6 == b.len() && oh <= 23 && om <= 59).then_some(())
            }
            _ => None,
        }
    };
    check().is_some()
}

/// Whether `s` follows the ref.name grammar of annotations.md (A10).
pub(super) fn is_ref_name(s: &str) -> bool {
    crate::annotations::is_valid_ref_name(s)
}

/// Checks embedded `data`: padded standard base64 (D13), and the decoded bytes agree with
/// `size` and, for registered algorithms, `digest` (D14; the check D15 asks consumers for).
pub(super) fn data(cx: &mut Cx, ptr: &str, s: &str, digest: Option<&Digest>, size: Option<u64>) {
    // STANDARD: the standard alphabet, padding required, no stray trailing bits.
    let bytes = match base64::engine::general_purpose::STANDARD.decode(s) {
        Ok(bytes) => bytes,
        Err(e) => {
            cx.error(
                ptr,
                "D13",
                format!(
                    "data {} is not padded standard base64 (RFC 4648): {e}",
                    quote(s)
                ),
            );
            return;
        }
    };
    if let Some(size) = size
        && bytes.len() as u64 != size
    {
        cx.error(
            ptr,
            "D14",
            format!("data decodes to {} bytes but size is {size}", bytes.len()),
        );
    }
    let Some(digest) = digest else { return };
    let Some(algorithm) = digest.algorithm() else {
        return;
    };
    let actual = match algorithm {
        Algorithm::Sha256 => Digest::from_hash(algorithm, &sha2::Sha256::digest(&bytes)),
        Algorithm::Sha512 => Digest::from_hash(algorithm, &sha2::Sha512::digest(&bytes)),
        Algorithm::Blake3 => Digest::from_hash(algorithm, blake3::hash(&bytes).as_bytes()),
    };
    if actual != *digest {
        cx.error(
            ptr,
            "D14",
            format!(
                "data hashes to {} but digest is {}",
                actual.as_str(),
                digest.as_str()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        for ok in [
            "2015-10-31T22:22:56.015925234Z",
            "2015-10-31T22:22:56Z",
            "2024-02-29t00:00:60z",
            "1970-01-01T00:00:00+01:00",
            "1970-01-01T00:00:00.5-23:59",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "",
            "2015-10-31",
            "2015-10-31 22:22:56Z",
            "2023-02-29T00:00:00Z",
            "2015-13-01T00:00:00Z",
            "2015-10-31T24:00:00Z",
            "2015-10-31T22:22:56",
            "2015-10-31T22:22:56.Z",
            "2015-10-31T22:22:56+0100",
            "2015-10-31T22:22:56Zx",
            "yesterday",
            "２015-10-31T22:22:56Z",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn ref_names() {
        for ok in ["v1.0", "latest", "1.0--rc1", "a/b:c@d+e", "stable-release"] {
            assert!(is_ref_name(ok), "{ok}");
        }
        for bad in ["", "-x", "x-", "a//b", "a---b", "tag with space", "a_-b"] {
            assert!(!is_ref_name(bad), "{bad}");
        }
    }

    #[test]
    fn variants() {
        assert!(known_variant("arm", "v7"));
        assert!(known_variant("arm64", "v8"));
        assert!(known_variant("arm64", "v8.2"));
        assert!(known_variant("arm64", "v9.5"));
        assert!(!known_variant("arm64", "v9.6"));
        assert!(!known_variant("arm64", "v8.02"));
        assert!(!known_variant("arm", "v9"));
        assert!(!known_variant("386", "v1"));
    }
}
