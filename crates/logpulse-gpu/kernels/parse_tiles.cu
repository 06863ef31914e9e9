// Parse + aggregate straight from the bytes, with no line index: block b takes the lines that
// start in its tile, bytes [b * tile, (b + 1) * tile). It stages the tile and a little more
// (`stage` bytes) in shared memory, finds the tile's newlines there, lists the line starts in
// order, and parses them 128 at a time with `lp_line`, as `lp_parse_aggregate` does. This
// saves `lp_line_index`'s pass over the batch in device memory (a fifth of the kernels' time
// on a 4M-line TSV batch) and its line array. Lines that run past the staged bytes are read
// from device memory. Reject line numbers are found on the host, from the offsets.

// Line starts listed at once; a tile with more (tiny lines) is listed in several passes.
#define LP_STARTS_CAP 512
// (chunk round, warp) pairs of a tile: tiles up to 32 chunk rounds of 128 x 16 bytes.
#define LP_TILE_PAIRS 128

// Newline bits of 16-byte chunk `c` of the staged tile, only positions below `lim`.
__device__ __forceinline__ u32 lp_tile_mask(const u8* smem, u32 c, u32 lim) {
    u32 at = c * 16;
    if (at >= lim) return 0;
    u32 m = lp_nl_mask16(reinterpret_cast<const uint4*>(smem)[c]);
    if (lim - at < 16) m &= (1u << (lim - at)) - 1u;
    return m;
}

__device__ __forceinline__ u32 lp_warp_incl_scan(u32 v) {
    u32 lane = threadIdx.x & 31;
#pragma unroll
    for (int d = 1; d < 32; d <<= 1) {
        u32 t = __shfl_up_sync(0xffffffffu, v, d);
        if (lane >= (u32)d) v += t;
    }
    return v;
}

// The first '\n' at `from` or later (from the staged bytes [t0, se) while they last, then 16
// bytes a lane from device memory), or `n`; one warp.
__device__ __forceinline__ u32 lp_next_newline(const u8* __restrict__ bytes, u32 n,
                                               const u8* smem, u32 t0, u32 se, u32 from) {
    u32 lane = threadIdx.x & 31;
    for (u32 q = from; q < se; q += 32) {
        u32 p = q + lane;
        unsigned bm = __ballot_sync(0xffffffffu, p < se && smem[p - t0] == '\n');
        if (bm) return q + __ffs(bm) - 1;
    }
    for (u32 q = max(from, se) & ~15u; q < n; q += 32 * 16) {
        u32 off = q + lane * 16;
        u32 m = off < n ? lp_nl_mask16(lp_load16(bytes, n, off)) : 0u;
        if (off < from) m &= ~0u << min(from - off, 16u);
        unsigned bm = __ballot_sync(0xffffffffu, m != 0);
        if (bm) {
            int l = __ffs(bm) - 1;
            u32 first = __shfl_sync(0xffffffffu, off + __ffs(m) - 1, l);
            return first;
        }
    }
    return n;
}

extern "C" __global__ void __launch_bounds__(LP_PARSE_THREADS)
lp_parse_tiles(const u8* __restrict__ bytes, u32 n, u32 tile, u32 stage, u32 lines_cap,
               u64* header, LpGroup* groups, u32 gmask, u32 gepoch, LpCount* counts,
               u32 cmask, LpWindow* windows, u32 wmask, u32* gclaim, u32* cclaim,
               u32* wclaim, LpReject* rejects, i64 batch_seq, const LpW3c w3c) {
    extern __shared__ __align__(16) u8 smem[];
    __shared__ LpBlockAcc acc;
    __shared__ u32 s_start[LP_STARTS_CAP + 1];
    // Newline counts of each (chunk round, warp), then their exclusive prefixes.
    __shared__ u32 s_pre[LP_TILE_PAIRS];
    __shared__ u32 s_total, s_end, s_skip;
    const u32 t0 = blockIdx.x * tile;
    if (t0 >= n) return; // uniform over the block
    const u32 t1 = min(t0 + tile, n);
    const u32 se = min(t0 + stage, n); // bytes [t0, se) are staged (stage >= tile)
    const u32 lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const u32 nwarps = LP_PARSE_THREADS / 32;
    // A line starts at t0 when the byte before it ends one; after that at e + 1 for every
    // newline e in [t0, t1 - 1) (a newline at t1 - 1 starts the next tile's first line).
    const bool has0 = t0 == 0 || bytes[t0 - 1] == '\n';
    const u32 lim = t1 - t0 - 1;
    const u32 chunk_rounds = ((lim + 15) / 16 + LP_PARSE_THREADS - 1) / LP_PARSE_THREADS;
    lp_acc_init(acc);
    lp_stage(smem, bytes + t0, (se - t0 + 15) >> 4);
    __syncthreads();

    // Chunk c = j * 128 + thread covers staged bytes [16c, 16c + 16): counts per warp and
    // round, in chunk (byte) order.
    for (u32 j = 0; j < chunk_rounds; ++j) {
        u32 incl = lp_warp_incl_scan(__popc(lp_tile_mask(smem, j * LP_PARSE_THREADS + threadIdx.x, lim)));
        if (lane == 31) s_pre[j * nwarps + wid] = incl;
    }
    __syncthreads();
    if (wid == 0) {
        u32 pairs = chunk_rounds * nwarps; // <= LP_TILE_PAIRS (the host caps the tile)
        u32 v[4], sum = 0;
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            u32 e = lane * 4 + q;
            v[q] = e < pairs ? s_pre[e] : 0u;
            sum += v[q];
        }
        u32 incl = lp_warp_incl_scan(sum);
        u32 run = incl - sum;
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            u32 e = lane * 4 + q;
            if (e < pairs) s_pre[e] = run;
            run += v[q];
        }
        if (lane == 31) {
            u32 total = incl + (has0 ? 1u : 0u);
            s_total = total;
            // The slot's tables hold lines_cap lines: past that, only count (the host sees
            // more lines than it sized for and reruns the batch on larger buffers).
            u64 before = total ? atomicAdd(&header[H_LINES], (u64)total) : 0;
            s_skip = before + total > lines_cap;
        }
    } else if (wid == 1) {
        // Where the tile's last line ends: no newline lies between its start and t1 - 1.
        u32 e = lp_next_newline(bytes, n, smem, t0, se, t1 - 1);
        if (lane == 0) s_end = e;
    }
    __syncthreads();
    const u32 total = s_total;
    if (total == 0 || s_skip) return; // uniform

    u32 round = 0;
    for (u32 p0 = 0; p0 < total; p0 += LP_STARTS_CAP) {
        // The starts with order index p0 ..= p0 + CAP (one more than parsed: the last one's
        // successor gives its end).
        if (threadIdx.x == 0 && has0 && p0 == 0) s_start[0] = t0;
        for (u32 j = 0; j < chunk_rounds; ++j) {
            u32 c = j * LP_PARSE_THREADS + threadIdx.x;
            u32 m = lp_tile_mask(smem, c, lim);
            u32 cnt = __popc(m);
            u32 incl = lp_warp_incl_scan(cnt);
            u32 idx = (has0 ? 1u : 0u) + s_pre[j * nwarps + wid] + incl - cnt;
            for (; m; m &= m - 1, ++idx) {
                if (idx >= p0 && idx <= p0 + LP_STARTS_CAP)
                    s_start[idx - p0] = t0 + c * 16 + (u32)__ffs(m);
            }
        }
        __syncthreads();
        u32 here = min((u32)LP_STARTS_CAP, total - p0);
        for (u32 base = 0; base < here; base += LP_PARSE_THREADS, ++round) {
            u32 k = base + threadIdx.x;
            bool have = k < here;
            u32 ls = have ? s_start[k] : t0;
            u32 le = !have ? t0 : p0 + k + 1 < total ? s_start[k + 1] - 1 : s_end;
            const u8* L = le <= se ? smem + (ls - t0) : bytes + ls;
            lp_line(acc, round, have, ls, le, L, LP_LINE_UNKNOWN, header, groups, gmask, gepoch,
                    counts, cmask, windows, wmask, gclaim, cclaim, wclaim, rejects, batch_seq,
                    w3c);
        }
        __syncthreads(); // the next pass rewrites s_start
    }
    lp_acc_flush(acc, header);
}
