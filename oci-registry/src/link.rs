//! The `Link` header (RFC 8288) as registries send it for pages of tags and referrers:
//! `<URL>; rel="next"`.

/// One link of a `Link` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The target as written (relative or absolute).
    pub target: String,
    /// The relation types (lowercased), `rel="next"` giving `["next"]`.
    pub rel: Vec<String>,
}

/// Parses a `Link` value: links separated by commas, each `<target>` followed by
/// `; name=value` parameters (values bare or quoted). Never fails: a malformed link ends
/// the parse, keeping the links read so far.
///
/// ```
/// use oci_registry::{next_link, parse_link};
///
/// let v = r#"</v2/app/tags/list?last=b&n=2>; rel="next", <https://x/y>; rel=prev"#;
/// assert_eq!(parse_link(v).len(), 2);
/// assert_eq!(next_link(v).as_deref(), Some("/v2/app/tags/list?last=b&n=2"));
/// ```
pub fn parse_link(header: &str) -> Vec<Link> {
    let mut out = Vec::new();
    let mut rest = header;
    while out.len() < 64 {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let Some(after) = rest.strip_prefix('<') else {
            break;
        };
        let Some(end) = after.find('>') else {
            break;
        };
        let target = after[..end].trim().to_owned();
        rest = &after[end + 1..];
        let mut rel = Vec::new();
        // Parameters up to the next ',' that is not inside quotes.
        loop {
            rest = rest.trim_start_matches([' ', '\t']);
            let Some(after) = rest.strip_prefix(';') else {
                break;
            };
            rest = after.trim_start_matches([' ', '\t']);
            let name_end = rest.find(['=', ';', ',']).unwrap_or(rest.len());
            let name = rest[..name_end].trim().to_ascii_lowercase();
            rest = &rest[name_end..];
            let mut value = String::new();
            if let Some(after) = rest.strip_prefix('=') {
                rest = after.trim_start_matches([' ', '\t']);
                if let Some(q) = rest.strip_prefix('"') {
                    let mut chars = q.char_indices();
                    let mut consumed = q.len();
                    while let Some((i, c)) = chars.next() {
                        match c {
                            '\\' => {
                                if let Some((_, n)) = chars.next() {
                                    value.push(n);
                                }
                            }
                            '"' => {
                                consumed = i + 1;
                                break;
                            }
                            c => value.push(c),
                        }
                    }
                    rest = &q[consumed.min(q.len())..];
                } else {
                    let end = rest.find([';', ',']).unwrap_or(rest.len());
                    value = rest[..end].trim().to_owned();
                    rest = &rest[end..];
                }
            }
            if name == "rel" {
                rel.extend(value.split_whitespace().map(str::to_ascii_lowercase));
            }
        }
        out.push(Link { target, rel });
        rest = rest.trim_start_matches([' ', '\t']);
        match rest.strip_prefix(',') {
            Some(after) => rest = after,
            None => break,
        }
    }
    out
}

/// The target of the first `rel="next"` link, if any.
pub fn next_link(header: &str) -> Option<String> {
    parse_link(header)
        .into_iter()
        .find(|l| l.rel.iter().any(|r| r == "next"))
        .map(|l| l.target)
}
