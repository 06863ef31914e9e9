//! The session tracker against sessions counted by sorting each client's windows.

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

/// Sessions counted the slow way: every client's active (one-minute) windows, split where
/// the time between one's end and the next one's start is more than the gap.
fn by_sorting(windows: &[(i64, Vec<(&str, u64)>)], gap: i64) -> (u64, u64) {
    let requests = windows.iter().flat_map(|(_, g)| g).map(|g| g.1).sum();
    (per_client_by_sorting(windows, gap).values().sum(), requests)
}

/// [`by_sorting`]'s sessions of each client.
fn per_client_by_sorting<'a>(
    windows: &[(i64, Vec<(&'a str, u64)>)],
    gap: i64,
) -> std::collections::BTreeMap<&'a str, u64> {
    let mut by_client: std::collections::BTreeMap<&str, Vec<i64>> = Default::default();
    for (w, groups) in windows {
        for &(k, _) in groups {
            by_client.entry(k).or_default().push(*w);
        }
    }
    by_client
        .into_iter()
        .map(|(k, ws)| {
            let n = 1 + ws.windows(2).filter(|p| p[1] - p[0] - 60 > gap).count() as u64;
            (k, n)
        })
        .collect()
}

#[test]
fn windows_longer_than_the_gap_split_only_on_whole_idle_windows() {
    let mut s = Sessions::new(1800, 3600);
    for h in [0, 1, 2, 4, 5] {
        s.close_window(h * 3600, &window(h * 3600, &[("a", 1)]));
    }
    // Hours 0-2, then hour 3 idle (3600 s > 1800): hours 4-5 are a second session.
    s.finish();
    let t = s.totals();
    assert_eq!((t.started, t.requests), (2, 5));
    assert_eq!((t.longest_span_secs, t.span_secs), (3 * 3600, 5 * 3600));
}

#[test]
fn a_gap_longer_than_allowed_starts_a_new_session() {
    let mut s = Sessions::new(120, 60);
    let a = s.close_window(0, &window(0, &[("a", 2), ("b", 1)]));
    assert_eq!((a.started, a.ended, a.active), (2, 0, 2));
    // "a" idle for 60 s (the window 60..120): the same session.
    let b = s.close_window(120, &window(120, &[("a", 1)]));
    assert_eq!((b.started, b.ended, b.active), (0, 0, 2));
    // From 240 on, "b" would be idle for 180 s or more (60..240): past the gap, its
    // session ends as 180 closes: 1 request, one 60 s window.
    let c = s.close_window(180, &window(180, &[]));
    assert_eq!(
        (c.started, c.ended, c.ended_requests, c.ended_span_secs),
        (0, 1, 1, 60)
    );
    assert_eq!(c.active, 1);
    // "a" back after 121 s idle (180..301): a new session; the old one (3 requests, 0..180)
    // ends.
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

/// A deterministic pseudo-random activity pattern: `clients` clients over `windows` one-
/// minute windows, each active in a window with probability 1/`one_in`; the tracker
/// (snapshotted and restored half-way) against [`by_sorting`].
fn check_random(clients: usize, windows: i64, one_in: u64) -> Sessions {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ clients as u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // Every third key too long to be kept inline.
    let names: Vec<String> = (0..clients)
        .map(|i| match i % 3 {
            0 => format!("host-{i}.dialup.long-provider-name.example"),
            _ => format!("10.0.{}.{}", i / 256, i % 256),
        })
        .collect();
    let mut all = Vec::new();
    for w in 0..windows {
        let mut groups: Vec<(&str, u64)> = Vec::new();
        for n in &names {
            if next() % one_in == 0 {
                groups.push((n.as_str(), 1 + next() % 5));
            }
        }
        all.push((w * 60, groups));
    }
    let gap = 600;
    let (sessions, requests) = by_sorting(&all, gap);
    let mut s = Sessions::new(gap, 60);
    let mut started = 0;
    for (i, (w, groups)) in all.iter().enumerate() {
        started += s.close_window(*w, &window(*w, groups)).started;
        if i as i64 == windows / 2 {
            let snap = serde_json::to_string(&s.snapshot()).expect("serializes");
            s = Sessions::restore(gap, 60, serde_json::from_str(&snap).expect("parses"));
        }
        let live = s.clients.len() - s.ended;
        assert!(
            s.queue.len() <= live * 11,
            "queue holds only the last gap's activity"
        );
    }
    s.finish();
    let t = s.totals();
    assert_eq!(t.started, sessions);
    let want = per_client_by_sorting(&all, gap);
    let mut keys = GroupTable::default();
    for n in &names {
        keys.agg_mut(0, n).add_parts(200, 1, None);
    }
    let got = s.begun_for(&keys);
    for (i, n) in names.iter().enumerate() {
        assert_eq!(got[i], want.get(n.as_str()).copied().unwrap_or(0), "{n}");
    }
    assert_eq!(started, sessions);
    assert_eq!((t.ended, t.requests), (sessions, requests));
    s
}

#[test]
fn equals_sorting_every_clients_windows_and_survives_a_snapshot() {
    check_random(40, 400, 7);
}

#[test]
fn ended_sessions_are_compacted_away() {
    // 6,000 clients, each active about once in 40 minutes: most sessions end between
    // visits, so ended entries pile up and are compacted.
    let s = check_random(6000, 300, 40);
    assert!(
        s.clients.len() < 6000,
        "compacted: {} entries",
        s.clients.len()
    );
}
