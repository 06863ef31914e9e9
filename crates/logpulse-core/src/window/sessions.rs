//! Sessions per client: runs of activity of one key separated by more than an idle gap.
//!
//! Fed with every closed window's groups, in window order, so it costs nothing on the parse
//! path and gives the same result on every backend. The price is resolution: a client's
//! activity is known per window, so the gap is measured between the starts of the windows in
//! which it was active. A client active in windows `a < b` (none between) starts a new session
//! in `b` when `b - a > gap`; with 60 s windows and a 30-minute gap, that is 30 or more empty
//! windows in between. A session's span runs from its first active window's start to its last
//! active window's end.
//!
//! Memory is bounded by the clients active within the last gap: a client idle for longer can
//! only start a new session, so its state is dropped (its session ends) as windows close. A
//! queue of (window, client) in activity order finds them without scanning every client.

use std::collections::VecDeque;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::agg::GroupTable;

/// Session counts of one closed window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WindowSessions {
    /// Sessions that began in this window.
    pub started: u64,
    /// Sessions that ended (their client idle for more than the gap) as this window closed.
    pub ended: u64,
    /// Sessions open after this window (clients active within the gap).
    pub active: u64,
    /// Requests of the sessions that ended.
    pub ended_requests: u64,
    /// Summed spans of the sessions that ended, seconds.
    pub ended_span_secs: u64,
}

/// Whole-run session counts (the summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionTotals {
    /// The idle gap that separates sessions, seconds.
    pub gap_secs: i64,
    /// Sessions begun.
    pub started: u64,
    /// Sessions ended, including those still open when the input ended.
    pub ended: u64,
    /// Requests of the ended sessions.
    pub requests: u64,
    /// Summed spans of the ended sessions, seconds.
    pub span_secs: u64,
    /// The longest span of an ended session, seconds.
    pub longest_span_secs: u64,
    /// Most requests in one ended session.
    pub most_requests: u64,
}

/// One client's open session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Client {
    key: Box<str>,
    /// Start of the session's first active window.
    first: i64,
    /// Start of its latest active window.
    last: i64,
    requests: u64,
}

/// The tracker's state for checkpoints.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SessionsSnapshot {
    clients: Vec<Client>,
    totals: SessionTotals,
}

/// Sessions per key over closed windows. See the module docs.
#[derive(Debug)]
pub struct Sessions {
    gap: i64,
    /// Window length, seconds (a session's span ends with its last window).
    window_secs: i64,
    hasher: DefaultHashBuilder,
    /// Open sessions; freed slots are reused.
    clients: Vec<Option<Client>>,
    free: Vec<u32>,
    /// Slots of `clients`, by the hash of the key.
    index: HashTable<u32>,
    /// (window, slot) each time a client was active, oldest first; an entry is stale once its
    /// slot's `last` moved on (a slot's `last` only grows, even across reuse).
    queue: VecDeque<(i64, u32)>,
    totals: SessionTotals,
}

impl Sessions {
    /// A tracker for tumbling windows of `window_secs`, sessions split by idle gaps of more
    /// than `gap_secs`.
    pub fn new(gap_secs: i64, window_secs: i64) -> Self {
        Sessions {
            gap: gap_secs,
            window_secs,
            hasher: DefaultHashBuilder::default(),
            clients: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            queue: VecDeque::new(),
            totals: SessionTotals {
                gap_secs,
                ..SessionTotals::default()
            },
        }
    }

    /// Counts window `start`'s groups (window starts must increase from call to call), then
    /// ends the sessions idle for more than the gap.
    pub fn close_window(&mut self, start: i64, groups: &GroupTable) -> WindowSessions {
        let mut out = WindowSessions::default();
        for (_, _, key, agg) in groups.entries() {
            let hash = self.hasher.hash_one(key);
            let clients = &self.clients;
            let found = self.index.find(hash, |&s| {
                clients[s as usize]
                    .as_ref()
                    .is_some_and(|c| c.key.as_bytes() == key)
            });
            let slot = match found {
                Some(&s) => {
                    let c = self.clients[s as usize]
                        .as_mut()
                        .expect("indexed slots are in use");
                    if start - c.last > self.gap {
                        // Idle past the gap but not yet dropped (it is dropped below, after
                        // this window's clients): end the old session, start a new one.
                        let ended = std::mem::replace(
                            c,
                            Client {
                                key: c.key.clone(),
                                first: start,
                                last: start,
                                requests: 0,
                            },
                        );
                        Self::count_end(&mut out, &mut self.totals, &ended, self.window_secs);
                        out.started += 1;
                    }
                    c.last = start;
                    c.requests += agg.requests;
                    s
                }
                None => {
                    // Keys enter the group tables only as UTF-8.
                    let key: Box<str> = String::from_utf8_lossy(key).into();
                    let client = Client {
                        key,
                        first: start,
                        last: start,
                        requests: agg.requests,
                    };
                    let s = match self.free.pop() {
                        Some(s) => {
                            self.clients[s as usize] = Some(client);
                            s
                        }
                        None => {
                            self.clients.push(Some(client));
                            (self.clients.len() - 1) as u32
                        }
                    };
                    let (clients, hasher) = (&self.clients, &self.hasher);
                    self.index.insert_unique(hash, s, |&t| {
                        clients[t as usize]
                            .as_ref()
                            .map_or(0, |c| hasher.hash_one(c.key.as_bytes()))
                    });
                    out.started += 1;
                    s
                }
            };
            self.queue.push_back((start, slot));
        }
        self.totals.started += out.started;
        while let Some(&(w, slot)) = self.queue.front() {
            if start - w <= self.gap {
                break;
            }
            self.queue.pop_front();
            if self.clients[slot as usize]
                .as_ref()
                .is_some_and(|c| c.last == w)
            {
                self.drop_client(slot, &mut out);
            }
        }
        out.active = (self.clients.len() - self.free.len()) as u64;
        out
    }

    /// Ends every open session (end of input); their counts go to the totals.
    pub fn finish(&mut self) {
        let mut out = WindowSessions::default();
        for slot in 0..self.clients.len() as u32 {
            if self.clients[slot as usize].is_some() {
                self.drop_client(slot, &mut out);
            }
        }
        self.queue.clear();
    }

    /// Whole-run counts so far.
    pub fn totals(&self) -> SessionTotals {
        self.totals
    }

    /// The state, for a checkpoint.
    pub fn snapshot(&self) -> SessionsSnapshot {
        let mut clients: Vec<Client> = self.clients.iter().flatten().cloned().collect();
        clients.sort_by_key(|c| c.last);
        SessionsSnapshot {
            clients,
            totals: self.totals,
        }
    }

    /// A tracker in the state of `s` (its gap and window length as given).
    pub fn restore(gap_secs: i64, window_secs: i64, s: SessionsSnapshot) -> Self {
        let mut t = Self::new(gap_secs, window_secs);
        t.totals = SessionTotals {
            gap_secs,
            ..s.totals
        };
        for c in s.clients {
            let hash = t.hasher.hash_one(c.key.as_bytes());
            let slot = t.clients.len() as u32;
            t.queue.push_back((c.last, slot));
            t.clients.push(Some(c));
            let (clients, hasher) = (&t.clients, &t.hasher);
            t.index.insert_unique(hash, slot, |&s| {
                clients[s as usize]
                    .as_ref()
                    .map_or(0, |c| hasher.hash_one(c.key.as_bytes()))
            });
        }
        t
    }

    /// Ends the session in `slot` and frees the slot.
    fn drop_client(&mut self, slot: u32, out: &mut WindowSessions) {
        let Some(c) = self.clients[slot as usize].take() else {
            return;
        };
        let hash = self.hasher.hash_one(c.key.as_bytes());
        if let Ok(e) = self.index.find_entry(hash, |&s| s == slot) {
            e.remove();
        }
        self.free.push(slot);
        Self::count_end(out, &mut self.totals, &c, self.window_secs);
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
mod tests {
    use super::*;

    /// A window's table: (key, requests) groups.
    fn window(start: i64, groups: &[(&str, u64)]) -> GroupTable {
        let mut t = GroupTable::default();
        for &(k, n) in groups {
            for _ in 0..n {
                t.agg_mut(start, k).add_parts(200, 1, None);
            }
        }
        t
    }

    /// Sessions counted the slow way: every client's active windows, split where the distance
    /// between neighbours is more than the gap.
    fn by_sorting(windows: &[(i64, Vec<(&str, u64)>)], gap: i64) -> (u64, u64) {
        let mut by_client: std::collections::BTreeMap<&str, Vec<i64>> = Default::default();
        let mut requests = 0;
        for (w, groups) in windows {
            for &(k, n) in groups {
                by_client.entry(k).or_default().push(*w);
                requests += n;
            }
        }
        let sessions = by_client
            .values()
            .map(|ws| 1 + ws.windows(2).filter(|p| p[1] - p[0] > gap).count() as u64)
            .sum();
        (sessions, requests)
    }

    #[test]
    fn a_gap_longer_than_allowed_starts_a_new_session() {
        let mut s = Sessions::new(120, 60);
        let a = s.close_window(0, &window(0, &[("a", 2), ("b", 1)]));
        assert_eq!((a.started, a.ended, a.active), (2, 0, 2));
        // 120 s after "a"'s last window: still the same session.
        let b = s.close_window(120, &window(120, &[("a", 1)]));
        assert_eq!((b.started, b.ended, b.active), (0, 0, 2));
        // "b" idle for 180 s > 120: its session ends, 1 request over one 60 s window.
        let c = s.close_window(180, &window(180, &[]));
        assert_eq!(
            (c.started, c.ended, c.ended_requests, c.ended_span_secs),
            (0, 1, 1, 60)
        );
        assert_eq!(c.active, 1);
        // "a" back after 181 s idle: a new session; the old one (3 requests, 0..180) ends.
        let d = s.close_window(301, &window(301, &[("a", 4)]));
        assert_eq!(
            (d.started, d.ended, d.ended_requests, d.ended_span_secs),
            (1, 1, 3, 180)
        );
        s.finish();
        let t = s.totals();
        assert_eq!((t.started, t.ended, t.requests), (3, 3, 8));
        assert_eq!((t.longest_span_secs, t.most_requests), (180, 4));
    }

    #[test]
    fn equals_sorting_every_clients_windows_and_survives_a_snapshot() {
        // A deterministic pseudo-random activity pattern over 40 clients and 400 windows.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let names: Vec<String> = (0..40).map(|i| format!("10.0.0.{i}")).collect();
        let mut windows = Vec::new();
        for w in 0..400i64 {
            let mut groups: Vec<(&str, u64)> = Vec::new();
            for n in &names {
                if next() % 7 == 0 {
                    groups.push((n.as_str(), 1 + next() % 5));
                }
            }
            windows.push((w * 60, groups));
        }
        let gap = 600;
        let (sessions, requests) = by_sorting(&windows, gap);
        let mut s = Sessions::new(gap, 60);
        let mut started = 0;
        for (i, (w, groups)) in windows.iter().enumerate() {
            started += s.close_window(*w, &window(*w, groups)).started;
            if i == 200 {
                let snap = serde_json::to_string(&s.snapshot()).expect("serializes");
                s = Sessions::restore(gap, 60, serde_json::from_str(&snap).expect("parses"));
            }
            assert!(
                s.queue.len() <= 40 * 11,
                "queue holds only the last gap's activity"
            );
        }
        s.finish();
        let t = s.totals();
        assert_eq!(t.started, sessions);
        assert_eq!(started, sessions);
        assert_eq!((t.ended, t.requests), (sessions, requests));
    }
}
