//! Health, readiness (including a database outage and recovery), metrics, API docs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::{Backend, TestApp, TestDb, assert_problem, test_settings, with_database};
use crate::on_both_backends;

on_both_backends!(
    health_and_readiness,
    request_ids,
    metrics_count_requests,
    openapi_and_docs,
    database_outage_answers_503_and_recovers
);

async fn health_and_readiness(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ok");
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ready");
}

async fn request_ids(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.get("/healthz").await.headers()["x-request-id"].to_str().unwrap().to_owned();
    let b = app.get("/healthz").await.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(a, b, "each request gets its own id");
    let res = app.client.get(app.url("/healthz")).header("x-request-id", "trace-abc-123").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-abc-123", "a sane incoming id is kept");
    let res = app.client.get(app.url("/healthz")).header("x-request-id", "x".repeat(200)).send().await.unwrap();
    assert_ne!(res.headers()["x-request-id"], &"x".repeat(200), "an oversized id is replaced");
    let res = app.get("/nowhere").await;
    assert!(res.headers().contains_key("x-request-id"), "errors carry it too");
}

async fn metrics_count_requests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.get("/healthz").await;
    app.get("/nowhere").await;
    // Made-up methods share one label value instead of each adding series.
    for made_up in ["BREW", "PROPFIND", "X-ONE-OFF"] {
        let method = reqwest::Method::from_bytes(made_up.as_bytes()).unwrap();
        app.client.request(method, app.url("/healthz")).send().await.unwrap();
    }
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = res.text().await.unwrap();
    assert!(text.contains(r#"http_requests_total{route="/healthz",method="GET",status="200"}"#), "{text}");
    assert!(text.contains(r#"status="404""#), "{text}");
    assert!(text.contains("http_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains("db_pool_connections_in_use"), "{text}");
    assert!(text.contains(r#"method="other""#), "{text}");
    for made_up in ["BREW", "PROPFIND", "X-ONE-OFF"] {
        assert!(!text.contains(made_up), "{made_up} became a label value");
    }
    // Every metric family carries HELP text.
    for family in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).map(|l| l.split(' ').next().unwrap()) {
        assert!(text.contains(&format!("# HELP {family} ")), "no HELP for {family}");
    }
}

async fn openapi_and_docs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app.get("/openapi.json").await;
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    // Client generators need one unique operationId per operation.
    let mut ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .map(|op| op["operationId"].as_str().expect("every operation has an operationId"))
        .collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "operationIds repeat: {ids:?}");
    assert!(ids.contains(&"listUsers") && ids.contains(&"listAuditLog"), "{ids:?}");
    for (path, method) in [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/v1/auth/register", "post"),
        ("/v1/auth/login", "post"),
        ("/v1/auth/refresh", "post"),
        ("/v1/auth/logout", "post"),
        ("/v1/me", "get"),
        ("/v1/me/account", "get"),
        ("/v1/me/score", "get"),
        ("/v1/credit/limit-history", "get"),
        ("/v1/admin/users/{id}", "get"),
        ("/v1/admin/users/{id}/credit-line", "post"),
        ("/v1/admin/users/{id}/freeze", "post"),
        ("/v1/admin/users/{id}/unfreeze", "post"),
        ("/v1/admin/audit-log", "get"),
        ("/v1/admin/credit-requests", "get"),
        ("/v1/admin/credit-requests/{id}/approve", "post"),
        ("/v1/admin/credit-requests/{id}/reject", "post"),
        ("/v1/wallet/deposits", "post"),
        ("/v1/wallet/withdrawals", "post"),
        ("/v1/transfers", "post"),
        ("/v1/vault/lock", "post"),
        ("/v1/vault/unlock", "post"),
        ("/v1/transactions", "get"),
        ("/v1/merchants", "get"),
        ("/v1/credit/purchases", "post"),
        ("/v1/credit/purchases", "get"),
        ("/v1/credit/purchases/{id}", "get"),
        ("/v1/credit/purchases/{id}/confirm-receipt", "post"),
        ("/v1/credit/purchases/{id}/cancel", "post"),
        ("/v1/credit/bill", "get"),
        ("/v1/credit/repayments", "post"),
        ("/v1/admin/users", "get"),
        ("/v1/admin/merchants", "post"),
        ("/v1/admin/billing/run", "post"),
        ("/v1/admin/ledger/check", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} documented");
    }
    assert_eq!(doc["paths"]["/v1/me"]["get"]["security"][0]["bearer"], serde_json::json!([]));
    // OpenAPI requires a description on every response object.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                assert!(response["description"].is_string(), "{method} {path} {status} has no description");
            }
        }
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");

    let res = app.get("/docs").await;
    assert_eq!(res.status().as_u16(), 308);
    assert_eq!(res.headers()["location"], "/docs/");
    let res = app.get("/docs/").await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "the page loads nothing from the internet");
    // The assets the page needs are served locally.
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-initializer.js"] {
        let res = app.get(&format!("/docs/{asset}")).await;
        assert_eq!(res.status(), StatusCode::OK, "{asset}");
        assert!(!res.text().await.unwrap().is_empty(), "{asset}");
    }
    let init = app.get("/docs/swagger-initializer.js").await.text().await.unwrap();
    assert!(init.contains("/openapi.json"), "{init}");
    // Without this, Swagger UI sends the document to validator.swagger.io whenever the host
    // is not localhost (a request to a third party, and a broken badge offline).
    assert!(init.contains(r#""validatorUrl": "none""#), "{init}");
    // The served document is the completed one: shared statuses, servers, public security.
    assert_eq!(doc["servers"][0]["url"], "/");
    assert_eq!(doc["paths"]["/v1/auth/login"]["post"]["security"], serde_json::json!([]));
    assert!(doc["paths"]["/v1/me"]["get"]["responses"]["401"].is_object());
}

/// Answers 503 problem+json while the database cannot be reached, and 200 again once it
/// is back, without a restart.
async fn database_outage_answers_503_and_recovers(backend: Backend) {
    match backend {
        Backend::Sqlite => sqlite_outage().await,
        Backend::Postgres(admin_url) => postgres_outage(admin_url).await,
    }
}

async fn eventually_ready(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = app.get("/readyz").await;
        if res.status() == StatusCode::OK {
            return;
        }
        assert!(Instant::now() < deadline, "the service did not recover: {}", res.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sqlite_outage() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the database's folder should be: nothing can be opened.
    let blocker = dir.path().join("db");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let url = format!("sqlite://{}", blocker.join("vaultline.db").display());
    let settings = test_settings(&url, &dir, &[]);
    let app = TestApp::start(settings, TestDb::Sqlite, dir, false);

    let body = assert_problem(app.get("/readyz").await, 503, "service_unavailable").await;
    assert!(!body["detail"].as_str().unwrap().contains("vaultline.db"), "no internals leak: {body}");

    std::fs::remove_file(&blocker).unwrap();
    std::fs::create_dir(&blocker).unwrap();
    eventually_ready(&app).await;
}

/// A TCP relay between the app and PostgreSQL that the test can cut and restore.
struct Relay {
    port: u16,
    upstream: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(upstream: String, port: u16) -> Relay {
        // An aborted relay's listener closes when its task is next polled, which on a loaded
        // machine may be after this: wait for the port (at most 5 s) instead of failing.
        let mut tries = 0;
        let listener: TcpListener = loop {
            let socket = TcpSocket::new_v4().unwrap();
            socket.set_reuseaddr(true).unwrap();
            match socket.bind(format!("127.0.0.1:{port}").parse().unwrap()).and_then(|()| socket.listen(64)) {
                Ok(listener) => break listener,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => panic!("relay cannot listen on {port}: {e}"),
            }
        };
        let port = listener.local_addr().unwrap().port();
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let (accept_tasks, target) = (tasks.clone(), upstream.clone());
        let acceptor = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                accept_tasks.lock().unwrap().push(pipe);
            }
        });
        tasks.lock().unwrap().push(acceptor);
        Relay { port, upstream, tasks }
    }

    /// Stops listening and severs every relayed connection.
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

async fn postgres_outage(admin_url: String) {
    let rest = admin_url.split("://").nth(1).unwrap();
    let host_port = rest.rsplit('@').next().unwrap().split('/').next().unwrap();
    let upstream = if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:5432") };
    let relay = Relay::start(upstream, 0).await;

    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::Postgres(admin_url.clone());
    let (db, direct_url) = TestDb::create(&backend, &dir);
    let name = direct_url.rsplit('/').next().unwrap().to_owned();
    let credentials =
        rest.split('@').next().filter(|_| rest.contains('@')).map(|c| format!("{c}@")).unwrap_or_default();
    let relayed_url = with_database(&format!("postgres://{credentials}127.0.0.1:{}/postgres", relay.port), &name);
    let settings = test_settings(&relayed_url, &dir, &[]);
    let app = TestApp::start(settings, db, dir, true);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);

    // Read-only traffic alone must get rid of the dead connection.
    relay.cut();
    assert_problem(app.get("/readyz").await, 503, "service_unavailable").await;
    let relay = Relay::start(relay.upstream.clone(), relay.port).await;
    eventually_ready(&app).await;

    // And writes.
    relay.cut();
    let during = serde_json::json!({"username": "during_outage", "password": "correct horse battery"});
    assert_problem(app.post_json("/v1/auth/register", &during).await, 503, "service_unavailable").await;
    let _restored = Relay::start(relay.upstream.clone(), relay.port).await;
    eventually_ready(&app).await;
    app.register("after_outage").await;
}
