use super::*;

fn partial(seq: u64, rows: &[(i64, &str, u16, u64)]) -> Partial {
    let mut p = Partial::new(seq, "t".into());
    for &(w, k, status, bytes) in rows {
        p.agg_mut(w, k).add_parts(status, bytes, None);
        p.records += 1;
        p.lines += 1;
        p.max_time = Some(p.max_time.map_or(w, |t| t.max(w)));
    }
    p
}

#[test]
fn tumbling_closes_on_watermark_and_counts_late() {
    let mut w = Windows::new(WindowSpec::Tumbling { secs: 60 }, 0, Thresholds::default());
    // Records at t=0 and t=60 (window starts): the second advances the watermark to 60,
    // closing window 0.
    let out = w.absorb(partial(0, &[(0, "a", 200, 10), (0, "b", 500, 1)]));
    assert!(out.is_empty());
    let out = w.absorb(partial(1, &[(60, "a", 200, 10)]));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].start, 0);
    assert_eq!(out[0].totals.requests, 2);
    assert_eq!(out[0].alerts.len(), 1); // the 500
                                        // A late record for window 0.
    let out = w.absorb(partial(2, &[(0, "a", 200, 10), (120, "c", 200, 1)]));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].start, 60);
    assert_eq!(out[0].late, 1);
    let out = w.finish();
    assert_eq!(out.len(), 1);
    assert_eq!(w.totals().records, 5);
    assert_eq!(w.totals().late, 1);
    assert_eq!(w.sync_totals().by_key.get(0, "a").unwrap().requests, 3);
}

#[test]
fn per_batch_closes_every_batch() {
    let mut w = Windows::new(WindowSpec::PerBatch, 0, Thresholds::default());
    let out = w.absorb(partial(0, &[(0, "a", 200, 10)]));
    assert_eq!(out.len(), 1);
    let out = w.absorb(partial(1, &[(1, "a", 200, 10)]));
    assert_eq!((out.len(), out[0].start), (1, 1));
}

/// A stream of partials over overlapping windows, with late records, many keys and 5xx.
fn stream() -> Vec<Partial> {
    (0..12u64)
        .map(|b| {
            let rows: Vec<(i64, String, u16, u64)> = (0..300u64)
                .map(|i| {
                    let t = (b as i64 * 50 + (i as i64 * 7) % 90 - 60).max(0);
                    let status = if i % 17 == 0 {
                        503
                    } else if i % 5 == 0 {
                        404
                    } else {
                        200
                    };
                    (
                        t,
                        format!("client{}.example", (i * 31 + b * 7) % 173),
                        status,
                        i * 100,
                    )
                })
                .collect();
            let rows: Vec<(i64, &str, u16, u64)> = rows
                .iter()
                .map(|(t, k, s, n)| (*t / 60 * 60, k.as_str(), *s, *n))
                .collect();
            partial(b, &rows)
        })
        .collect()
}

fn result_rows(r: &WindowResult) -> String {
    let groups: Vec<_> = r
        .groups()
        .map(|(k, a)| (k.to_string(), a.clone()))
        .collect();
    format!(
        "{} {} {:?} late {} alerts {:?} groups {:?}",
        r.start, r.end, r.totals, r.late, r.alerts, groups
    )
}

#[test]
fn totals_threads_and_summaries_do_not_change_results_totals_or_snapshots() {
    let mut want: Option<Vec<String>> = None;
    // (per-key totals threads, window summaries computed when splitting, as the pipeline does)
    for (threads, summarized) in [(1, false), (2, false), (5, false), (1, true), (3, true)] {
        let thresholds = Thresholds {
            requests: 3,
            ..Thresholds::default()
        };
        let mut w =
            Windows::with_totals_threads(WindowSpec::Tumbling { secs: 60 }, 0, thresholds, threads);
        let mut out = Vec::new();
        for (i, p) in stream().into_iter().enumerate() {
            let sp = if summarized {
                SplitPartial::summarized(p, WindowSpec::Tumbling { secs: 60 }, thresholds)
            } else {
                SplitPartial::new(p)
            };
            for r in w.absorb_split(sp) {
                out.push(result_rows(&r));
            }
            if i == 5 {
                let snap = w.snapshot();
                out.push(serde_json::to_string(&snap).expect("snapshot"));
                // Restoring the snapshot into a fresh operator keeps going identically.
                let mut again = Windows::with_totals_threads(
                    WindowSpec::Tumbling { secs: 60 },
                    0,
                    thresholds,
                    threads,
                );
                again.restore(snap);
                w = again;
            }
        }
        for r in w.finish() {
            out.push(result_rows(&r));
        }
        assert!(w.totals().late > 0, "the stream has late records");
        let totals = w.sync_totals().clone();
        out.push(format!("{:?}", totals.by_key.iter().collect::<Vec<_>>()));
        out.push(serde_json::to_string(&w.snapshot()).expect("snapshot"));
        match &want {
            None => want = Some(out),
            Some(want) => assert_eq!(&out, want, "{threads} threads, summarized {summarized}"),
        }
    }
}

#[test]
fn summaries_for_other_thresholds_are_not_used() {
    let mut w = Windows::with_totals_threads(WindowSpec::PerBatch, 0, Thresholds::default(), 1);
    let strict = Thresholds {
        requests: 0,
        ..Thresholds::default()
    };
    let sp = SplitPartial::summarized(
        partial(0, &[(0, "a", 200, 10)]),
        WindowSpec::PerBatch,
        strict,
    );
    let out = w.absorb_split(sp);
    assert_eq!(out.len(), 1);
    assert!(
        out[0].alerts.is_empty(),
        "the operator's own thresholds decide"
    );
    assert_eq!(out[0].totals.requests, 1);
}
