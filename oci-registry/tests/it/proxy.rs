//! Proxy choice against the cases of Go's `golang.org/x/net/http/httpproxy` tests.

use oci_registry::proxy::{ProxyConfig, ProxyEnv, ProxyError};

fn env(http: &str, https: &str, no_proxy: &str) -> ProxyEnv {
    ProxyEnv {
        http_proxy: http.to_owned(),
        https_proxy: https.to_owned(),
        no_proxy: no_proxy.to_owned(),
        cgi: false,
    }
}

/// `(HTTP_PROXY, HTTPS_PROXY, NO_PROXY, request URL, proxy chosen)`.
fn check(cases: &[(&str, &str, &str, &str, Option<&str>)]) {
    for (http, https, no_proxy, url, want) in cases {
        let config = ProxyConfig::new(&env(http, https, no_proxy));
        let got = config.proxy_for(url).expect("no error");
        assert_eq!(
            got.as_deref(),
            *want,
            "http_proxy={http:?} https_proxy={https:?} no_proxy={no_proxy:?} req={url:?}"
        );
    }
}

#[test]
fn proxy_values_and_schemes_as_go_reads_them() {
    let e = "http://example.com";
    check(&[
        ("127.0.0.1:8080", "", "", e, Some("http://127.0.0.1:8080")),
        (
            "cache.corp.example.com:1234",
            "",
            "",
            e,
            Some("http://cache.corp.example.com:1234"),
        ),
        (
            "cache.corp.example.com",
            "",
            "",
            e,
            Some("http://cache.corp.example.com"),
        ),
        ("localhost", "", "", e, Some("http://localhost")),
        (
            "https://cache.corp.example.com",
            "",
            "",
            e,
            Some("https://cache.corp.example.com"),
        ),
        (
            "http://127.0.0.1:8080",
            "",
            "",
            e,
            Some("http://127.0.0.1:8080"),
        ),
        (
            "https://127.0.0.1:8080",
            "",
            "",
            e,
            Some("https://127.0.0.1:8080"),
        ),
        ("socks5://127.0.0.1", "", "", e, Some("socks5://127.0.0.1")),
        // Unknown schemes are kept (ureq then refuses them; see below).
        ("foo://host", "", "", e, Some("foo://host")),
        // The http proxy for http, the https proxy for https.
        (
            "http.proxy.tld",
            "secure.proxy.tld",
            "",
            "http://insecure.tld/",
            Some("http://http.proxy.tld"),
        ),
        (
            "http.proxy.tld",
            "secure.proxy.tld",
            "",
            "https://secure.tld/",
            Some("http://secure.proxy.tld"),
        ),
        (
            "http.proxy.tld",
            "https://secure.proxy.tld",
            "",
            "https://secure.tld/",
            Some("https://secure.proxy.tld"),
        ),
        ("http.proxy.tld", "", "", "https://secure.tld/", None),
        ("http.proxy.tld", "", "", "ftp://insecure.tld/", None),
        ("", "", "", e, None),
    ]);
}

#[test]
fn no_proxy_domains_as_go_matches_them() {
    check(&[
        ("proxy", "", "example.com", "http://example.com/", None),
        (
            "proxy",
            "",
            ".example.com",
            "http://example.com/",
            Some("http://proxy"),
        ),
        (
            "proxy",
            "",
            "ample.com",
            "http://example.com/",
            Some("http://proxy"),
        ),
        ("proxy", "", "example.com", "http://foo.example.com/", None),
        (
            "proxy",
            "",
            ".foo.com",
            "http://example.com/",
            Some("http://proxy"),
        ),
        // A zone of an IPv6 literal is not a domain name.
        (
            "proxy",
            "",
            "example.com",
            "http://[1000::%25.example.com]:123",
            Some("http://proxy"),
        ),
        // Case-insensitive, spaces around entries.
        (
            "proxy",
            "",
            " Example.COM ,x",
            "http://WWW.example.com/",
            None,
        ),
    ]);
}

/// Go's `UseProxyTests` with its `NO_PROXY` list, on port 80.
#[test]
fn no_proxy_list_as_go_uses_it() {
    let no_proxy = "foobar.com, .barbaz.net, *.wildcard.io, 192.168.1.1, 192.168.1.2:81, \
                    192.168.1.3:80, 10.0.0.0/30, 2001:db8::52:0:1, [2001:db8::52:0:2]:443, \
                    [2001:db8::52:0:3]:80, 2002:db8:a::45/64";
    let proxied = [
        ("localhost", false),
        ("127.0.0.1", false),
        ("127.0.0.2", false),
        ("[::1]", false),
        ("[::2]", true),
        ("192.168.1.1", false),
        ("192.168.1.2", true),
        ("192.168.1.3", false),
        ("192.168.1.4", true),
        ("10.0.0.2", false),
        ("[2001:db8::52:0:1]", false),
        ("[2001:db8::52:0:2]", true),
        ("[2001:db8::52:0:3]", false),
        ("[2002:db8:a::123]", false),
        ("[fe80::424b:c8be:1643:a1b6]", true),
        ("barbaz.net", true),
        ("www.barbaz.net", false),
        ("foobar.com", false),
        ("www.foobar.com", false),
        ("foofoobar.com", true),
        ("baz.com", true),
        ("localhost.net", true),
        ("local.localhost", true),
        ("barbarbaz.net", true),
        ("wildcard.io", true),
        ("nested.wildcard.io", false),
        ("awildcard.io", true),
    ];
    let listed = ProxyConfig::new(&env("proxy", "", no_proxy));
    let star = ProxyConfig::new(&env("proxy", "", "*"));
    for (host, want) in proxied {
        let url = format!("http://{host}:80/");
        let got = listed.proxy_for(&url).expect("no error").is_some();
        assert_eq!(got, want, "{host} proxied with NO_PROXY={no_proxy:?}");
        assert_eq!(
            star.proxy_for(&url).unwrap(),
            None,
            "{host} with NO_PROXY=*"
        );
    }
    // A malformed entry is ignored (and does not panic).
    let bad = ProxyConfig::new(&env("proxy", "", ":1"));
    assert!(bad.proxy_for("http://example.com:80/").unwrap().is_some());
}

#[test]
fn http_proxy_is_refused_in_a_cgi_environment_and_https_proxy_is_not() {
    let cgi = ProxyConfig::new(&ProxyEnv {
        cgi: true,
        ..env("http://10.1.2.3:8080", "https://secure.proxy.tld", "")
    });
    let err = cgi.proxy_for("http://example.com").unwrap_err();
    assert!(matches!(err, ProxyError::Cgi { .. }), "{err}");
    assert!(err.to_string().contains("REQUEST_METHOD"), "{err}");
    assert_eq!(
        cgi.proxy_for("https://secure.tld/").unwrap().as_deref(),
        Some("https://secure.proxy.tld")
    );
}

#[test]
fn ureq_proxy_carries_host_port_and_user_and_refuses_unknown_schemes() {
    let config = ProxyConfig::new(&env("", "http://ann:pw@proxy.corp:3128", ""));
    let proxy = config
        .ureq_proxy_for("https://quay.io/v2/")
        .unwrap()
        .expect("proxied");
    assert_eq!(
        (proxy.host(), proxy.port(), proxy.username()),
        ("proxy.corp", 3128, Some("ann"))
    );
    assert!(
        config
            .ureq_proxy_for("https://localhost:5000/v2/")
            .unwrap()
            .is_none()
    );
    let odd = ProxyConfig::new(&env("foo://host", "", ""));
    let err = odd.ureq_proxy_for("http://example.com/").unwrap_err();
    assert!(
        err.to_string().contains("HTTP_PROXY") && err.to_string().contains("foo://host"),
        "{err}"
    );
}
