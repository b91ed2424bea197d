//! A real headless Chromium (Debian's `chromium`, driven by its `chromedriver` over
//! WebDriver) for the page journeys. Each test gets its own browser session with an empty
//! profile; `SOUK_TEST_WEBDRIVER` names a running chromedriver to share, else one is started
//! for the test. Screenshots go to `target/test-artifacts/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

pub struct Browser {
    pub client: Client,
    driver: Option<Child>,
    base: String,
    /// The browser's own profile directory, which also names its processes.
    profile: PathBuf,
}

impl Browser {
    /// A browser whose relative URLs point at `base` (the app under test).
    pub async fn open(base: &str) -> Browser {
        Self::open_with(base, true).await
    }

    /// The same with JavaScript switched off: what a shopper with scripts blocked (or a slow
    /// phone before they load) gets.
    pub async fn open_without_javascript(base: &str) -> Browser {
        Self::open_with(base, false).await
    }

    async fn open_with(base: &str, javascript: bool) -> Browser {
        let (url, driver) = match std::env::var("SOUK_TEST_WEBDRIVER") {
            Ok(url) if !url.is_empty() => (url, None),
            _ => {
                let port = crate::smtp::free_port();
                let child = Command::new("chromedriver")
                    .arg(format!("--port={port}"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("chromedriver (Debian package chromium-driver) is installed");
                (format!("http://127.0.0.1:{port}"), Some(child))
            }
        };
        let profile = tempfile::tempdir().unwrap().keep();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": {
                    "profile.managed_default_content_settings.javascript":
                        if javascript { 1 } else { 2 },
                },
            }),
        );
        let mut last = None;
        for _ in 0..50 {
            let mut builder =
                ClientBuilder::rustls().expect("a TLS setup for the WebDriver client");
            match builder.capabilities(caps.clone()).connect(&url).await {
                Ok(client) => {
                    return Browser {
                        client,
                        driver,
                        base: base.trim_end_matches('/').to_owned(),
                        profile,
                    };
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!("no WebDriver session at {url}: {last:?}");
    }

    pub async fn go(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    /// The path (and query) the browser is on.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        let path = url.path().to_owned();
        match url.query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        }
    }

    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Clicks `css` and waits until the browser has left the page (the old page's elements are
    /// gone), so what is looked for next is on the new page.
    pub async fn click_and_wait(&self, css: &str) {
        let old = self.find("html").await;
        self.click(css).await;
        let started = std::time::Instant::now();
        while old.tag_name().await.is_ok() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{css} did not lead to a new page"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Signs in on the sign-in page at `path` (`/vendor/sign-in`, `/admin/sign-in`) as
    /// `email` with `password`, and waits for the page it leads to.
    pub async fn sign_in_at(&self, path: &str, email: &str, password: &str) {
        self.go(path).await;
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click_and_wait("button.primary").await;
    }

    /// What every page of a tour over hostile data must hold: no dialog opened, no element
    /// injected into `<main>` (images the page shows on purpose match `own_images` and are
    /// let be), no request to another host, axe-core clean; then its screenshot is kept.
    pub async fn assert_clean_page(&self, name: &str, base: &str, own_images: Option<&str>) {
        self.assert_no_dialog().await;
        let images = own_images.map_or("main img".to_owned(), |own| format!("main img:not({own})"));
        let injected = self
            .client
            .find_all(fantoccini::Locator::Css(&format!(
                "{images}, main iframe, main svg:not(.chart), main script:not([src^='/assets/'])"
            )))
            .await
            .unwrap();
        assert!(injected.is_empty(), "{name}: an element was injected");
        self.assert_same_origin_requests(base).await;
        self.assert_accessible(name).await;
        self.screenshot(name).await;
    }

    /// The visible text of the page's `<main>`.
    pub async fn main_text(&self) -> String {
        self.find("main").await.text().await.unwrap()
    }

    /// The visible text of the first element matching `css`.
    pub async fn text_of(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// Marks the page in the browser's memory: [`Browser::still_marked`] tells whether it is
    /// still the same page (not reloaded, not left) since.
    pub async fn mark_page(&self) {
        self.client
            .execute("window.soukTestMark = true;", vec![])
            .await
            .unwrap();
    }

    pub async fn still_marked(&self) -> bool {
        self.client
            .execute("return window.soukTestMark === true;", vec![])
            .await
            .unwrap()
            == serde_json::Value::Bool(true)
    }

    /// No `alert`/`confirm`/`prompt` opened: a script injected through data did not run.
    pub async fn assert_no_dialog(&self) {
        if let Ok(text) = self.client.get_alert_text().await {
            panic!("a dialog opened (an injected script ran): {text}");
        }
    }

    /// Every resource the page loaded came from the shop itself: nothing injected through data
    /// made the browser fetch from another host.
    pub async fn assert_same_origin_requests(&self, base: &str) {
        let loaded = self
            .client
            .execute(
                "return performance.getEntriesByType('resource').map(e => e.name);",
                vec![],
            )
            .await
            .unwrap();
        for url in loaded.as_array().unwrap() {
            let url = url.as_str().unwrap_or_default();
            assert!(url.starts_with(base), "a request to another host: {url}");
        }
    }

    /// Runs axe-core (npm, installed by the test command) on the current page and fails on any
    /// serious or critical violation, naming each with the elements it found.
    pub async fn assert_accessible(&self, page: &str) {
        let path = std::env::var("SOUK_TEST_AXE").unwrap_or_else(|_| {
            format!(
                "{}/../../target/tools/node_modules/axe-core/axe.min.js",
                env!("CARGO_MANIFEST_DIR")
            )
        });
        let axe = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("axe-core at {path} (scripts/test installs it): {e}"));
        self.client.execute(&axe, vec![]).await.unwrap();
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']})
                   .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact,
                       targets: v.nodes.map(n => n.target.join(' '))}))))
                   .catch(e => done([{id: 'axe-failed', impact: 'critical', targets: [String(e)]}]));",
                vec![],
            )
            .await
            .unwrap();
        let serious: Vec<&serde_json::Value> = found
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(
            serious.is_empty(),
            "{page}: accessibility violations {serious:#?}"
        );
    }

    /// Saves a screenshot as `target/test-artifacts/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
        // The rest happens on drop.
    }
}

impl Drop for Browser {
    /// Also when a test fails half-way: killing chromedriver alone leaves its Chromium running
    /// (it kept a core busy for an hour after a failed test), so every process started with
    /// this browser's profile is killed too.
    fn drop(&mut self) {
        if let Some(mut driver) = self.driver.take() {
            let _ = driver.kill();
            let _ = driver.wait();
        }
        let marker = format!("--user-data-dir={}", self.profile.display());
        // (pid, parent pid, started with this profile) of every process.
        let processes: Vec<(u32, u32, bool)> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
                let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
                let parent = stat
                    .rsplit(')')
                    .next()?
                    .split_whitespace()
                    .nth(1)?
                    .parse()
                    .ok()?;
                let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
                let ours = cmdline
                    .split(|&b| b == 0)
                    .any(|arg| arg == marker.as_bytes());
                Some((pid, parent, ours))
            })
            .collect();
        // Chromium's zygotes and renderers do not repeat the profile: take the descendants.
        let mut doomed: Vec<u32> = processes.iter().filter(|p| p.2).map(|p| p.0).collect();
        loop {
            let before = doomed.len();
            for &(pid, parent, _) in &processes {
                if doomed.contains(&parent) && !doomed.contains(&pid) {
                    doomed.push(pid);
                }
            }
            if doomed.len() == before {
                break;
            }
        }
        let pids: Vec<String> = doomed.iter().map(u32::to_string).collect();
        if !pids.is_empty() {
            let _ = Command::new("kill").arg("-9").args(&pids).status();
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

pub fn artifacts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-artifacts")
        .join(if crate::helpers::on_postgres() {
            "postgres"
        } else {
            "sqlite"
        })
}
