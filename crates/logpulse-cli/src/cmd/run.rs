//! `logpulse run`: the streaming job, from sources through a backend to the sinks.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use logpulse_core::checkpoint::{Checkpoint, CheckpointConfig};
use logpulse_core::pipeline::{self, Sink, Source};
use logpulse_io::sink::{
    JsonLinesSink, NotebookSink, Output, RejectsSink, StatusSink, SummarySink, TextSink,
};
use logpulse_io::source::{FileSource, FollowConfig, FollowSource, StreamSource};

use crate::args::{ProgressMode, RunArgs};
use crate::progress::ProgressSink;
use crate::setup;

/// Reads the first chunk(s) of stdin for format detection, without waiting for a full sample
/// on a slow stream: stops at the first read that completes a line.
fn sample_stdin() -> Result<Vec<u8>> {
    let mut sample = Vec::new();
    let mut buf = vec![0u8; setup::SAMPLE_BYTES];
    let mut stdin = std::io::stdin();
    loop {
        let n = stdin.read(&mut buf).context("reading stdin")?;
        if n == 0 {
            break;
        }
        sample.extend_from_slice(&buf[..n]);
        if sample.contains(&b'\n') || sample.len() >= setup::SAMPLE_BYTES {
            break;
        }
    }
    Ok(sample)
}

pub fn run(a: RunArgs) -> Result<()> {
    if let Some(path) = &a.config {
        eprintln!("logpulse: {}", crate::config::describe(path));
    }
    // Kafka: a consumer-group source replaces files and stdin.
    let kafka = crate::kafka::job(
        &a.kafka,
        setup::parse_duration(&a.linger)?,
        !a.inputs.is_empty(),
        &a.job.format,
    )?;
    let inputs: Vec<PathBuf> = if a.inputs.is_empty() && kafka.is_none() {
        vec!["-".into()]
    } else {
        a.inputs.clone()
    };
    let linger = setup::parse_duration(&a.linger)?;
    let uses_stdin = inputs.iter().any(|p| p.as_os_str() == "-");
    // The sample read from stdin must be replayed in front of the rest of it.
    let stdin_sample = if uses_stdin {
        Some(sample_stdin()?)
    } else {
        None
    };
    let sample = match inputs.iter().find(|p| p.as_os_str() != "-") {
        Some(p)
            if a.job.format == "auto"
                && a.job.log_format.is_none()
                && a.job.nginx_format.is_none()
                && a.job.json_map.is_none() =>
        {
            Some(setup::sample_file(p)?)
        }
        _ => stdin_sample.clone(),
    };
    let (format, note) = setup::resolve_format(&a.job, sample.as_deref())?;
    let plan = setup::plan(&a.job, format)?;
    let mut cfg = setup::pipeline_config(&a.job);
    let resume = match &a.checkpoint {
        Some(path) => {
            let job = plan.job_id();
            let resume = Checkpoint::load(path, &job)?;
            if let Some(c) = &resume {
                eprintln!(
                    "logpulse: resuming from checkpoint {} ({} sources, {} open windows)",
                    path.display(),
                    c.sources.len(),
                    c.windows.open_windows()
                );
            }
            let interval = setup::parse_duration(&a.checkpoint_interval)?;
            cfg.checkpoint = Some((
                CheckpointConfig {
                    path: path.clone(),
                    interval,
                    job,
                },
                resume.clone(),
            ));
            resume
        }
        None => None,
    };
    let position = |p: &std::path::Path| {
        resume
            .as_ref()
            .and_then(|c| c.sources.get(&p.display().to_string()).copied())
    };
    let open = |p: &std::path::Path| {
        let len = resume
            .as_ref()
            .and_then(|c| c.outputs.get(&p.display().to_string()).copied());
        Output::open(p, len).with_context(|| format!("opening {}", p.display()))
    };
    if a.kafka.kafka_merge && !plan.filters.is_empty() {
        // The merger adds partials other processes made; filters belong on those processes.
        anyhow::bail!("--filter does not apply with --kafka-merge: give it to the producing jobs");
    }
    // Files read to their end are bulk work; stdin, --follow and Kafka are live streams.
    let bulk = kafka.is_none() && !a.follow && !uses_stdin;
    let (backends, backend_desc) = setup::backends(&a.job, &plan, cfg.queue_depth, bulk)?;
    eprintln!("logpulse: {note}");
    eprintln!("logpulse: backend {backend_desc}");
    let backends = match &kafka {
        Some(k) => crate::kafka::backends(k, a.kafka.kafka_merge, backends),
        None => backends,
    };

    let mut sources: Vec<Box<dyn Source>> = Vec::new();
    let mut total_bytes = 0u64;
    let mut stdin_sample = stdin_sample;
    for p in &inputs {
        if p.as_os_str() == "-" {
            let head = stdin_sample.take().unwrap_or_default();
            let reader = std::io::Cursor::new(head).chain(std::io::stdin());
            sources.push(Box::new(StreamSource::new("-", Box::new(reader), linger)));
        } else if a.follow {
            let fc = FollowConfig {
                linger,
                ..Default::default()
            };
            sources.push(Box::new(
                FollowSource::new(p.clone(), fc).resume_at(position(p)),
            ));
        } else {
            total_bytes += std::fs::metadata(p)
                .with_context(|| format!("reading {}", p.display()))?
                .len();
            sources.push(Box::new(FileSource::new(p.clone()).resume_at(position(p))));
        }
    }

    if let Some(k) = &kafka {
        if a.checkpoint.is_some() {
            // Offsets in the checkpoint, committed after it; resume at the checkpoint's.
            k.checkpointing(resume.as_ref());
        }
        sources.push(Box::new(k.source()));
    }
    let key_name = plan.key.name();
    let jsonl_to_stdout = a.jsonl.as_ref().is_some_and(|p| p.as_os_str() == "-");
    let text_out: Box<dyn std::io::Write + Send> = if jsonl_to_stdout {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let mut text = TextSink::new(text_out, !a.quiet, &plan.format.name, &backend_desc);
    let mut jsonl = match &a.jsonl {
        Some(p) => Some(JsonLinesSink::new(
            open(p)?,
            key_name,
            a.top,
            &plan.format.name,
        )),
        None => None,
    };
    let mut rejects = match &a.rejects {
        Some(p) => Some(RejectsSink::new(open(p)?)),
        None => None,
    };
    let mut notebook = match &a.notebook_dir {
        Some(d) => Some(
            NotebookSink::new(d.clone(), key_name, plan.thresholds)
                .with_context(|| format!("creating {}", d.display()))?,
        ),
        None => None,
    };
    let mut summary = a
        .summary
        .as_ref()
        .map(|p| SummarySink::new(p.clone(), &plan.format.name, key_name));
    let mut status = a.status.as_ref().map(|p| StatusSink::new(p.clone()));
    let bytes_read = Arc::new(AtomicU64::new(0));
    let show_progress = match a.progress {
        ProgressMode::Always => true,
        ProgressMode::Never => false,
        ProgressMode::Auto => std::io::stderr().is_terminal() && !a.follow && !uses_stdin,
    };
    let mut progress = show_progress.then(|| ProgressSink::new(total_bytes, bytes_read.clone()));

    let mut sinks: Vec<&mut dyn Sink> = Vec::new();
    if let Some(p) = progress.as_mut() {
        sinks.push(p);
    }
    if let Some(s) = jsonl.as_mut() {
        sinks.push(s);
    }
    if let Some(s) = rejects.as_mut() {
        sinks.push(s);
    }
    if let Some(s) = notebook.as_mut() {
        sinks.push(s);
    }
    if let Some(s) = summary.as_mut() {
        sinks.push(s);
    }
    if let Some(s) = status.as_mut() {
        sinks.push(s);
    }
    let mut web = match &a.serve {
        Some(addr) => {
            let live = logpulse_web::Live::new(logpulse_web::RunInfo {
                format: plan.format.name.clone(),
                key: key_name.to_string(),
                backend: backend_desc.clone(),
            });
            let server = logpulse_web::serve(addr, live.clone()).context("--serve")?;
            eprintln!(
                "logpulse: dashboard http://{0}/ , Prometheus metrics http://{0}/metrics",
                server.addr()
            );
            Some(logpulse_web::WebSink::new(live, key_name))
        }
        None => None,
    };
    if let Some(s) = web.as_mut() {
        sinks.push(s);
    }
    let mut kafka_out = kafka.as_ref().and_then(|k| k.results_sink(key_name, a.top));
    if let Some(s) = kafka_out.as_mut() {
        sinks.push(s);
    }
    sinks.push(&mut text);
    // Last: commits Kafka offsets once the sinks before it hold the batch's results.
    let mut kafka_commit = kafka.as_ref().map(|k| k.commit_sink());
    if let Some(s) = kafka_commit.as_mut() {
        sinks.push(s);
    }

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // Ctrl-C, SIGTERM or SIGHUP: stop reading, flush open windows and write the summary.
        ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed))
            .context("installing Ctrl-C handler")?;
    }
    let pool = backends.first().map(|b| b.pool());
    let totals = pipeline::run(
        sources,
        backends,
        &plan,
        &cfg,
        &mut sinks,
        stop.clone(),
        bytes_read,
    )
    .context("run failed")?;
    if totals.rejected() > 0
        && a.rejects.is_none()
        && a.kafka.kafka_dlq_topic.is_none()
        && !a.kafka.kafka_merge
    {
        eprintln!(
            "logpulse: {} rejected lines were counted but not kept; --rejects FILE keeps them \
             (source, line number, offset, reason, line)",
            totals.rejected()
        );
    }
    if a.timings {
        let (waited, made) = pool.map_or((0.0, 0.0), |p| p.wait_secs());
        eprintln!(
            "logpulse: stages {}; framer waited {waited:.3}s for free buffers (made {made:.3}s)",
            cfg.clock
        );
    }
    if let Some(rss) = logpulse_io::memory::peak_rss_bytes() {
        eprintln!(
            "logpulse: peak RSS {:.1} MiB",
            rss as f64 / (1 << 20) as f64
        );
    }
    if web.is_some() && !stop.load(Ordering::Relaxed) {
        // The input ended: the dashboard and the metrics keep showing the final results.
        eprintln!("logpulse: input done; still serving the results (Ctrl-C to exit)");
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    Ok(())
}
