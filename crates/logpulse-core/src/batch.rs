//! Batches: one contiguous buffer of whole lines, and the pool its memory comes from.
//!
//! The hot path never builds one object per line: a [`Batch`] is the unit every stage works on.
//! Its memory comes from a [`BufferPool`] owned by the backend, so the GPU backend can hand out
//! page-locked (pinned) buffers that copy to the device with no staging copy, and the number of
//! buffers in flight (hence memory) is bounded.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, Sender};

/// Memory a batch's bytes live in. Heap memory on the CPU, pinned host memory for the GPU, or
/// a read-only view of a mapped file ([`MappedView`]).
pub trait BatchStorage: Send + 'static {
    /// The whole capacity, readable.
    fn full(&self) -> &[u8];
    /// The whole capacity, writable; `None` for read-only views.
    fn full_mut(&mut self) -> Option<&mut [u8]>;
}

impl BatchStorage for Vec<u8> {
    fn full(&self) -> &[u8] {
        self
    }
    fn full_mut(&mut self) -> Option<&mut [u8]> {
        Some(self)
    }
}

/// Bytes many batches view read-only at once: a file mapped into memory.
pub trait MappedBytes: Send + Sync {
    /// All of them.
    fn bytes(&self) -> &[u8];
    /// No batch views `range` any more: a mapping may drop those pages from the process (they
    /// stay in the page cache), so memory stays bounded however large the file.
    fn release(&self, _range: Range<usize>) {}
}

impl MappedBytes for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// [`MappedBytes`] shared by the batches that view them.
pub type SharedBytes = Arc<dyn MappedBytes>;

/// Makes the pages of a mapped file ready for a backend's transfers while batches view them.
/// The GPU backend registers them with the CUDA driver, so that a batch's host-to-device copy
/// is a DMA read of the page cache itself instead of a copy into pinned buffers first.
pub trait MapPinner: Send + Sync {
    /// A guard that keeps `whole[range]` ready until dropped (`whole` outlives the guard).
    fn pin(&self, whole: &[u8], range: Range<usize>) -> Box<dyn Send + Sync>;
    /// The framer is done with `whole`: drop what `pin` kept for batches still to come (the
    /// guards of existing batches stay valid).
    fn done_with(&self, _whole: &[u8]) {}
}

/// A batch's bytes as a read-only view into [`SharedBytes`], with the backend's pin guard.
pub struct MappedView {
    // Dropped first (see `Drop`), so pages are unpinned before they can be unmapped.
    guard: Option<Box<dyn Send + Sync>>,
    bytes: SharedBytes,
    range: Range<usize>,
}

impl MappedView {
    /// Views `bytes[range]`, pinned by `pinner` if the backend has one.
    pub fn new(bytes: SharedBytes, range: Range<usize>, pinner: Option<&dyn MapPinner>) -> Self {
        let guard = pinner.map(|p| p.pin(bytes.bytes(), range.clone()));
        MappedView {
            guard,
            bytes,
            range,
        }
    }
}

impl Drop for MappedView {
    fn drop(&mut self) {
        // Unpinned first, then given back.
        self.guard.take();
        self.bytes.release(self.range.clone());
    }
}

impl BatchStorage for MappedView {
    fn full(&self) -> &[u8] {
        &self.bytes.bytes()[self.range.clone()]
    }
    fn full_mut(&mut self) -> Option<&mut [u8]> {
        None
    }
}

/// Makes a new storage of the given capacity (heap or pinned).
pub type StorageFactory = Arc<dyn Fn(usize) -> Box<dyn BatchStorage> + Send + Sync>;

struct PoolInner {
    capacity: usize,
    count: usize,
    factory: StorageFactory,
    free_tx: Sender<Box<dyn BatchStorage>>,
    free_rx: Receiver<Box<dyn BatchStorage>>,
    /// One token per buffer that may still be created; bounds the pool's size.
    create_tokens: Receiver<()>,
    /// Nanoseconds `acquire` spent waiting for a buffer to come back, and making new ones.
    waited_ns: AtomicU64,
    created_ns: AtomicU64,
}

/// A bounded pool of equally sized buffers. `acquire` blocks while every buffer is in use,
/// which is how a slow backend slows the source down (back-pressure) and memory stays bounded.
#[derive(Clone)]
pub struct BufferPool {
    inner: Arc<PoolInner>,
    /// How batches viewing a mapped file are made ready for the backend (see [`MapPinner`]).
    pinner: Option<Arc<dyn MapPinner>>,
    /// True when a GPU (or another device) parses the batches: the host's cores are then free
    /// for the source (see [`BufferPool::feeds_device`]).
    feeds_device: bool,
}

impl BufferPool {
    /// A pool of at most `count` buffers of `capacity` bytes, made lazily by `factory`.
    pub fn new(count: usize, capacity: usize, factory: StorageFactory) -> Self {
        let count = count.max(1);
        let (free_tx, free_rx) = bounded(count);
        let (tok_tx, create_tokens) = bounded(count);
        for _ in 0..count {
            let _ = tok_tx.send(());
        }
        BufferPool {
            inner: Arc::new(PoolInner {
                capacity,
                count,
                factory,
                free_tx,
                free_rx,
                create_tokens,
                waited_ns: AtomicU64::new(0),
                created_ns: AtomicU64::new(0),
            }),
            pinner: None,
            feeds_device: false,
        }
    }

    /// The same pool, with `pinner` preparing mapped batches for the backend.
    pub fn with_pinner(mut self, pinner: Arc<dyn MapPinner>) -> Self {
        self.pinner = Some(pinner);
        self
    }

    /// What prepares mapped batches for the backend, if it needs that.
    pub fn pinner(&self) -> Option<&dyn MapPinner> {
        self.pinner.as_deref()
    }

    /// The same pool, marked as feeding a device that parses the batches (a GPU's pinned pool).
    pub fn for_device(mut self) -> Self {
        self.feeds_device = true;
        self
    }

    /// True when the batches are parsed by a device, not by the host's cores: sources may then
    /// read with more threads (`framer::frame_threads_for_device`).
    pub fn feeds_device(&self) -> bool {
        self.feeds_device
    }

    /// A pool of heap buffers.
    pub fn heap(count: usize, capacity: usize) -> Self {
        Self::new(count, capacity, Arc::new(|cap| Box::new(vec![0u8; cap])))
    }

    /// Most buffers the pool holds.
    pub fn count(&self) -> usize {
        self.inner.count
    }

    /// Capacity of each buffer in bytes.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// Makes every buffer the pool may hold now, so that a stream does not pay for them as it
    /// starts (page-locked buffers take milliseconds each to allocate).
    pub fn prefill(&self) {
        let made: Vec<BatchBuf> = std::iter::from_fn(|| {
            self.inner.create_tokens.try_recv().ok()?;
            let storage = (self.inner.factory)(self.inner.capacity);
            Some(self.wrap(storage))
        })
        .collect();
        drop(made);
    }

    /// Like [`BufferPool::prefill`], but on a thread of its own, each buffer joining the free
    /// ones as soon as it is made: the stream starts on the first buffers instead of waiting
    /// for all of them (page-locked memory is pinned and zeroed at ~2-3 GB/s, so a GPU pool of
    /// ~1 GB took longer to make than most files take to process). `acquire` meanwhile takes
    /// what is free, or makes a buffer itself while the pool is not full.
    pub fn fill_in_background(&self) {
        let pool = self.clone();
        let spawned = std::thread::Builder::new()
            .name("logpulse-pool".into())
            .spawn(move || {
                while pool.inner.create_tokens.try_recv().is_ok() {
                    let storage = (pool.inner.factory)(pool.inner.capacity);
                    // The pool keeps its own receiver, so this only fails if the pool is gone.
                    if pool.inner.free_tx.send(storage).is_err() {
                        return;
                    }
                }
            });
        // No thread: buffers are then made as `acquire` needs them, as without this call.
        drop(spawned);
    }

    /// Seconds `acquire` has spent waiting for buffers to come back (the stages after the
    /// framer are behind) and making new buffers (not counting [`BufferPool::prefill`]).
    pub fn wait_secs(&self) -> (f64, f64) {
        let secs = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64 / 1e9;
        (secs(&self.inner.waited_ns), secs(&self.inner.created_ns))
    }

    fn wrap(&self, storage: Box<dyn BatchStorage>) -> BatchBuf {
        BatchBuf {
            storage: Some(storage),
            len: 0,
            pool: Some(self.inner.clone()),
        }
    }

    /// Takes a free buffer, making one if the pool is not full yet, else waiting for one.
    pub fn acquire(&self) -> BatchBuf {
        let storage = match self.inner.free_rx.try_recv() {
            Ok(s) => s,
            Err(_) => match self.inner.create_tokens.try_recv() {
                Ok(()) => {
                    let t = Instant::now();
                    let s = (self.inner.factory)(self.inner.capacity);
                    add_ns(&self.inner.created_ns, t);
                    s
                }
                Err(_) => {
                    let t = Instant::now();
                    let s = self
                        .inner
                        .free_rx
                        .recv()
                        .expect("pool holds its own sender, so the channel never closes");
                    add_ns(&self.inner.waited_ns, t);
                    s
                }
            },
        };
        self.wrap(storage)
    }
}

fn add_ns(c: &AtomicU64, since: Instant) {
    c.fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
}

/// A buffer with a length; returns its storage to its pool when dropped.
pub struct BatchBuf {
    storage: Option<Box<dyn BatchStorage>>,
    len: usize,
    pool: Option<Arc<PoolInner>>,
}

impl BatchBuf {
    /// A stand-alone buffer holding `bytes` (tests, one-off batches); not pooled.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        let len = bytes.len();
        BatchBuf {
            storage: Some(Box::new(bytes)),
            len,
            pool: None,
        }
    }

    fn storage(&self) -> &dyn BatchStorage {
        self.storage.as_deref().expect("storage present until drop")
    }

    fn storage_mut(&mut self) -> &mut dyn BatchStorage {
        self.storage
            .as_deref_mut()
            .expect("storage present until drop")
    }

    /// The valid bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.storage().full()[..self.len]
    }

    /// Total capacity.
    pub fn capacity(&self) -> usize {
        self.storage().full().len()
    }

    /// Number of valid bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no byte is valid.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A stand-alone buffer over read-only storage, all of it valid; not pooled.
    pub fn view(storage: MappedView) -> Self {
        let len = storage.full().len();
        BatchBuf {
            storage: Some(Box::new(storage)),
            len,
            pool: None,
        }
    }

    /// The unused tail, to be filled and then [`BatchBuf::advance`]d over (empty for a
    /// read-only view).
    pub fn spare_mut(&mut self) -> &mut [u8] {
        let len = self.len;
        match self.storage_mut().full_mut() {
            Some(full) => &mut full[len..],
            None => &mut [],
        }
    }

    /// Marks `n` more bytes of the spare tail as valid.
    pub fn advance(&mut self, n: usize) {
        assert!(self.len + n <= self.capacity(), "advance past capacity");
        self.len += n;
    }

    /// Sets the valid length (shrinking, or growing over bytes already written).
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.capacity(), "set_len past capacity");
        self.len = len;
    }

    /// Appends bytes; panics if they do not fit (callers check `spare_mut().len()`).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.spare_mut()[..bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Raw access to the storage, for backends that know its concrete type (pinned memory).
    pub fn storage_any(&self) -> &dyn BatchStorage {
        self.storage()
    }
}

impl Drop for BatchBuf {
    fn drop(&mut self) {
        if let (Some(storage), Some(pool)) = (self.storage.take(), self.pool.take()) {
            // A full channel cannot happen (one slot per buffer); a closed one means the pool is gone.
            let _ = pool.free_tx.try_send(storage);
        }
    }
}

/// Where a batch came from: enough to locate any of its lines in its source and to resume.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// Source name (file path, "-" for stdin, "kafka:topic/partition").
    pub source: Arc<str>,
    /// 1-based line number of the batch's first line within the source.
    pub first_line: u64,
    /// Byte offset of the batch's first byte within the source.
    pub offset: u64,
}

/// One unit of work: whole lines, each ending in `\n`.
pub struct Batch {
    /// Sequence number in the run, from 0; used by the per-batch window mode.
    pub seq: u64,
    /// The bytes: zero or more lines, each terminated by `\n`.
    pub buf: BatchBuf,
    /// Number of lines in `buf`.
    pub lines: u64,
    /// Where the bytes came from.
    pub origin: Origin,
    /// Lines the framer cut out before this batch (too long to buffer), already rejected.
    pub skipped: Vec<crate::reject::Reject>,
}

impl Batch {
    /// A batch over `bytes` (a final newline is added if missing); counts its lines.
    pub fn from_bytes(seq: u64, mut bytes: Vec<u8>, origin: Origin) -> Self {
        if bytes.last().is_some_and(|&b| b != b'\n') {
            bytes.push(b'\n');
        }
        let lines = memchr::memchr_iter(b'\n', &bytes).count() as u64;
        Batch {
            seq,
            buf: BatchBuf::from_vec(bytes),
            lines,
            origin,
            skipped: Vec::new(),
        }
    }

    /// The batch's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.buf.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_reuses_and_bounds_buffers() {
        let pool = BufferPool::heap(2, 16);
        let mut a = pool.acquire();
        a.extend_from_slice(b"abc");
        assert_eq!(a.bytes(), b"abc");
        let b = pool.acquire();
        drop(a);
        // Third acquire reuses the dropped one rather than making a third.
        let c = pool.acquire();
        assert_eq!(c.len(), 0);
        assert_eq!(c.capacity(), 16);
        drop(b);
        drop(c);
    }

    #[test]
    fn background_fill_makes_each_buffer_once() {
        let made = Arc::new(AtomicU64::new(0));
        let counter = made.clone();
        let pool = BufferPool::new(
            5,
            8,
            Arc::new(move |cap| {
                counter.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(2));
                Box::new(vec![0u8; cap])
            }),
        );
        pool.fill_in_background();
        // Taking every buffer at once works whoever made it (the filler or `acquire`), and
        // the pool never holds more than its count.
        let held: Vec<BatchBuf> = (0..5).map(|_| pool.acquire()).collect();
        assert!(held.iter().all(|b| b.capacity() == 8));
        drop(held);
        let again: Vec<BatchBuf> = (0..5).map(|_| pool.acquire()).collect();
        assert_eq!(made.load(Ordering::Relaxed), 5);
        drop(again);
    }

    #[test]
    fn from_bytes_adds_missing_newline() {
        let b = Batch::from_bytes(0, b"a\nb".to_vec(), Origin::default());
        assert_eq!(b.bytes(), b"a\nb\n");
        assert_eq!(b.lines, 2);
    }
}
