//! Strict JSON for untrusted input (token headers, payloads, key sets).
//!
//! `serde_json::Value` keeps the last of duplicate member names, so two
//! parsers can disagree on what `{"sub":"a","sub":"b"}` means (RFC 8725 §3.2
//! asks us to refuse such input). This module parses with `serde_json` but
//! refuses duplicate member names at every depth, refuses nesting deeper than
//! a limit, and refuses trailing input.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::{Error, ErrorCode};

const TOO_DEEP: &str = "JSON nested deeper than";
const DUPLICATE: &str = "duplicate member name";

/// Parses `input` as one JSON value, refusing duplicate member names and
/// nesting deeper than `max_depth` (objects and arrays count one level each).
///
/// `what` names the input in error messages ("header", "payload", ...).
///
/// ```
/// use jwtgate::json::parse_strict;
/// assert!(parse_strict(br#"{"a":1}"#, 4, "payload").is_ok());
/// let e = parse_strict(br#"{"a":1,"a":2}"#, 4, "payload").unwrap_err();
/// assert_eq!(e.code().as_str(), "malformed");
/// let e = parse_strict(b"[[[[[1]]]]]", 4, "payload").unwrap_err();
/// assert_eq!(e.code().as_str(), "too_large");
/// ```
pub fn parse_strict(input: &[u8], max_depth: usize, what: &str) -> Result<Value, Error> {
    let mut de = serde_json::Deserializer::from_slice(input);
    let value = Strict {
        depth_left: max_depth,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    value.map_err(|e| {
        let text = format!("{e}");
        let code = if text.starts_with(TOO_DEEP) {
            ErrorCode::TooLarge
        } else {
            ErrorCode::Malformed
        };
        Error::new(code, format!("the {what} is not valid JSON: {text}"))
    })
}

/// Like [`parse_strict`], but the value must be a JSON object.
pub fn parse_object(
    input: &[u8],
    max_depth: usize,
    what: &str,
) -> Result<Map<String, Value>, Error> {
    match parse_strict(input, max_depth, what)? {
        Value::Object(map) => Ok(map),
        other => Err(Error::new(
            ErrorCode::Malformed,
            format!(
                "the {what} must be a JSON object, not {}",
                type_name(&other)
            ),
        )),
    }
}

/// A short English name for the JSON type of `v`, for error messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

struct Strict {
    depth_left: usize,
}

impl Strict {
    fn nested<E: serde::de::Error>(&self) -> Result<Strict, E> {
        match self.depth_left.checked_sub(1) {
            Some(depth_left) => Ok(Strict { depth_left }),
            None => Err(E::custom(TOO_DEEP.to_owned() + " the limit")),
        }
    }
}

use alloc::borrow::ToOwned;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict {
            depth_left: inner.depth_left,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(A::Error::custom(format!("{DUPLICATE} \"{key}\"")));
            }
            let value = map.next_value_seed(Strict {
                depth_left: inner.depth_left,
            })?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// Where a `serde_json` error stopped, as a member path: `providers.idp.issuer`,
/// `rules[2].prefix`, or `.` at the top level (the notation of the
/// `serde_path_to_error` crate, which `tests/regressions.rs` and the `policy`
/// fuzz target compare it with).
///
/// The scan reads `text` up to the error's line and column and names the
/// members and array elements still open there. It only labels an error
/// serde_json has already found; it never decides whether input is valid.
pub(crate) fn path_at(text: &str, error: &serde_json::Error) -> String {
    /// An object: the name of the member being read, and whether its `:`
    /// has been read. An array: the index of the element being read.
    enum Open {
        Object(Option<String>, bool),
        Array(usize),
    }
    let bytes = text.as_bytes();
    // serde_json counts lines from 1, and columns in bytes up to the last
    // character it read (or, for some syntax errors, the one it peeked at).
    let line_start = match error.line() {
        0 | 1 => 0,
        line => bytes
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .nth(line - 2)
            .map_or(bytes.len(), |(i, _)| i + 1),
    };
    let end = (line_start + error.column()).min(bytes.len());
    // The error is about the JSON's fit to the types (an unknown field, a
    // wrong type), not its syntax.
    let about_the_value = error.classify() == serde_json::error::Category::Data;
    // An enum given as an object (`{"variant": ...}`) whose one member name is
    // not a variant: that name is the value being refused, not a member.
    let names_the_member = about_the_value && !format!("{error}").starts_with("unknown variant");
    let mut open: Vec<Open> = Vec::new();
    let mut i = 0;
    while i < end {
        match (bytes[i], open.last_mut()) {
            (b'{', _) => open.push(Open::Object(None, false)),
            // A `}` right after a member name: serde_json closing the object
            // after refusing the name (an unknown field), still about it.
            (b'}', Some(Open::Object(Some(_), false))) if about_the_value => {}
            (b'[', _) => open.push(Open::Array(0)),
            (b'}' | b']', _) => {
                open.pop();
            }
            (b':', Some(Open::Object(_, colon))) => *colon = true,
            (b',', Some(Open::Object(name, colon))) => (*name, *colon) = (None, false),
            (b',', Some(Open::Array(index))) => *index += 1,
            (b'"', last) => {
                let start = i;
                i += 1;
                while i < end && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if i >= end {
                    break; // the error is inside this string
                }
                if let Some(Open::Object(name @ None, false)) = last {
                    // A member name: serde_json decodes its escapes.
                    *name = Some(serde_json::from_str(&text[start..=i]).unwrap_or_default());
                }
            }
            _ => {}
        }
        i += 1;
    }
    // A member is on the path once its `:` is read (serde_path_to_error puts
    // it there as its value's reading begins); before that, only when the
    // error is about the name itself (an unknown field).
    let mut path = String::new();
    let mut segments = 0;
    for frame in &open {
        match frame {
            Open::Object(Some(name), colon) if *colon || names_the_member => {
                if segments > 0 {
                    path.push('.');
                }
                path.push_str(name);
            }
            Open::Array(index) => path.push_str(&format!("[{index}]")),
            Open::Object(..) => continue,
        }
        segments += 1;
    }
    if segments == 0 {
        path.push('.');
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_json() {
        let v = parse_strict(br#"{"a":[1,2.5,"x",null,true],"b":{"c":-1}}"#, 3, "t").unwrap();
        assert_eq!(v["a"][1], 2.5);
        assert_eq!(v["b"]["c"], -1);
    }

    #[test]
    fn refuses_duplicates_at_any_depth() {
        let e = parse_strict(br#"{"a":{"b":1,"b":1}}"#, 8, "payload").unwrap_err();
        assert_eq!(e.code(), ErrorCode::Malformed);
        assert!(e.message().contains("duplicate member name \"b\""), "{e}");
    }

    #[test]
    fn depth_limit_counts_objects_and_arrays() {
        assert!(parse_strict(br#"{"a":[1]}"#, 2, "t").is_ok());
        let e = parse_strict(br#"{"a":[1]}"#, 1, "t").unwrap_err();
        assert_eq!(e.code(), ErrorCode::TooLarge);
    }

    #[test]
    fn refuses_trailing_input_and_bad_utf8() {
        assert!(parse_strict(br#"{} {}"#, 4, "t").is_err());
        assert!(parse_strict(b"{\"a\":\"\xff\"}", 4, "t").is_err());
        assert!(parse_strict(br#"{"a":"\ud800"}"#, 4, "t").is_err());
    }

    use alloc::collections::BTreeMap;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Rule {
        prefix: String,
    }
    type Rules = BTreeMap<String, Vec<Rule>>;

    /// The path at the position of serde_json's own error for `text`, read as `T`.
    fn path_of_error<T: serde::de::DeserializeOwned + fmt::Debug>(text: &str) -> String {
        path_at(text, &serde_json::from_str::<T>(text).unwrap_err())
    }

    #[test]
    fn paths_of_type_errors_name_the_field() {
        // A wrong type: the member (or element) it is the value of.
        assert_eq!(
            path_of_error::<Rules>(r#"{"rules": [{"prefix": "/"}, {"prefix": 7}]}"#),
            "rules[1].prefix"
        );
        assert_eq!(
            path_of_error::<Rules>(r#"{"rules": [{"prefix": "/"}, 7]}"#),
            "rules[1]"
        );
        assert_eq!(path_of_error::<Rules>("{\n \"r\": [],\n \"s\": {}}"), "s");
        // An unknown member: its name; a missing one: the object without it.
        assert_eq!(
            path_of_error::<Rules>(r#"{"r": [{"prefix": "/", "x": 1}]}"#),
            "r[0].x"
        );
        assert_eq!(
            path_of_error::<Rules>(r#"{"r": [{"prefix": "/"}, {}]}"#),
            "r[1]"
        );
        // The last member unknown: serde_json has read the `}` after it.
        assert_eq!(path_of_error::<Rules>(r#"{"r": [{"x\n"}]}"#), "r[0].x\n");
        // Member names as serde_json decodes them.
        assert_eq!(
            path_of_error::<Rules>(r#"{"a\u002eb": [{"prefix": []}]}"#),
            "a.b[0].prefix"
        );
        // The top level.
        assert_eq!(path_of_error::<Rules>("[]"), ".");
    }

    #[test]
    fn paths_of_syntax_errors_name_where_the_scan_stopped() {
        // A name is on the path once its `:` is read.
        assert_eq!(path_of_error::<Value>(r#"{"a": {"c" 1}}"#), "a");
        assert_eq!(path_of_error::<Value>(r#"{"a": {"b": 1, "c":"#), "a.c");
        assert_eq!(
            path_of_error::<Value>(r#"{"a": {"b": [{"c": tru}]}}"#),
            "a.b[0]"
        );
        assert_eq!(
            path_of_error::<Value>("{\"a\": 1,\n \"b\": [1, 2, x]}"),
            "b[2]"
        );
        assert_eq!(path_of_error::<Value>(r#"{"a": "\q"}"#), "a");
        assert_eq!(path_of_error::<Value>(r#"{"a": {"b\q": 1}}"#), "a");
        assert_eq!(path_of_error::<Value>(r#"{"a": 1} x"#), ".");
    }

    #[test]
    fn object_required() {
        let e = parse_object(b"[1]", 4, "header").unwrap_err();
        assert_eq!(
            e.message(),
            "the header must be a JSON object, not an array"
        );
    }
}
