// Parse + aggregate straight from the batch, without a line index: block b owns the lines that
// start in its tile of bytes [b * tile, (b + 1) * tile). It stages the tile and PT_EXT bytes
// past it in shared memory (coalesced 16-byte loads), finds the line starts there (each thread
// a contiguous segment, a block scan orders them), chains its line count behind the earlier
// tiles' (lp_tile_lookback: the batch's line numbers, for rejects and the slot's line
// capacity), then parses its lines one a thread, 128 at a time (lp_line). Against the two
// kernels (lp_line_index writing every '\n' position, lp_parse_aggregate reading them back
// and the bytes a second time) it reads the batch once and writes no index.

#define PT_THREADS 128
#define PT_EXT 2048

// Is byte q '\n'? From the staged copy when it holds q, else from the batch.
__device__ __forceinline__ bool pt_nl(const u8* smem, u32 t0, u32 se, const u8* bytes, u32 q) {
    return (q >= t0 && q < se ? smem[q - t0] : bytes[q]) == '\n';
}

extern "C" __global__ void __launch_bounds__(PT_THREADS)
lp_parse_tiles(const u8* __restrict__ bytes, u32 n, u32 tile_bytes, u64* __restrict__ states,
               u32 epoch, u32 lines_cap, const LpTables t, i64 batch_seq, const LpW3c w3c) {
    extern __shared__ __align__(16) u8 smem[];
    __shared__ LpBlockCounts bc;
    __shared__ u32 s_start[PT_THREADS + 1];
    __shared__ u32 s_base, s_total, s_last_end;
    if (n == 0) return; // the zeroed header already says 0 lines
    u32 tile = blockIdx.x;
    u32 t0 = tile * tile_bytes;
    u32 t1 = min(t0 + tile_bytes, n);
    u32 se = min(t1 + PT_EXT, n); // staged: [t0, se), whole 16-byte words
    lp_block_counts_init(bc);
    if (threadIdx.x == 0) s_last_end = 0xffffffffu;
    {
        u32 words = (se - t0 + 15) >> 4;
        const uint4* src = reinterpret_cast<const uint4*>(bytes + t0);
        uint4* dst = reinterpret_cast<uint4*>(smem);
        for (u32 k = threadIdx.x; k < words; k += PT_THREADS) dst[k] = src[k];
    }
    __syncthreads();

    // Line starts of the tile, in order: t0 itself when the batch starts there or byte t0-1 is
    // '\n', then p+1 for each '\n' at p in [t0, t1-1) (one at t1-1 starts the next tile's
    // first line). Thread k scans bytes [s0, s1) of the tile (a multiple of 16 long).
    u32 seg = tile_bytes / PT_THREADS;
    u32 s0 = t0 + threadIdx.x * seg;
    u32 s1 = min(s0 + seg, t1 - 1);
    bool first_start = threadIdx.x == 0 && (t0 == 0 || bytes[t0 - 1] == '\n');
    u32 mine = first_start ? 1 : 0;
    for (u32 p = s0; p < s1; p += 16) {
        uint4 v = *reinterpret_cast<const uint4*>(smem + (p - t0));
        u32 w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            u32 m = lp_zero_bytes(w[q] ^ 0x0a0a0a0au);
            // Only bytes below s1.
            u32 at = p + 4 * q;
            if (at >= s1) m = 0;
            else if (s1 - at < 4) m &= (1u << (8 * (s1 - at))) - 1u;
            mine += __popc(m);
        }
    }
    u32 total;
    u32 before = lp_block_scan<u32>(mine, &total);
    if (threadIdx.x < 32) {
        u32 excl = lp_tile_lookback(states, tile, epoch, total);
        if (threadIdx.x == 0) {
            s_base = excl;
            s_total = total;
            // The header was zeroed before the launch.
            if (tile == gridDim.x - 1) t.header[H_LINES] = excl + total;
        }
    }
    // The tile's last line ends at the first '\n' at or after t1-1 (or at n): staged bytes
    // first, one 16-byte piece a thread, then the batch in blocks of 2 KiB.
    if (total > 0) {
        for (u32 from = t1 - 1; from < n; from += PT_THREADS * 16) {
            u32 p = from + threadIdx.x * 16;
            u32 e = min(p + 16, n);
            for (u32 q = p; q < e; ++q) {
                if (pt_nl(smem, t0, se, bytes, q)) {
                    atomicMin(&s_last_end, q);
                    break;
                }
            }
            __syncthreads();
            if (s_last_end != 0xffffffffu) break; // uniform: read after the barrier
            __syncthreads();
        }
    }
    __syncthreads();
    u32 base = s_base;
    total = s_total;
    u32 last_end = s_last_end == 0xffffffffu ? n : s_last_end;
    // Lines past the slot's capacity are left for the rerun the host then asks for.
    u32 limit = base < lines_cap ? min(total, lines_cap - base) : 0;
    for (u32 r0 = 0; r0 < limit; r0 += PT_THREADS) {
        // Starts of lines r0 .. r0+128 (one more: it ends line r0+127).
        u32 idx = before;
        if (idx + mine > r0 && idx <= r0 + PT_THREADS) {
            if (first_start) {
                if (idx >= r0) s_start[idx - r0] = t0;
                ++idx;
            }
            for (u32 p = s0; p < s1 && idx <= r0 + PT_THREADS; p += 16) {
                uint4 v = *reinterpret_cast<const uint4*>(smem + (p - t0));
                u32 w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
                for (int q = 0; q < 4; ++q) {
                    u32 m = lp_zero_bytes(w[q] ^ 0x0a0a0a0au);
                    u32 at = p + 4 * q;
                    if (at >= s1) m = 0;
                    else if (s1 - at < 4) m &= (1u << (8 * (s1 - at))) - 1u;
                    while (m) {
                        if (idx >= r0 && idx <= r0 + PT_THREADS)
                            s_start[idx - r0] = at + ((__ffs(m) - 1) >> 3) + 1;
                        ++idx;
                        m &= m - 1;
                    }
                }
            }
        }
        __syncthreads();
        u32 k = r0 + threadIdx.x;
        bool have = k < limit;
        u32 ls = 0, le = 0;
        if (have) {
            ls = s_start[threadIdx.x];
            le = k + 1 < total ? s_start[threadIdx.x + 1] - 1 : last_end;
        }
        const u8* L = have && le <= se ? smem + (ls - t0) : bytes + ls;
        lp_line(have, base + k, ls, L, le - ls, t, bc, batch_seq, w3c);
        __syncthreads();
    }
    lp_block_counts_flush(bc, t.header);
}
