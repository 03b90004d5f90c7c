//! Stream names and the category / id / cardinal-id split of SPEC §2.3.
//!
//! Every split is at the *first* `-`, and the cardinal id ends at the first `+` of the id. These
//! are plain `&str` functions because they are used on hot paths (consumer-group filters, SSE
//! matching) where allocating would be waste.

use std::fmt;

/// A validated stream name: non-empty, without U+0000.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamName(String);

/// Why a string is not a stream name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamNameError {
    #[error("stream name is empty")]
    Empty,
    #[error("stream name contains a NUL character")]
    ContainsNul,
}

impl StreamName {
    pub fn parse(name: impl Into<String>) -> Result<StreamName, StreamNameError> {
        let name = name.into();
        if name.is_empty() {
            return Err(StreamNameError::Empty);
        }
        if name.contains('\0') {
            return Err(StreamNameError::ContainsNul);
        }
        Ok(StreamName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The category: the text before the first `-`, or the whole name.
    pub fn category(&self) -> &str {
        category(&self.0)
    }

    /// The cardinal id: the id up to its first `+` (`""` when there is no id).
    pub fn cardinal_id(&self) -> &str {
        cardinal_id(&self.0)
    }
}

impl fmt::Debug for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for StreamName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The text before the first `-`, or the whole name: `account-123+x` → `account`.
pub fn category(stream_name: &str) -> &str {
    match stream_name.find('-') {
        Some(i) => &stream_name[..i],
        None => stream_name,
    }
}

/// The text after the first `-`, or `""`: `user-profile-456` → `profile-456`.
pub fn stream_id(stream_name: &str) -> &str {
    match stream_name.find('-') {
        Some(i) => &stream_name[i + 1..],
        None => "",
    }
}

/// The id up to its first `+`: `account-123+x` → `123`; `account` → `""`.
pub fn cardinal_id(stream_name: &str) -> &str {
    let id = stream_id(stream_name);
    match id.find('+') {
        Some(i) => &id[..i],
        None => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_follow_the_spec_table() {
        let cases = [
            ("account-123+x", "account", "123+x", "123"),
            ("account", "account", "", ""),
            ("user-profile-456", "user", "profile-456", "profile-456"),
            ("account-", "account", "", ""),
            ("-x", "", "x", "x"),
            ("a b:c.d-é+ü", "a b:c.d", "é+ü", "é"),
            ("entity-123+alice", "entity", "123+alice", "123"),
        ];
        for (name, cat, id, cid) in cases {
            assert_eq!(category(name), cat, "category of {name}");
            assert_eq!(stream_id(name), id, "id of {name}");
            assert_eq!(cardinal_id(name), cid, "cardinal id of {name}");
        }
    }

    #[test]
    fn parse_rejects_empty_and_nul() {
        assert_eq!(StreamName::parse(""), Err(StreamNameError::Empty));
        assert_eq!(StreamName::parse("a\0b"), Err(StreamNameError::ContainsNul));
        assert_eq!(StreamName::parse("a").unwrap().as_str(), "a");
    }

    proptest! {
        #[test]
        fn category_never_contains_a_dash(name in "\\PC*") {
            prop_assert!(!category(&name).contains('-'));
        }

        #[test]
        fn category_and_id_rebuild_the_name(name in "\\PC*") {
            let cat = category(&name);
            let id = stream_id(&name);
            if name.contains('-') {
                prop_assert_eq!(format!("{cat}-{id}"), name.clone());
            } else {
                prop_assert_eq!(cat, name.as_str());
                prop_assert_eq!(id, "");
            }
            let cid = cardinal_id(&name);
            prop_assert!(id.starts_with(cid));
            prop_assert!(!cid.contains('+'));
        }

        #[test]
        fn parse_accepts_exactly_non_empty_nul_free(name in "(\\PC|\\x00)*") {
            let ok = StreamName::parse(name.clone()).is_ok();
            prop_assert_eq!(ok, !name.is_empty() && !name.contains('\0'));
        }
    }
}
