// Block-wide scans shared by the kernels that cut a batch into tiles: an exclusive scan over
// a block, and the decoupled look-back that chains tiles' counts in one pass.

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

// Decoupled look-back (one pass, tiles in index order): tile `tile` publishes its own count
// `total`, then adds up the tiles before it (warp 0 reads 32 predecessors at a time, stopping
// at the nearest one that knows its inclusive count; blocks start in index order, so every
// predecessor waited on is running or done), then publishes its inclusive count. Called by
// the block's first warp only; returns the count of every tile before this one.
__device__ __forceinline__ u32 lp_tile_lookback(u64* states, u32 tile, u32 epoch, u32 total) {
    u32 lane = threadIdx.x & 31;
    u32 excl = 0;
    if (tile == 0) {
        if (lane == 0) atomicExch((unsigned long long*)&states[0], lp_tile_word(LI_PREFIX, epoch, total));
        return 0;
    }
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
        // Lanes above the highest one holding an inclusive count add their own counts; that
        // lane adds its inclusive count; lanes below it are covered by it.
        int hi = pm ? 31 - __clz(pm) : -1;
        u32 contrib = (int)lane >= hi ? val : 0;
#pragma unroll
        for (int d = 16; d > 0; d >>= 1) contrib += __shfl_xor_sync(0xffffffffu, contrib, d);
        excl += contrib;
        if (pm) break;
        top -= 32;
    }
    if (lane == 0) atomicExch((unsigned long long*)&states[tile], lp_tile_word(LI_PREFIX, epoch, excl + total));
    return excl;
}
