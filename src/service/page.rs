//! Keyset pagination shared by every list: stable under inserts and cheap at any depth.

use crate::error::{AppError, AppResult};

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;
/// The page size when the client does not say.
pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// A validated page request: `first` items after an optional decoded cursor `C`.
#[derive(Clone, Debug)]
pub struct PageRequest<C> {
    pub first: u64,
    pub after: Option<C>,
}

impl<C> PageRequest<C> {
    /// Checks `first` against the bounds.
    pub fn new(first: Option<i32>, after: Option<C>) -> AppResult<Self> {
        let first = match first {
            None => DEFAULT_PAGE_SIZE,
            Some(n) if n < 0 => return Err(AppError::bad_input("first", "must not be negative")),
            Some(n) if n as u64 > MAX_PAGE_SIZE => {
                return Err(AppError::bad_input("first", format!("must be at most {MAX_PAGE_SIZE}")));
            }
            Some(n) => n as u64,
        };
        Ok(Self { first, after })
    }
}

/// One page of results, and whether more follow.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
}

impl<T> Page<T> {
    /// Builds a page from a query that fetched `first + 1` rows.
    pub fn from_overfetch(mut items: Vec<T>, first: u64) -> Self {
        let has_next_page = items.len() as u64 > first;
        items.truncate(first as usize);
        Self { items, has_next_page }
    }
}

/// Escapes `%`, `_` and `\` so user text matches literally inside a LIKE pattern.
pub fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(PageRequest::<()>::new(None, None).map(|p| p.first).ok(), Some(DEFAULT_PAGE_SIZE));
        assert_eq!(PageRequest::<()>::new(Some(100), None).map(|p| p.first).ok(), Some(100));
        assert!(PageRequest::<()>::new(Some(101), None).is_err());
        assert!(PageRequest::<()>::new(Some(-1), None).is_err());
    }

    #[test]
    fn overfetch_reveals_the_next_page() {
        let page = Page::from_overfetch(vec![1, 2, 3], 2);
        assert_eq!(page.items, vec![1, 2]);
        assert!(page.has_next_page);
        assert!(!Page::from_overfetch(vec![1, 2], 2).has_next_page);
    }

    #[test]
    fn like_patterns_are_literal() {
        assert_eq!(like_pattern("50%_A\\"), "%50\\%\\_a\\\\%");
    }
}
