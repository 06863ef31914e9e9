// Line index: the byte position of every '\n' in the batch, in order, over tiles of LI_TILE
// bytes (LI_CHUNKS 16-byte loads a thread, each chunk of the tile coalesced), in one pass: each tile's offset comes from a
// decoupled look-back over the tiles before it. It replaced three passes (count per tile,
// one-block scan, write), which read the batch twice: H200, 10M lines, index of one 445 MB
// batch 0.51 -> 0.42 ms (BENCHMARKS.md, sixth session).

#define LI_THREADS 512
#define LI_CHUNKS 4
#define LI_TILE (LI_THREADS * 16 * LI_CHUNKS)

// Bit b set when byte b of a 16-byte chunk is '\n' (exact: no false positives from borrows).
// The zero-byte mask has bits 7, 15, 23, 31; one multiply gathers them into bits 21-24 (the
// shifted copies land on distinct bits, so nothing carries).
__device__ __forceinline__ u32 lp_nl_mask16(uint4 v) {
    u32 w[4] = {v.x, v.y, v.z, v.w};
    u32 m = 0;
#pragma unroll
    for (int q = 0; q < 4; ++q) {
        u32 z = lp_zero_bytes(w[q] ^ 0x0a0a0a0au) >> 7;
        m |= (((z * 0x204081u) >> 21) & 0xfu) << (4 * q);
    }
    return m;
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
template <typename T> __device__ __forceinline__ T lp_block_scan(T v, T* total) {
    __shared__ T warp_sums[32];
    u32 lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    T incl = v;
#pragma unroll
    for (int d = 1; d < 32; d <<= 1) {
        T t = __shfl_up_sync(0xffffffffu, incl, d);
        if (lane >= (u32)d) incl += t;
    }
    if (lane == 31) warp_sums[wid] = incl;
    __syncthreads();
    if (wid == 0) {
        T s = lane < nw ? warp_sums[lane] : (T)0;
#pragma unroll
        for (int d = 1; d < 32; d <<= 1) {
            T t = __shfl_up_sync(0xffffffffu, s, d);
            if (lane >= (u32)d) s += t;
        }
        warp_sums[lane] = s;
    }
    __syncthreads();
    T base = wid ? warp_sums[wid - 1] : (T)0;
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
    // Chunk j of the thread: 16 bytes at `off` below, chunks of the tile in order j-major. The four
    // chunk counts (at most 17 a thread, 8704 a tile) are scanned at once, packed 16 bits apiece.
    // Only the chunks' newline masks stay live past the loads (4 registers instead of 16, so
    // more blocks fit a multiprocessor), and the write phase walks their bits.
    u32 mask[LI_CHUNKS];
    u32 tails = 0; // bit j: chunk j holds the batch's unterminated last byte
    u64 packed = 0;
    {
        uint4 v[LI_CHUNKS];
#pragma unroll
        for (int j = 0; j < LI_CHUNKS; ++j) {
            u32 off = tile * LI_TILE + j * (LI_THREADS * 16) + threadIdx.x * 16;
            v[j] = make_uint4(0, 0, 0, 0);
            if (off < n) v[j] = lp_load16(bytes, n, off);
        }
#pragma unroll
        for (int j = 0; j < LI_CHUNKS; ++j) {
            u32 off = tile * LI_TILE + j * (LI_THREADS * 16) + threadIdx.x * 16;
            mask[j] = off < n ? lp_nl_mask16(v[j]) : 0u;
            u32 t = off < n ? lp_open_tail(bytes, n, off) : 0u;
            tails |= t << j;
            packed |= (u64)(__popc(mask[j]) + t) << (16 * j);
        }
    }
    u64 totals;
    u64 local = lp_block_scan<u64>(packed, &totals);
    u32 total = 0;
#pragma unroll
    for (int j = 0; j < LI_CHUNKS; ++j) total += (u32)(totals >> (16 * j)) & 0xffffu;
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
    if (packed == 0) return;
    u32 before = s_base; // newlines of the earlier chunks of this tile, then of this chunk's threads
#pragma unroll
    for (int j = 0; j < LI_CHUNKS; ++j) {
        u32 idx = before + ((u32)(local >> (16 * j)) & 0xffffu);
        before += (u32)(totals >> (16 * j)) & 0xffffu;
        u32 off = tile * LI_TILE + j * (LI_THREADS * 16) + threadIdx.x * 16;
        for (u32 m = mask[j]; m; m &= m - 1) {
            if (idx < cap) nl[idx] = off + (__ffs(m) - 1);
            ++idx;
        }
        if (((tails >> j) & 1u) && idx < cap) nl[idx] = n;
    }
}
