//! Cursor pagination shared by every list: `?limit=` 1..=100 (default 20), an opaque
//! `?cursor=`, and `{"items": [...], "next_cursor": ... | null}`, newest first.
//!
//! A cursor is `v1.` and the last item's id as 32 hex digits: every string of that form
//! is a position (possibly past the end), so the published pattern is exactly what the
//! server accepts. Clients still treat it as opaque; the version prefix lets it change.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
const CURSOR_VERSION: &str = "v1.";
pub const CURSOR_PATTERN: &str = r"^v1\.[0-9a-f]{32}$";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page, unchanged (its pattern is published as `CURSOR_PATTERN`).
    pub cursor: Option<String>,
}

/// Declares `$name` as the schema of a page of `$item`: the shape `Page<$item>` serializes to.
macro_rules! page_schema {
    ($name:ident, $item:ty) => {
        #[derive(utoipa::ToSchema)]
        #[allow(dead_code)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `cursor` to get the next page; null on the last page.
            pub next_cursor: Option<String>,
        }
    };
}
pub(crate) use page_schema;

/// A validated page request: `after` is the sort key of the last item already seen.
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<String>,
}

impl PageQuery {
    pub fn parse(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::BadRequest(format!("limit must be 1..={MAX_LIMIT}")));
        }
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok(PageRequest { limit, after })
    }
}

/// The cursor after the item with id `key` (a UUID; anything else has no cursor form).
pub fn encode_cursor(key: &str) -> String {
    let id = Uuid::parse_str(key).expect("list items are keyed by UUID");
    format!("{CURSOR_VERSION}{}", id.simple())
}

fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    let invalid = || ApiError::BadRequest("cursor is not valid; pass next_cursor unchanged".into());
    let hex = cursor.strip_prefix(CURSOR_VERSION).ok_or_else(invalid)?;
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(invalid());
    }
    Ok(Uuid::parse_str(hex).map_err(|_| invalid())?.hyphenated().to_string())
}

#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` holds up to `limit + 1` items; the extra one only says another page exists.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more { rows.last().map(|last| encode_cursor(&key(last))) } else { None };
        Self { items: rows, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = "01a2005f-77f5-7b3a-9c1e-5a1d3f2b4c6d";
        let c = encode_cursor(id);
        assert_eq!(c, "v1.01a2005f77f57b3a9c1e5a1d3f2b4c6d");
        assert_eq!(decode_cursor(&c).unwrap(), id);
        let pattern = regex::Regex::new(CURSOR_PATTERN).unwrap();
        assert!(pattern.is_match(&c));
        let upper = "v1.01A2005F77F57B3A9C1E5A1D3F2B4C6D";
        for bad in ["", "!!!", "v1.", "v2.01a2005f77f57b3a9c1e5a1d3f2b4c6d", upper, &c[..34], &format!("{c}0")] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
            assert!(!pattern.is_match(bad), "{bad}");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(PageQuery { limit: None, cursor: None }.parse().unwrap().limit, 20);
        assert!(PageQuery { limit: Some(0), cursor: None }.parse().is_err());
        assert!(PageQuery { limit: Some(101), cursor: None }.parse().is_err());
    }

    #[test]
    fn next_cursor_only_when_more() {
        let id = |n: u128| Uuid::from_u128(n).to_string();
        let page = Page::from_rows(vec![3, 2, 1], 2, |n| id(*n));
        assert_eq!(page.items, vec![3, 2]);
        assert_eq!(decode_cursor(page.next_cursor.as_deref().unwrap()).unwrap(), id(2));
        assert!(Page::from_rows(vec![2, 1], 2, |n| id(*n)).next_cursor.is_none());
    }
}
