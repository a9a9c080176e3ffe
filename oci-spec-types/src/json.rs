//! A strict JSON reader into a tree that keeps what typed parsing throws away: object
//! members in document order including duplicate names (J2, A3), and the class of every
//! number (integer, out of int64, not an integer) so the validator can name the fault.
//!
//! The grammar itself is serde_json's (RFC 8259, no trailing commas, no comments, no
//! lone surrogates); non-UTF-8 input is refused before parsing with the byte offset of
//! the first bad sequence (J1). Nesting is bounded by serde_json's recursion limit (128
//! levels), so hostile input gets an error instead of a stack overflow.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// One JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number, as the parser classified it.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Node>),
    /// An object: members in document order, duplicates kept.
    Object(Vec<(String, Node)>),
}

/// A JSON number, kept in the widest exact form the parser gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integer literal that fits in int64.
    Int(i64),
    /// An integer literal above `i64::MAX` that fits in uint64.
    UInt(u64),
    /// A literal with a fraction or exponent, or an integer too large for 64 bits.
    Float(f64),
}

/// What a number is, for fields that must hold an int64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumClass {
    /// An integer in int64 range.
    Integer(i64),
    /// An integer (or integral float) outside int64.
    OutOfInt64,
    /// A number with a fractional part or written with a fraction or exponent.
    NotInteger,
}

/// 2^63 as a double (exact).
const TWO_63: f64 = (1u64 << 63) as f64;

/// 2^53: above this, integers are not exact as IEEE 754 doubles (J3).
pub const MAX_SAFE_INTEGER: u64 = 1 << 53;

impl Number {
    /// Classifies the number for int64 fields.
    pub fn class(self) -> NumClass {
        match self {
            Number::Int(i) => NumClass::Integer(i),
            Number::UInt(_) => NumClass::OutOfInt64,
            Number::Float(f) => {
                // 2^63 as f64 is exact; anything at or beyond it (or below -2^63) is out.
                if f.is_finite() && f.fract() == 0.0 && !(-TWO_63..TWO_63).contains(&f) {
                    NumClass::OutOfInt64
                } else {
                    NumClass::NotInteger
                }
            }
        }
    }

    /// Whether the number is beyond the exact integer range of a double, or beyond the
    /// double range (clamped to `f64::MAX` while parsing) (J3).
    pub fn beyond_double_precision(self) -> bool {
        match self {
            Number::Int(i) => i.unsigned_abs() > MAX_SAFE_INTEGER,
            Number::UInt(_) => true,
            Number::Float(f) => {
                f.abs() >= f64::MAX || (f.fract() == 0.0 && f.abs() > MAX_SAFE_INTEGER as f64)
            }
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::UInt(u) => write!(f, "{u}"),
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

impl Node {
    /// The value of member `key` of an object; with duplicates, the last one (as most
    /// parsers keep). `None` for absent members and for non-objects.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A short rendering of the value for messages: strings quoted, containers by type.
    pub fn describe(&self) -> String {
        match self {
            Node::Null => "null".to_owned(),
            Node::Bool(b) => b.to_string(),
            Node::Number(n) => n.to_string(),
            Node::String(s) => quote(s),
            Node::Array(_) => "an array".to_owned(),
            Node::Object(_) => "an object".to_owned(),
        }
    }
}

/// Quotes a string for a message, cut to 100 characters.
pub fn quote(s: &str) -> String {
    const MAX: usize = 100;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut:?}...")
    }
}

/// Why input is not a JSON document (J1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The bytes are not UTF-8.
    #[error("input is not UTF-8: invalid byte sequence at byte offset {offset}")]
    NotUtf8 {
        /// Offset of the first byte of the bad sequence.
        offset: usize,
    },
    /// The text is not well-formed JSON (or nests deeper than 128 levels).
    #[error("input is not well-formed JSON: {message}")]
    Syntax {
        /// serde_json's message, with line and column.
        message: String,
    },
}

/// Parses one JSON document (surrounding whitespace allowed, nothing else).
pub fn parse(bytes: &[u8]) -> Result<Node, ParseError> {
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(ParseError::NotUtf8 {
            offset: e.valid_up_to(),
        });
    }
    match parse_utf8(bytes) {
        // RFC 8259 allows numbers beyond the double range; I-JSON only says SHOULD NOT
        // (J3). serde_json refuses them, so they are clamped to the largest double and
        // reported by the validator as J3 warnings.
        Err(ParseError::Syntax { message }) if message.starts_with("number out of range") => {
            parse_utf8(&clamp_huge_numbers(bytes))
        }
        result => result,
    }
}

fn parse_utf8(bytes: &[u8]) -> Result<Node, ParseError> {
    let syntax = |e: serde_json::Error| ParseError::Syntax {
        message: e.to_string(),
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let node = NodeSeed.deserialize(&mut de).map_err(syntax)?;
    de.end().map_err(syntax)?;
    Ok(node)
}

/// Replaces every number token (outside strings) whose magnitude overflows a double with
/// the largest double of the same sign.
fn clamp_huge_numbers(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            out.push(b);
            match b {
                b'\\' => {
                    if let Some(&next) = bytes.get(i + 1) {
                        out.push(next);
                        i += 1;
                    }
                }
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
        } else if b == b'"' {
            in_string = true;
            out.push(b);
            i += 1;
        } else if b == b'-' || b.is_ascii_digit() {
            let start = i;
            while i < bytes.len()
                && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
            {
                i += 1;
            }
            let token = &bytes[start..i];
            let huge = std::str::from_utf8(token)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(f64::is_infinite);
            if huge {
                if token[0] == b'-' {
                    out.push(b'-');
                }
                out.extend_from_slice(HUGE);
            } else {
                out.extend_from_slice(token);
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

/// `f64::MAX`, as JSON.
const HUGE: &[u8] = b"1.7976931348623157e308";

struct NodeSeed;

impl<'de> DeserializeSeed<'de> for NodeSeed {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Number(Number::Int(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Number(match i64::try_from(v) {
            Ok(i) => Number::Int(i),
            Err(_) => Number::UInt(v),
        }))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Number(Number::Float(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(NodeSeed)? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut members = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(NodeSeed)?;
            members.push((key, value));
        }
        Ok(Node::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_duplicates_in_order() {
        let node = parse(br#"{"a":1,"b":2,"a":3}"#).expect("parses");
        let Node::Object(members) = &node else {
            panic!("object expected")
        };
        let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b", "a"]);
        assert_eq!(node.get("a"), Some(&Node::Number(Number::Int(3))));
    }

    #[test]
    fn classifies_numbers() {
        let class = |s: &str| match parse(s.as_bytes()).expect("parses") {
            Node::Number(n) => n.class(),
            other => panic!("number expected, got {other:?}"),
        };
        assert_eq!(class("-5"), NumClass::Integer(-5));
        assert_eq!(class("9223372036854775807"), NumClass::Integer(i64::MAX));
        assert_eq!(class("9223372036854775808"), NumClass::OutOfInt64);
        assert_eq!(class("100000000000000000000"), NumClass::OutOfInt64);
        assert_eq!(class("1.5"), NumClass::NotInteger);
        assert_eq!(class("1.0"), NumClass::NotInteger);
        assert_eq!(class("1e2"), NumClass::NotInteger);
    }

    #[test]
    fn numbers_beyond_doubles_are_clamped() {
        let node = parse(br#"{"a":1e400,"b":"1e400","c":[-2E+999,5]}"#).expect("parses");
        assert_eq!(node.get("a"), Some(&Node::Number(Number::Float(f64::MAX))));
        assert_eq!(node.get("b"), Some(&Node::String("1e400".to_owned())));
        assert_eq!(
            node.get("c"),
            Some(&Node::Array(vec![
                Node::Number(Number::Float(-f64::MAX)),
                Node::Number(Number::Int(5))
            ]))
        );
        assert!(Number::Float(f64::MAX).beyond_double_precision());
        assert_eq!(Number::Float(-f64::MAX).class(), NumClass::OutOfInt64);
        // Escaped quotes do not end a string.
        assert!(parse(br#"{"a\"1e999":1e999}"#).is_ok());
    }

    #[test]
    fn refuses_non_utf8_with_offset() {
        assert_eq!(
            parse(b"{\"a\":\"\xff\"}"),
            Err(ParseError::NotUtf8 { offset: 6 })
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(matches!(
            parse(deep.as_bytes()),
            Err(ParseError::Syntax { .. })
        ));
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn refuses_trailing_content_and_lone_surrogates() {
        assert!(parse(b"{} x").is_err());
        assert!(parse(br#""\ud800""#).is_err());
        assert!(parse(b" {} \n").is_ok());
    }
}
