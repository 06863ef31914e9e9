//! How many slots of the device's group table a batch uses.
//!
//! The table is allocated for the worst case (two slots a line: a batch never fills it), but a
//! batch uses only a power-of-two prefix of it, sized from the groups the slot's earlier
//! batches made. `lp_compact_groups` scans the used slots from end to end, so a table sized to
//! the groups costs sequential reads of 100-200 bytes a group, where the whole table of a 4M-line
//! batch (512 MB, ~1M groups) cost random reads of its claimed slots far past L2; a 250k-line
//! batch's table (~67k groups) then fits in L2 for the parse's probes too.
//!
//! A batch with more groups than its table holds overflows: a lookup gives up after
//! [`PROBE_LIMIT`] slots and the batch is rerun with the whole table, so a wrong guess costs
//! time, never results.

/// Slots a lookup looks at in a table smaller than the whole before it calls the batch an
/// overflow. At the load this module aims for (at most ~0.6) linear probing needs a few slots;
/// hundreds in a row only come from a table too small for the batch.
pub const PROBE_LIMIT: u32 = 512;

/// Fewest slots a batch uses (a 256 KiB table).
const MIN_SLOTS: u32 = 4096;

/// Table slots a group, at the expected groups of a batch (load ~0.6 before rounding up).
const SLOTS_PER_GROUP: f64 = 1.6;

/// Each batch, the remembered groups a byte fall by this factor unless the batch has more: a
/// batch with fewer groups than the last does not shrink the table at once, so a stream whose
/// batches alternate does not overflow every other batch.
const DECAY: f64 = 0.9;

/// How the used part of the table is chosen: `LOGPULSE_GPU_GROUP_SLOTS` = `whole` (always the
/// whole table, as before this module: for measurements), a number (that many slots, rounded
/// to a power of two: tests use it to force overflows), or unset (sized from earlier batches).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sizing {
    /// From the groups a byte of earlier batches.
    Adaptive,
    /// The whole table.
    Whole,
    /// This many slots (then the whole table for a batch that overflows it).
    Fixed(u32),
}

impl Sizing {
    /// From `LOGPULSE_GPU_GROUP_SLOTS` (see the type's docs); adaptive when unset, and when
    /// unreadable (with a warning).
    pub fn from_env() -> Sizing {
        match std::env::var("LOGPULSE_GPU_GROUP_SLOTS").ok().as_deref() {
            Some("whole") => Sizing::Whole,
            Some(v) => v.parse().map_or_else(
                |_| {
                    eprintln!(
                        "logpulse: LOGPULSE_GPU_GROUP_SLOTS={v:?} is neither `whole` nor a slot \
                         count; sizing the group table from earlier batches"
                    );
                    Sizing::Adaptive
                },
                Sizing::Fixed,
            ),
            None => Sizing::Adaptive,
        }
    }
}

/// One slot's choice of table size, batch after batch.
#[derive(Debug, Clone)]
pub struct GroupTable {
    sizing: Sizing,
    /// Groups a byte of input, high-water mark of the last batches (None: none seen yet).
    groups_per_byte: Option<f64>,
    /// The batch in flight overflowed: its rerun takes the whole table.
    rerun_whole: bool,
}

impl GroupTable {
    /// A table size policy; the first batch takes the whole table (nothing is known yet).
    pub fn new(sizing: Sizing) -> Self {
        GroupTable {
            sizing,
            groups_per_byte: None,
            rerun_whole: false,
        }
    }

    /// Slots (a power of two) a batch of `bytes` bytes uses of a table of `whole` slots (a
    /// power of two).
    pub fn slots_for(&self, bytes: usize, whole: u32) -> u32 {
        let want = match (self.sizing, self.groups_per_byte) {
            _ if self.rerun_whole => whole,
            (Sizing::Whole, _) | (Sizing::Adaptive, None) => whole,
            (Sizing::Fixed(n), _) => n,
            (Sizing::Adaptive, Some(g)) => {
                let slots = (g * bytes as f64 * SLOTS_PER_GROUP).ceil();
                slots.min(whole as f64) as u32
            }
        };
        want.clamp(MIN_SLOTS.min(whole), whole)
            .next_power_of_two()
            .min(whole)
    }

    /// Slots a lookup may look at in a table of `slots` slots out of `whole`: unbounded in the
    /// whole table, which holds twice the lines a batch can have.
    pub fn probe_limit(slots: u32, whole: u32) -> u32 {
        if slots >= whole {
            u32::MAX
        } else {
            PROBE_LIMIT
        }
    }

    /// A batch of `bytes` bytes made `groups` groups without overflowing.
    pub fn observe(&mut self, groups: u64, bytes: usize) {
        self.rerun_whole = false;
        if bytes == 0 {
            return;
        }
        let g = groups as f64 / bytes as f64;
        self.groups_per_byte = Some(self.groups_per_byte.map_or(g, |old| g.max(old * DECAY)));
    }

    /// The batch in flight overflowed its table: rerun it with the whole table.
    pub fn overflowed(&mut self) {
        self.rerun_whole = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHOLE: u32 = 1 << 20;

    #[test]
    fn the_first_batch_takes_the_whole_table() {
        let t = GroupTable::new(Sizing::Adaptive);
        assert_eq!(t.slots_for(20_000_000, WHOLE), WHOLE);
        assert_eq!(GroupTable::probe_limit(WHOLE, WHOLE), u32::MAX);
    }

    #[test]
    fn later_batches_get_a_power_of_two_at_most_0_625_full() {
        let mut t = GroupTable::new(Sizing::Adaptive);
        // 67k groups in 20 MB: 107k slots wanted, 128k given.
        t.observe(67_000, 20_000_000);
        let s = t.slots_for(20_000_000, WHOLE);
        assert_eq!(s, 1 << 17);
        assert!(67_000.0 / s as f64 <= 0.625);
        assert_eq!(GroupTable::probe_limit(s, WHOLE), PROBE_LIMIT);
        // Twice the bytes, twice the table.
        assert_eq!(t.slots_for(40_000_000, WHOLE), 1 << 18);
        // Never past the whole table, never under the floor.
        assert_eq!(t.slots_for(usize::MAX / 2, WHOLE), WHOLE);
        assert_eq!(t.slots_for(10, WHOLE), MIN_SLOTS);
    }

    #[test]
    fn a_quiet_batch_shrinks_the_table_slowly() {
        let mut t = GroupTable::new(Sizing::Adaptive);
        t.observe(100_000, 20_000_000);
        let big = t.slots_for(20_000_000, WHOLE);
        t.observe(10, 20_000_000);
        // 0.9 of the old density still wants 144k slots: the same power of two.
        assert_eq!(t.slots_for(20_000_000, WHOLE), big);
    }

    #[test]
    fn an_overflow_reruns_with_the_whole_table_once() {
        let mut t = GroupTable::new(Sizing::Fixed(4096));
        assert_eq!(t.slots_for(1 << 20, WHOLE), 4096);
        t.overflowed();
        assert_eq!(t.slots_for(1 << 20, WHOLE), WHOLE);
        t.observe(50_000, 1 << 20);
        assert_eq!(t.slots_for(1 << 20, WHOLE), 4096);
    }

    #[test]
    fn whole_and_fixed_sizes_ignore_the_history() {
        let mut w = GroupTable::new(Sizing::Whole);
        w.observe(10, 1 << 20);
        assert_eq!(w.slots_for(1 << 20, WHOLE), WHOLE);
        // A fixed size is rounded up to a power of two and kept under the whole table.
        let f = GroupTable::new(Sizing::Fixed(5000));
        assert_eq!(f.slots_for(1, WHOLE), 8192);
        assert_eq!(f.slots_for(1, 4096), 4096);
    }
}
