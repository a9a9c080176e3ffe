//! Fuzz target: the endpoint parser of `oci-image` (`oci:DIR[:REF]`,
//! `oci-archive:FILE[:REF]`, `docker-archive:FILE[:NAME:TAG]`, `discover:NAME`, and a bare
//! `DIR[:REF]`): `Endpoint::parse` and `Endpoint::parse_image`. Besides "never panics":
//! both are deterministic, and what `parse` accepts `parse_image` accepts alike or refuses
//! cleanly.
#![no_main]

use oci_image::Endpoint;

libfuzzer_sys::fuzz_target!(|data: &[u8]| endpoint_parse(data));

/// The target body, over bytes.
pub fn endpoint_parse(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Endpoint::parse(s);
    assert_eq!(
        format!("{parsed:?}"),
        format!("{:?}", Endpoint::parse(s)),
        "parse is deterministic"
    );
    let image = Endpoint::parse_image(s);
    assert_eq!(
        format!("{image:?}"),
        format!("{:?}", Endpoint::parse_image(s)),
        "parse_image is deterministic"
    );
    if let (Ok(a), Ok(b)) = (&parsed, &image) {
        let _ = a.default_format(b);
        let _ = b.default_format(a);
    }
    if let Ok(e) = &parsed {
        let _ = format!("{e:?}");
    }
}
