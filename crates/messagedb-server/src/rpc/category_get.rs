//! `category.get` (SPEC §6.7): a category's messages (or the whole namespace's) in global order,
//! with correlation and consumer-group filters applied before the batch limit.

use messagedb_core::limits::SizeLimit;
use messagedb_core::{CategoryQuery, ConsumerGroup};

use super::args::{self, Args};
use super::Ctx;
use crate::error::{ApiError, Op};
use crate::wire::{self, Layout};

pub fn parse(args: Args<'_>) -> Result<CategoryQuery, ApiError> {
    args::require(
        args,
        1,
        "category.get requires at least 1 argument: categoryName",
    )?;
    const NAME_TYPE: &str = "categoryName must be a string";
    let category = args::string(
        args.get(0).ok_or_else(|| ApiError::invalid(NAME_TYPE))?,
        NAME_TYPE,
    )?;
    args::no_nul(&category, "categoryName")?;
    args::within(SizeLimit::CategoryName, &category, "categoryName")?;
    let options = args::options(args, 1)?;
    let options = options.as_ref();
    let position = args::opt_number(options, "position", "options.position must be a number")?;
    let global_position = args::opt_number(
        options,
        "globalPosition",
        "options.globalPosition must be a number",
    )?;
    let limit = args::batch_size(options)?;
    let correlation = args::opt_text(
        options,
        "correlation",
        "options.correlation must be a string",
        "options.correlation",
    )?;
    let consumer_group = match options.and_then(|o| o.get("consumerGroup")) {
        None => None,
        Some(raw) => consumer_group(&args::object(
            raw,
            "options.consumerGroup must be an object",
        )?)?,
    };
    // Both options are global positions; `globalPosition` wins, and anything below 1 means 1.
    let from = global_position.or(position).unwrap_or(1).max(1);
    Ok(CategoryQuery {
        category: category.into_owned(),
        from_global_position: from,
        limit,
        correlation: correlation
            .filter(|c| !c.is_empty())
            .map(|c| c.into_owned()),
        consumer_group,
    })
}

/// §6.7 steps 11–13; `{}` means no group.
fn consumer_group(group: &args::Object<'_>) -> Result<Option<ConsumerGroup>, ApiError> {
    let member = args::opt_number(
        Some(group),
        "member",
        "options.consumerGroup.member must be a number",
    )?;
    let size = args::opt_number(
        Some(group),
        "size",
        "options.consumerGroup.size must be a number",
    )?;
    match (member, size) {
        (None, None) => Ok(None),
        (Some(member), Some(size)) => ConsumerGroup::new(member, size)
            .map(Some)
            .map_err(|e| ApiError::invalid(format!("options.consumerGroup.{e}"))),
        _ => Err(ApiError::invalid(
            "options.consumerGroup requires both member and size",
        )),
    }
}

pub async fn apply(ctx: &Ctx<'_>, query: CategoryQuery) -> Result<String, ApiError> {
    let messages = ctx
        .state
        .store()
        .read_category(ctx.caller.namespace(), &query)
        .await
        .map_err(|e| ApiError::from_store(Op::ReadCategory, e))?;
    Ok(wire::messages(&messages, Layout::Category))
}

#[cfg(test)]
mod tests {
    use super::*;
    use messagedb_core::Limit;

    fn query(body: &str) -> Result<CategoryQuery, String> {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(body).unwrap();
        parse(Args(&items)).map_err(|e| e.message.into_owned())
    }

    #[test]
    fn validation_messages_in_order() {
        // The limit is checked before the options.
        let too_long = format!(r#"["{}",null]"#, "c".repeat(1025));
        let cases = [
            (
                "[]",
                "category.get requires at least 1 argument: categoryName",
            ),
            ("[null]", "categoryName must be a string"),
            ("[1]", "categoryName must be a string"),
            (
                r#"["a\u0000"]"#,
                "categoryName must not contain NUL characters",
            ),
            (too_long.as_str(), "categoryName must be at most 1024 bytes"),
            (r#"["a",null]"#, "options must be an object"),
            (
                r#"["a",{"position":"1"}]"#,
                "options.position must be a number",
            ),
            (
                r#"["a",{"globalPosition":{}}]"#,
                "options.globalPosition must be a number",
            ),
            (
                r#"["a",{"batchSize":[]}]"#,
                "options.batchSize must be a number",
            ),
            (
                r#"["a",{"batchSize":10001}]"#,
                "options.batchSize must be <= 10000 or -1 for unlimited",
            ),
            (
                r#"["a",{"batchSize":-5}]"#,
                "options.batchSize must be >= 0, or -1 for unlimited",
            ),
            (
                r#"["a",{"correlation":1}]"#,
                "options.correlation must be a string",
            ),
            (
                r#"["a",{"correlation":"\u0000"}]"#,
                "options.correlation must not contain NUL characters",
            ),
            (
                r#"["a",{"consumerGroup":null}]"#,
                "options.consumerGroup must be an object",
            ),
            (
                r#"["a",{"consumerGroup":{"member":"0","size":"x"}}]"#,
                "options.consumerGroup.member must be a number",
            ),
            (
                r#"["a",{"consumerGroup":{"member":0,"size":"x"}}]"#,
                "options.consumerGroup.size must be a number",
            ),
            (
                r#"["a",{"consumerGroup":{"member":0}}]"#,
                "options.consumerGroup requires both member and size",
            ),
            (
                r#"["a",{"consumerGroup":{"size":2}}]"#,
                "options.consumerGroup requires both member and size",
            ),
            (
                r#"["a",{"consumerGroup":{"member":-1,"size":0}}]"#,
                "options.consumerGroup.member must be non-negative",
            ),
            (
                r#"["a",{"consumerGroup":{"member":0,"size":0}}]"#,
                "options.consumerGroup.size must be positive",
            ),
            (
                r#"["a",{"consumerGroup":{"member":2,"size":2}}]"#,
                "options.consumerGroup.member must be < size",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(query(body).unwrap_err(), expected, "{body}");
        }
    }

    #[test]
    fn defaults_and_start_position() {
        let q = query(r#"[""]"#).unwrap();
        assert_eq!(
            q,
            CategoryQuery {
                category: String::new(),
                from_global_position: 1,
                limit: Limit::DEFAULT,
                correlation: None,
                consumer_group: None,
            }
        );
        assert_eq!(
            query(r#"["a",{"position":0}]"#)
                .unwrap()
                .from_global_position,
            1
        );
        assert_eq!(
            query(r#"["a",{"position":-7}]"#)
                .unwrap()
                .from_global_position,
            1
        );
        assert_eq!(
            query(r#"["a",{"position":3}]"#)
                .unwrap()
                .from_global_position,
            3
        );
        assert_eq!(
            query(r#"["a",{"position":3,"globalPosition":9}]"#)
                .unwrap()
                .from_global_position,
            9
        );
        let q = query(r#"["a",{"correlation":"","consumerGroup":{},"condition":"x"}]"#).unwrap();
        assert_eq!((q.correlation, q.consumer_group), (None, None));
        let q = query(r#"["a",{"correlation":"workflow","consumerGroup":{"member":1,"size":3}}]"#)
            .unwrap();
        assert_eq!(q.correlation.as_deref(), Some("workflow"));
        assert_eq!(q.consumer_group, Some(ConsumerGroup::new(1, 3).unwrap()));
    }
}
