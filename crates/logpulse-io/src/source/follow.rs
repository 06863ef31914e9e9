//! A followed file, like `tail -F`: reads what is there, then what is appended, and survives
//! rotation by rename (a new file appears at the path) and by truncation (copytruncate).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use logpulse_core::batch::BufferPool;
use logpulse_core::checkpoint::SourcePosition;
use logpulse_core::framer::{Framer, FramerConfig};
use logpulse_core::pipeline::{BatchSender, Source, SourceError};

use super::io_err;

/// How a followed file is watched.
#[derive(Debug, Clone)]
pub struct FollowConfig {
    /// How often the path is checked for growth, rotation and truncation.
    pub poll: Duration,
    /// Longest time whole lines wait before a batch is cut.
    pub linger: Duration,
}

impl Default for FollowConfig {
    fn default() -> Self {
        FollowConfig {
            poll: Duration::from_millis(100),
            linger: Duration::from_millis(500),
        }
    }
}

/// Follows one path until the run stops.
pub struct FollowSource {
    path: PathBuf,
    cfg: FollowConfig,
    resume: Option<SourcePosition>,
}

impl FollowSource {
    /// Follows `path`.
    pub fn new(path: impl Into<PathBuf>, cfg: FollowConfig) -> Self {
        FollowSource {
            path: path.into(),
            cfg,
            resume: None,
        }
    }

    /// Starts at a checkpointed position of the file at the path; if the file is now shorter
    /// (rotated or truncated meanwhile), it is read from its start.
    pub fn resume_at(mut self, pos: Option<SourcePosition>) -> Self {
        self.resume = pos;
        self
    }
}

/// What changed at the path since the file was opened.
enum Change {
    None,
    /// Another file is at the path now (or none yet): finish this one, open that.
    Rotated,
    /// The file is shorter than what was read: start again from its beginning.
    Truncated,
}

impl FollowSource {
    fn check(&self, file: &File, read_to: u64) -> Change {
        let opened = match file.metadata() {
            Ok(m) => m,
            Err(_) => return Change::Rotated,
        };
        match std::fs::metadata(&self.path) {
            Ok(now) if now.ino() != opened.ino() || now.dev() != opened.dev() => Change::Rotated,
            Ok(now) if now.len() < read_to => Change::Truncated,
            Ok(_) => Change::None,
            // The path is gone (renamed, new file not created yet): keep reading the old one.
            Err(_) => Change::None,
        }
    }

    fn open(&self, out: &BatchSender) -> Result<Option<File>, SourceError> {
        loop {
            match File::open(&self.path) {
                Ok(f) => return Ok(Some(f)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if out.stopping() {
                        return Ok(None);
                    }
                    std::thread::sleep(self.cfg.poll);
                }
                Err(e) => {
                    return Err(io_err(format!("opening {}", self.path.display()), e));
                }
            }
        }
    }
}

impl Source for FollowSource {
    fn run(
        &mut self,
        pool: &BufferPool,
        framing: &FramerConfig,
        out: &BatchSender,
    ) -> Result<(), SourceError> {
        let name: Arc<str> = self.path.display().to_string().into();
        'files: loop {
            let Some(mut file) = self.open(out)? else {
                return Ok(());
            };
            let mut framer = Framer::new(pool.clone(), framing.clone(), name.clone());
            let mut read_to = 0u64;
            if let Some(pos) = self.resume.take() {
                let len = file.metadata().map(|m| m.len()).unwrap_or(0);
                if pos.offset <= len {
                    file.seek(SeekFrom::Start(pos.offset))
                        .map_err(|e| io_err(format!("seeking in {name}"), e))?;
                    framer.set_position(pos.offset, pos.next_line);
                    read_to = pos.offset;
                }
            }
            let mut last_cut = Instant::now();
            loop {
                let n = match file.read(framer.spare()) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(io_err(format!("reading {name}"), e)),
                };
                if n > 0 {
                    framer.commit(n);
                    read_to += n as u64;
                    out.add_bytes(n as u64);
                    if !out.send_ready(&mut framer) {
                        return Ok(());
                    }
                    continue;
                }
                // At the end of what is written so far.
                if last_cut.elapsed() >= self.cfg.linger {
                    framer.flush();
                    last_cut = Instant::now();
                    if !out.send_ready(&mut framer) {
                        return Ok(());
                    }
                }
                if out.stopping() {
                    // Whole lines only: a writer may still be completing the last one, and a
                    // resumed run must start at its first byte.
                    framer.flush();
                    out.send_ready(&mut framer);
                    return Ok(());
                }
                match self.check(&file, read_to) {
                    Change::None => std::thread::sleep(self.cfg.poll),
                    Change::Rotated => {
                        // Drain what was written to the old file before the switch.
                        loop {
                            let n = file
                                .read(framer.spare())
                                .map_err(|e| io_err(format!("reading {name}"), e))?;
                            if n == 0 {
                                break;
                            }
                            framer.commit(n);
                            out.add_bytes(n as u64);
                        }
                        if !out.finish(&mut framer) {
                            return Ok(());
                        }
                        continue 'files;
                    }
                    Change::Truncated => {
                        if !out.finish(&mut framer) {
                            return Ok(());
                        }
                        file.seek(SeekFrom::Start(0))
                            .map_err(|e| io_err(format!("rewinding {name}"), e))?;
                        framer = Framer::new(pool.clone(), framing.clone(), name.clone());
                        read_to = 0;
                    }
                }
            }
        }
    }
}
