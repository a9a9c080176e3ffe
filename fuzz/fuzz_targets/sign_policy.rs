//! Fuzz target: the strict containers-policy.json parser (`oci_sign::policy::Policy`),
//! then scope lookup and evaluation of what parsed over no signatures. Besides "never
//! panics": an image with no signatures is never accepted by a policy whose chosen
//! scope holds a signature requirement.
#![no_main]

use oci_naming::Reference;
use oci_sign::policy::{ImageRef, Policy, Requirement, evaluate};

libfuzzer_sys::fuzz_target!(|data: &[u8]| sign_policy(data));

/// The target body, over bytes.
pub fn sign_policy(data: &[u8]) {
    let Ok(policy) = Policy::parse(data) else {
        return;
    };
    let images = [
        ImageRef::Docker(Reference::parse_normalized("example.com/ns/foo:v1").expect("valid")),
        ImageRef::Docker(Reference::parse_normalized("busybox").expect("valid")),
        ImageRef::Path {
            transport: "dir".to_owned(),
            path: "/a/b".to_owned(),
            tag: None,
        },
    ];
    for image in &images {
        let (_, reqs) = policy.requirements_for(image);
        let verdict = evaluate(&policy, image, b"{}", &Vec::<Vec<u8>>::new(), 0);
        let needs_signature = reqs.iter().any(|r| {
            matches!(r, Requirement::SignedBy { .. } | Requirement::SigstoreSigned { .. })
        });
        if needs_signature || reqs.contains(&Requirement::Reject) {
            assert!(!verdict.accepted, "accepted without signatures: {verdict:?}");
        }
    }
}
