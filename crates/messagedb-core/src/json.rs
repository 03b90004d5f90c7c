//! JSON payload fidelity (SPEC §2.6) and the correlation lookup (§7.2).
//!
//! `data` and `metadata` are kept as text, never as a parsed tree: a tree would reorder or merge
//! duplicate keys and rewrite numbers. [`minify`] only drops whitespace outside strings, and also
//! rejects unpaired surrogate escapes, which `serde_json` lets through when it skips a value.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::Deserializer;

/// A lone surrogate escape such as `"\ud800"`: valid JSON grammar, but not a Unicode string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unpaired surrogate in \\u escape at byte {0}")]
pub struct SurrogateError(pub usize);

/// Removes whitespace outside strings from `json`, which must already be valid JSON, and checks
/// that every `\u` escape forms a valid code point.
pub fn minify(json: &str) -> Result<String, SurrogateError> {
    let mut out = String::with_capacity(json.len());
    minify_into(json, &mut out)?;
    Ok(out)
}

/// [`minify`] appending to `out`, for callers that reuse a buffer.
pub fn minify_into(json: &str, out: &mut String) -> Result<(), SurrogateError> {
    let bytes = json.as_bytes();
    let mut i = 0;
    let mut copied_from = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' => {
                out.push_str(&json[copied_from..i]);
                i += 1;
                copied_from = i;
            }
            b'"' => i = skip_string(bytes, i)?,
            _ => i += 1,
        }
    }
    out.push_str(&json[copied_from..]);
    Ok(())
}

/// What [`check_structure`] rejects in text that is already valid JSON grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StructureError {
    #[error("recursion limit exceeded at byte {0}")]
    TooDeep(usize),
    #[error(transparent)]
    Surrogate(#[from] SurrogateError),
}

/// Checks what `serde_json` does not when it skips over raw values: that arrays and objects nest
/// at most `max_depth` deep, and that no string holds an unpaired surrogate escape. `json` must
/// already be valid JSON.
pub fn check_structure(json: &str, max_depth: usize) -> Result<(), StructureError> {
    let bytes = json.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(StructureError::TooDeep(i));
                }
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'"' => i = skip_string(bytes, i)?,
            _ => i += 1,
        }
    }
    Ok(())
}

/// Returns the index just past the string that opens at `start`, validating its `\u` escapes.
fn skip_string(bytes: &[u8], start: usize) -> Result<usize, SurrogateError> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Ok(i + 1),
            b'\\' if bytes.get(i + 1) == Some(&b'u') => {
                let unit = hex4(bytes, i + 2);
                match unit {
                    Some(0xD800..=0xDBFF) => {
                        let low = if bytes.get(i + 6) == Some(&b'\\')
                            && bytes.get(i + 7) == Some(&b'u')
                        {
                            hex4(bytes, i + 8)
                        } else {
                            None
                        };
                        if !matches!(low, Some(0xDC00..=0xDFFF)) {
                            return Err(SurrogateError(i));
                        }
                        i += 12;
                    }
                    Some(0xDC00..=0xDFFF) => return Err(SurrogateError(i)),
                    _ => i += 6,
                }
            }
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    Ok(i)
}

fn hex4(bytes: &[u8], at: usize) -> Option<u16> {
    let digits = bytes.get(at..at + 4)?;
    let text = std::str::from_utf8(digits).ok()?;
    u16::from_str_radix(text, 16).ok()
}

/// The category of `metadata.correlationStreamName` when it is a string (the last of duplicate
/// keys wins); `None` for anything else. `metadata` must be valid JSON.
pub fn correlation_category(metadata: &str) -> Option<String> {
    let mut de = Deserializer::from_str(metadata);
    let found = de::Deserializer::deserialize_any(&mut de, CorrelationVisitor).ok()?;
    found.map(|stream| crate::stream::category(&stream).to_owned())
}

struct CorrelationVisitor;

impl<'de> Visitor<'de> for CorrelationVisitor {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "correlationStreamName" {
                found = map.next_value_seed(StringOrNothing)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Option<String>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
}

/// A value that is kept when it is a string and skipped otherwise.
struct StringOrNothing;

impl<'de> DeserializeSeed<'de> for StringOrNothing {
    type Value = Option<String>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<String>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Option<String>, E> {
                Ok(Some(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(None)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Option<String>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(None)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Option<String>, E> {
                Ok(None)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Option<String>, E> {
                Ok(None)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Option<String>, E> {
                Ok(None)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Option<String>, E> {
                Ok(None)
            }
            fn visit_unit<E>(self) -> Result<Option<String>, E> {
                Ok(None)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn minify_keeps_everything_but_whitespace() {
        let cases = [
            (
                r#"{"n":12345678901234567890,"f":1.50}"#,
                r#"{"n":12345678901234567890,"f":1.50}"#,
            ),
            (
                "{ \"b\" : 1 ,\n\t\"a\" : { \"z\" : [ 1 , 2.50 , 1e3 ] } }",
                r#"{"b":1,"a":{"z":[1,2.50,1e3]}}"#,
            ),
            (
                r#"{"s":"a b\" c","a":1,"a":2}"#,
                r#"{"s":"a b\" c","a":1,"a":2}"#,
            ),
            (
                r#"{"e":"\u00e9 é 😀 <&> \ud83d\ude00 \\"}"#,
                r#"{"e":"\u00e9 é 😀 <&> \ud83d\ude00 \\"}"#,
            ),
            (r#"{"z":-0}"#, r#"{"z":-0}"#),
        ];
        for (input, expected) in cases {
            assert_eq!(minify(input).unwrap(), expected);
        }
    }

    #[test]
    fn minify_rejects_unpaired_surrogates() {
        for bad in [
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\ud800\u0041""#,
            r#""\ud800x""#,
        ] {
            assert!(minify(bad).is_err(), "{bad}");
        }
        assert!(
            minify(r#""\\ud800""#).is_ok(),
            "an escaped backslash is not an escape"
        );
    }

    #[test]
    fn structure_checks_depth_and_surrogates() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(check_structure(&nested(128), 128), Ok(()));
        assert_eq!(
            check_structure(&nested(129), 128),
            Err(StructureError::TooDeep(128))
        );
        assert_eq!(check_structure(r#"["[[[[", {"a":"{{"}]"#, 2), Ok(()));
        assert!(matches!(
            check_structure(r#"[1,"\ud800"]"#, 128),
            Err(StructureError::Surrogate(_))
        ));
    }

    #[test]
    fn correlation_lookup() {
        let cases = [
            (
                r#"{"correlationStreamName":"workflow-abc"}"#,
                Some("workflow"),
            ),
            (r#"{"correlationStreamName":"workflow"}"#, Some("workflow")),
            (r#"{"correlationStreamName":5}"#, None),
            (r#"{"correlationStreamName":{"x":"y"},"z":[1]}"#, None),
            (r#"{"other":"x"}"#, None),
            (
                r#"{"correlationStreamName":"a-1","correlationStreamName":"b-2"}"#,
                Some("b"),
            ),
            (
                r#"{"correlationStreamName":"a-1","correlationStreamName":null}"#,
                None,
            ),
            (r#"[1,2]"#, None),
            (r#"{"correlationStreamName":"w\u002dx"}"#, Some("w")),
        ];
        for (meta, expected) in cases {
            assert_eq!(correlation_category(meta).as_deref(), expected, "{meta}");
        }
    }

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            "\\PC*".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::from),
                prop::collection::vec(("\\PC*", inner), 0..8)
                    .prop_map(|kv| { serde_json::Value::Object(kv.into_iter().collect()) }),
            ]
        })
    }

    proptest! {
        #[test]
        fn minify_of_pretty_equals_compact(v in arb_json()) {
            let compact = serde_json::to_string(&v).unwrap();
            let pretty = serde_json::to_string_pretty(&v).unwrap();
            prop_assert_eq!(minify(&pretty).unwrap(), compact.clone());
            prop_assert_eq!(minify(&compact).unwrap(), compact);
        }
    }
}
