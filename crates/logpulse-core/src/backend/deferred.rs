//! A backend still starting on a thread of its own, so that the stream does not wait for it.
//!
//! Starting a GPU backend (kernels loaded, device tables and page-locked readback buffers
//! allocated) takes ~0.3-0.5 s on the H200 machine: as long as processing a 1 GB file. Behind
//! this wrapper the source reads and frames into the pool meanwhile; the first batch handed to
//! the backend waits for the start to finish, and a failed start is that batch's error.

use std::thread::JoinHandle;

use super::{Backend, BackendError};
use crate::agg::Partial;
use crate::batch::{Batch, BufferPool};

/// What starts the real backend.
pub type Starter = Box<dyn FnOnce() -> Result<Box<dyn Backend>, BackendError> + Send>;

/// See the module docs.
pub struct Deferred {
    starting: Option<JoinHandle<Result<Box<dyn Backend>, BackendError>>>,
    ready: Option<Box<dyn Backend>>,
    pool: BufferPool,
    describe: String,
}

impl Deferred {
    /// Starts `start` now, on a thread named `name`. `pool` is the pool the started backend
    /// will use (known before it starts, so the source can fill it); `describe` is its
    /// description.
    pub fn spawn(
        name: &str,
        pool: BufferPool,
        describe: String,
        start: Starter,
    ) -> Result<Self, BackendError> {
        let starting = std::thread::Builder::new()
            .name(name.into())
            .spawn(start)
            .map_err(|e| BackendError::Other(format!("starting a thread for {describe}: {e}")))?;
        Ok(Deferred {
            starting: Some(starting),
            ready: None,
            pool,
            describe,
        })
    }

    /// The started backend, waiting for the start to finish the first time.
    fn backend(&mut self) -> Result<&mut Box<dyn Backend>, BackendError> {
        if let Some(h) = self.starting.take() {
            let started = h.join().map_err(|_| {
                BackendError::Other(format!("starting {} panicked", self.describe))
            })??;
            self.ready = Some(started);
        }
        self.ready
            .as_mut()
            .ok_or_else(|| BackendError::Other(format!("{} failed to start", self.describe)))
    }
}

impl Backend for Deferred {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn pool(&self) -> BufferPool {
        self.pool.clone()
    }

    fn wait_started(&mut self) -> Result<(), BackendError> {
        self.backend().map(|_| ())
    }

    fn process(&mut self, batch: Batch) -> Result<Partial, BackendError> {
        self.backend()?.process(batch)
    }

    fn run(
        &mut self,
        batches: &mut dyn Iterator<Item = Batch>,
        out: &mut dyn FnMut(Partial) -> bool,
    ) -> Result<(), BackendError> {
        self.backend()?.run(batches, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Origin;
    use crate::plan::Plan;
    use crate::CpuBackend;
    use std::sync::Arc;

    fn nasa_line_batch() -> Batch {
        let line = b"h1\t-\t804571201\tGET\t/a\t200\t5\t\t\n";
        Batch::from_bytes(0, line.to_vec(), Origin::default())
    }

    #[test]
    fn gives_the_started_backends_results() {
        let format = crate::Format::preset("nasa_tsv").expect("the NASA TSV preset");
        let plan = Arc::new(Plan::reference(format));
        let pool = BufferPool::heap(2, 1 << 10);
        let p = plan.clone();
        let pool2 = pool.clone();
        let mut d = Deferred::spawn(
            "test-start",
            pool.clone(),
            "cpu".into(),
            Box::new(move || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                Ok(Box::new(CpuBackend::new(p, 1, pool2)?) as Box<dyn Backend>)
            }),
        )
        .expect("spawn");
        let mut direct = CpuBackend::new(plan, 1, pool).expect("cpu");
        let want = direct.process(nasa_line_batch()).expect("direct");
        let got = d.process(nasa_line_batch()).expect("deferred");
        assert_eq!(got.records, want.records);
        assert_eq!(got.records, 1);
        assert_eq!(d.describe(), "cpu");
    }

    #[test]
    fn a_failed_start_is_the_first_batchs_error() {
        let pool = BufferPool::heap(1, 64);
        let mut d = Deferred::spawn(
            "test-start",
            pool,
            "gpu 9".into(),
            Box::new(|| {
                Err(BackendError::NoDevice(
                    "device 9 requested, 1 present".into(),
                ))
            }),
        )
        .expect("spawn");
        let e = d.process(nasa_line_batch()).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("no CUDA device: device 9 requested, 1 present")
        );
        // Later batches fail too, rather than running on nothing.
        assert!(d.process(nasa_line_batch()).is_err());
    }
}
