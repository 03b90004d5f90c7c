//! `stream.writeBatch` (SPEC §17): append several messages, over any streams, all or nothing,
//! guarded by per-stream expected versions and an optional append condition.
//!
//! Validation follows §17.1 step by step, with the §16.1 size limits and the §5.2 NUL rule
//! applied right after the type check of each value they cover. Payloads are minified straight
//! from the request body, as in `stream.write`, so they come back byte-identical (§2.6). The store
//! does everything else (§17.2) in one call, [`Store::write_batch`](messagedb_core::Store), which
//! is one unit of the namespace writer's group commit.
//!
//! Values the SPEC names without giving them a limit are held to the limit of what they are:
//! `expectedVersions` keys and `condition.query.streams` are stream names (1024 bytes),
//! `categories` and `correlation` are category names (1024 bytes), `types` are message types
//! (1024 bytes). None of them may contain U+0000. A value that could never match a stored message
//! is still refused up front, because storage must never be where a limit is discovered (§16.1).

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::value::RawValue;

use messagedb_core::batch::MAX_BATCH_ENTRIES;
use messagedb_core::limits::SizeLimit;
use messagedb_core::{
    AppendCondition, BatchRequest, ConditionQuery, MessageId, NewMessage, StreamName, WriteRequest,
};

use super::args::{self, kind, Args, Kind, Object};
use super::stream_write::minify;
use super::{malformed, Ctx};
use crate::error::{ApiError, Op};
use crate::metrics;
use crate::wire;

pub fn parse(args: Args<'_>) -> Result<BatchRequest, ApiError> {
    args::require(
        args,
        1,
        "stream.writeBatch requires at least 1 argument: messages",
    )?;
    let items = messages_array(args.get(0))?;
    if items.len() > MAX_BATCH_ENTRIES {
        return Err(ApiError::invalid(format!(
            "messages must hold at most {MAX_BATCH_ENTRIES} entries"
        )));
    }
    let entries = items
        .iter()
        .enumerate()
        .map(|(i, raw)| entry(i, raw))
        .collect::<Result<Vec<NewMessage>, ApiError>>()?;
    no_repeated_ids(&entries)?;

    let options = args::options(args, 1)?;
    let expected_versions = expected_versions(options.as_ref())?;
    let condition = condition(options.as_ref())?;
    Ok(BatchRequest {
        entries: entries.into_iter().map(WriteRequest::new).collect(),
        expected_versions,
        condition,
    })
}

pub async fn apply(ctx: &Ctx<'_>, batch: BatchRequest) -> Result<String, ApiError> {
    // The result names each entry's id and stream, but the request moves into the store: keep
    // those two (the id is the supplied or the generated one) for the answer.
    let named: Vec<(MessageId, String)> = batch
        .entries
        .iter()
        .map(|e| (e.id, e.message.stream_name.as_str().to_owned()))
        .collect();
    let outcome = ctx
        .state
        .store()
        .write_batch(ctx.caller.namespace(), batch)
        .await
        .map_err(|e| ApiError::from_store(Op::WriteMessage, e))?;
    if outcome.appended {
        metrics::messages_written(named.len() as u64);
    }
    let mut out = String::with_capacity(16 + named.len() * 112);
    out.push_str("{\"results\":[");
    for (i, ((id, stream), positions)) in named.iter().zip(&outcome.positions).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"globalPosition\":");
        wire::push_i64(&mut out, positions.global_position);
        out.push_str(",\"id\":\"");
        // A hyphenated UUID is ASCII hex and dashes; it never needs escaping.
        let mut text = [0u8; 36];
        out.push_str(id.as_uuid().hyphenated().encode_lower(&mut text));
        out.push_str("\",\"position\":");
        wire::push_i64(&mut out, positions.position);
        out.push_str(",\"stream\":");
        wire::push_str(&mut out, stream);
        out.push('}');
    }
    out.push_str("]}\n");
    Ok(out)
}

/// Steps 1–2: the first argument as a non-empty array of raw entries.
fn messages_array(raw: Option<&RawValue>) -> Result<Vec<&RawValue>, ApiError> {
    const TYPE: &str = "messages must be a non-empty array";
    let raw = raw.ok_or_else(|| ApiError::invalid(TYPE))?;
    if kind(raw) != Kind::Array {
        return Err(ApiError::invalid(TYPE));
    }
    // The envelope already parsed, so the array's text is valid JSON.
    let items: Vec<&RawValue> =
        serde_json::from_str(raw.get()).map_err(|e| malformed(e.to_string()))?;
    if items.is_empty() {
        return Err(ApiError::invalid(TYPE));
    }
    Ok(items)
}

/// Step 4 for entry `i`, in the SPEC's order of checks.
fn entry(i: usize, raw: &RawValue) -> Result<NewMessage, ApiError> {
    let at = |what: &str| format!("messages[{i}].{what}");
    let object = Object::parse(raw)
        .ok_or_else(|| ApiError::invalid(format!("messages[{i}] must be an object")))?;

    let stream = limited_text(object.get("stream"), &at("stream"), SizeLimit::StreamName)?;
    let message_type = limited_text(object.get("type"), &at("type"), SizeLimit::MessageType)?;
    let data = match object.get("data") {
        Some(raw) if kind(raw) == Kind::Object => minify(raw.get())?,
        _ => {
            return Err(ApiError::invalid(format!(
                "{} must be an object",
                at("data")
            )))
        }
    };
    // `null` means no metadata (the §5.2 exception), as in `stream.write`.
    let metadata = match object.get("metadata") {
        None => None,
        Some(raw) => match kind(raw) {
            Kind::Null => None,
            Kind::Object => Some(minify(raw.get())?),
            _ => {
                return Err(ApiError::invalid(format!(
                    "{} must be an object",
                    at("metadata")
                )))
            }
        },
    };
    // `""` asks for a generated id, as `options.id` does in `stream.write` (§2.7).
    let id = match object.get("id") {
        None => None,
        Some(raw) => {
            let text = args::as_str(raw)
                .ok_or_else(|| ApiError::invalid(format!("{} must be a string", at("id"))))?;
            if text.is_empty() {
                None
            } else {
                Some(
                    MessageId::parse(&text)
                        .map_err(|_| ApiError::invalid(format!("{} must be a UUID", at("id"))))?,
                )
            }
        }
    };

    let stream_name = StreamName::parse(stream.into_owned())
        .map_err(|_| ApiError::invalid(format!("{} must be a non-empty string", at("stream"))))?;
    Ok(NewMessage {
        id,
        stream_name,
        message_type: message_type.into_owned(),
        data,
        metadata,
        // Expected versions belong to the batch (`BatchRequest::expected_versions`).
        expected_version: None,
    })
}

/// Step 5: no id twice in one batch. Ids are compared as parsed UUIDs, so the braced, 32-hex and
/// upper-case spellings of one id are the same id.
fn no_repeated_ids(entries: &[NewMessage]) -> Result<(), ApiError> {
    let mut first_seen: HashMap<MessageId, usize> = HashMap::with_capacity(entries.len());
    for (j, entry) in entries.iter().enumerate() {
        let Some(id) = entry.id else { continue };
        if let Some(i) = first_seen.insert(id, j) {
            return Err(ApiError::invalid(format!(
                "messages[{j}].id repeats messages[{i}].id"
            )));
        }
    }
    Ok(())
}

/// Step 6: `options.expectedVersions`, in the order of its keys. A key given twice keeps its
/// place of first appearance and its last value, as a decoded JSON object would.
fn expected_versions(options: Option<&Object<'_>>) -> Result<Vec<(StreamName, i64)>, ApiError> {
    let Some(raw) = options.and_then(|o| o.get("expectedVersions")) else {
        return Ok(Vec::new());
    };
    let versions = args::object(raw, "options.expectedVersions must be an object")?;
    let mut out: Vec<(StreamName, i64)> = Vec::new();
    for (key, value) in versions.members() {
        // Keys are stream names: the same rules as an entry's stream, spelled for a key. The key
        // is not echoed in these messages, since it is the part that is wrong.
        if key.is_empty() {
            return Err(ApiError::invalid(
                "options.expectedVersions keys must be non-empty stream names",
            ));
        }
        args::no_nul(key, "options.expectedVersions keys")?;
        args::within(SizeLimit::StreamName, key, "options.expectedVersions keys")?;
        let version = match args::as_i64(value) {
            Some(v) if v >= -1 => v,
            _ => {
                return Err(ApiError::invalid(format!(
                    "options.expectedVersions.{key} must be an integer >= -1"
                )))
            }
        };
        let stream = StreamName::parse(key.to_owned()).map_err(|_| {
            ApiError::invalid("options.expectedVersions keys must be non-empty stream names")
        })?;
        match out.iter_mut().find(|(s, _)| *s == stream) {
            Some(slot) => slot.1 = version,
            None => out.push((stream, version)),
        }
    }
    Ok(out)
}

/// Step 7: `options.condition`.
fn condition(options: Option<&Object<'_>>) -> Result<Option<AppendCondition>, ApiError> {
    const PREFIX: &str = "options.condition.query";
    let Some(raw) = options.and_then(|o| o.get("condition")) else {
        return Ok(None);
    };
    let condition = args::object(raw, "options.condition must be an object")?;
    let after = match condition.get("after").and_then(args::as_i64) {
        Some(after) if after >= 0 => after,
        _ => {
            return Err(ApiError::invalid(
                "options.condition.after must be an integer >= 0",
            ))
        }
    };
    let query = args::object(
        condition
            .get("query")
            .ok_or_else(|| ApiError::invalid("options.condition.query must be an object"))?,
        "options.condition.query must be an object",
    )?;
    let streams = names(&query, "streams", SizeLimit::StreamName)?;
    let categories = names(&query, "categories", SizeLimit::CategoryName)?;
    let types = names(&query, "types", SizeLimit::MessageType)?;
    let correlation = match query.get("correlation") {
        None => None,
        Some(raw) => {
            let name = format!("{PREFIX}.correlation");
            Some(limited_text(Some(raw), &name, SizeLimit::CategoryName)?.into_owned())
        }
    };
    if streams.is_empty() && categories.is_empty() {
        return Err(ApiError::invalid(
            "options.condition.query must name streams or categories",
        ));
    }
    Ok(Some(AppendCondition {
        after,
        query: ConditionQuery {
            streams,
            categories,
            types,
            correlation,
        },
    }))
}

/// `options.condition.query.<key>`: absent is empty; otherwise an array of non-empty strings,
/// each free of U+0000 and within `limit` (element `k` is named `<key>[k]` in those messages).
fn names(query: &Object<'_>, key: &str, limit: SizeLimit) -> Result<Vec<String>, ApiError> {
    let Some(raw) = query.get(key) else {
        return Ok(Vec::new());
    };
    let type_error = || {
        ApiError::invalid(format!(
            "options.condition.query.{key} must be an array of non-empty strings"
        ))
    };
    if kind(raw) != Kind::Array {
        return Err(type_error());
    }
    let items: Vec<&RawValue> = serde_json::from_str(raw.get()).map_err(|_| type_error())?;
    let mut out = Vec::with_capacity(items.len());
    for (k, item) in items.iter().enumerate() {
        let text = match args::as_str(item) {
            Some(text) if !text.is_empty() => text,
            _ => return Err(type_error()),
        };
        let name = format!("options.condition.query.{key}[{k}]");
        args::no_nul(&text, &name)?;
        within(limit, &text, &name)?;
        out.push(text.into_owned());
    }
    Ok(out)
}

/// A non-empty string named `name`, without U+0000 and within `limit`, checked in that order.
fn limited_text<'a>(
    raw: Option<&'a RawValue>,
    name: &str,
    limit: SizeLimit,
) -> Result<Cow<'a, str>, ApiError> {
    let text = match raw.and_then(args::as_str) {
        Some(text) if !text.is_empty() => text,
        _ => {
            return Err(ApiError::invalid(format!(
                "{name} must be a non-empty string"
            )))
        }
    };
    args::no_nul(&text, name)?;
    within(limit, &text, name)?;
    Ok(text)
}

/// [`args::within`] for names built at run time (`messages[3].stream`).
fn within(limit: SizeLimit, text: &str, name: &str) -> Result<(), ApiError> {
    if text.len() <= limit.max_bytes() {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "{name} must be at most {} bytes",
            limit.max_bytes()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::parse_request;

    fn batch_of(args: &str) -> Result<BatchRequest, String> {
        let items: Vec<&RawValue> = serde_json::from_str(args).unwrap();
        parse(Args(&items)).map_err(|e| e.message.into_owned())
    }

    #[test]
    fn accepted_forms() {
        let b = batch_of(
            r#"[[{"stream":"a-1","type":"T","data":{ "x" : [1, 2.50] },"metadata":null,"id":"{0190F2C4-3B1E-7C2A-9D4E-1F2A3B4C5D6E}","extra":1},
                 {"stream":"b-2","type":"U","data":{},"metadata":{"correlationStreamName":"saga-9"},"id":""}],
                {"expectedVersions":{"b-2":3,"a-1":-1.5,"b-2":7},
                 "condition":{"after":12.9,"query":{"categories":["stock"],"types":["Reserved"],"correlation":"saga"}},
                 "other":true}, "extra"]"#,
        )
        .unwrap();
        assert_eq!(b.entries.len(), 2);
        let first = &b.entries[0];
        assert_eq!(first.id.to_string(), "0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e");
        assert!(first.has_supplied_id());
        assert_eq!(first.message.data, r#"{"x":[1,2.50]}"#);
        assert_eq!(first.message.metadata, None);
        assert_eq!(first.message.expected_version, None);
        let second = &b.entries[1];
        assert!(!second.has_supplied_id(), "\"\" asks for a generated id");
        assert_eq!(second.correlation.as_deref(), Some("saga"));
        // Key order is kept; a repeated key keeps its first place and its last value; numbers
        // convert as everywhere else (§5.2).
        let versions: Vec<(&str, i64)> = b
            .expected_versions
            .iter()
            .map(|(s, v)| (s.as_str(), *v))
            .collect();
        assert_eq!(versions, [("b-2", 7), ("a-1", -1)]);
        let condition = b.condition.unwrap();
        assert_eq!(condition.after, 12);
        assert_eq!(
            condition.query,
            ConditionQuery {
                streams: vec![],
                categories: vec!["stock".into()],
                types: vec!["Reserved".into()],
                correlation: Some("saga".into()),
            }
        );
        let plain = batch_of(r#"[[{"stream":"a","type":"T","data":{}}]]"#).unwrap();
        assert!(plain.expected_versions.is_empty() && plain.condition.is_none());
    }

    #[test]
    fn ids_repeat_when_equal_as_uuids() {
        let id = "0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e";
        let spelled = [
            id.to_owned(),
            id.to_uppercase(),
            format!("{{{id}}}"),
            id.replace('-', ""),
        ];
        for other in &spelled[1..] {
            let body = format!(
                r#"[[{{"stream":"a","type":"T","data":{{}},"id":"{id}"}},{{"stream":"b","type":"T","data":{{}}}},{{"stream":"c","type":"T","data":{{}},"id":"{other}"}}]]"#
            );
            assert_eq!(
                batch_of(&body).unwrap_err(),
                "messages[2].id repeats messages[0].id",
                "{other}"
            );
        }
        // Generated ids never repeat, however many entries ask for one.
        assert!(batch_of(
            r#"[[{"stream":"a","type":"T","data":{},"id":""},{"stream":"a","type":"T","data":{},"id":""}]]"#
        )
        .is_ok());
    }

    #[test]
    fn at_most_1000_entries() {
        let entry = r#"{"stream":"a","type":"T","data":{}}"#;
        let of = |n: usize| format!("[[{}]]", vec![entry; n].join(","));
        assert_eq!(batch_of(&of(1000)).unwrap().entries.len(), 1000);
        // The count is checked before any entry: entry 1000 being invalid does not matter.
        let over = format!("[[{},5]]", vec![entry; 1000].join(","));
        assert_eq!(
            batch_of(&over).unwrap_err(),
            "messages must hold at most 1000 entries"
        );
    }

    #[test]
    fn parse_request_reaches_this_parser() {
        let e = parse_request(br#"["stream.writeBatch"]"#).unwrap_err();
        assert_eq!(
            e.message,
            "stream.writeBatch requires at least 1 argument: messages"
        );
        let ok = parse_request(br#"["stream.writeBatch",[{"stream":"a","type":"T","data":{}}]]"#)
            .unwrap();
        assert_eq!(ok.method(), crate::rpc::Method::StreamWriteBatch);
    }
}
