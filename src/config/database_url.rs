//! What `database.url` names, as far as its text tells: the settings check it as they load,
//! and the store opens it (`store::DbTarget`).

/// A `database.url` whose scheme this service speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseUrl<'a> {
    /// `postgres://…` or `postgresql://…`, whole.
    Postgres(&'a str),
    /// The file path after `sqlite://`.
    Sqlite(&'a str),
}

impl<'a> DatabaseUrl<'a> {
    pub fn parse(url: &'a str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() || path.contains(":memory:") {
                // Each pooled connection would get its own empty in-memory database.
                return Err("sqlite:// needs a file path".to_owned());
            }
            return Ok(DatabaseUrl::Sqlite(path));
        }
        Err(format!("unsupported database URL scheme in `{}`", url.split("://").next().unwrap_or(url)))
    }
}
