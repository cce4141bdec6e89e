//! One headless Chromium per test, through its own chromedriver; one browser at a time on
//! the machine (they are heavy), and no request may leave 127.0.0.1.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::sync::{Mutex, MutexGuard};

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

pub struct Browser {
    pub client: Client,
    base: String,
    driver: Child,
    _profile: tempfile::TempDir,
    _turn: MutexGuard<'static, ()>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Browser {
    /// A browser at 1280 x 900 pointed at `base` (the app's `http://127.0.0.1:port`).
    pub async fn start(base: &str) -> Browser {
        let turn = ONE_AT_A_TIME.lock().await;
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so the browser it starts goes with it (`Drop`).
            .process_group(0)
            .spawn()
            .expect("chromedriver runs (Debian: apt-get install chromium chromium-driver)");
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1280,900".to_owned(),
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps =
            json!({"browserName": "chrome", "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}});
        let caps = caps.as_object().unwrap().clone();
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::native().capabilities(caps.clone()).connect(&format!("http://127.0.0.1:{port}")).await
            {
                Ok(client) => {
                    return Browser { client, base: base.to_owned(), driver, _profile: profile, _turn: turn };
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start: {last:?}");
    }

    pub async fn go(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.expect("page loads");
    }

    /// The current path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits (up to 5 s) for the browser to arrive at `expected` (path and query): a click
    /// that submits a form may return before the next page is there.
    pub async fn expect_path(&self, expected: &str, why: &str) {
        for _ in 0..50 {
            if self.path().await == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(self.path().await, expected, "{why}");
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Clicks `css`. A button or link loads the next page, which the click itself does not wait
    /// for: the page is marked first and the next one waited for (up to 10 s), so what follows
    /// never reads the old page (a busy CI machine showed that race). Inputs just toggle.
    pub async fn click(&self, css: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        if element.tag_name().await.unwrap().eq_ignore_ascii_case("input") {
            element.click().await.unwrap();
            return;
        }
        self.run("document.documentElement.dataset.vlLeaving = '1'", vec![]).await;
        element.click().await.unwrap();
        let arrived = "return !document.documentElement.dataset.vlLeaving && document.readyState === 'complete'";
        for _ in 0..100 {
            if self.client.execute(arrived, vec![]).await.ok().and_then(|v| v.as_bool()) == Some(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.unwrap()
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.unwrap().len()
    }

    pub async fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.expect("script runs")
    }

    /// Signs in with the shared test password (the first step: the password).
    pub async fn sign_in(&self, username: &str) {
        self.go("/console/login").await;
        self.fill("#username", username).await;
        self.fill("#password", crate::helpers::PASSWORD).await;
        self.click("button[type=submit]").await;
    }

    /// Writes `<name>.png` (from the SQLite run only: one current set) to
    /// `target/console-screenshots/`, or to `docs/console/` (the set README shows) when
    /// `VAULTLINE_SCREENSHOTS=docs`: a plain `cargo test` leaves the tree as it found it.
    pub async fn shot(&self, backend: &crate::helpers::Backend, name: &str) {
        if !matches!(backend, crate::helpers::Backend::Sqlite) {
            return;
        }
        // The whole page, not just the window: the window grows to the page for the shot.
        let height = self.run("return document.documentElement.scrollHeight", vec![]).await;
        let height = height.as_u64().unwrap_or(900).clamp(900, 4000) as u32;
        self.client.set_window_size(1280, height).await.unwrap();
        let png = self.client.screenshot().await.expect("screenshot");
        self.client.set_window_size(1280, 900).await.unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = match std::env::var("VAULTLINE_SCREENSHOTS").as_deref() {
            Ok("docs") => root.join("docs/console"),
            _ => root.join("target/console-screenshots"),
        };
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// No alert, confirm or prompt is open (an injected script would have opened one).
    pub async fn assert_no_dialog(&self) {
        assert!(self.client.get_alert_text().await.is_err(), "a dialog opened: a script ran");
    }

    /// Ends the WebDriver session, then (on drop) chromedriver and the browser.
    pub async fn finish(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}
