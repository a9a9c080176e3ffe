//! Host-based names and URI templates of discovery (the pure half; the network walk is
//! tested in oci-registry).

use oci_naming::{HostBasedName, TemplateError, expand_template};

fn name(s: &str) -> HostBasedName {
    HostBasedName::parse(s).expect("valid name")
}

#[test]
fn host_based_names_and_their_ancestors() {
    let n = name("a.b.example.com/c/d#1.0");
    assert_eq!(
        (n.host(), n.path(), n.fragment()),
        ("a.b.example.com", "c/d", "1.0")
    );
    assert_eq!(
        n.ancestors(),
        ["a.b.example.com", "b.example.com", "example.com"]
    );
    assert_eq!(name("localhost/x").ancestors(), ["localhost"]);
    assert_eq!(name("10.1.2.3/x").ancestors(), ["10.1.2.3"]);
    assert_eq!(name("[::1]/x").ancestors(), ["[::1]"]);
    assert_eq!(name("Example.COM/x").ancestors(), ["example.com"]);
    for bad in [
        "example.com",
        "/x",
        "example.com/",
        "ex ample.com/x",
        "h:5000/x",
        "[zz]/x",
        "a..b/x",
        "-a.b/x",
        "a.b/x y",
        "a.b/%zz",
        "a.b/x#a#b",
    ] {
        assert!(HostBasedName::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn templates_expand_per_rfc_6570() {
    let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let vars = [("digest", d), ("algorithm", "sha256"), ("encoded", &d[7..])];
    assert_eq!(
        expand_template(
            "https://a.example.com/cas/{algorithm}/{encoded:2}/{encoded}",
            &vars,
            None
        )
        .expect("expands"),
        format!("https://a.example.com/cas/sha256/e3/{}", &d[7..])
    );
    assert_eq!(
        expand_template(
            "https://{host}/ref/{host}/{path}",
            &[("host", "a.b.example.com"), ("path", "c/d")],
            None
        )
        .expect("expands"),
        "https://a.b.example.com/ref/a.b.example.com/c%2Fd"
    );
    assert_eq!(
        expand_template(
            "https://{host}/ref/{+path}",
            &[("host", "h"), ("path", "c/d")],
            None
        )
        .expect("expands"),
        "https://h/ref/c/d"
    );
    assert_eq!(
        expand_template("../x/{encoded}", &vars[2..], Some("https://h/a/b/c")).expect("resolves"),
        format!("https://h/a/x/{}", &d[7..])
    );
    assert!(matches!(
        expand_template("/relative", &[], None),
        Err(TemplateError::NoBase { .. })
    ));
    let err = expand_template("{unclosed", &[], None).expect_err("unclosed");
    assert!(matches!(err, TemplateError::Template { .. }), "{err:?}");
    // The cause is the source, not repeated in the message.
    let cause = std::error::Error::source(&err)
        .expect("a source")
        .to_string();
    assert!(!err.to_string().contains(&cause), "{err} / {cause}");
}
