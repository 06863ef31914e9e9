// Line index: the byte position of every '\n' in the batch, in order, over tiles of LI_TILE
// bytes (16 bytes a thread, 16-byte loads), in one pass: each tile's offset comes from a
// decoupled look-back over the tiles before it. It replaced three passes (count per tile,
// one-block scan, write), which read the batch twice: H200, 10M lines, index of one 445 MB
// batch 0.51 -> 0.42 ms (BENCHMARKS.md, sixth session).

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

// Tile states of the one-pass index: bits 63-62 the status (1: the tile's own count, 2: the
// inclusive count of every tile up to it), bits 61-32 the batch's epoch (states of earlier
// batches read as not ready, so the array is never cleared), bits 31-0 the count.
#define LI_AGG 1ull
#define LI_PREFIX 2ull

__device__ __forceinline__ u64 lp_tile_word(u64 status, u32 epoch, u32 v) {
    return (status << 62) | ((u64)(epoch & 0x3fffffffu) << 32) | (u64)v;
}

// This tile's state, waiting until the tile has published one for this batch.
__device__ __forceinline__ u64 lp_tile_wait(const u64* states, u32 t, u32 epoch) {
    while (true) {
        u64 s = *(volatile const u64*)&states[t];
        if ((s >> 62) != 0 && (u32)((s >> 32) & 0x3fffffffu) == (epoch & 0x3fffffffu)) return s;
    }
}

// One pass: count the tile's newlines, publish the count, add up the tiles before it (warp 0
// reads 32 predecessors at a time, stopping at the nearest one that knows its inclusive count;
// blocks start in index order, so every predecessor waited on is running or done), publish
// the inclusive count, write the positions. The last tile resets the batch header and sets
// the line count.
extern "C" __global__ void __launch_bounds__(LI_THREADS)
lp_line_index(const u8* __restrict__ bytes, u32 n, u64* __restrict__ states, u32 epoch,
              u32* __restrict__ nl, u32 cap, u64* __restrict__ header) {
    u32 tile = blockIdx.x;
    u32 off = tile * LI_TILE + threadIdx.x * 16;
    uint4 v = make_uint4(0, 0, 0, 0);
    u32 c = 0;
    if (off < n) {
        v = lp_load16(bytes, n, off);
        c = lp_nl_in_word(v.x) + lp_nl_in_word(v.y) + lp_nl_in_word(v.z) + lp_nl_in_word(v.w);
        c += lp_open_tail(bytes, n, off);
    }
    u32 total;
    u32 local = lp_block_scan(c, &total);
    __shared__ u32 s_base;
    if (threadIdx.x < 32) {
        u32 lane = threadIdx.x;
        u32 excl = 0;
        if (tile == 0) {
            if (lane == 0) atomicExch((unsigned long long*)&states[0], lp_tile_word(LI_PREFIX, epoch, total));
        } else {
            if (lane == 0) atomicExch((unsigned long long*)&states[tile], lp_tile_word(LI_AGG, epoch, total));
            int top = (int)tile - 1;
            while (true) {
                int q = top - (31 - (int)lane);
                u64 st = LI_PREFIX;
                u32 val = 0;
                if (q >= 0) {
                    u64 s = lp_tile_wait(states, (u32)q, epoch);
                    st = s >> 62;
                    val = (u32)s;
                }
                unsigned pm = __ballot_sync(0xffffffffu, st == LI_PREFIX);
                // Lanes above the highest one holding an inclusive count add their own
                // counts; that lane adds its inclusive count; lanes below it are covered by it.
                int hi = pm ? 31 - __clz(pm) : -1;
                u32 contrib = (int)lane >= hi ? val : 0;
#pragma unroll
                for (int d = 16; d > 0; d >>= 1) contrib += __shfl_xor_sync(0xffffffffu, contrib, d);
                excl += contrib;
                if (pm) break;
                top -= 32;
            }
            if (lane == 0) atomicExch((unsigned long long*)&states[tile], lp_tile_word(LI_PREFIX, epoch, excl + total));
        }
        if (lane == 0) {
            s_base = excl;
            if (tile == gridDim.x - 1) {
                for (int k = 0; k < H_WORDS; ++k) header[k] = 0;
                header[H_LINES] = excl + total;
                header[H_MAX_TIME] = 0x8000000000000000ull; // i64::MIN
            }
        }
    }
    __syncthreads();
    if (c == 0) return;
    u32 idx = s_base + local;
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
