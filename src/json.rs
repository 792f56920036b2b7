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

    #[test]
    fn object_required() {
        let e = parse_object(b"[1]", 4, "header").unwrap_err();
        assert_eq!(
            e.message(),
            "the header must be a JSON object, not an array"
        );
    }
}
