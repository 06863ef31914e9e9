// Line index: the byte position of every '\n' in the batch, in order. Three passes over tiles
// of LI_TILE bytes (16 bytes a thread, 16-byte loads): count per tile, one-block scan of the
// tile counts (which also resets the batch header), then write positions.

#define LI_THREADS 256
#define LI_TILE (LI_THREADS * 16)

// Number of '\n' bytes in a word (exact: no false positives from borrows).
__device__ __forceinline__ u32 lp_nl_in_word(u32 w) {
    u32 x = w ^ 0x0a0a0a0au;
    u32 y = (x & 0x7f7f7f7fu) + 0x7f7f7f7fu;
    y = ~(y | x | 0x7f7f7f7fu);
    return __popc(y);
}

// The thread's 16 bytes, with bytes past `n` read as 0.
__device__ __forceinline__ uint4 lp_load16(const u8* bytes, u32 n, u32 off) {
    if (off + 16 <= n) return *reinterpret_cast<const uint4*>(bytes + off);
    u32 w[4] = {0, 0, 0, 0};
    for (u32 k = 0; k < 16 && off + k < n; ++k) w[k >> 2] |= (u32)bytes[off + k] << ((k & 3) * 8);
    return make_uint4(w[0], w[1], w[2], w[3]);
}

// 1 when this thread holds the batch's last byte and it is not '\n': the last line then ends
// at `n` (a batch should end with a newline; this keeps a stray unterminated tail a line, as
// the CPU parser treats it).
__device__ __forceinline__ u32 lp_open_tail(const u8* bytes, u32 n, u32 off) {
    return (n > 0 && off <= n - 1 && n - 1 < off + 16 && bytes[n - 1] != '\n') ? 1u : 0u;
}

// Exclusive scan over the block (blockDim.x a multiple of 32); `total` gets the block's sum.
__device__ __forceinline__ u32 lp_block_scan(u32 v, u32* total) {
    __shared__ u32 warp_sums[32];
    u32 lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    u32 incl = v;
#pragma unroll
    for (int d = 1; d < 32; d <<= 1) {
        u32 t = __shfl_up_sync(0xffffffffu, incl, d);
        if (lane >= (u32)d) incl += t;
    }
    if (lane == 31) warp_sums[wid] = incl;
    __syncthreads();
    if (wid == 0) {
        u32 s = lane < nw ? warp_sums[lane] : 0;
#pragma unroll
        for (int d = 1; d < 32; d <<= 1) {
            u32 t = __shfl_up_sync(0xffffffffu, s, d);
            if (lane >= (u32)d) s += t;
        }
        warp_sums[lane] = s;
    }
    __syncthreads();
    u32 base = wid ? warp_sums[wid - 1] : 0;
    *total = warp_sums[nw - 1];
    __syncthreads();
    return base + incl - v;
}

extern "C" __global__ void __launch_bounds__(LI_THREADS)
lp_count_newlines(const u8* __restrict__ bytes, u32 n, u32* __restrict__ tile_counts) {
    u32 off = blockIdx.x * LI_TILE + threadIdx.x * 16;
    u32 c = 0;
    if (off < n) {
        uint4 v = lp_load16(bytes, n, off);
        c = lp_nl_in_word(v.x) + lp_nl_in_word(v.y) + lp_nl_in_word(v.z) + lp_nl_in_word(v.w);
        c += lp_open_tail(bytes, n, off);
    }
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) c += __shfl_down_sync(0xffffffffu, c, d);
    __shared__ u32 s[LI_THREADS / 32];
    if ((threadIdx.x & 31) == 0) s[threadIdx.x >> 5] = c;
    __syncthreads();
    if (threadIdx.x == 0) {
        u32 t = 0;
        for (int i = 0; i < LI_THREADS / 32; ++i) t += s[i];
        tile_counts[blockIdx.x] = t;
    }
}

// One block of 1024 threads: tile counts -> exclusive offsets; resets the header.
extern "C" __global__ void __launch_bounds__(1024)
lp_scan_tiles(u32* __restrict__ tiles, u32 ntiles, u64* __restrict__ header) {
    u32 per = (ntiles + blockDim.x - 1) / blockDim.x;
    u32 lo = min(threadIdx.x * per, ntiles), hi = min(lo + per, ntiles);
    u32 sum = 0;
    for (u32 i = lo; i < hi; ++i) sum += tiles[i];
    u32 total;
    u32 run = lp_block_scan(sum, &total);
    for (u32 i = lo; i < hi; ++i) {
        u32 c = tiles[i];
        tiles[i] = run;
        run += c;
    }
    if (threadIdx.x < H_WORDS) header[threadIdx.x] = 0;
    __syncthreads();
    if (threadIdx.x == 0) {
        header[H_LINES] = total;
        header[H_MAX_TIME] = 0x8000000000000000ull; // i64::MIN
    }
}

extern "C" __global__ void __launch_bounds__(LI_THREADS)
lp_write_newlines(const u8* __restrict__ bytes, u32 n, const u32* __restrict__ tile_offs,
                  u32* __restrict__ nl, u32 cap) {
    u32 off = blockIdx.x * LI_TILE + threadIdx.x * 16;
    uint4 v = make_uint4(0, 0, 0, 0);
    u32 c = 0;
    if (off < n) {
        v = lp_load16(bytes, n, off);
        c = lp_nl_in_word(v.x) + lp_nl_in_word(v.y) + lp_nl_in_word(v.z) + lp_nl_in_word(v.w);
        c += lp_open_tail(bytes, n, off);
    }
    u32 total;
    u32 idx = tile_offs[blockIdx.x] + lp_block_scan(c, &total);
    if (c == 0) return;
    u32 w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int k = 0; k < 16; ++k) {
        if (((w[k >> 2] >> ((k & 3) * 8)) & 0xff) == '\n') {
            if (idx < cap) nl[idx] = off + k;
            ++idx;
        }
    }
    if (lp_open_tail(bytes, n, off) && idx < cap) nl[idx] = n;
}
