//! Reading RPC arguments under the SPEC §5.2 conventions.
//!
//! Arguments stay borrowed `RawValue`s of the request body until a method asks for one, so the
//! JSON type of each value is visible (a present `null` fails its type check) and `data`/`metadata`
//! keep their exact text. Numbers follow one rule everywhere: any JSON number, integer literals
//! exactly, everything else truncated toward zero, saturating at the `i64` range.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use messagedb_core::limits::SizeLimit;
use messagedb_core::{Limit, NamespaceId, StreamName};

use crate::error::ApiError;

/// The JSON type of a value, read from its first byte (raw values never start with whitespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

pub fn kind(raw: &RawValue) -> Kind {
    match raw.get().as_bytes().first() {
        Some(b'"') => Kind::String,
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        Some(b'n') => Kind::Null,
        Some(b't' | b'f') => Kind::Bool,
        _ => Kind::Number,
    }
}

/// The positional arguments that follow the method name.
#[derive(Debug, Clone, Copy)]
pub struct Args<'a>(pub &'a [&'a RawValue]);

impl<'a> Args<'a> {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&'a RawValue> {
        self.0.get(index).copied()
    }
}

/// The value as a string, or `None` when it is not a JSON string.
pub fn as_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    if kind(raw) != Kind::String {
        return None;
    }
    // Borrow when the literal has no escapes; decode otherwise.
    if let Ok(text) = serde_json::from_str::<&str>(raw.get()) {
        return Some(Cow::Borrowed(text));
    }
    serde_json::from_str::<String>(raw.get())
        .ok()
        .map(Cow::Owned)
}

/// The value converted to `i64` (SPEC §5.2), or `None` when it is not a JSON number.
pub fn as_i64(raw: &RawValue) -> Option<i64> {
    if kind(raw) != Kind::Number {
        return None;
    }
    Some(number_to_i64(raw.get()))
}

/// Converts valid JSON number text: integer literals exactly, others truncated toward zero;
/// both saturate at the `i64` range.
pub fn number_to_i64(text: &str) -> i64 {
    let integral = !text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'));
    if integral {
        match text.parse::<i64>() {
            Ok(n) => n,
            Err(_) if text.starts_with('-') => i64::MIN,
            Err(_) => i64::MAX,
        }
    } else {
        // `as` truncates toward zero and saturates (infinities included).
        text.parse::<f64>().map_or(0, |f| f as i64)
    }
}

/// A JSON object's members, in order, with raw values.
#[derive(Debug)]
pub struct Object<'a> {
    fields: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> Object<'a> {
    /// `None` when the value is not an object.
    pub fn parse(raw: &'a RawValue) -> Option<Object<'a>> {
        if kind(raw) != Kind::Object {
            return None;
        }
        serde_json::from_str::<Object<'a>>(raw.get()).ok()
    }

    /// The value of `key`; with duplicate keys the last one wins, as in a decoded map.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Every member in document order, duplicates included (for objects whose keys are data,
    /// such as `stream.writeBatch`'s `expectedVersions`).
    pub fn members(&self) -> impl Iterator<Item = (&str, &'a RawValue)> + '_ {
        self.fields.iter().map(|(k, v)| (k.as_ref(), *v))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Object<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Object<'a>, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = Object<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object<'de>, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    fields.push((key, value));
                }
                Ok(Object { fields })
            }
        }
        d.deserialize_map(ObjectVisitor)
    }
}

/// An object key, borrowed unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'a>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

// ---- validators: each failure is a 400 with the SPEC's message ----

/// A string, else `type_message`.
pub fn string<'a>(raw: &'a RawValue, type_message: &'static str) -> Result<Cow<'a, str>, ApiError> {
    as_str(raw).ok_or_else(|| ApiError::invalid(type_message))
}

/// A non-empty string, else `type_message` (which covers both failures).
pub fn non_empty_string<'a>(
    raw: &'a RawValue,
    type_message: &'static str,
) -> Result<Cow<'a, str>, ApiError> {
    match as_str(raw) {
        Some(text) if !text.is_empty() => Ok(text),
        _ => Err(ApiError::invalid(type_message)),
    }
}

/// Rejects U+0000 in the argument spelled `name` (SPEC §5.2).
pub fn no_nul(text: &str, name: &str) -> Result<(), ApiError> {
    if text.contains('\0') {
        Err(ApiError::invalid(format!(
            "{name} must not contain NUL characters"
        )))
    } else {
        Ok(())
    }
}

/// Applies `limit` (SPEC §16.1) to the argument spelled `name`; runs right after the argument's
/// type (and NUL) check.
pub fn within(limit: SizeLimit, text: &str, name: &'static str) -> Result<(), ApiError> {
    limit
        .check(text, name)
        .map_err(|e| ApiError::invalid(e.to_string()))
}

pub fn number(raw: &RawValue, type_message: &'static str) -> Result<i64, ApiError> {
    as_i64(raw).ok_or_else(|| ApiError::invalid(type_message))
}

pub fn object<'a>(raw: &'a RawValue, type_message: &'static str) -> Result<Object<'a>, ApiError> {
    Object::parse(raw).ok_or_else(|| ApiError::invalid(type_message))
}

/// The options object at `index`: absent is `None`, anything but an object (even `null`) fails.
pub fn options<'a>(args: Args<'a>, index: usize) -> Result<Option<Object<'a>>, ApiError> {
    args.get(index)
        .map(|raw| object(raw, "options must be an object"))
        .transpose()
}

/// An optional string member checked for NUL, spelled `name` in messages.
pub fn opt_text<'a>(
    options: Option<&Object<'a>>,
    key: &str,
    type_message: &'static str,
    name: &str,
) -> Result<Option<Cow<'a, str>>, ApiError> {
    let Some(raw) = options.and_then(|o| o.get(key)) else {
        return Ok(None);
    };
    let text = string(raw, type_message)?;
    no_nul(&text, name)?;
    Ok(Some(text))
}

/// An optional number member.
pub fn opt_number(
    options: Option<&Object<'_>>,
    key: &str,
    type_message: &'static str,
) -> Result<Option<i64>, ApiError> {
    options
        .and_then(|o| o.get(key))
        .map(|raw| number(raw, type_message))
        .transpose()
}

/// The `streamName` argument: a non-empty string without U+0000, at most 1024 bytes.
pub fn stream_name(raw: Option<&RawValue>) -> Result<StreamName, ApiError> {
    const TYPE: &str = "streamName must be a non-empty string";
    let text = non_empty_string(raw.ok_or_else(|| ApiError::invalid(TYPE))?, TYPE)?;
    no_nul(&text, "streamName")?;
    within(SizeLimit::StreamName, &text, "streamName")?;
    StreamName::parse(text.into_owned()).map_err(|_| ApiError::invalid(TYPE))
}

/// The `namespaceId` argument of `ns.create`/`ns.delete`/`ns.info` (§6.8 steps 1–3).
pub fn namespace_id(args: Args<'_>, missing: &'static str) -> Result<NamespaceId, ApiError> {
    let raw = args.get(0).ok_or_else(|| ApiError::invalid(missing))?;
    let text = non_empty_string(raw, "namespace ID must be a non-empty string")?;
    NamespaceId::parse(text.into_owned()).map_err(|e| ApiError::invalid(e.to_string()))
}

/// `options.batchSize` (§6.4 steps 6–8): default 1000, `-1` unlimited, at most 10 000.
pub fn batch_size(options: Option<&Object<'_>>) -> Result<Limit, ApiError> {
    let Some(n) = opt_number(options, "batchSize", "options.batchSize must be a number")? else {
        return Ok(Limit::DEFAULT);
    };
    if n > i64::from(Limit::MAX) {
        return Err(ApiError::invalid(
            "options.batchSize must be <= 10000 or -1 for unlimited",
        ));
    }
    match u32::try_from(n) {
        Ok(n) => Ok(Limit::AtMost(n)),
        Err(_) if n == -1 => Ok(Limit::Unlimited),
        Err(_) => Err(ApiError::invalid(
            "options.batchSize must be >= 0, or -1 for unlimited",
        )),
    }
}

/// The arguments that may follow the method name, or the "requires" message when too few.
pub fn require(args: Args<'_>, count: usize, message: &'static str) -> Result<(), ApiError> {
    if args.len() < count {
        Err(ApiError::invalid(message))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn numbers_truncate_and_saturate() {
        let cases = [
            ("0", 0),
            ("-0", 0),
            ("1.9", 1),
            ("-0.5", 0),
            ("-1.9", -1),
            ("1e3", 1000),
            ("1.5E2", 150),
            ("9223372036854775807", i64::MAX),
            ("9223372036854775808", i64::MAX),
            ("99999999999999999999", i64::MAX),
            ("-99999999999999999999", i64::MIN),
            ("1e30", i64::MAX),
            ("-1e30", i64::MIN),
            ("1e400", i64::MAX),
            ("12345678901234567", 12345678901234567),
        ];
        for (text, expected) in cases {
            assert_eq!(as_i64(&raw(text)), Some(expected), "{text}");
        }
        for not_number in ["\"1\"", "null", "true", "[]", "{}"] {
            assert_eq!(as_i64(&raw(not_number)), None, "{not_number}");
        }
    }

    #[test]
    fn strings_borrow_or_decode() {
        assert!(matches!(
            as_str(&raw(r#""abc""#)),
            Some(Cow::Borrowed("abc"))
        ));
        assert_eq!(as_str(&raw(r#""a\u0000b\n""#)).as_deref(), Some("a\0b\n"));
        assert_eq!(as_str(&raw("5")), None);
        assert_eq!(as_str(&raw("null")), None);
    }

    #[test]
    fn objects_keep_last_duplicate() {
        let r = raw(r#"{"a":1,"b\u0041":{"x":[1]},"a":2}"#);
        let o = Object::parse(&r).unwrap();
        assert_eq!(o.get("a").unwrap().get(), "2");
        assert_eq!(o.get("bA").unwrap().get(), r#"{"x":[1]}"#);
        assert!(o.get("c").is_none());
        assert!(Object::parse(&raw("[1]")).is_none());
        assert!(Object::parse(&raw("null")).is_none());
        assert!(Object::parse(&raw("{}")).unwrap().is_empty());
    }

    #[test]
    fn stream_names_are_limited_to_1024_bytes_after_the_nul_check() {
        let name = |text: &str| stream_name(Some(&raw(&serde_json::to_string(text).unwrap())));
        assert_eq!(name(&"a".repeat(1024)).unwrap().as_str().len(), 1024);
        let over = name(&"a".repeat(1025)).unwrap_err();
        assert_eq!(over.message, "streamName must be at most 1024 bytes");
        // Bytes, not characters: 512 two-byte characters fit, 513 do not.
        assert!(name(&"\u{e9}".repeat(512)).is_ok());
        let wide = name(&"\u{e9}".repeat(513)).unwrap_err();
        assert_eq!(wide.message, "streamName must be at most 1024 bytes");
        // Escapes count as what they decode to: `\u00e9` is 2 bytes of name, not 6.
        let escaped = format!("\"{}\"", "\\u00e9".repeat(512));
        assert!(stream_name(Some(&raw(&escaped))).is_ok());
        let nul_and_long = name(&format!("\0{}", "a".repeat(2000))).unwrap_err();
        assert_eq!(
            nul_and_long.message,
            "streamName must not contain NUL characters"
        );
    }

    #[test]
    fn nul_message_uses_the_argument_name() {
        let e = no_nul("a\0", "options.type").unwrap_err();
        assert_eq!(e.message, "options.type must not contain NUL characters");
        assert!(no_nul("a", "x").is_ok());
    }
}
