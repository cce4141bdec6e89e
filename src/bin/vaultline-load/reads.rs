//! The read scenarios (issue 31): every client GETs one kind of page, over and over, for the
//! prepared users, so a page's cost on a seeded database can be set beside its cost on an
//! empty one. `deepen` gives each prepared user a long history first (for the deep page).

use std::time::Instant;

use serde_json::{Value, json};

use crate::{Api, Scenario, Users};

/// One request a read scenario repeats: whose token, which path.
pub struct Read {
    pub token: String,
    pub path: String,
}

/// The requests `scenario` repeats, one per prepared user (the admin's token for the
/// console's reads). `depth`: how many movements deep the deep history page starts.
pub async fn targets(
    api: &Api,
    users: &Users,
    scenario: Scenario,
    admin: Option<&str>,
    depth: usize,
    query: &str,
) -> Result<Vec<Read>, String> {
    let mut reads = Vec::with_capacity(users.tokens.len());
    for token in &users.tokens {
        let path = match scenario {
            Scenario::Account => "/v1/me/account".to_owned(),
            Scenario::History => "/v1/transactions?limit=20".to_owned(),
            Scenario::HistoryDeep => {
                format!("/v1/transactions?limit=20&cursor={}", cursor_at(api, token, depth).await?)
            }
            Scenario::Events => "/v1/events?limit=20".to_owned(),
            Scenario::AdminSearch => format!("/v1/admin/users?limit=20&q={query}"),
            Scenario::CustomerView => format!("/v1/admin/users/{}", user_id(api, token).await?),
            other => return Err(format!("{other:?} is not a read scenario")),
        };
        let token = match scenario {
            Scenario::AdminSearch | Scenario::CustomerView => admin.ok_or("the console's reads need an admin")?,
            _ => token,
        };
        reads.push(Read { token: token.to_owned(), path });
    }
    Ok(reads)
}

/// The cursor that starts the history `depth` movements down (walked 100 at a time).
async fn cursor_at(api: &Api, token: &str, depth: usize) -> Result<String, String> {
    let (mut seen, mut cursor) = (0, None::<String>);
    while seen < depth {
        let limit = (depth - seen).min(100);
        let path = match &cursor {
            Some(c) => format!("/v1/transactions?limit={limit}&cursor={c}"),
            None => format!("/v1/transactions?limit={limit}"),
        };
        let (status, page) = api.get(&path, token).await?;
        let items = page["items"].as_array().map_or(0, Vec::len);
        seen += items;
        match (status, page["next_cursor"].as_str()) {
            (200, Some(next)) if items > 0 => cursor = Some(next.to_owned()),
            _ => return Err(format!("the history ends {seen} deep, short of {depth}: run --scenario deepen first")),
        }
    }
    cursor.ok_or_else(|| "depth must be at least 1".to_owned())
}

async fn user_id(api: &Api, token: &str) -> Result<String, String> {
    let (status, me) = api.get("/v1/me", token).await?;
    let id = me["id"].as_str().or_else(|| me["user"]["id"].as_str());
    id.map(str::to_owned).ok_or_else(|| format!("GET /v1/me: {status} {me}"))
}

/// Gives every prepared user `depth` more movements (deposits of 0.01, all users at once),
/// and prints the rate as a RESULT line labelled `deepen`.
pub async fn deepen(api: &Api, users: &Users, depth: usize) -> Result<(), String> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for token in &users.tokens {
        let (api, token) = (api.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..depth {
                let (status, body): (u16, Value) =
                    api.post("/v1/wallet/deposits", Some(&token), &json!({"amount": "0.01"}), true).await?;
                if status != 201 {
                    return Err(format!("deposit while deepening: {status} {body}"));
                }
            }
            Ok::<(), String>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    let secs = started.elapsed().as_secs_f64();
    let n = depth * users.tokens.len();
    eprintln!("deepened {} users by {depth} movements each in {secs:.1}s", users.tokens.len());
    println!("RESULT label=deepen requests={n} rps={:.1}", n as f64 / secs.max(1e-9));
    Ok(())
}
