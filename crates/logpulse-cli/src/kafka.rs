//! `logpulse run` with Kafka (issue 6): the flags, and the few steps `cmd::run` takes for them
//! (the source replaces files/stdin, backends are tapped for offsets, two sinks are added).

use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use logpulse_core::Backend;
use logpulse_io::kafka::{merge, parse_option, KafkaConfig, KafkaJob};

use crate::setup::parse_duration;

/// Kafka flags of `logpulse run`.
#[derive(Args, Debug, Clone, Default)]
pub struct KafkaArgs {
    /// Read log lines from Kafka (`host:port[,host:port]`) instead of files or stdin.
    #[arg(long, requires_all = ["topic", "group"])]
    pub kafka_brokers: Option<String>,
    /// Topic to read (each message: one or more whole lines).
    #[arg(long)]
    pub topic: Option<String>,
    /// Consumer group: processes of one group share the topic's partitions.
    #[arg(long)]
    pub group: Option<String>,
    /// A librdkafka property for the consumer and producer (repeatable), e.g.
    /// `security.protocol=SASL_SSL`, `sasl.mechanism=SCRAM-SHA-256`, `ssl.ca.location=ca.pem`.
    #[arg(long = "kafka-option", value_name = "KEY=VALUE")]
    pub kafka_options: Vec<String>,
    /// Write window results and alerts as JSON here (key = window start [| group key]).
    #[arg(long)]
    pub kafka_out_topic: Option<String>,
    /// Write rejected lines as JSON here (dead letters).
    #[arg(long)]
    pub kafka_dlq_topic: Option<String>,
    /// Worker mode: publish each batch's partial aggregates here, for a `--kafka-merge` run.
    #[arg(long)]
    pub kafka_partials_topic: Option<String>,
    /// Merge mode: `--topic` holds partials (from `--kafka-partials-topic` workers); merge them
    /// into windows as one process would.
    #[arg(long)]
    pub kafka_merge: bool,
    /// Exit once no message came for this long and every assigned partition is read to its end.
    #[arg(long)]
    pub kafka_exit_idle: Option<String>,
}

/// The Kafka job the flags ask for, if any.
pub fn job(
    a: &KafkaArgs,
    linger: Duration,
    has_inputs: bool,
    format: &str,
) -> Result<Option<KafkaJob>> {
    let Some(brokers) = a.kafka_brokers.clone() else {
        return Ok(None);
    };
    if has_inputs {
        bail!("--kafka-brokers reads Kafka: give no input files");
    }
    if format == "auto" && !a.kafka_merge {
        bail!("--format auto cannot sample a Kafka topic: pass --format (see `logpulse formats`)");
    }
    let options = a
        .kafka_options
        .iter()
        .map(|o| parse_option(o))
        .collect::<Result<Vec<_>, _>>()?;
    let cfg = KafkaConfig {
        brokers,
        topic: a.topic.clone().unwrap_or_default(),
        group: a.group.clone().unwrap_or_default(),
        options,
        linger,
        exit_idle: a
            .kafka_exit_idle
            .as_deref()
            .map(parse_duration)
            .transpose()?,
        out_topic: a.kafka_out_topic.clone(),
        dlq_topic: a.kafka_dlq_topic.clone(),
        partials_topic: a.kafka_partials_topic.clone(),
    };
    Ok(Some(KafkaJob::connect(cfg)?))
}

/// Tapped backends (offset tracking, partials); in merge mode the merger replaces them.
pub fn backends(
    job: &KafkaJob,
    merge_mode: bool,
    backends: Vec<Box<dyn Backend>>,
) -> Vec<Box<dyn Backend>> {
    if merge_mode {
        let merger: Box<dyn Backend> = Box::new(merge::MergeBackend::new(merge::merge_pool()));
        return job.tap(vec![merger]);
    }
    job.tap(backends)
}
