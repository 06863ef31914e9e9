//! Command-line flags, as raw values. [`crate::setup`] resolves them into a plan.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Streaming web-log analytics: traffic, errors, saturation and latency per time window.
#[derive(Parser, Debug)]
#[command(name = "logpulse", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyse logs from files, stdin or followed files.
    Run(Box<RunArgs>),
    /// Write a deterministic, realistic NASA-like access log.
    Gen(GenArgs),
    /// Measure throughput, per-batch latency and peak memory.
    Bench(Box<BenchArgs>),
    /// List the known log formats and their fields.
    Formats,
}

/// Options shared by `run` and `bench`: what to compute and how.
#[derive(Args, Debug, Clone)]
pub struct JobArgs {
    /// Log format: `auto` (detect from a sample) or a preset name (see `logpulse formats`).
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Apache `LogFormat` string describing the input (instead of --format).
    #[arg(long, conflicts_with_all = ["nginx_format", "json_map"])]
    pub log_format: Option<String>,
    /// nginx `log_format` string describing the input (instead of --format).
    #[arg(long, conflicts_with = "json_map")]
    pub nginx_format: Option<String>,
    /// JSON Lines input: record fields from JSON paths,
    /// e.g. `client=remote_addr,time=ts,status=status,bytes=size,path=request.uri`.
    #[arg(long)]
    pub json_map: Option<String>,
    /// Group results by this field: client (alias host), vhost, path, method, status,
    /// user_agent, referer, upstream.
    #[arg(long, default_value = "client")]
    pub key: String,
    /// Aggregate only records that pass: `FIELD OP VALUE`, e.g. `status>=500`,
    /// `vhost=shop.example`, `path^=/api/`, `user_agent~bot` (repeat: all must pass). Text
    /// fields take = != ^= $= ~; status, bytes and latency_ms take = != < <= > >=. Records left
    /// out are counted as `filtered`.
    #[arg(long, value_name = "EXPR")]
    pub filter: Vec<String>,
    /// Window: a duration (`60s`, `1m`, `5m`, `1h`) for event-time tumbling windows, or `batch`
    /// for one window per batch (processing time, as the notebook did).
    #[arg(long, default_value = "1m")]
    pub window: String,
    /// How late (event time) a line may arrive before its window closes.
    #[arg(long, default_value = "1m")]
    pub lateness: String,
    /// Sessions per client: a client idle for longer than this (whole windows without its
    /// requests) starts a new session. Default 30m with `--key client`; `off` turns sessions
    /// off. Needs event-time windows and `--key client`.
    #[arg(long, value_name = "DURATION")]
    pub session_gap: Option<String>,
    /// Most lines per batch.
    #[arg(long, default_value_t = 250_000)]
    pub batch_lines: usize,
    /// Batch buffer size in MiB (a batch also ends when its buffer is full).
    #[arg(long, default_value_t = 64)]
    pub batch_mib: usize,
    /// Longest accepted line in KiB; longer lines are rejected (`line_too_long`).
    #[arg(long, default_value_t = 64)]
    pub max_line_kib: usize,
    /// Backend: auto (GPU if present), cpu, gpu, or gpu:0,1 (device list).
    #[arg(long, default_value = "auto")]
    pub backend: String,
    /// CPU threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// CPU backend: batches processed at once, the threads shared out among them. 0 = auto:
    /// for files read to their end, one batch per thread (throughput); for live input (stdin,
    /// --follow, Kafka) one batch on all threads (latency). W3C logs always take 1.
    #[arg(long, default_value_t = 0)]
    pub cpu_workers: usize,
    /// Events of interest: requests per key per window above this.
    #[arg(long, default_value_t = 200)]
    pub threshold_requests: u64,
    /// Events of interest: MB sent per key per window above this.
    #[arg(long, default_value_t = 120.0)]
    pub threshold_mb: f64,
    /// Do not raise an event for every 5xx.
    #[arg(long)]
    pub no_5xx_alerts: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Input files (plain or gzip); `-` or none reads stdin.
    pub inputs: Vec<PathBuf>,
    /// Take settings from this TOML file: keys are the long flag names (`window = "5m"`,
    /// `kafka-brokers = "..."`), `inputs` the files; flags on the command line win
    /// (docs/CONFIG.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub job: JobArgs,
    /// Keep reading appended lines, like `tail -F` (survives rotation and truncation).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Kafka source and sinks (issue 6).
    #[command(flatten)]
    pub kafka: Box<crate::kafka::KafkaArgs>,
    /// Cut a batch when lines waited this long (slow streams: stdin, --follow).
    #[arg(long, default_value = "500ms")]
    pub linger: String,
    /// Write window results as JSON Lines here (`-` = stdout).
    #[arg(long)]
    pub jsonl: Option<PathBuf>,
    /// Groups per window in the JSON Lines output (0 = all).
    #[arg(long, default_value_t = 0)]
    pub top: usize,
    /// Rewrite the notebook's traffic.csv, errors.csv and mb_sent.csv here at each window.
    #[arg(long)]
    pub notebook_dir: Option<PathBuf>,
    /// Write rejected lines here (tab-separated: source, line, offset, reason, line).
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Write whole-run totals (JSON) here at the end.
    #[arg(long)]
    pub summary: Option<PathBuf>,
    /// Checkpoint file: source positions, window state and output lengths are written here
    /// together; if it exists at start, the run resumes from it (nothing lost or counted twice).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Least time between two checkpoints (0 = after every batch).
    #[arg(long, default_value = "1s")]
    pub checkpoint_interval: String,
    /// Rewrite the run's counters (JSON) here after every batch, for health checks.
    #[arg(long)]
    pub status: Option<PathBuf>,
    /// Serve Prometheus metrics (`/metrics`) and the live dashboard (`/`) on this address
    /// (`127.0.0.1:9898`; port 0 picks a free one); once a finite input is read, the process
    /// keeps serving the final results until Ctrl-C.
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<String>,
    /// Print only the final totals on stdout, not a line per window.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// At the end, print on stderr where the time went: each stage's busy and blocked time.
    #[arg(long)]
    pub timings: bool,
    /// Progress bar: auto (on a terminal), always, never.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    Auto,
    Always,
    Never,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenLayout {
    Tsv,
    Clf,
    Combined,
    /// Caddy's JSON access log.
    CaddyJson,
}

#[derive(Args, Debug)]
pub struct GenArgs {
    /// Lines to write.
    #[arg(long, default_value_t = 1_000_000)]
    pub lines: u64,
    /// Layout.
    #[arg(long, value_enum, default_value_t = GenLayout::Tsv)]
    pub format: GenLayout,
    /// Seed (same seed, same output).
    #[arg(long, default_value_t = 1995)]
    pub seed: u64,
    /// Distinct client hosts.
    #[arg(long, default_value_t = 80_000)]
    pub hosts: usize,
    /// Requests per second of event time.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Make every Nth line a bad line (0 = none).
    #[arg(long, default_value_t = 0)]
    pub bad_every: u64,
    /// Output file (default stdout).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Input file; without it, input is generated in memory (see --lines, --gen-format).
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub job: JobArgs,
    /// Generated lines when no input is given.
    #[arg(long, default_value_t = 5_000_000)]
    pub lines: u64,
    /// Generated layout when no input is given.
    #[arg(long, value_enum, default_value_t = GenLayout::Tsv)]
    pub gen_format: GenLayout,
    /// Timed repetitions (the best and the median are reported).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}
