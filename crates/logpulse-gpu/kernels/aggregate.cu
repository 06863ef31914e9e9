// Parse + aggregate: one thread a line. A block's lines are first staged in shared memory with
// 16-byte loads (lines sit next to each other, so the copy is coalesced and the byte-wise
// parsing then reads shared memory); a block whose lines do not fit reads global memory.
// Records are grouped per warp (__match_any_sync on the group hash) so a hot key costs one
// atomic per warp instead of one per line.

#define LP_PARSE_THREADS 128
#define LP_BUCKETS 1216

// Variants timed against each other (LOGPULSE_GPU_NVRTC_DEFINES overrides these defaults).
// Staging with cp.async: every 16-byte copy of the block's lines in flight at once, instead of
// a load-then-store loop that waits out one memory latency per round.
#ifndef LP_ASYNC_STAGE
#define LP_ASYNC_STAGE 1
#endif

// agg/latency.rs bucket_of.
__device__ __forceinline__ u32 lp_bucket(u64 us) {
    if (us < 64) return (u32)us;
    u32 msb = 63 - __clzll((long long)us);
    u32 oct = msb - 6;
    u32 sub = (u32)((us >> (msb - 5)) & 31);
    u32 b = 64 + oct * 32 + sub;
    return b < LP_BUCKETS - 1 ? b : LP_BUCKETS - 1;
}

__device__ __forceinline__ i64 lp_window_of(i64 t, i64 seq) {
#if LP_WINDOW_PER_BATCH
    return seq;
#else
    return lp_floor_div(t, (i64)LP_WINDOW_SECS) * (i64)LP_WINDOW_SECS;
#endif
}

// Finds or claims the group slot of tag `h`. A claim sets `*fresh`: the caller then gives the
// group its output index, a warp at a time (see the kernel).
__device__ u32 lp_group_slot(LpGroup* g, u32 mask, u64 h, i64 w, u32 koff, u32 klen,
                             bool* fresh) {
    u32 s = (u32)(h >> 20) & mask;
    while (true) {
        u64 t = *(volatile u64*)&g[s].tag;
        if (t == h) return s;
        if (t == 0) {
            u64 prev = atomicCAS(&g[s].tag, 0ull, h);
            if (prev == 0) {
                g[s].window = w;
                g[s].key_off = koff;
                g[s].key_len = klen;
                *fresh = true;
                return s;
            }
            if (prev == h) return s;
        }
        s = (s + 1) & mask;
    }
}

#if LP_EPOCH_SLOTS
// A group's sums over one warp's lines: what its leader adds to the group's slot.
struct LpSums {
    u32 requests, s4xx, s5xx, lat_count;
    u64 bytes, lat_sum;
};

__device__ __forceinline__ u32 lp_ld_acquire(const u32* p) {
    u32 v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}

__device__ __forceinline__ void lp_st_release(u32* p, u32 v) {
    asm volatile("st.release.gpu.global.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}

// `lp_group_slot` for slots live by epoch: adds `v` to the group of tag `h` in batch `epoch`,
// claiming a slot of an earlier batch for it if it has none yet (written whole with `v`).
__device__ u32 lp_group_add_epoch(LpGroup* g, u32 mask, u64 h, i64 w, u32 koff, u32 klen,
                                  u32 epoch, const LpSums& v, bool* fresh) {
    u32 s = (u32)(h >> 20) & mask;
    while (true) {
#if LP_EPOCH_SLOTS == 2
        // Relaxed: the tag is read only when the epoch matches, a load that depends on this
        // one's value (an acquire at gpu scope also invalidates the SM's L1 in SASS).
        u32 e = *(volatile u32*)&g[s].epoch;
#else
        u32 e = lp_ld_acquire(&g[s].epoch);
#endif
        if (e == epoch) {
            if (*(volatile u64*)&g[s].tag == h) {
                LpGroup* p = &g[s];
                atomicAdd(&p->requests, v.requests);
                if (v.bytes) atomicAdd(&p->bytes, v.bytes);
                if (v.s4xx) atomicAdd(&p->s4xx, v.s4xx);
                if (v.s5xx) atomicAdd(&p->s5xx, v.s5xx);
                if (v.lat_count) {
                    atomicAdd(&p->lat_count, v.lat_count);
                    atomicAdd(&p->lat_sum, v.lat_sum);
                }
                return s;
            }
            s = (s + 1) & mask;
        } else if (e != LP_SLOT_LOCK && atomicCAS(&g[s].epoch, e, LP_SLOT_LOCK) == e) {
            // A slot of an earlier batch (or never used): written whole with this warp's
            // sums, then published for this batch (release: the fields before the epoch).
            LpGroup* p = &g[s];
            p->tag = h;
            p->window = w;
            p->key_off = koff;
            p->key_len = klen;
            p->requests = v.requests;
            p->s4xx = v.s4xx;
            p->s5xx = v.s5xx;
            p->lat_count = v.lat_count;
            p->bytes = v.bytes;
            p->lat_sum = v.lat_sum;
            lp_st_release(&p->epoch, epoch);
            *fresh = true;
            return s;
        }
        // Being claimed, or claimed under us: look at the slot again.
    }
}
#endif

__device__ void lp_count_add(LpCount* c, u32 mask, u64 tag, u32 n, u64* header, u32* claim) {
    u32 s = (u32)lp_mix64(tag) & mask;
    while (true) {
        u64 t = *(volatile u64*)&c[s].tag;
        if (t == 0) {
            u64 prev = atomicCAS(&c[s].tag, 0ull, tag);
            if (prev == 0) {
                u32 k = (u32)atomicAdd(&header[H_NCOUNTS], 1ull);
                claim[k] = s;
                t = tag;
            } else {
                t = prev;
            }
        }
        if (t == tag) {
            atomicAdd(&c[s].count, n);
            return;
        }
        s = (s + 1) & mask;
    }
}

// Window slots store `window ^ 2^63`, so zeroed memory is empty.
__device__ u32 lp_window_slot(LpWindow* wt, u32 mask, i64 w, u64* header, u32* claim) {
    u64 key = (u64)w ^ 0x8000000000000000ull;
    u32 s = (u32)lp_mix64(key) & mask;
    while (true) {
        u64 t = *(volatile u64*)&wt[s].key;
        if (t == key) return s;
        if (t == 0) {
            u64 prev = atomicCAS(&wt[s].key, 0ull, key);
            if (prev == 0) {
                u32 k = (u32)atomicAdd(&header[H_NWINDOWS], 1ull);
                wt[s].idx = k;
                claim[k] = s;
                return s;
            }
            if (prev == key) return s;
        }
        s = (s + 1) & mask;
    }
}

extern "C" __global__ void __launch_bounds__(LP_PARSE_THREADS)
lp_parse_aggregate(const u8* __restrict__ bytes, const u32* __restrict__ nl, u32 lines_cap,
                   u64* header, LpGroup* groups, u32 gmask, u32 gepoch, LpCount* counts,
                   u32 cmask, LpWindow* windows, u32 wmask, u32* gclaim, u32* cclaim,
                   u32* wclaim, LpReject* rejects, i64 batch_seq, u32 smem_bytes,
                   const LpW3c w3c) {
    extern __shared__ __align__(16) u8 smem[];
    __shared__ u32 s_cnt[3 + 16]; // records, directives, filtered, rejects by code
    __shared__ i64 s_max;
    __shared__ u32 s_fresh; // new groups of the block, then (after the last barrier) their base
    u32 nlines = min((u32)header[H_LINES], lines_cap);
    u32 first = blockIdx.x * LP_PARSE_THREADS;
    if (first >= nlines) return; // uniform over the block
    u32 last = min(first + LP_PARSE_THREADS, nlines);
    u32 span_s = first == 0 ? 0 : nl[first - 1] + 1;
    u32 span_e = nl[last - 1];
    u32 a = span_s & ~15u;
    bool staged = span_e - a <= smem_bytes;
    // The thread's own line ends are read now, in the same round trip as the block's span,
    // rather than after the staging barrier.
    u32 i = first + threadIdx.x;
    bool have = i < last;
    u32 ls = have && i > 0 ? nl[i - 1] + 1 : 0;
    u32 le = have ? nl[i] : 0;
    if (threadIdx.x < 19) s_cnt[threadIdx.x] = 0;
    if (threadIdx.x == 0) s_max = (i64)0x8000000000000000ull;
    if (threadIdx.x == 0) s_fresh = 0;
    if (staged) {
        u32 words = (span_e - a + 15) >> 4;
        const uint4* src = reinterpret_cast<const uint4*>(bytes + a);
        uint4* dst = reinterpret_cast<uint4*>(smem);
#if LP_ASYNC_STAGE && __CUDA_ARCH__ >= 800
        for (u32 k = threadIdx.x; k < words; k += LP_PARSE_THREADS) {
            u32 d = (u32)__cvta_generic_to_shared(dst + k);
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(d), "l"(src + k));
        }
        asm volatile("cp.async.wait_all;\n" ::: "memory");
#else
        for (u32 k = threadIdx.x; k < words; k += LP_PARSE_THREADS) dst[k] = src[k];
#endif
    }
    __syncthreads();

    int code = -1;
    LpRec r;
    lp_rec_init(r);
    u64 h = 0;
    i64 w = 0;
    if (have) {
        u32 raw = le - ls;
        const u8* L = staged ? smem + (ls - a) : bytes + ls;
        int n = (int)raw;
        if (n > 0 && L[n - 1] == '\r') --n;
        code = n == 0 ? LP_EMPTY_LINE : lp_parse_line(L, n, r, w3c, ls);
        if (code == LP_RECORD) {
            w = lp_window_of(r.time, batch_seq);
            if (r.key_off == LP_KEY_NONE) {
                h = lp_none_key_hash(w);
            } else if (lp_utf8(L + r.key_off, r.key_len)) {
                h = lp_key_hash(w, L + r.key_off, r.key_len);
            } else {
                code = LP_INVALID_UTF8;
            }
            // After the key check: a key that is not UTF-8 is a reject, filtered or not.
            if (code == LP_RECORD && !lp_filters_pass(L, r)) code = LP_FILTERED;
        } else if (code != LP_DIRECTIVE && code != LP_EMPTY_LINE && lp_looks_binary(L, n)) {
            code = LP_BINARY_DATA;
        }
    }
    bool rec = have && code == LP_RECORD;
    bool filt = have && code == LP_FILTERED;
    bool rej = have && code != LP_RECORD && code != LP_DIRECTIVE && code != LP_FILTERED;
    // Filtered records are records too (parsed = aggregated + filtered).
    if (rec || filt) atomicAdd(&s_cnt[0], 1u);
    if (have && code == LP_DIRECTIVE) atomicAdd(&s_cnt[1], 1u);
    if (filt) atomicAdd(&s_cnt[2], 1u);
    if (rej) atomicAdd(&s_cnt[3 + (code & 15)], 1u);

    // Rejects: compacted (line, offset, reason); the host sorts them by line.
    u32 ri = lp_warp_reserve(&header[H_NREJECTS], rej);
    if (rej) {
        LpReject o;
        o.line = i;
        o.offset = ls;
        o.code = (u32)code;
        rejects[ri] = o;
    }

    // Latest event time (filtered records move the stream on too).
    i64 tmax = rec || filt ? r.time : (i64)0x8000000000000000ull;
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) {
        i64 o = __shfl_down_sync(0xffffffffu, tmax, d);
        tmax = o > tmax ? o : tmax;
    }
    if ((threadIdx.x & 31) == 0 && tmax != (i64)0x8000000000000000ull) atomicMax(&s_max, tmax);

    // Groups: lanes with the same tag are summed in registers, their leader updates the table.
    unsigned full = 0xffffffffu;
    unsigned lane = threadIdx.x & 31;
    unsigned peers = __match_any_sync(full, rec ? h : 0ull);
    u64 lat_v = rec && r.has_lat ? r.lat : 0;
    u64 bsum = rec ? r.bytes : 0, lsum = lat_v;
    // Only lanes that share their group with another lane are read by shuffles (a warp's 32
    // lines mostly have distinct keys, so this is usually a few steps instead of 32).
    unsigned shared_lanes = __ballot_sync(full, rec && peers != (1u << lane));
    while (shared_lanes) {
        int j = __ffs(shared_lanes) - 1;
        shared_lanes &= shared_lanes - 1;
        u64 vb = __shfl_sync(full, r.bytes, j);
        u64 vl = __shfl_sync(full, lat_v, j);
        if (j != (int)lane && ((peers >> j) & 1u)) {
            bsum += vb;
            lsum += vl;
        }
    }
    unsigned b4 = __ballot_sync(full, rec && r.status >= 400 && r.status <= 499);
    unsigned b5 = __ballot_sync(full, rec && r.status >= 500 && r.status <= 599);
    unsigned bl = __ballot_sync(full, rec && r.has_lat);
    int leader = __ffs(peers) - 1;
    u32 slot = 0;
    bool fresh = false;
    if (rec && (int)lane == leader) {
        u32 koff = r.key_off == LP_KEY_NONE ? LP_KEY_NONE : ls + r.key_off;
        u32 n4 = __popc(peers & b4), n5 = __popc(peers & b5), nl_ = __popc(peers & bl);
#if LP_EPOCH_SLOTS
        LpSums v = {(u32)__popc(peers), n4, n5, nl_, bsum, nl_ ? lsum : 0};
        slot = lp_group_add_epoch(groups, gmask, h, w, koff, r.key_len, gepoch, v, &fresh);
#else
        slot = lp_group_slot(groups, gmask, h, w, koff, r.key_len, &fresh);
        LpGroup* g = &groups[slot];
        atomicAdd(&g->requests, (u32)__popc(peers));
        if (bsum) atomicAdd(&g->bytes, bsum);
        if (n4) atomicAdd(&g->s4xx, n4);
        if (n5) atomicAdd(&g->s5xx, n5);
        if (nl_) {
            atomicAdd(&g->lat_count, nl_);
            atomicAdd(&g->lat_sum, lsum);
        }
#endif
    }
    __syncwarp();
    // New groups take their output index (claim order) with one atomic on the header a block,
    // after its last barrier (ranks from a shared counter now): a 4M-line batch makes ~1M
    // groups, and atomics on one counter serialise in L2 (one a warp: parse +30% for TSV).
    u32 fresh_slot = slot;
    u32 claim_rank = lp_warp_reserve(&s_fresh, fresh);
    slot = __shfl_sync(full, slot, leader < 0 ? 0 : leader);
    if (rec && r.status >= 500) {
        u64 tag = LP_TAG_ERROR | ((u64)slot << 12) | (u64)r.status;
        lp_count_add(counts, cmask, tag, 1, header, cclaim);
    }
    if (rec && r.has_lat) {
        u32 ws = lp_window_slot(windows, wmask, w, header, wclaim);
        u64 tag = LP_TAG_HIST | ((u64)ws << 12) | (u64)lp_bucket(r.lat);
        lp_count_add(counts, cmask, tag, 1, header, cclaim);
    }

    __syncthreads();
    if (threadIdx.x < 19 && s_cnt[threadIdx.x]) {
        u32 slot_h = threadIdx.x == 0 ? H_RECORDS
                   : threadIdx.x == 1 ? H_DIRECTIVES
                   : threadIdx.x == 2 ? H_FILTERED
                   : H_REJECT_COUNTS + (threadIdx.x - 3);
        atomicAdd(&header[slot_h], (u64)s_cnt[threadIdx.x]);
    }
    if (threadIdx.x == 0 && s_max != (i64)0x8000000000000000ull)
        atomicMax((i64*)&header[H_MAX_TIME], s_max);
    if (threadIdx.x == 0 && s_fresh) s_fresh = (u32)atomicAdd(&header[H_NGROUPS], (u64)s_fresh);
    __syncthreads();
    if (fresh) {
        u32 claim_at = s_fresh + claim_rank;
        groups[fresh_slot].out_idx = claim_at;
        gclaim[claim_at] = fresh_slot;
    }
}

// Error and histogram counters -> output (group / window indices resolved), slots cleared.
extern "C" __global__ void lp_compact_counts(LpCount* counts, const u32* __restrict__ cclaim,
                                             const LpGroup* __restrict__ groups,
                                             const LpWindow* __restrict__ windows,
                                             const u64* __restrict__ header,
                                             LpCountOut* __restrict__ out) {
    u32 n = (u32)header[H_NCOUNTS];
    for (u32 k = blockIdx.x * blockDim.x + threadIdx.x; k < n; k += gridDim.x * blockDim.x) {
        u32 s = cclaim[k];
        u64 tag = counts[s].tag;
        u32 from = (u32)((tag & ~(LP_TAG_ERROR | LP_TAG_HIST)) >> 12);
        LpCountOut o;
        o.b = (u32)(tag & 0xfff);
        o.count = counts[s].count;
        if (tag & LP_TAG_HIST) {
            o.kind = 2;
            o.a = windows[from].idx;
        } else {
            o.kind = 1;
            o.a = groups[from].out_idx;
        }
        out[k] = o;
        counts[s].tag = 0;
        counts[s].count = 0;
    }
}

// Groups and windows -> output in claim order, slots cleared for the next batch. Each group's
// key bytes are gathered into one packed arena, so the host reads them sequentially instead of
// chasing one cache miss per group through the batch.
extern "C" __global__ void lp_compact_groups(LpGroup* groups, const u32* __restrict__ gclaim,
                                             LpWindow* windows, const u32* __restrict__ wclaim,
                                             u64* header, LpGroupOut* __restrict__ gout,
                                             i64* __restrict__ wout, const u8* __restrict__ bytes,
                                             u8* __restrict__ keys) {
    u32 ng = (u32)header[H_NGROUPS];
    u32 nw = (u32)header[H_NWINDOWS];
    u32 stride = gridDim.x * blockDim.x;
    unsigned lane = threadIdx.x & 31;
    // Block-uniform trip count, so whole warps reserve arena space with one atomic.
    for (u32 base = blockIdx.x * blockDim.x; base < ng; base += stride) {
        u32 k = base + threadIdx.x;
        bool act = k < ng;
        // The group in four 16-byte loads (slots are 64-byte aligned), cleared in four stores.
        uint4* gp = act ? reinterpret_cast<uint4*>(&groups[gclaim[k]]) : nullptr;
        LpGroup g;
        if (act) {
            uint4 raw[4] = {gp[0], gp[1], gp[2], gp[3]};
            memcpy(&g, raw, sizeof g);
        }
        u32 len = act && g.key_off != LP_KEY_NONE ? g.key_len : 0;
        u32 incl = len;
#pragma unroll
        for (int d = 1; d < 32; d <<= 1) {
            u32 t = __shfl_up_sync(0xffffffffu, incl, d);
            if (lane >= (u32)d) incl += t;
        }
        u32 total = __shfl_sync(0xffffffffu, incl, 31);
        u32 at = 0;
        if (lane == 31 && total) at = (u32)atomicAdd(&header[H_KEY_BYTES], (u64)total);
        at = __shfl_sync(0xffffffffu, at, 31) + incl - len;
        // Keys are copied by groups of 8 lanes, four keys at a time, 32 bytes a step (four
        // independent loads a lane): a scattered key is one or two cache lines, where a byte
        // loop per lane touched 32 lines an instruction, and one key at a time per warp
        // waited out 32 load latencies in a row.
        u32 src = len ? g.key_off : 0;
        unsigned sub = lane & 7;
        for (int j0 = 0; j0 < 32; j0 += 4) {
            int j = j0 + (int)(lane >> 3);
            u32 lj = __shfl_sync(0xffffffffu, len, j);
            u32 sj = __shfl_sync(0xffffffffu, src, j);
            u32 dj = __shfl_sync(0xffffffffu, at, j);
            for (u32 b0 = 0; b0 < lj; b0 += 32) {
                u8 c[4];
#pragma unroll
                for (int q = 0; q < 4; ++q) {
                    u32 b = b0 + sub + 8 * q;
                    c[q] = b < lj ? bytes[sj + b] : 0;
                }
#pragma unroll
                for (int q = 0; q < 4; ++q) {
                    u32 b = b0 + sub + 8 * q;
                    if (b < lj) keys[dj + b] = c[q];
                }
            }
        }
        if (!act) continue;
        LpGroupOut o;
        o.hash = g.tag;
        o.window = g.window;
        o.key_len = g.key_len;
        o.key_off = g.key_off == LP_KEY_NONE ? LP_KEY_NONE : at;
        o.requests = g.requests;
        o.s4xx = g.s4xx;
        o.s5xx = g.s5xx;
        o.lat_count = g.lat_count;
        o.bytes = g.bytes;
        o.lat_sum = g.lat_sum;
        gout[k] = o;
#if !LP_EPOCH_SLOTS
        const uint4 z = make_uint4(0, 0, 0, 0);
        gp[0] = z;
        gp[1] = z;
        gp[2] = z;
        gp[3] = z;
#endif
    }
    for (u32 k = blockIdx.x * blockDim.x + threadIdx.x; k < nw; k += stride) {
        LpWindow* wt = &windows[wclaim[k]];
        wout[k] = (i64)(wt->key ^ 0x8000000000000000ull);
        wt->key = 0;
        wt->idx = 0;
    }
}
