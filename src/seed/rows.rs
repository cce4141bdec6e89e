//! A template's rows as text, and their clones: each customer-owned UUID and username
//! found once (`compile`), then written again for each clone (`render`).

#[allow(clippy::wildcard_imports)]
use super::*;

#[derive(QueryableByName)]
pub(super) struct JsonRow {
    #[diesel(sql_type = Text)]
    pub(super) row: String,
}

#[derive(QueryableByName)]
pub(super) struct Count {
    #[diesel(sql_type = BigInt)]
    pub(super) n: i64,
}

/// One piece of a cloned row: fixed text, a customer-owned id, or a customer's username.
pub(super) enum Seg {
    Lit(String),
    /// The id's first 15 characters (time and version) and its number among all owned ids.
    Id(String, u32),
    Name(usize),
}

pub(super) struct Compiled {
    pub(super) table: &'static str,
    pub(super) rows: Vec<Vec<Seg>>,
}

pub(super) fn is_uuid_at(b: &[u8], i: usize) -> bool {
    if b.len() < i + 36 {
        return false;
    }
    (0..36).all(|k| match k {
        8 | 13 | 18 | 23 => b[i + k] == b'-',
        _ => b[i + k].is_ascii_hexdigit() && !b[i + k].is_ascii_uppercase(),
    })
}

pub(super) fn uuids(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 36 <= b.len() {
        if is_uuid_at(b, i) {
            out.push(&s[i..i + 36]);
            i += 36;
        } else {
            i += 1;
        }
    }
    out
}

pub(super) fn values(v: &serde_json::Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_owned)).collect()
}

/// Reads every row of the cloned tables as JSON arrays, in a stable order.
pub(super) fn read_rows(
    conn: &mut DbConn,
    table: &str,
    columns: &[&str],
) -> Result<Vec<Vec<serde_json::Value>>, String> {
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let order = if table == "events" { "position" } else { "1" };
    let sql = match conn {
        DbConn::Pg(_) => {
            format!("SELECT json_build_array({})::text AS row FROM {table} ORDER BY {order}", quoted.join(", "))
        }
        DbConn::Sqlite(_) => format!("SELECT json_array({}) AS row FROM {table} ORDER BY {order}", quoted.join(", ")),
    };
    let rows: Vec<JsonRow> = diesel::sql_query(&sql).load(conn).map_err(|e| e.to_string())?;
    rows.into_iter()
        .map(|r| match serde_json::from_str::<serde_json::Value>(&r.row) {
            Ok(serde_json::Value::Array(v)) => Ok(v),
            other => Err(format!("{table}: unreadable row {other:?}")),
        })
        .collect()
}

pub(super) fn escape_copy(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

pub(super) fn escape_sql(s: &str, out: &mut String) {
    for ch in s.chars() {
        if ch == '\'' {
            out.push('\'');
        }
        out.push(ch);
    }
}

/// Turns the template rows into segments: what to write per clone, ready for the backend.
pub(super) fn compile(
    pg: bool,
    tables: &[(&'static str, Vec<Vec<serde_json::Value>>)],
    owned: &HashMap<String, u32>,
    names: &[String],
) -> Vec<Compiled> {
    let quoted_names: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    let mut out = Vec::new();
    for (table, rows) in tables {
        let mut compiled = Vec::new();
        for row in rows {
            let strings: Vec<&str> = row.iter().filter_map(|v| v.as_str()).collect();
            if !strings.iter().any(|s| uuids(s).iter().any(|u| owned.contains_key(*u))) {
                continue;
            }
            let mut segs: Vec<Seg> = Vec::new();
            let mut lit = String::new();
            let flush = |lit: &mut String, segs: &mut Vec<Seg>| {
                if !lit.is_empty() {
                    segs.push(Seg::Lit(std::mem::take(lit)));
                }
            };
            if !pg {
                lit.push('(');
            }
            for (k, v) in row.iter().enumerate() {
                if k > 0 {
                    lit.push(if pg { '\t' } else { ',' });
                }
                match v {
                    serde_json::Value::Null => lit.push_str(if pg { "\\N" } else { "NULL" }),
                    serde_json::Value::Bool(b) => lit.push_str(match (pg, b) {
                        (true, true) => "t",
                        (true, false) => "f",
                        (false, true) => "1",
                        (false, false) => "0",
                    }),
                    serde_json::Value::Number(n) => lit.push_str(&n.to_string()),
                    serde_json::Value::String(s) => {
                        if !pg {
                            lit.push('\'');
                        }
                        let name = names.iter().position(|n| n == s);
                        let json = s.starts_with('{') || s.starts_with('[');
                        if let Some(i) = name {
                            flush(&mut lit, &mut segs);
                            segs.push(Seg::Name(i));
                        } else {
                            let b = s.as_bytes();
                            let (mut i, mut from) = (0, 0);
                            let mut text = String::new();
                            let push_text = |t: &str, lit: &mut String, segs: &mut Vec<Seg>| {
                                // Usernames inside JSON (a user's snapshot, an audit detail).
                                let mut rest = t;
                                while !rest.is_empty() {
                                    let hit = quoted_names
                                        .iter()
                                        .enumerate()
                                        .filter_map(|(n, q)| rest.find(q.as_str()).map(|at| (at, n, q.len())))
                                        .min();
                                    match hit {
                                        Some((at, n, len)) if json => {
                                            let before = format!("{}\"", &rest[..at]);
                                            if pg {
                                                escape_copy(&before, lit)
                                            } else {
                                                escape_sql(&before, lit)
                                            }
                                            flush(lit, segs);
                                            segs.push(Seg::Name(n));
                                            lit.push('"');
                                            rest = &rest[at + len..];
                                        }
                                        _ => {
                                            if pg {
                                                escape_copy(rest, lit)
                                            } else {
                                                escape_sql(rest, lit)
                                            }
                                            rest = "";
                                        }
                                    }
                                }
                            };
                            while i + 36 <= b.len() {
                                if is_uuid_at(b, i) {
                                    if let Some(&n) = owned.get(&s[i..i + 36]) {
                                        text.push_str(&s[from..i]);
                                        push_text(&std::mem::take(&mut text), &mut lit, &mut segs);
                                        flush(&mut lit, &mut segs);
                                        segs.push(Seg::Id(s[i..i + 15].to_owned(), n));
                                        from = i + 36;
                                    }
                                    i += 36;
                                } else {
                                    i += 1;
                                }
                            }
                            text.push_str(&s[from..]);
                            push_text(&text, &mut lit, &mut segs);
                        }
                        if !pg {
                            lit.push('\'');
                        }
                    }
                    other => lit.push_str(&other.to_string()),
                }
            }
            lit.push_str(if pg { "\n" } else { ")" });
            flush(&mut lit, &mut segs);
            compiled.push(segs);
        }
        out.push(Compiled { table, rows: compiled });
    }
    out
}

/// Writes one clone's version of a compiled row.
pub(super) fn render(segs: &[Seg], clone: u64, seed3: &str, names: &[String], out: &mut String) {
    let c = format!("{clone:07x}");
    for seg in segs {
        match seg {
            Seg::Lit(s) => out.push_str(s),
            Seg::Id(prefix, n) => {
                let _ = write!(out, "{prefix}{seed3}-8{}-{}{n:08x}", &c[..3], &c[3..]);
            }
            Seg::Name(i) => {
                let _ = write!(out, "{}_{clone}", names[*i]);
            }
        }
    }
}

pub(super) fn count_rows(conn: &mut DbConn, tables: &[&str]) -> Result<Vec<(String, i64)>, String> {
    tables
        .iter()
        .map(|t| {
            let sql = format!("SELECT COUNT(*) AS n FROM {t}");
            diesel::sql_query(&sql).get_result::<Count>(conn).map(|r| ((*t).to_owned(), r.n)).map_err(|e| e.to_string())
        })
        .collect()
}
