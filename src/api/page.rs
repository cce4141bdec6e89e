//! Cursor pagination shared by every list: `?limit=` 1..=100 (default 20), an opaque
//! `?cursor=`, and `{"items": [...], "next_cursor": ... | null}`, newest first.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
const CURSOR_VERSION: &str = "v1:";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1..=100, default 20.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

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

pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_VERSION}{key}"))
}

fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    let invalid = || ApiError::BadRequest("cursor is not valid; pass next_cursor unchanged".into());
    if cursor.len() > 512 {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix(CURSOR_VERSION).filter(|k| !k.is_empty()).map(str::to_owned).ok_or_else(invalid)
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
        let c = encode_cursor("0191-abc");
        assert_eq!(decode_cursor(&c).unwrap(), "0191-abc");
        for bad in ["", "!!!", "djE6", "bm90LWEtY3Vyc29y", &"A".repeat(600)] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
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
        let page = Page::from_rows(vec![3, 2, 1], 2, |n| n.to_string());
        assert_eq!(page.items, vec![3, 2]);
        assert_eq!(decode_cursor(page.next_cursor.as_deref().unwrap()).unwrap(), "2");
        assert!(Page::from_rows(vec![2, 1], 2, |n| n.to_string()).next_cursor.is_none());
    }
}
