//! [`RunStats`]: where a GPU backend's last `run` spent its time (benchmarks print it).

/// Where the last [`Backend::run`](logpulse_core::Backend::run) of a
/// [`GpuBackend`](super::GpuBackend) spent its time, in seconds: the feeding thread's waits
/// and work, and the builders' work summed over threads. For benchmarks (`gpu_bench` prints
/// it), to tell which side bounds the throughput.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunStats {
    /// Batches that went through the device.
    pub batches: u64,
    /// Feeding thread: queuing a batch's copy and kernels.
    pub enqueue_s: f64,
    /// Feeding thread: waiting for the device to finish a slot's batch.
    pub wait_device_s: f64,
    /// Feeding thread: reading results back (only queuing the copies, for pinned memory).
    pub readback_s: f64,
    /// Feeding thread: waiting for a builder or a free readback buffer.
    pub wait_builders_s: f64,
    /// Feeding thread: handing finished partials to the caller's `out` (whatever it does
    /// with them, dropping included, delays the next batch).
    pub deliver_s: f64,
    /// From the input's end to the last partial out: the pipeline's drain (the last
    /// batches' kernels, readbacks and host builds, no longer overlapped with copies).
    pub drain_s: f64,
    /// Builders: turning results into partials, summed over builder threads.
    pub build_s: f64,
    /// Upload engine: from the run's start to the first upload.
    pub first_upload_s: f64,
    /// Upload engine: copying batches in.
    pub upload_busy_s: f64,
    /// Upload engine idle between uploads because the host had not queued the next one.
    pub upload_idle_host_s: f64,
    /// Upload engine idle between uploads with the next one queued behind earlier work of
    /// its slot's stream.
    pub upload_idle_stream_s: f64,
    /// From the last upload's end to the run's end (its kernels, readback, build, delivery).
    pub after_last_upload_s: f64,
    /// The run's wall time.
    pub wall_s: f64,
}

impl std::fmt::Display for RunStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} batches in {:.3}s; feeding thread: enqueue {:.3}s, wait device {:.3}s, \
             readback {:.3}s, wait builders {:.3}s, deliver {:.3}s, drain {:.3}s; \
             builders {:.3}s in all ({:.2} ms a batch); upload engine: first after {:.4}s, \
             busy {:.4}s, idle {:.4}s waiting for the host + {:.4}s behind its stream, \
             {:.4}s after the last",
            self.batches,
            self.wall_s,
            self.enqueue_s,
            self.wait_device_s,
            self.readback_s,
            self.wait_builders_s,
            self.deliver_s,
            self.drain_s,
            self.build_s,
            self.build_s * 1e3 / self.batches.max(1) as f64,
            self.first_upload_s,
            self.upload_busy_s,
            self.upload_idle_host_s,
            self.upload_idle_stream_s,
            self.after_last_upload_s,
        )
    }
}
