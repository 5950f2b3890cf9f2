//! Free text from clients: trimmed, bounded, and free of control characters.

use crate::error::{AppError, AppResult};

/// Longest name, title or similar single-line field.
pub const MAX_LINE: usize = 200;
/// Longest note.
pub const MAX_NOTE: usize = 2000;

/// A required single-line field.
pub fn required(field: &str, value: &str, max_chars: usize) -> AppResult<String> {
    optional(field, Some(value), max_chars)?.ok_or_else(|| AppError::bad_input(field, "must not be empty"))
}

/// An optional field; blank counts as absent.
pub fn optional(field: &str, value: Option<&str>, max_chars: usize) -> AppResult<Option<String>> {
    let Some(trimmed) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if trimmed.chars().count() > max_chars {
        return Err(AppError::bad_input(field, format!("must be at most {max_chars} characters")));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(AppError::bad_input(field, "must not contain control characters"));
    }
    Ok(Some(trimmed.to_owned()))
}

/// Text folded for case-insensitive matching: the parts present, lower-cased with
/// Unicode rules, joined by spaces.
pub fn search_key<'a>(parts: impl IntoIterator<Item = Option<&'a str>>) -> String {
    parts.into_iter().flatten().map(str::to_lowercase).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_keys_fold_case_beyond_ascii() {
        assert_eq!(search_key([Some("Émile"), None, Some("ZOË@Example.com")]), "émile zoë@example.com");
    }

    #[test]
    fn text_is_trimmed_and_checked() {
        assert_eq!(required("name", "  Acme ", 10).ok(), Some("Acme".to_owned()));
        assert!(required("name", "   ", 10).is_err());
        assert!(required("name", "a\0b", 10).is_err());
        assert!(required("name", "ééééééééééé", 10).is_err());
        assert_eq!(optional("title", Some(""), 10).ok(), Some(None));
        assert_eq!(optional("title", Some("Zoë ✓"), 10).ok(), Some(Some("Zoë ✓".to_owned())));
    }
}
