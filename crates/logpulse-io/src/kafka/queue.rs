//! Messages a burst at a time: every assigned partition forwards its fetched messages to one
//! application queue, which the source empties with `rd_kafka_consume_batch_queue`.
//!
//! Why not `BaseConsumer::poll`: it hands out one message per call, and each call reads the
//! clock, waits on the queue's condition variable, takes the partition's lock to move its
//! position and allocates an event wrapper. With one log line per message that was most of the
//! source thread's time: a bare poll loop used 0.43-0.46 s of CPU per million one-line
//! messages where the same loop on a forwarded queue read a burst at a time used 0.18 s, at the
//! same rate (the 2-core dev VM, `kafka_bench ... single,batch`, BENCHMARKS.md). rdkafka 0.39
//! wraps neither the partition queues' forwarding nor the batch call for `BaseConsumer`, hence
//! the few FFI calls here. Rebalances, commits and errors stay on the consumer's own queue and
//! are still served by `poll` (the source calls it between bursts).

use std::ffi::CString;
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::types::RDKafkaErrorCode;

/// An application queue of a consumer (owned; destroyed on drop, which must come before the
/// consumer's own destruction: the job's shared state declares it first).
pub struct MessageQueue {
    ptr: *mut rd::rd_kafka_queue_t,
}

// SAFETY: librdkafka queues are thread-safe (every operation takes the queue's lock).
unsafe impl Send for MessageQueue {}
// SAFETY: as above.
unsafe impl Sync for MessageQueue {}

impl MessageQueue {
    /// A new, empty queue of `consumer`'s client.
    pub fn new<C: ConsumerContext>(consumer: &BaseConsumer<C>) -> Option<Self> {
        // SAFETY: the client handle is valid while `consumer` lives; the queue is destroyed
        // before it (see the type's docs).
        let ptr = unsafe { rd::rd_kafka_queue_new(consumer.client().native_ptr()) };
        (!ptr.is_null()).then_some(MessageQueue { ptr })
    }

    /// Sends `topic`/`partition`'s fetched messages here from now on (also after later
    /// reassignments: librdkafka keeps a forwarding the application set). Call before the
    /// partition is assigned, so that none of its messages reach the consumer's queue.
    pub fn forward<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        topic: &str,
        partition: i32,
    ) -> bool {
        let Ok(topic) = CString::new(topic) else {
            return false;
        };
        // SAFETY: valid client and queue; the partition queue handle is released at once
        // (the forwarding stays with the partition).
        unsafe {
            let pq = rd::rd_kafka_queue_get_partition(
                consumer.client().native_ptr(),
                topic.as_ptr(),
                partition,
            );
            if pq.is_null() {
                return false;
            }
            rd::rd_kafka_queue_forward(pq, self.ptr);
            rd::rd_kafka_queue_destroy(pq);
        }
        true
    }

    /// Takes up to `max` messages into `out` (emptied first): waits up to `wait` for the first,
    /// then takes what is queued without waiting. Returns how many were taken.
    pub fn take(&self, wait: Duration, max: usize, out: &mut Messages) -> usize {
        out.clear();
        if max == 0 {
            return 0;
        }
        out.ptrs.resize(max, std::ptr::null_mut());
        let wait_ms = wait.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `out.ptrs` has room for the counts asked; every message returned is owned
        // by `out` until destroyed there.
        let n = unsafe {
            let first =
                rd::rd_kafka_consume_batch_queue(self.ptr, wait_ms, out.ptrs.as_mut_ptr(), 1);
            if first == 1 && max > 1 {
                let rest = rd::rd_kafka_consume_batch_queue(
                    self.ptr,
                    0,
                    out.ptrs.as_mut_ptr().add(1),
                    max - 1,
                );
                1 + rest.max(0) as usize
            } else {
                first.max(0) as usize
            }
        };
        out.ptrs.truncate(n);
        n
    }
}

impl Drop for MessageQueue {
    fn drop(&mut self) {
        // SAFETY: owned handle, destroyed once.
        unsafe { rd::rd_kafka_queue_destroy(self.ptr) };
    }
}

/// Messages taken from a [`MessageQueue`], destroyed when cleared or dropped.
#[derive(Default)]
pub struct Messages {
    ptrs: Vec<*mut rd::rd_kafka_message_t>,
}

/// One message: (partition, offset, payload), or the error librdkafka put in its place.
pub type MessageView<'a> = Result<(i32, i64, &'a [u8]), RDKafkaErrorCode>;

impl Messages {
    /// The messages, oldest first per partition.
    pub fn iter(&self) -> impl Iterator<Item = MessageView<'_>> + '_ {
        self.ptrs.iter().map(|&m| {
            // SAFETY: `m` is a live message owned by `self` (destroyed only in `clear`).
            let m = unsafe { &*m };
            if m.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                return Err(RDKafkaErrorCode::from(m.err));
            }
            let payload = if m.payload.is_null() || m.len == 0 {
                &[][..]
            } else {
                // SAFETY: librdkafka's payload of `len` bytes, alive with the message.
                unsafe { std::slice::from_raw_parts(m.payload as *const u8, m.len) }
            };
            Ok((m.partition, m.offset, payload))
        })
    }

    /// Destroys the messages held.
    pub fn clear(&mut self) {
        for m in self.ptrs.drain(..) {
            if !m.is_null() {
                // SAFETY: each message is destroyed once, here.
                unsafe { rd::rd_kafka_message_destroy(m) };
            }
        }
    }
}

impl Drop for Messages {
    fn drop(&mut self) {
        self.clear();
    }
}

// SAFETY: messages are plain heap objects of librdkafka, destroyable from any thread.
unsafe impl Send for Messages {}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::config::ClientConfig;
    use std::time::Instant;

    /// A queue of a client that never connects: empty takes return at once or after their
    /// wait, and dropping the queue, then the consumer, is clean. (Messages through the queue
    /// are tested against a real broker in `logpulse-cli/tests/kafka*.rs`.)
    #[test]
    fn an_empty_queue_waits_then_returns_nothing() {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:1")
            .set("group.id", "queue-test")
            .create()
            .expect("consumer");
        let queue = MessageQueue::new(&consumer).expect("queue");
        assert!(queue.forward(&consumer, "t", 0));
        let mut out = Messages::default();
        assert_eq!(queue.take(Duration::ZERO, 16, &mut out), 0);
        assert_eq!(queue.take(Duration::from_millis(5), 0, &mut out), 0);
        let t = Instant::now();
        assert_eq!(queue.take(Duration::from_millis(30), 16, &mut out), 0);
        assert!(
            t.elapsed() >= Duration::from_millis(25),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(out.iter().count(), 0);
        drop(queue);
        drop(consumer);
    }
}
