//! The dashboard in a real browser: Debian's chromium, driven through chromedriver (WebDriver),
//! opens `run --follow --serve`'s page, shows the followed log's counts, and updates them live
//! (server-sent events, no reload) as lines are appended.
//!
//! Needs `chromium` and `chromium-driver` (Debian packages; `.ci/run` installs them). Without
//! them the test says SKIPPED, unless LOGPULSE_REQUIRE_BROWSER=1 (set by `.ci/run`) makes
//! that a failure.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::serving::Serving;
use fantoccini::{Client, ClientBuilder, Locator};

/// The busiest client: a third of the lines.
const BUSY: &str = "busy.example.org";

/// Line `i`: one a second from 01/Jul/1995 00:00:00; every 50th a 503.
fn line(i: u64) -> String {
    let host = if i.is_multiple_of(3) {
        BUSY.to_string()
    } else {
        format!("c{}.example.net", i % 20)
    };
    let status = if i % 50 == 49 { 503 } else { 200 };
    format!(
        "{host} - - [01/Jul/1995:{:02}:{:02}:{:02} -0400] \"GET /p{} HTTP/1.0\" {status} {}\n",
        i / 3600,
        (i / 60) % 60,
        i % 60,
        i % 7,
        100 + i
    )
}

fn append(path: &Path, lines: std::ops::Range<u64>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let text: String = lines.map(line).collect();
    f.write_all(text.as_bytes()).unwrap();
}

fn tool(env: &str, default: &str) -> Option<PathBuf> {
    let p = PathBuf::from(std::env::var(env).unwrap_or_else(|_| default.to_string()));
    p.exists().then_some(p)
}

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(bin: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new(bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, chromium: &Path, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::native()
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromium session")
}

/// The `data-value` of element `id`, once `ok` holds for it (waits up to 30 s).
async fn wait_value(c: &Client, id: &str, ok: impl Fn(u64) -> bool) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok(el) = c.find(Locator::Id(id)).await {
            if let Ok(Some(v)) = el.attr("data-value").await {
                let v: u64 = v.parse().expect("a number");
                if ok(v) {
                    return v;
                }
                last = Some(v);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("#{id} never reached the expected value (last {last:?})");
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn dashboard_shows_a_followed_log_and_updates_live() {
    let (Some(driver_bin), Some(chromium)) = (
        tool("LOGPULSE_CHROMEDRIVER", "/usr/bin/chromedriver"),
        tool("LOGPULSE_CHROMIUM", "/usr/bin/chromium"),
    ) else {
        assert!(
            std::env::var("LOGPULSE_REQUIRE_BROWSER").is_err(),
            "LOGPULSE_REQUIRE_BROWSER is set but chromium or chromedriver is missing"
        );
        eprintln!("SKIPPED: no chromium or chromedriver (apt install chromium chromium-driver)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, 0..300);
    let server = Serving::start(&[
        log.to_str().unwrap(),
        "--follow",
        "--format",
        "common",
        "--linger",
        "100ms",
    ]);
    let driver = Driver::start(&driver_bin);
    let c = browser(&driver, &chromium, &dir.path().join("profile")).await;
    c.goto(&format!("http://{}/", server.addr)).await.unwrap();

    // The first 300 lines: five minutes, so some windows closed (1-minute windows, 1 minute late).
    wait_value(&c, "lines", |v| v == 300).await;
    assert_eq!(text(&c, "#state").await, "live");
    assert_eq!(text(&c, "#format").await, "common");
    wait_value(&c, "windows", |v| v >= 1).await;

    // Appended lines reach the open page without a reload.
    append(&log, 300..900);
    wait_value(&c, "lines", |v| v == 900).await;
    let snapshot = server.json("/api/snapshot");
    let closed = snapshot["totals"]["windows"].as_u64().unwrap();
    assert!(closed >= 10, "{snapshot}");
    wait_value(&c, "windows", |v| v == closed).await;
    assert_eq!(wait_value(&c, "rejected", |_| true).await, 0);
    // Client sessions, as the server counts them.
    let sessions = server.json("/api/snapshot")["totals"]["sessions"]["started"]
        .as_u64()
        .expect("sessions in the totals");
    assert!(sessions > 0);
    wait_value(&c, "sessions", |v| v == sessions).await;
    wait_value(&c, "sessions-open", |v| v > 0).await;

    // The newest closed window's busiest key: a third of a minute's 60 lines.
    let first_row = text(&c, "#top-keys tbody tr").await;
    assert!(
        first_row.starts_with(BUSY) && first_row.contains(" 20 "),
        "{first_row}"
    );
    // Every 50th line is a 503: an error event of interest is listed.
    let alert = text(&c, "#alerts li").await;
    assert!(alert.contains("error") && alert.contains("503"), "{alert}");
    let bars = c
        .find_all(Locator::Css("#chart-requests rect"))
        .await
        .unwrap();
    assert!(bars.len() as u64 >= closed, "{} bars", bars.len());
    // Sessions per window: two bars a window (open after it, begun in it).
    let session_bars = c
        .find_all(Locator::Css("#chart-sessions rect"))
        .await
        .unwrap();
    assert_eq!(session_bars.len() as u64, 2 * closed.min(60));
    c.close().await.unwrap();
}
