//! Sessions per client: runs of activity of one key separated by more than an idle gap.
//!
//! Fed with every closed window's groups, in window order, so it costs nothing on the parse
//! path and gives the same result on every backend. The price is resolution: a client's
//! activity is known per window, so its idle time is the time covered by the whole windows in
//! which it made no request. A client active in windows `a < b` (none between) starts a new
//! session in `b` when `b - (a + window) > gap`: with 60 s windows and a 30-minute gap, 31 or
//! more empty windows between; with 1-hour windows, one empty hour. A client active in
//! consecutive windows never starts a new session, whatever the window length. A session's
//! span runs from its first active window's start to its last active window's end.
//!
//! Memory is bounded by the clients active within the last gap: a client idle for longer can
//! only start a new session, so its session ends as windows close, and ended entries are
//! compacted away once they are the majority. A queue of (window, client) in activity order
//! finds the idle without scanning every client. The count of sessions each client began
//! (for the per-key totals) is kept apart, in `per_key.rs`, one small entry a client.

mod counts;
mod per_key;

use std::collections::VecDeque;

use super::key_shard::shard_of;
use crate::agg::{bytes_eq, group_hash, prefetch, GroupTable, TagIndex, AHEAD};
pub use counts::{SessionTotals, WindowSessions};
use per_key::BegunPerKey;

impl SessionsSnapshot {
    /// The shards' snapshots as one: all open sessions (least recently active first), summed
    /// totals.
    pub(super) fn combine(parts: Vec<SessionsSnapshot>) -> Self {
        let mut out = SessionsSnapshot::default();
        for p in parts {
            out.clients.extend(p.clients);
            out.begun.extend(p.begun);
            out.totals.gap_secs = p.totals.gap_secs;
            out.totals.add(&p.totals);
        }
        SavedClient::sort_by_activity(&mut out.clients);
        out.begun.sort_unstable();
        out
    }
}

/// Keys up to this long (IPv4 and short IPv6 addresses, most host names) are kept in the entry
/// itself, which is then one cache line: a lookup's key comparison reads no second line.
const INLINE_KEY: usize = 24;

/// One client's session, open or (once `last` is [`ENDED`]) ended; an ended entry is reused
/// when its key comes back.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
struct Client {
    /// `group_hash(0, key)`.
    hash: u64,
    /// Where a key longer than [`INLINE_KEY`] starts in the arena.
    key_off: u32,
    key_len: u32,
    /// The key when it is at most [`INLINE_KEY`] long.
    inline: [u8; INLINE_KEY],
    /// Start of the session's first active window.
    first: i64,
    /// Start of its latest active window, or [`ENDED`].
    last: i64,
    requests: u64,
}

/// `Client::last` of an ended session.
const ENDED: i64 = i64::MIN;

/// Fewest ended entries before the entries may be compacted.
const MIN_COMPACT: usize = 1024;

/// An open session as checkpoints store it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct SavedClient {
    key: String,
    first: i64,
    last: i64,
    requests: u64,
}

impl SavedClient {
    /// Least recently active first (ties by key): the order a restored tracker's idle queue
    /// needs, and one that does not depend on how the state was sharded.
    fn sort_by_activity(clients: &mut [SavedClient]) {
        clients.sort_by(|a, b| (a.last, &a.key).cmp(&(b.last, &b.key)));
    }
}

/// The tracker's state for checkpoints.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SessionsSnapshot {
    clients: Vec<SavedClient>,
    pub(super) totals: SessionTotals,
    /// Sessions begun per key, in key order.
    #[serde(default)]
    begun: Vec<(String, u64)>,
}

/// Sessions per key over closed windows. See the module docs.
#[derive(Debug)]
pub struct Sessions {
    gap: i64,
    /// Window length, seconds (a session's span ends with its last window).
    window_secs: i64,
    /// The entries' index. Ended entries stay in it until the entries are compacted; a
    /// window's clients are a run of cache misses without its prefetches.
    index: TagIndex,
    clients: Vec<Client>,
    arena: Vec<u8>,
    /// Entries whose session ended.
    ended: usize,
    /// (window, entry) each time a client was active, oldest first; an entry is stale once its
    /// client's `last` moved on.
    queue: VecDeque<(i64, u32)>,
    totals: SessionTotals,
    begun: BegunPerKey,
}

impl Sessions {
    /// A tracker for tumbling windows of `window_secs`, sessions split by idle gaps of more
    /// than `gap_secs`.
    pub fn new(gap_secs: i64, window_secs: i64) -> Self {
        Sessions {
            gap: gap_secs,
            window_secs,
            index: TagIndex::default(),
            clients: Vec::new(),
            arena: Vec::new(),
            ended: 0,
            queue: VecDeque::new(),
            totals: SessionTotals {
                gap_secs,
                ..SessionTotals::default()
            },
            begun: BegunPerKey::default(),
        }
    }

    /// Counts window `start`'s groups (window starts must increase from call to call), then
    /// ends the sessions idle for more than the gap.
    pub fn close_window(&mut self, start: i64, groups: &GroupTable) -> WindowSessions {
        self.close_window_shard(start, groups, 0, 1)
    }

    /// [`Sessions::close_window`] for the keys of shard `me` of `of` (`shard_of`) only.
    pub(super) fn close_window_shard(
        &mut self,
        start: i64,
        groups: &GroupTable,
        me: usize,
        of: usize,
    ) -> WindowSessions {
        let mine: Vec<(u64, &[u8], u64)> = groups
            .entries()
            .filter(|(_, _, key, _)| of <= 1 || shard_of(key, of) == me)
            .map(|(_, _, key, agg)| (group_hash(0, key), key, agg.requests))
            .collect();
        self.reserve(mine.len());
        let mask = self.index.mask();
        let mut out = WindowSessions::default();
        // Keys that began a session here, counted per key after the loop.
        let mut begun = Vec::new();
        for (j, &(hash, key, requests)) in mine.iter().enumerate() {
            self.index.prefetch_ahead(
                mine.get(j + AHEAD).map(|g| g.0),
                mine.get(j + AHEAD / 2).map(|g| g.0),
                mask,
                &self.clients,
            );
            let i = self.find_or_insert(hash, key, mask);
            let started = out.started;
            let c = &mut self.clients[i];
            if c.last == ENDED {
                self.ended -= 1;
                *c = Client {
                    first: start,
                    last: start,
                    requests: 0,
                    ..*c
                };
                out.started += 1;
            } else if start - (c.last + self.window_secs) > self.gap {
                // Idle past the gap but not yet ended (that happens below, after this window's
                // clients): end the old session here, start a new one.
                let old = c.clone();
                c.first = start;
                c.requests = 0;
                Self::count_end(&mut out, &mut self.totals, &old, self.window_secs);
                out.started += 1;
            }
            if out.started > started {
                begun.push((hash, key));
            }
            let c = &mut self.clients[i];
            c.last = start;
            c.requests += requests;
            self.queue.push_back((start, i as u32));
        }
        self.totals.started += out.started;
        self.begun.add_each(&begun);
        while let Some(&(w, i)) = self.queue.front() {
            // Any later window `b >= start + window` finds it idle for `b - (w + window) >=
            // start - w`: past the gap, its session has ended.
            if start - w <= self.gap {
                break;
            }
            // Entries are in activity order, their clients anywhere: fetch ahead here too.
            if let Some(&(_, a)) = self.queue.get(AHEAD) {
                prefetch(&self.clients[a as usize]);
            }
            self.queue.pop_front();
            if self.clients[i as usize].last == w {
                self.end(i as usize, &mut out);
            }
        }
        out.active = (self.clients.len() - self.ended) as u64;
        if self.ended > MIN_COMPACT && self.ended > self.clients.len() / 2 {
            self.compact();
        }
        out
    }

    /// Ends every open session (end of input); their counts go to the totals.
    pub fn finish(&mut self) {
        let mut out = WindowSessions::default();
        for i in 0..self.clients.len() {
            self.end(i, &mut out);
        }
        self.queue.clear();
    }

    /// Whole-run counts so far.
    pub fn totals(&self) -> SessionTotals {
        self.totals
    }

    /// The state, for a checkpoint: open sessions, least recently active first.
    pub fn snapshot(&self) -> SessionsSnapshot {
        let mut clients: Vec<SavedClient> = self
            .clients
            .iter()
            .filter(|c| c.last != ENDED)
            .map(|c| SavedClient {
                // Keys enter the group tables only as UTF-8.
                key: String::from_utf8_lossy(self.key(c)).into_owned(),
                first: c.first,
                last: c.last,
                requests: c.requests,
            })
            .collect();
        SavedClient::sort_by_activity(&mut clients);
        SessionsSnapshot {
            clients,
            totals: self.totals,
            begun: self.begun.saved(),
        }
    }

    /// A tracker in the state of `s` restricted to shard `me` of `of`: its open sessions of
    /// that shard's keys, and (shard 0 only) the totals, so the shards' sums are the whole's.
    pub(super) fn restore_shard(
        gap_secs: i64,
        window_secs: i64,
        s: &SessionsSnapshot,
        me: usize,
        of: usize,
    ) -> Self {
        let part = SessionsSnapshot {
            clients: s
                .clients
                .iter()
                .filter(|c| of <= 1 || shard_of(c.key.as_bytes(), of) == me)
                .cloned()
                .collect(),
            totals: if me == 0 {
                s.totals
            } else {
                SessionTotals::default()
            },
            begun: s
                .begun
                .iter()
                .filter(|(k, _)| of <= 1 || shard_of(k.as_bytes(), of) == me)
                .cloned()
                .collect(),
        };
        Self::restore(gap_secs, window_secs, part)
    }

    /// A tracker in the state of `s` (its gap and window length as given).
    pub fn restore(gap_secs: i64, window_secs: i64, s: SessionsSnapshot) -> Self {
        let mut t = Self::new(gap_secs, window_secs);
        t.totals = SessionTotals {
            gap_secs,
            ..s.totals
        };
        t.reserve(s.clients.len());
        let mask = t.index.mask();
        for c in s.clients {
            let key = c.key.as_bytes();
            let i = t.find_or_insert(group_hash(0, key), key, mask);
            t.clients[i] = Client {
                first: c.first,
                last: c.last,
                requests: c.requests,
                ..t.clients[i]
            };
            t.ended -= 1;
            t.queue.push_back((c.last, i as u32));
        }
        t.begun = BegunPerKey::restore(&s.begun);
        t
    }

    /// Sessions begun by each key of `keys` (its order), so far.
    pub fn begun_for(&self, keys: &GroupTable) -> Vec<u64> {
        let mut out = vec![0; keys.len()];
        for (i, n) in self.begun_for_shard(keys, 0, 1) {
            out[i as usize] = n;
        }
        out
    }

    /// (index in `keys`, sessions begun) for the keys of shard `me` of `of`.
    pub(super) fn begun_for_shard(
        &self,
        keys: &GroupTable,
        me: usize,
        of: usize,
    ) -> Vec<(u32, u64)> {
        keys.entries()
            .enumerate()
            .filter(|(_, (_, _, key, _))| of <= 1 || shard_of(key, of) == me)
            .map(|(i, (_, _, key, _))| (i as u32, self.begun.get(group_hash(0, key), key)))
            .collect()
    }

    fn key<'a>(&'a self, c: &'a Client) -> &'a [u8] {
        Self::key_in(&self.arena, c)
    }

    fn key_in<'a>(arena: &'a [u8], c: &'a Client) -> &'a [u8] {
        let len = c.key_len as usize;
        if len <= INLINE_KEY {
            &c.inline[..len]
        } else {
            &arena[c.key_off as usize..c.key_off as usize + len]
        }
    }

    /// An entry for `key` with no session, its key inline or appended to `arena`.
    fn new_client(arena: &mut Vec<u8>, hash: u64, key: &[u8]) -> Client {
        let mut inline = [0u8; INLINE_KEY];
        let key_off = if key.len() <= INLINE_KEY {
            inline[..key.len()].copy_from_slice(key);
            0
        } else {
            let off = arena.len() as u32;
            arena.extend_from_slice(key);
            off
        };
        Client {
            hash,
            key_off,
            key_len: key.len() as u32,
            inline,
            first: ENDED,
            last: ENDED,
            requests: 0,
        }
    }

    /// The entry of `key`, appended (as an ended session) when new. The index has room.
    #[inline]
    fn find_or_insert(&mut self, hash: u64, key: &[u8], mask: usize) -> usize {
        let (clients, arena) = (&self.clients, &self.arena);
        let (i, new) = self.index.find_or_insert(hash, mask, clients.len(), |i| {
            let c = &clients[i];
            c.hash == hash && bytes_eq(Self::key_in(arena, c), key)
        });
        if new {
            let c = Self::new_client(&mut self.arena, hash, key);
            self.clients.push(c);
            self.ended += 1;
        }
        i
    }

    /// Makes room for `more` entries with the index at most half full.
    fn reserve(&mut self, more: usize) {
        let hashes = self.clients.iter().map(|c| c.hash);
        self.index.reserve(self.clients.len(), more, hashes);
    }

    /// Drops the ended entries (and their keys), renumbering the rest and the queue.
    fn compact(&mut self) {
        let mut renumber = vec![u32::MAX; self.clients.len()];
        let mut clients = Vec::with_capacity(self.clients.len() - self.ended);
        let mut arena = Vec::new();
        for (i, c) in self.clients.iter().enumerate() {
            if c.last == ENDED {
                continue;
            }
            renumber[i] = clients.len() as u32;
            clients.push(Client {
                first: c.first,
                last: c.last,
                requests: c.requests,
                ..Self::new_client(&mut arena, c.hash, self.key(c))
            });
        }
        self.clients = clients;
        self.arena = arena;
        self.ended = 0;
        self.queue.retain_mut(|(_, i)| {
            *i = renumber[*i as usize];
            *i != u32::MAX
        });
        let hashes = self.clients.iter().map(|c| c.hash);
        self.index.rebuild(self.clients.len(), hashes);
    }

    /// Ends the session of entry `i`, if open.
    fn end(&mut self, i: usize, out: &mut WindowSessions) {
        let c = &mut self.clients[i];
        if c.last == ENDED {
            return;
        }
        let old = c.clone();
        c.last = ENDED;
        self.ended += 1;
        Self::count_end(out, &mut self.totals, &old, self.window_secs);
    }

    fn count_end(out: &mut WindowSessions, t: &mut SessionTotals, c: &Client, window_secs: i64) {
        let span = (c.last + window_secs - c.first).max(0) as u64;
        out.ended += 1;
        out.ended_requests += c.requests;
        out.ended_span_secs += span;
        t.ended += 1;
        t.requests += c.requests;
        t.span_secs += span;
        t.longest_span_secs = t.longest_span_secs.max(span);
        t.most_requests = t.most_requests.max(c.requests);
    }
}

#[cfg(test)]
mod tests;
