//! Where the upload engine's time goes in a pipelined run: busy, or idle and why.
//!
//! End to end from pinned memory is bound by the host-to-device copies (~55 GB/s on PCIe 5),
//! so every moment the engine sits idle between two uploads is lost throughput. Each batch
//! gives three instants on the device's clock: when its stream reached the upload, when the
//! upload ended, and when the host queued it. An idle stretch between two uploads is the
//! host's (the next upload was not queued yet) or the stream's (queued, but behind earlier
//! work of its slot).

use std::time::Instant;

use cudarc::driver::CudaEvent;

use crate::error::{DriverContext, GpuError};
use crate::slot::Slot;

/// One batch's upload, in milliseconds since the run's base event.
#[derive(Debug, Clone, Copy)]
struct Upload {
    queued: f64,
    reached: f64,
    ended: f64,
}

/// Collects the uploads of one run.
pub(crate) struct Timeline {
    base: CudaEvent,
    base_host: Instant,
    uploads: Vec<Upload>,
}

/// What a run's uploads add up to, in seconds (see [`crate::RunStats`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct UploadSplit {
    pub first: f64,
    pub busy: f64,
    pub idle_host: f64,
    pub idle_stream: f64,
    pub after_last: f64,
}

impl Timeline {
    /// Starts the clock: a base event on `slot`'s stream, waited for, and the host's instant.
    pub fn start(slot: &Slot) -> Result<Self, GpuError> {
        let ctx = slot.stream().context();
        let base = crate::device::timing_event(ctx)?;
        base.record(slot.stream()).ctx("recording an event")?;
        base.synchronize().ctx("waiting for an event")?;
        Ok(Timeline {
            base,
            base_host: Instant::now(),
            uploads: Vec::new(),
        })
    }

    /// Milliseconds since the start, on the host's clock.
    pub fn host_ms(&self) -> f64 {
        self.base_host.elapsed().as_secs_f64() * 1e3
    }

    /// Notes the upload of the batch `slot` just finished (queued by the host at `queued`).
    pub fn note(&mut self, slot: &Slot, queued: f64) -> Result<(), GpuError> {
        let [reached, ended] = slot.upload_ms(&self.base)?;
        self.uploads.push(Upload {
            queued,
            reached: f64::from(reached),
            ended: f64::from(ended),
        });
        Ok(())
    }

    /// The split of the run's time, the run having ended now.
    pub fn split(&self) -> UploadSplit {
        split_uploads(&self.uploads, self.host_ms())
    }
}

/// What `uploads` (in order, milliseconds since the base) add up to for a run that ended at
/// `end` ms, in seconds.
fn split_uploads(uploads: &[Upload], end: f64) -> UploadSplit {
    let mut s = UploadSplit::default();
    let Some(first) = uploads.first() else {
        return s;
    };
    s.first = first.reached.max(first.queued);
    let mut free_at = s.first;
    for u in uploads {
        // The engine starts this upload when the stream reached it and the last upload is
        // done; until then it idled, for the host's sake or the stream's.
        let start = u.reached.max(free_at);
        let idle = (u.reached - free_at).max(0.0);
        let host = (u.queued - free_at).clamp(0.0, idle);
        s.idle_host += host;
        s.idle_stream += idle - host;
        s.busy += (u.ended - start).max(0.0);
        free_at = u.ended.max(free_at);
    }
    s.after_last = (end - free_at).max(0.0);
    for v in [
        &mut s.first,
        &mut s.busy,
        &mut s.idle_host,
        &mut s.idle_stream,
        &mut s.after_last,
    ] {
        *v /= 1e3;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(queued: f64, reached: f64, ended: f64) -> Upload {
        Upload {
            queued,
            reached,
            ended,
        }
    }

    fn ms(s: f64) -> f64 {
        (s * 1e3 * 1e6).round() / 1e6
    }

    #[test]
    fn back_to_back_uploads_leave_no_idle_time() {
        // The second upload's stream reached it while the first was still copying.
        let s = split_uploads(&[up(0.0, 0.1, 1.0), up(0.2, 0.5, 2.0)], 2.5);
        assert_eq!(ms(s.first), 0.1);
        assert_eq!(ms(s.busy), 1.9);
        assert_eq!((ms(s.idle_host), ms(s.idle_stream)), (0.0, 0.0));
        assert_eq!(ms(s.after_last), 0.5);
    }

    #[test]
    fn idle_time_is_the_hosts_until_it_queued_then_the_streams() {
        // Free at 1.0; the host queued the next upload at 1.3, its stream reached it at 1.8.
        let s = split_uploads(&[up(0.0, 0.0, 1.0), up(1.3, 1.8, 2.8)], 3.0);
        assert_eq!(ms(s.busy), 2.0);
        assert_eq!(ms(s.idle_host), 0.3);
        assert_eq!(ms(s.idle_stream), 0.5);
        assert_eq!(ms(s.after_last), 0.2);
        // Queued in time, reached late: all the stream's.
        let s = split_uploads(&[up(0.0, 0.0, 1.0), up(0.5, 1.4, 2.4)], 2.4);
        assert_eq!((ms(s.idle_host), ms(s.idle_stream)), (0.0, 0.4));
    }

    #[test]
    fn no_uploads_split_to_zero() {
        let s = split_uploads(&[], 5.0);
        assert_eq!(s.busy + s.after_last + s.first, 0.0);
    }
}
