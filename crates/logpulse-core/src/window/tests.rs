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
