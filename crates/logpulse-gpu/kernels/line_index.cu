// Line index: the byte position of every '\n' in the batch, in order, over tiles of LI_TILE
// bytes (LI_CHUNKS 16-byte loads a thread, each chunk of the tile coalesced), in one pass: each tile's offset comes from a
// decoupled look-back over the tiles before it. It replaced three passes (count per tile,
// one-block scan, write), which read the batch twice: H200, 10M lines, index of one 445 MB
// batch 0.51 -> 0.42 ms (BENCHMARKS.md, sixth session).

#define LI_THREADS 512
#define LI_CHUNKS 4
#define LI_TILE (LI_THREADS * 16 * LI_CHUNKS)

// Number of '\n' bytes in a word (exact: no false positives from borrows).
__device__ __forceinline__ u32 lp_nl_in_word(u32 w) { return __popc(lp_zero_bytes(w ^ 0x0a0a0a0au)); }

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

// One pass: count the tile's newlines, chain the counts of the tiles before it
// (lp_tile_lookback), write the positions. The last tile sets the line count.
extern "C" __global__ void __launch_bounds__(LI_THREADS)
lp_line_index(const u8* __restrict__ bytes, u32 n, u64* __restrict__ states, u32 epoch,
              u32* __restrict__ nl, u32 cap, u64* __restrict__ header) {
    u32 tile = blockIdx.x;
    // Chunk j of the thread: bytes off[j]..+16, chunks of the tile in order j-major. The four
    // chunk counts (at most 17 a thread, 8704 a tile) are scanned at once, packed 16 bits apiece.
    uint4 v[LI_CHUNKS];
    u32 off[LI_CHUNKS];
    u64 packed = 0;
#pragma unroll
    for (int j = 0; j < LI_CHUNKS; ++j) {
        off[j] = tile * LI_TILE + j * (LI_THREADS * 16) + threadIdx.x * 16;
        v[j] = make_uint4(0, 0, 0, 0);
        if (off[j] < n) v[j] = lp_load16(bytes, n, off[j]);
    }
#pragma unroll
    for (int j = 0; j < LI_CHUNKS; ++j) {
        u32 c = 0;
        if (off[j] < n) {
            c = lp_nl_in_word(v[j].x) + lp_nl_in_word(v[j].y) + lp_nl_in_word(v[j].z) +
                lp_nl_in_word(v[j].w) + lp_open_tail(bytes, n, off[j]);
        }
        packed |= (u64)c << (16 * j);
    }
    u64 totals;
    u64 local = lp_block_scan<u64>(packed, &totals);
    u32 total = 0;
#pragma unroll
    for (int j = 0; j < LI_CHUNKS; ++j) total += (u32)(totals >> (16 * j)) & 0xffffu;
    __shared__ u32 s_base;
    if (threadIdx.x < 32) {
        u32 lane = threadIdx.x;
        u32 excl = lp_tile_lookback(states, tile, epoch, total);
        if (lane == 0) {
            s_base = excl;
            // The header was zeroed before the launch.
            if (tile == gridDim.x - 1) header[H_LINES] = excl + total;
        }
    }
    __syncthreads();
    if (packed == 0) return;
    u32 before = s_base; // newlines of the earlier chunks of this tile, then of this chunk's threads
#pragma unroll
    for (int j = 0; j < LI_CHUNKS; ++j) {
        u32 idx = before + ((u32)(local >> (16 * j)) & 0xffffu);
        before += (u32)(totals >> (16 * j)) & 0xffffu;
        if (((packed >> (16 * j)) & 0xffffu) == 0) continue;
        u32 w[4] = {v[j].x, v[j].y, v[j].z, v[j].w};
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            u32 m = lp_zero_bytes(w[q] ^ 0x0a0a0a0au);
            while (m) {
                if (idx < cap) nl[idx] = off[j] + 4 * q + ((__ffs(m) - 1) >> 3);
                ++idx;
                m &= m - 1;
            }
        }
        if (lp_open_tail(bytes, n, off[j]) && idx < cap) nl[idx] = n;
    }
}
