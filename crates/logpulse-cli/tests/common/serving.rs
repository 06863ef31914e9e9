//! A `logpulse run --serve` process and a plain HTTP/1.1 client for it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `logpulse run ... --serve 127.0.0.1:0`, killed when dropped.
pub struct Serving {
    child: Child,
    /// `host:port` it serves on.
    pub addr: String,
    /// Everything it wrote on stderr so far.
    pub stderr: Arc<Mutex<String>>,
}

impl Serving {
    /// Starts `logpulse run ARGS --serve 127.0.0.1:0 -q --progress never` and waits for the
    /// line that gives its address.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(super::bin())
            .arg("run")
            .args(args)
            .args(["--serve", "127.0.0.1:0", "-q", "--progress", "never"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn logpulse");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().expect("stderr");
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("dashboard http://").nth(1) {
                    let addr = rest.split('/').next().unwrap_or_default().to_string();
                    let _ = tx.send(addr);
                }
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "logpulse gave no address: {}",
                    stderr.lock().unwrap().as_str()
                );
            }
        };
        Serving {
            child,
            addr,
            stderr,
        }
    }

    /// GET `path`: (status code, content type, body).
    pub fn get(&self, path: &str) -> (u16, String, String) {
        http_get(&self.addr, path)
    }

    /// GET `path` as JSON (status 200 asserted).
    pub fn json(&self, path: &str) -> serde_json::Value {
        let (code, _, body) = self.get(path);
        assert_eq!(code, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// Waits until `/api/snapshot` says the run is done; returns that snapshot.
    pub fn wait_done(&self) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.json("/api/snapshot");
            if s["done"] == true {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the run did not end: {}",
                self.stderr.lock().unwrap().as_str()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET over a fresh connection (`Connection: close`, read to the end).
pub fn http_get(addr: &str, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP head");
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    let ctype = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (code, ctype, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

/// The value of the sample `name` (with its labels, e.g. `logpulse_x_total{reason="a"}`) in a
/// text exposition, if present.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}
