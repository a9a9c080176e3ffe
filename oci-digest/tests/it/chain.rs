use oci_digest::{chain_id, chain_ids};

fn check(diff_ids: &[&str], expected_chain: &[&str]) {
    assert_eq!(chain_ids(diff_ids), expected_chain, "chain of {diff_ids:?}");
    assert_eq!(
        chain_id(diff_ids).as_deref(),
        expected_chain.last().copied(),
        "chain id of {diff_ids:?}"
    );
}

/// The image-spec identity/chainid_test.go cases and config.md examples, kept in the repo.
#[test]
fn chain_ids_table() {
    check(&[], &[]);
    check(&["sha256:a"], &["sha256:a"]);
    check(
        &["sha256:a", "sha256:b"],
        &[
            "sha256:a",
            "sha256:970a948bffa8de94d6e22d747ba8c95030e6e546909f98f54e99a13005e173a8",
        ],
    );
    check(
        &["sha256:a", "sha256:b", "sha256:c"],
        &[
            "sha256:a",
            "sha256:970a948bffa8de94d6e22d747ba8c95030e6e546909f98f54e99a13005e173a8",
            "sha256:dee159b33409cefa3f6eda71539f006014283e9d9130c18a1dea7bd8a33c9b1b",
        ],
    );
    check(
        &[
            "sha256:c6f988f4874bb0add23a778f753c65efe992244e148a1d2ec2a8b664fb66bbd1",
            "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef",
        ],
        &[
            "sha256:c6f988f4874bb0add23a778f753c65efe992244e148a1d2ec2a8b664fb66bbd1",
            "sha256:c3191d32a37d7159b2e30830937d2e30268ad6c375a773a8994911a3aba9b93f",
        ],
    );
}

#[test]
fn chain_id_of_empty_stack_is_none() {
    assert_eq!(chain_id(&[] as &[String]), None);
    assert!(chain_ids(&[] as &[String]).is_empty());
}

#[test]
fn chain_id_accepts_owned_strings_and_digests() {
    let owned = vec!["sha256:a".to_owned(), "sha256:b".to_owned()];
    assert_eq!(
        chain_id(&owned).as_deref(),
        Some("sha256:970a948bffa8de94d6e22d747ba8c95030e6e546909f98f54e99a13005e173a8")
    );
    let digests = [crate::digest(&format!("sha256:{}", "a".repeat(64)))];
    assert_eq!(chain_id(&digests).as_deref(), Some(digests[0].as_str()));
}

/// Every row of `/work/shared/conformance/vectors/chainid.jsonl` (skipped when absent).
#[test]
fn chain_ids_shared_vectors() {
    let Some(vectors) = crate::shared_vectors("chainid.jsonl") else {
        return;
    };
    assert!(!vectors.is_empty());
    for v in &vectors {
        let diff_ids: Vec<String> = match &v["diff_ids"] {
            serde_json::Value::Null => Vec::new(),
            other => serde_json::from_value(other.clone()).expect("diff_ids"),
        };
        let expected: Vec<String> =
            serde_json::from_value(v["expected_chain"].clone()).expect("expected_chain");
        assert_eq!(chain_ids(&diff_ids), expected, "vector {}", v["id"]);
        let expected_id = v["expected_chainid"].as_str().expect("expected_chainid");
        assert_eq!(
            chain_id(&diff_ids).unwrap_or_default(),
            expected_id,
            "vector {}",
            v["id"]
        );
    }
}
