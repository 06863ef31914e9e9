//! logpulse-io: where bytes come from and where results go.
//!
//! - [`source`]: files (plain or gzip, one pass), stdin, and followed files (`tail -F`, rotation
//!   by rename and by truncation). Each implements [`logpulse_core::pipeline::Source`].
//! - [`sink`]: human summary on stdout, JSON Lines of windows, the notebook's three files, the
//!   rejects file and the whole-run summary. Each implements [`logpulse_core::pipeline::Sink`].
//! - [`kafka`]: a consumer-group source, results and dead-letter topics, offsets committed after
//!   results are durable, and the partials topic through which several processes merge.

pub mod kafka;
pub mod memory;
pub mod sink;
pub mod source;
