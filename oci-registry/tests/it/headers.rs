//! The header grammars: `WWW-Authenticate` challenges, token scopes and `Link`.

use oci_registry::{Scope, merge_scopes, next_link, parse_challenges, parse_link};

#[test]
fn challenges_as_registries_send_them() {
    let c = parse_challenges(
        r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#,
    );
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].scheme, "bearer");
    assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
    assert_eq!(c[0].param("service"), Some("registry.docker.io"));
    assert_eq!(
        c[0].param("scope"),
        Some("repository:library/alpine:pull,push")
    );
    // Several challenges, bare values, escapes, odd spacing and case.
    let c = parse_challenges(
        r#"Basic realm=x , BEARER Realm = "a\"b" ,error=insufficient_scope, Negotiate"#,
    );
    let schemes: Vec<&str> = c.iter().map(|c| c.scheme.as_str()).collect();
    assert_eq!(schemes, ["basic", "bearer", "negotiate"]);
    assert_eq!(c[0].param("realm"), Some("x"));
    assert_eq!(c[1].param("realm"), Some("a\"b"));
    assert_eq!(c[1].param("error"), Some("insufficient_scope"));
    // A token68 and an unterminated quote: what was read is kept.
    assert_eq!(parse_challenges("Basic dXNlcjpwYXNz==")[0].scheme, "basic");
    let c = parse_challenges(r#"Bearer realm="https://x/token"#);
    assert_eq!(c[0].param("realm"), Some("https://x/token"));
    assert!(parse_challenges("").is_empty());
    assert!(parse_challenges("=,=").is_empty());
}

#[test]
fn scopes_parse_and_merge_push_first() {
    let s = Scope::parse("repository:localhost:5000/a:pull,push,pull").expect("scope");
    assert_eq!(s.name, "localhost:5000/a");
    assert_eq!(s.actions, ["pull", "push"]);
    assert_eq!(s.to_string(), "repository:localhost:5000/a:pull,push");
    assert_eq!(Scope::parse("nocolon"), None);
    let merged = merge_scopes(&[Scope::push("dst"), Scope::pull("src"), Scope::pull("dst")]);
    assert_eq!(
        merged.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["repository:dst:pull,push", "repository:src:pull"]
    );
}

#[test]
fn link_headers() {
    let v = r#"</v2/a/tags/list?n=2&last=b>; rel="next""#;
    assert_eq!(next_link(v).as_deref(), Some("/v2/a/tags/list?n=2&last=b"));
    let v = r#"<https://x/1>; rel="prev", <https://x/2>;rel=next;title="a, b; c""#;
    let links = parse_link(v);
    assert_eq!(links.len(), 2);
    assert_eq!(links[1].rel, ["next"]);
    assert_eq!(next_link(v).as_deref(), Some("https://x/2"));
    assert_eq!(
        next_link(r#"<https://x/3>; rel="prev next""#).as_deref(),
        Some("https://x/3")
    );
    assert_eq!(next_link("garbage"), None);
    assert_eq!(next_link("<unterminated; rel=next"), None);
}
