//! A deterministic, realistic access-log generator for benchmarks, demos and tests.
//!
//! NASA-like traffic: ~80k client hosts drawn from a Zipf law (a few hosts make most requests),
//! NASA-style URLs (also Zipf), a status mix with a small share of 5xx, log-normal response
//! sizes, increasing timestamps. Same seed, same bytes, on every machine: the random numbers come
//! from SplitMix64 (not a crate whose streams may change between versions).

use std::io::Write;

/// Output layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenFormat {
    /// The notebook's NASA TSV (with header line).
    Tsv,
    /// NCSA common log format.
    Clf,
    /// NCSA combined (common + referer + user agent).
    Combined,
    /// Caddy's JSON access log (one object per line, the fields Caddy writes).
    CaddyJson,
}

/// Generator settings.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Seed; the same seed gives the same output.
    pub seed: u64,
    /// Lines to write (bad lines included).
    pub lines: u64,
    /// Layout.
    pub format: GenFormat,
    /// Distinct client hosts.
    pub hosts: usize,
    /// First timestamp (epoch seconds).
    pub start_time: i64,
    /// Requests per second of event time.
    pub lines_per_sec: f64,
    /// Every Nth line is a bad line (0 = none): binary, invalid UTF-8, truncated, empty, ...
    pub bad_every: u64,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 1995,
            lines: 1_000_000,
            format: GenFormat::Tsv,
            hosts: 80_000,
            start_time: 804_571_201, // 1995-07-01T00:00:01-04:00
            lines_per_sec: 200.0,
            bad_every: 0,
        }
    }
}

/// SplitMix64: tiny, fast, and stable forever (also the crate's tests' random source).
#[derive(Debug, Clone)]
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// Samples ranks 0..n with P(k) ~ 1/(k+1)^s, by binary search in a cumulative table.
#[derive(Debug, Clone)]
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut acc = 0.0;
        for k in 0..n {
            acc += 1.0 / ((k + 1) as f64).powf(s);
            cdf.push(acc);
        }
        for c in &mut cdf {
            *c /= acc;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

const AGENTS: [&str; 4] = [
    "Mozilla/2.0 (compatible; MSIE 3.0; Windows 95)",
    "Mozilla/1.1N (X11; I; SunOS 5.4 sun4m)",
    "NCSA_Mosaic/2.7b5 (X11;Linux 1.2.13 i486) libwww/2.12 modified",
    "Lynx/2.3 BETA libwww-FM/2.14",
];

/// The generator. Call [`Generator::fill`] or [`Generator::write_all`].
pub struct Generator {
    cfg: GenConfig,
    rng: Rng,
    hosts: Vec<String>,
    host_zipf: Zipf,
    urls: Vec<String>,
    url_zipf: Zipf,
    written: u64,
    header_done: bool,
}

impl Generator {
    /// A generator for `cfg`.
    pub fn new(cfg: GenConfig) -> Self {
        let mut rng = Rng(cfg.seed);
        let n_hosts = cfg.hosts.max(1);
        let hosts = (0..n_hosts)
            .map(|i| {
                let r = rng.next();
                match i % 4 {
                    0 => format!(
                        "{}.{}.{}.{}",
                        128 + r % 96,
                        (r >> 8) % 256,
                        (r >> 16) % 256,
                        1 + (r >> 24) % 254
                    ),
                    1 => format!("ppp{}.dial{}.isp{}.net", i, r % 50, (r >> 8) % 300),
                    2 => format!(
                        "host{}.{}.edu",
                        (r >> 4) % 10_000,
                        ["mit", "uconn", "ucla", "cmu", "umd"][(r % 5) as usize]
                    ),
                    _ => format!(
                        "ix-{}-{}.ix.netcom.com",
                        ["cin", "sj", "ny", "dc"][(r % 4) as usize],
                        i % 1000
                    ),
                }
            })
            .collect();
        let mut urls = Vec::new();
        for m in 1..=80 {
            urls.push(format!("/shuttle/missions/sts-{m}/mission-sts-{m}.html"));
            urls.push(format!(
                "/shuttle/missions/sts-{m}/images/KSC-95EC-{:04}.gif",
                m * 7
            ));
        }
        for i in 0..400 {
            urls.push(format!("/images/img{i}.gif"));
            urls.push(format!(
                "/history/apollo/apollo-{}/apollo-{}.html",
                i % 17 + 1,
                i % 17 + 1
            ));
            urls.push(format!(
                "/cgi-bin/imagemap/countdown?{},{}",
                100 + i % 300,
                150 + i % 200
            ));
        }
        urls.push("/".into());
        urls.push("/shuttle/countdown/".into());
        // Popular pages first, so the Zipf law makes them popular.
        urls.rotate_right(2);
        Generator {
            host_zipf: Zipf::new(n_hosts, 1.1),
            url_zipf: Zipf::new(urls.len(), 1.0),
            hosts,
            urls,
            rng,
            written: 0,
            header_done: false,
            cfg,
        }
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// True when all lines were written.
    pub fn done(&self) -> bool {
        self.written >= self.cfg.lines
    }

    /// Appends lines to `out` until it holds at least `target_len` bytes or all lines are written.
    pub fn fill(&mut self, out: &mut Vec<u8>, target_len: usize) {
        if !self.header_done {
            self.header_done = true;
            if self.cfg.format == GenFormat::Tsv {
                out.extend_from_slice(b"host\tlogname\ttime\tmethod\turl\tresponse\tbytes\n");
            }
        }
        while out.len() < target_len && !self.done() {
            self.line(out);
        }
    }

    /// Writes everything to `w`.
    pub fn write_all(&mut self, w: &mut dyn Write) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(1 << 20);
        while !self.done() || !self.header_done {
            buf.clear();
            self.fill(&mut buf, 1 << 20);
            w.write_all(&buf)?;
        }
        Ok(())
    }

    fn line(&mut self, out: &mut Vec<u8>) {
        let i = self.written;
        self.written += 1;
        if self.cfg.bad_every > 0 && i % self.cfg.bad_every == self.cfg.bad_every - 1 {
            self.bad_line(out, i / self.cfg.bad_every);
            return;
        }
        let t = self.cfg.start_time + (i as f64 / self.cfg.lines_per_sec) as i64;
        let host = self.host_zipf.sample(&mut self.rng);
        let url = self.url_zipf.sample(&mut self.rng);
        let r = self.rng.unit();
        let status: u16 = match r {
            r if r < 0.880 => 200,
            r if r < 0.950 => 304,
            r if r < 0.970 => 302,
            r if r < 0.993 => 404,
            r if r < 0.995 => 403,
            r if r < 0.998 => 500,
            r if r < 0.999 => 501,
            _ => 503,
        };
        let bytes: u64 = match status {
            304 => 0,
            200 => (8.3 + 1.4 * self.rng.normal()).exp().min(5e7) as u64,
            _ => (6.0 + 0.5 * self.rng.normal()).exp() as u64,
        };
        let method = if self.rng.next().is_multiple_of(100) {
            "HEAD"
        } else {
            "GET"
        };
        let host = &self.hosts[host];
        let url = &self.urls[url];
        match self.cfg.format {
            GenFormat::Tsv => {
                out.extend_from_slice(host.as_bytes());
                out.extend_from_slice(b"\t-\t");
                push_u64(out, t as u64);
                out.push(b'\t');
                out.extend_from_slice(method.as_bytes());
                out.push(b'\t');
                out.extend_from_slice(url.as_bytes());
                out.push(b'\t');
                push_u64(out, status as u64);
                out.push(b'\t');
                push_u64(out, bytes);
                out.extend_from_slice(b"\t\t\n");
            }
            GenFormat::Clf | GenFormat::Combined => {
                out.extend_from_slice(host.as_bytes());
                out.extend_from_slice(b" - - [");
                push_clf_time(out, t - 4 * 3600);
                out.extend_from_slice(b" -0400] \"");
                out.extend_from_slice(method.as_bytes());
                out.push(b' ');
                out.extend_from_slice(url.as_bytes());
                out.extend_from_slice(b" HTTP/1.0\" ");
                push_u64(out, status as u64);
                out.push(b' ');
                if bytes == 0 && status != 200 {
                    out.push(b'-');
                } else {
                    push_u64(out, bytes);
                }
                if self.cfg.format == GenFormat::Combined {
                    out.extend_from_slice(b" \"-\" \"");
                    out.extend_from_slice(AGENTS[(self.rng.next() % 4) as usize].as_bytes());
                    out.push(b'"');
                }
                out.push(b'\n');
            }
            GenFormat::CaddyJson => {
                // Caddy's field order; the duration follows the size (a log-normal guess).
                out.extend_from_slice(b"{\"level\":\"info\",\"ts\":");
                push_u64(out, t as u64);
                out.extend_from_slice(b".");
                push_u64(out, 100 + i % 900);
                out.extend_from_slice(b",\"logger\":\"http.log.access\",\"msg\":\"handled request\",\"request\":{\"remote_ip\":\"");
                out.extend_from_slice(host.as_bytes());
                out.extend_from_slice(b"\",\"remote_port\":\"");
                push_u64(out, 1024 + i % 60000);
                out.extend_from_slice(b"\",\"proto\":\"HTTP/1.1\",\"method\":\"");
                out.extend_from_slice(method.as_bytes());
                out.extend_from_slice(b"\",\"host\":\"www.example.com\",\"uri\":\"");
                out.extend_from_slice(url.as_bytes());
                out.extend_from_slice(b"\",\"headers\":{\"User-Agent\":[\"");
                out.extend_from_slice(AGENTS[(self.rng.next() % 4) as usize].as_bytes());
                out.extend_from_slice(
                    b"\"],\"Accept\":[\"*/*\"]}},\"bytes_read\":0,\"user_id\":\"\",\"duration\":0.",
                );
                push_u64(out, 100_000 + bytes % 900_000);
                out.extend_from_slice(b",\"size\":");
                push_u64(out, bytes);
                out.extend_from_slice(b",\"status\":");
                push_u64(out, status as u64);
                out.extend_from_slice(b"}\n");
            }
        }
    }

    /// One bad line of a rotating class (each is rejected by every format).
    fn bad_line(&mut self, out: &mut Vec<u8>, n: u64) {
        match n % 6 {
            0 => out.extend_from_slice(b"\x00\x01\x02\xff\xfebinary junk\x7f\n"),
            1 => out.extend_from_slice(
                b"bad\xff\xfehost - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 1\n",
            ),
            2 => out.extend_from_slice(b"truncated.host - - [01/Jul/1995:00:0\n"),
            3 => out.extend_from_slice(b"\n"),
            4 => out.extend_from_slice(b"wrong format entirely, not a log line\r\n"),
            _ => out.extend_from_slice(
                b"h - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 2x0 1\n",
            ),
        }
    }
}

/// Appends the decimal digits of `v`.
fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn push_2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// Appends `dd/Mon/yyyy:HH:MM:SS` of local time `t` (zone applied by the caller).
fn push_clf_time(out: &mut Vec<u8>, t: i64) {
    let (y, m, d) = crate::format::time::civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400) as u32;
    push_2(out, d);
    out.push(b'/');
    out.extend_from_slice(MONTHS[(m - 1) as usize].as_bytes());
    out.push(b'/');
    push_u64(out, y as u64);
    out.push(b':');
    push_2(out, s / 3600);
    out.push(b':');
    push_2(out, s / 60 % 60);
    out.push(b':');
    push_2(out, s % 60);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{Format, LineKind, Record};

    fn generate(cfg: GenConfig) -> Vec<u8> {
        let mut out = Vec::new();
        Generator::new(cfg).write_all(&mut out).unwrap();
        out
    }

    #[test]
    fn deterministic_and_parseable() {
        for (format, preset) in [
            (GenFormat::Tsv, "nasa_tsv"),
            (GenFormat::Clf, "common"),
            (GenFormat::Combined, "combined"),
            (GenFormat::CaddyJson, "caddy_json"),
        ] {
            let cfg = GenConfig {
                lines: 2000,
                format,
                ..Default::default()
            };
            let a = generate(cfg.clone());
            assert_eq!(a, generate(cfg));
            let f = Format::preset(preset).unwrap();
            let mut records = 0;
            for line in a.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let mut rec = Record::default();
                match f.parse(line, &mut rec) {
                    Ok(LineKind::Record) => records += 1,
                    Ok(LineKind::Directive) => {}
                    Err(e) => panic!("{preset}: {e} in {}", String::from_utf8_lossy(line)),
                }
            }
            assert_eq!(records, 2000);
        }
    }

    #[test]
    fn bad_lines_are_injected() {
        let out = generate(GenConfig {
            lines: 60,
            bad_every: 10,
            format: GenFormat::Clf,
            ..Default::default()
        });
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 60);
        assert!(out.windows(3).any(|w| w == b"\x00\x01\x02"));
    }
}
