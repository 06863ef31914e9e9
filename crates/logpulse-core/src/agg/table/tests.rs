//! The table's lookups, merges, splits and builds, against plain inserts.

use super::*;

#[test]
fn lookups_merges_and_splits() {
    let mut a = GroupTable::default();
    a.agg_mut(0, "x").requests += 1;
    a.agg_mut(0, "x").requests += 1;
    a.agg_mut(60, "x").requests += 1;
    a.agg_mut(0, "y").requests += 5;
    assert_eq!(a.len(), 3);
    let mut b = GroupTable::default();
    b.agg_mut(0, "x").requests += 10;
    b.agg_mut(120, "z").requests += 1;
    a.merge(&b);
    assert_eq!(a.get(0, "x").map(|g| g.requests), Some(12));
    assert_eq!(a.get(120, "z").map(|g| g.requests), Some(1));
    assert_eq!(a.get(60, "y"), None);
    let parts = a.split_by_window();
    assert_eq!(
        parts.iter().map(|(w, t)| (*w, t.len())).collect::<Vec<_>>(),
        [(0, 2), (60, 1), (120, 1)]
    );
    let mut totals = GroupTable::default();
    for (_, t) in &parts {
        totals.merge_into_window(t, 0);
    }
    assert_eq!(totals.get(0, "x").map(|g| g.requests), Some(13));
    assert_eq!(totals.sorted()[0].0.as_ref(), "x");
}

/// Tables built from distinct groups are indexed on their first probe: until then a
/// read-only look scans; after, lookups find the old groups (no duplicates) and add new ones.
#[test]
fn unindexed_tables_are_indexed_on_first_probe() {
    let keys: Vec<String> = (0..1000).map(|i| format!("host-{i}")).collect();
    let rows = keys.iter().enumerate().map(|(i, k)| {
        let w = (i % 3) as i64 * 60;
        let agg = Agg {
            requests: i as u64 + 1,
            ..Agg::default()
        };
        (group_hash(w, k.as_bytes()), w, k.as_bytes(), agg)
    });
    let mut t = GroupTable::from_unique(keys.len(), 16 * keys.len(), rows);
    assert_eq!(t.indexed, 0);
    assert_eq!(t.get(60, "host-1").map(|a| a.requests), Some(2));
    assert_eq!(t.get(0, "host-1"), None);
    t.agg_mut(60, "host-1").requests += 10;
    assert_eq!(t.indexed, t.len());
    assert_eq!(
        t.len(),
        1000,
        "an existing group, found through the new index"
    );
    t.agg_mut(0, "host-1").requests += 1;
    assert_eq!(t.len(), 1001);
    assert_eq!(t.get(60, "host-1").map(|a| a.requests), Some(12));
    // Split parts (unindexed) merged twice into one table: every group once, sums doubled.
    let (parts, late) = t.clone().split_windows(|_| false);
    assert!(late.is_empty());
    let mut merged = GroupTable::default();
    for _ in 0..2 {
        for (_, p) in parts.clone() {
            merged.merge_owned(p);
        }
    }
    assert_eq!(merged.len(), t.len());
    for (w, k, a) in t.iter() {
        assert_eq!(
            merged.get(w, k).map(|m| m.requests),
            Some(2 * a.requests),
            "{w} {k}"
        );
    }
}

/// A table of `n` groups over several windows, in an interleaved order, some with errors.
fn mixed(n: u64, salt: u64) -> GroupTable {
    let mut t = GroupTable::default();
    for i in 0..n {
        let w = ((i * 7 + salt) % 5) as i64 * 60;
        let a = t.agg_mut(w, &format!("host{}.example", (i * 13 + salt) % 97));
        a.add_parts(if i % 11 == 0 { 503 } else { 200 }, i, Some(i));
    }
    t
}

/// Splits that cut a table by slices on this thread so far (`split::cut_runs`).
fn cut_runs_taken() -> usize {
    super::split::CUT_RUNS.with(|c| c.get())
}

fn rows(t: &GroupTable) -> Vec<(u64, i64, Vec<u8>, Agg)> {
    t.entries()
        .map(|(h, w, k, a)| (h, w, k.to_vec(), a.clone()))
        .collect()
}

#[test]
fn split_windows_and_merge_owned_match_the_copying_versions() {
    let t = mixed(400, 3);
    let all = rows(&t);
    let (parts, late) = t.clone().split_windows(|w| w < 120);
    assert_eq!(
        rows(&late),
        all.iter()
            .filter(|r| r.1 < 120)
            .cloned()
            .collect::<Vec<_>>()
    );
    let mut seen = Vec::new();
    for (w, part) in &parts {
        assert!(*w >= 120 && !seen.contains(w));
        seen.push(*w);
        let want: Vec<_> = all.iter().filter(|r| r.1 == *w).cloned().collect();
        assert_eq!(rows(part), want);
        for r in &want {
            assert_eq!(
                part.get(r.1, std::str::from_utf8(&r.2).unwrap()),
                Some(&r.3)
            );
        }
    }
    // Interleaved (moved part by part, `mixed` changes window every row) with no late rows.
    let cuts = cut_runs_taken();
    let (parts0, late0) = t.clone().split_windows(|_| false);
    assert_eq!(
        cut_runs_taken(),
        cuts,
        "interleaved windows are not cut by slices"
    );
    assert!(late0.is_empty());
    assert_eq!(parts0.len(), 5);
    for (w, part) in &parts0 {
        let want: Vec<_> = all.iter().filter(|r| r.1 == *w).cloned().collect();
        assert_eq!(rows(part), want, "window {w}");
    }
    // The same groups in runs of one window (the CPU's order) are moved the other way (in
    // table order): the same parts.
    let mut sorted = all.clone();
    sorted.sort_by_key(|r| r.1);
    let runs = GroupTable::from_unique(
        sorted.len(),
        64 * sorted.len(),
        sorted.iter().map(|r| (r.0, r.1, &r.2[..], r.3.clone())),
    );
    let (parts2, late2) = runs.split_windows(|w| w < 120);
    let want: Vec<_> = sorted.iter().filter(|r| r.1 < 120).cloned().collect();
    assert_eq!(rows(&late2), want);
    assert_eq!(parts2.len(), parts.len());
    for (w, part) in &parts2 {
        let want: Vec<_> = sorted.iter().filter(|r| r.1 == *w).cloned().collect();
        assert_eq!(rows(part), want, "window {w}");
    }
    // With no late window, windows in runs and keys in entry order are cut off as slices
    // (`cut_runs`): the same parts, each a table of its own (keys rebased: lookups, merges and
    // new groups work on it).
    let runs = GroupTable::from_unique(
        sorted.len(),
        64 * sorted.len(),
        sorted.iter().map(|r| (r.0, r.1, &r.2[..], r.3.clone())),
    );
    let cuts = cut_runs_taken();
    let (mut parts3, late3) = runs.split_windows(|_| false);
    assert_eq!(
        cut_runs_taken(),
        cuts + 1,
        "windows in runs, keys in order: cut by slices"
    );
    assert!(late3.is_empty());
    assert_eq!(parts3.len(), 5);
    for (w, part) in &mut parts3 {
        let want: Vec<_> = sorted.iter().filter(|r| r.1 == *w).cloned().collect();
        assert_eq!(rows(part), want, "window {w}");
        let (key, agg) = (std::str::from_utf8(&want[0].2).unwrap(), &want[0].3);
        assert_eq!(part.get(*w, key), Some(agg));
        part.agg_mut(*w, "new.example").requests += 1;
        part.agg_mut(*w, key).requests += 1;
        assert_eq!(
            part.get(*w, key).map(|a| a.requests),
            Some(agg.requests + 1)
        );
        assert_eq!(part.len(), want.len() + 1);
    }
    // Keys in order but one window in two runs (60, 120, 60), and empty keys in runs: the
    // first is moved part by part, the second cut by slices; both as inserting them.
    let mut two_runs = GroupTable::default();
    for (w, k) in [(60, "a"), (60, "b"), (120, "c"), (60, "d")] {
        two_runs.agg_mut(w, k).requests += 1;
    }
    let cuts = cut_runs_taken();
    let (p, _) = two_runs.split_windows(|_| false);
    assert_eq!(cut_runs_taken(), cuts, "a window in two runs");
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].1.len(), 3);
    assert_eq!(p[0].1.get(60, "d").map(|a| a.requests), Some(1));
    let mut empty_keys = GroupTable::default();
    for (w, k) in [(0, ""), (0, "x"), (60, ""), (120, ""), (120, "yz")] {
        empty_keys.agg_mut(w, k).requests += 1;
    }
    let (p, _) = empty_keys.split_windows(|_| false);
    assert_eq!(cut_runs_taken(), cuts + 1, "empty keys in runs");
    let sizes: Vec<_> = p.iter().map(|(w, t)| (*w, t.len())).collect();
    assert_eq!(sizes, vec![(0, 2), (60, 1), (120, 2)]);
    assert_eq!(p[2].1.get(120, "yz").map(|a| a.requests), Some(1));
    assert_eq!(p[2].1.get(120, "").map(|a| a.requests), Some(1));
    // One window, not late: the table comes back as it is.
    let mut one = GroupTable::default();
    one.agg_mut(60, "a").requests += 1;
    one.agg_mut(60, "b").requests += 1;
    let (parts, late) = one.clone().split_windows(|_| false);
    assert!(late.is_empty());
    assert_eq!(parts.len(), 1);
    assert_eq!(rows(&parts[0].1), rows(&one));
    // merge_owned == merge, order included.
    let mut a = mixed(300, 1);
    let mut b = a.clone();
    let other = mixed(500, 2);
    a.merge(&other);
    b.merge_owned(other);
    assert_eq!(rows(&a), rows(&b));
    let mut empty = GroupTable::default();
    empty.merge_owned(mixed(50, 4));
    assert_eq!(rows(&empty), rows(&mixed(50, 4)));
    assert_eq!(
        empty.get(0, "host4.example").is_some(),
        mixed(50, 4).get(0, "host4.example").is_some()
    );
}

#[test]
fn group_hash_is_fixed_and_from_unique_matches_inserts() {
    // Pinned values: the CUDA kernels compute the same function (lp_key_hash).
    assert_eq!(group_hash(0, b""), group_hash(0, b""));
    assert_ne!(group_hash(0, b"a"), group_hash(60, b"a"));
    assert_ne!(group_hash(0, b"a"), group_hash(0, b"a\0"));
    assert_ne!(group_hash(0, b"12345678"), group_hash(0, b"123456789"));
    let keys = ["a", "host1.example.edu", "12345678", "199.72.81.55", "000"];
    let mut slow = GroupTable::default();
    let mut rows = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let w = (i as i64 % 2) * 60;
        let a = Agg {
            requests: i as u64 + 1,
            ..Agg::default()
        };
        slow.agg_mut(w, k).merge(&a);
        rows.push((group_hash(w, k.as_bytes()), w, k.as_bytes(), a));
    }
    let mut fast = GroupTable::from_unique(rows.len(), 64, rows);
    assert_eq!(fast.sorted(), slow.sorted());
    fast.agg_mut(60, "host1.example.edu").requests += 10;
    assert_eq!(
        fast.get(60, "host1.example.edu").map(|g| g.requests),
        Some(12)
    );
    assert_eq!(fast.len(), keys.len());
}

/// Groups read by index for `from_unique_by_window`; asserts each piece asks for its groups
/// in index order.
struct Indexed {
    rows: Vec<(u64, i64, Vec<u8>, Agg)>,
}

impl UniqueGroups for Indexed {
    type State = Option<usize>;
    fn len(&self) -> usize {
        self.rows.len()
    }
    fn window(&self, i: usize) -> i64 {
        self.rows[i].1
    }
    fn key(&self, i: usize) -> &[u8] {
        &self.rows[i].2
    }
    fn hash(&self, i: usize) -> u64 {
        self.rows[i].0
    }
    fn start(&self) -> Option<usize> {
        None
    }
    fn agg(&self, last: &mut Option<usize>, i: usize) -> Agg {
        assert!(last.is_none_or(|l| l < i), "group {i} after {last:?}");
        *last = Some(i);
        self.rows[i].3.clone()
    }
}

/// A table laid out window by window holds the same groups as inserting them one by one,
/// windows in order of first appearance, each window's groups in index order; the split then
/// gives the same parts as splitting the inserted table. Small pieces, and a stretch with a
/// window a group (more windows in a piece than it scans), so pieces share windows.
#[test]
fn tables_by_window_match_inserts_and_split_alike() {
    let mut inserted = mixed(3000, 5);
    for i in 0..300i64 {
        inserted.agg_mut(10_000 + 60 * i, "sparse").requests += 1;
    }
    let groups = Indexed {
        rows: rows(&inserted),
    };
    for piece in [1, 7, 64, 4096] {
        let t = GroupTable::from_unique_by_window(&groups, piece).expect("consistent groups");
        let mut first: Vec<i64> = Vec::new();
        for r in &groups.rows {
            if !first.contains(&r.1) {
                first.push(r.1);
            }
        }
        let mut want = groups.rows.clone();
        want.sort_by_key(|r| first.iter().position(|&w| w == r.1));
        assert_eq!(rows(&t), want, "piece {piece}");
        let cuts = cut_runs_taken();
        let (parts, late) = t.split_windows(|_| false);
        assert_eq!(cut_runs_taken(), cuts + 1, "piece {piece}: cut by slices");
        let (want_parts, _) = inserted.clone().split_windows(|_| false);
        assert!(late.is_empty());
        assert_eq!(parts.len(), want_parts.len());
        for ((w, p), (ww, wp)) in parts.iter().zip(&want_parts) {
            assert_eq!(w, ww);
            assert_eq!(rows(p), rows(wp), "piece {piece}, window {w}");
        }
    }
    let empty = Indexed { rows: Vec::new() };
    let t = GroupTable::from_unique_by_window(&empty, 64).expect("no groups");
    assert!(t.is_empty());
}

/// Groups whose keys change length between the two visits are refused, not written past
/// their share.
#[test]
fn tables_by_window_refuse_groups_that_change() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    struct Liar {
        calls: AtomicUsize,
        n: usize,
    }
    impl UniqueGroups for Liar {
        type State = ();
        fn len(&self) -> usize {
            self.n
        }
        fn window(&self, i: usize) -> i64 {
            (i % 3) as i64
        }
        fn key(&self, _: usize) -> &[u8] {
            let first_visit = self.calls.fetch_add(1, Ordering::Relaxed) < self.n;
            if first_visit {
                b"ab"
            } else {
                b"abc"
            }
        }
        fn hash(&self, i: usize) -> u64 {
            i as u64
        }
        fn start(&self) {}
        fn agg(&self, _: &mut (), _: usize) -> Agg {
            Agg::default()
        }
    }
    let liar = Liar {
        calls: AtomicUsize::new(0),
        n: 1000,
    };
    assert!(GroupTable::from_unique_by_window(&liar, 100).is_none());

    /// A window that moves between the visits (group 7, from window 1 into window 0, whose
    /// share it then overfills), or key lengths that overflow when summed (groups 0 and 2,
    /// one window, so the piece's and the window's sums overflow first).
    struct Shifty {
        calls: AtomicUsize,
        huge: bool,
    }
    impl UniqueGroups for Shifty {
        type State = ();
        fn len(&self) -> usize {
            100
        }
        fn window(&self, i: usize) -> i64 {
            let second_visit = self.calls.fetch_add(1, Ordering::Relaxed) >= 100;
            (i % 2) as i64 - i64::from(second_visit && i == 7)
        }
        fn key(&self, _: usize) -> &[u8] {
            b"ab"
        }
        fn key_len(&self, i: usize) -> usize {
            if self.huge && (i == 0 || i == 2) {
                usize::MAX / 2 + 1
            } else {
                2
            }
        }
        fn hash(&self, i: usize) -> u64 {
            i as u64
        }
        fn start(&self) {}
        fn agg(&self, _: &mut (), _: usize) -> Agg {
            Agg::default()
        }
    }
    for (huge, what) in [(false, "a window moved"), (true, "key lengths overflowing")] {
        let s = Shifty {
            calls: AtomicUsize::new(0),
            huge,
        };
        for piece in [1, 64, 100] {
            assert!(
                GroupTable::from_unique_by_window(&s, piece).is_none(),
                "{what}, piece {piece}"
            );
            s.calls.store(0, Ordering::Relaxed);
        }
    }
}

/// The busiest few (counts found first, then only their keys compared) are the head of the
/// whole table sorted by (requests desc, key), ties at the cut included.
#[test]
fn top_n_is_the_head_of_the_full_order() {
    let mut t = GroupTable::default();
    // Many ties: requests from a small range, keys that share 8-byte prefixes.
    let mut x: u64 = 12345;
    for i in 0..5000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let requests = 1 + (x >> 60) % 7 + u64::from(i % 997 == 0) * 100;
        t.agg_mut(0, &format!("client-prefix-{}", x % 3000))
            .requests += requests;
    }
    let full: Vec<(String, u64)> = {
        let mut v: Vec<(String, u64)> = t
            .iter()
            .map(|(_, k, a)| (k.to_string(), a.requests))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    };
    for n in [
        0,
        1,
        3,
        10,
        37,
        200,
        full.len() - 1,
        full.len(),
        full.len() + 5,
    ] {
        let got: Vec<(String, u64)> = t
            .order(n)
            .into_iter()
            .map(|i| {
                let (k, a) = t.at(i);
                (k.to_string(), a.requests)
            })
            .collect();
        assert_eq!(got, full[..n.min(full.len())], "n = {n}");
    }
}
