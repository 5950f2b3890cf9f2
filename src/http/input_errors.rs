//! Gives async-graphql's own input errors the `field` every `BAD_USER_INPUT` carries.
//!
//! Validation names the argument path in its message (`argument "input.channel"`), but a
//! scalar that fails to parse while a field runs (an `Int` beyond 32 bits, a bad
//! `DateTime` or `Decimal`) is reported with its type only. For those, the variables are
//! searched for the value of that type that does not parse; without one (a literal in
//! the document), the error names the argument holding the input.

use std::str::FromStr;

use async_graphql::{ServerError, Variables};
use serde_json::Value;

/// Adds `extensions.field` to a `BAD_USER_INPUT` error that lacks one.
pub fn name_field(error: &mut ServerError, variables: &Variables) {
    let Some(extensions) = error.extensions.as_mut() else { return };
    if extensions.get("field").is_some()
        || extensions.get("code") != Some(&async_graphql::Value::from("BAD_USER_INPUT"))
    {
        return;
    }
    let field = argument_path(&error.message)
        .or_else(|| failing_variable(&error.message, variables))
        .or_else(|| enclosing_argument(&error.message));
    if let Some(field) = field {
        extensions.set("field", field);
    }
}

/// A field path as the API names fields: the input object's own field names, without the
/// argument (`input`, `filter`) that holds them, and without list indexes.
fn field_name(segments: &[&str]) -> Option<String> {
    let named: Vec<&str> = segments.iter().copied().filter(|s| s.parse::<usize>().is_err()).collect();
    let named = if named.len() > 1 { &named[1..] } else { &named[..] };
    (!named.is_empty()).then(|| named.join("."))
}

/// `Invalid value for argument "input.channel", …` → `channel`.
fn argument_path(message: &str) -> Option<String> {
    let rest = message.split_once("argument \"")?.1;
    let path = rest.split_once('"')?.0;
    field_name(&path.split('.').collect::<Vec<_>>())
}

/// The type named by `Failed to parse "Int": …`.
fn failed_type(message: &str) -> Option<&str> {
    message.strip_prefix("Failed to parse \"")?.split_once('"').map(|(name, _)| name)
}

/// Whether `value` is not a valid value of the scalar `ty` (for the scalars that can fail
/// while a field runs).
fn invalid_as(ty: &str, value: &Value) -> bool {
    match (ty, value) {
        ("Int", Value::Number(n)) => n.as_i64().and_then(|n| i32::try_from(n).ok()).is_none(),
        // A value of another kind fails validation, which names its argument.
        ("Int", _) => false,
        ("DateTime", Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s).is_err(),
        ("Decimal", Value::String(s)) => rust_decimal::Decimal::from_str(s).is_err(),
        ("DateTime" | "Decimal", _) => true,
        _ => false,
    }
}

/// Whether a field named `key` holds the scalar `ty`, by the API's naming: times end in
/// `At`, `From` or `To`, amounts are `amount`. Keeps a bad time from being blamed on
/// another string field.
fn named_like(ty: &str, key: &str) -> bool {
    match ty {
        "DateTime" => ["At", "From", "To", "from", "to"].iter().any(|suffix| key.ends_with(suffix)),
        "Decimal" => key == "amount",
        _ => true,
    }
}

/// The path of the first variable value that `Failed to parse "<type>"` could be about.
fn failing_variable(message: &str, variables: &Variables) -> Option<String> {
    let ty = failed_type(message)?;
    let json = variables.clone().into_value().into_json().ok()?;
    let mut path = Vec::new();
    let wanted = |key: &str, value: &Value| !value.is_null() && named_like(ty, key) && invalid_as(ty, value);
    if !find(&json, "", &mut path, &wanted) {
        return None;
    }
    field_name(&path.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Depth-first search for a leaf matching `wanted` (given its key), leaving its path in
/// `path`. Items of a list take the list's key and add nothing to the path.
fn find(value: &Value, key: &str, path: &mut Vec<String>, wanted: &dyn Fn(&str, &Value) -> bool) -> bool {
    match value {
        Value::Object(map) => {
            for (child_key, child) in map {
                path.push(child_key.clone());
                if find(child, child_key, path, wanted) {
                    return true;
                }
                path.pop();
            }
            false
        }
        Value::Array(items) => items.iter().any(|item| find(item, key, path, wanted)),
        leaf => wanted(key, leaf),
    }
}

/// `… (occurred while parsing "LeadFilter")` → `filter`: the argument holding that input.
fn enclosing_argument(message: &str) -> Option<String> {
    let ty = message.rsplit("occurred while parsing \"").next().filter(|_| message.contains("occurred while"))?;
    let ty = ty.split_once('"')?.0;
    let argument = if ty.ends_with("Filter") {
        "filter"
    } else if ty == "PeriodInput" {
        "period"
    } else {
        "input"
    };
    Some(argument.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(message: &str, variables: serde_json::Value) -> Option<String> {
        let mut error = ServerError::new(message, None);
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("code", "BAD_USER_INPUT");
        error.extensions = Some(extensions);
        name_field(&mut error, &Variables::from_json(variables));
        error.extensions.and_then(|e| e.get("field").cloned()).map(|v| v.to_string().trim_matches('"').to_owned())
    }

    #[test]
    fn fields_are_named_from_the_message_or_the_variables() {
        let message = "Invalid value for argument \"input.channel\", enumeration type \"Channel\" does not contain…";
        assert_eq!(named(message, serde_json::json!({})).as_deref(), Some("channel"));
        let message = "Invalid value for argument \"filter.stages.0\", enumeration type \"Stage\"…";
        assert_eq!(named(message, serde_json::json!({})).as_deref(), Some("stages"));
        let message = "Failed to parse \"Int\": Only integers from -2147483648 to 2147483647 are accepted.";
        let variables = serde_json::json!({ "first": 1_u64 << 40, "after": "x" });
        assert_eq!(named(message, variables).as_deref(), Some("first"));
        let message = "Failed to parse \"Decimal\": expected a decimal (occurred while parsing \"MoneyInput\")";
        let variables =
            serde_json::json!({ "input": { "leadId": "1", "dealValue": { "amount": "lots", "currencyCode": "USD" } } });
        assert_eq!(named(message, variables).as_deref(), Some("dealValue.amount"));
        let message = "Failed to parse \"DateTime\": bad (occurred while parsing \"LeadFilter\")";
        assert_eq!(named(message, serde_json::json!({})).as_deref(), Some("filter"));
        let message = "Failed to parse \"DateTime\": bad (occurred while parsing \"RecordTouchpointInput\")";
        let variables = serde_json::json!({ "input": { "kind": "CALL", "occurredAt": "yesterday" } });
        assert_eq!(named(message, variables).as_deref(), Some("occurredAt"));
    }
}
