// Shared types and layouts for the logpulse kernels. The Rust side (src/layout.rs) mirrors every
// struct here byte for byte; change both together.
typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;

// A little-endian 4-byte load from a 4-aligned address. The host build of the parser
// (tests/parser_on_host.rs) reads it with memcpy, so no aliasing rule is bent there.
#ifdef __CUDACC__
__device__ __forceinline__ u32 lp_ld32(const u8* p) { return *reinterpret_cast<const u32*>(p); }
__device__ __forceinline__ u64 lp_ld64(const u8* p) { return *reinterpret_cast<const u64*>(p); }
#else
inline u32 lp_ld32(const u8* p) {
    u32 v;
    memcpy(&v, p, 4);
    return v;
}
inline u64 lp_ld64(const u8* p) {
    u64 v;
    memcpy(&v, p, 8);
    return v;
}
#endif

// The high bit of every zero byte of `x`, exactly: (x & 0x7f..) + 0x7f.. cannot carry into the
// next byte, so no borrow makes a false positive (the classic haszero trick can).
__device__ __forceinline__ u32 lp_zero_bytes(u32 x) {
    u32 y = (x & 0x7f7f7f7fu) + 0x7f7f7f7fu;
    return ~(y | x | 0x7f7f7f7fu);
}

__device__ __forceinline__ u64 lp_zero_bytes64(u64 x) {
    u64 y = (x & 0x7f7f7f7f7f7f7f7full) + 0x7f7f7f7f7f7f7f7full;
    return ~(y | x | 0x7f7f7f7f7f7f7f7full);
}

// Reject codes: the same numbering as `RejectReason::code()` in logpulse-core.
#define LP_EMPTY_LINE 1
#define LP_BINARY_DATA 3
#define LP_TRUNCATED 4
#define LP_FORMAT_MISMATCH 5
#define LP_BAD_TIME 6
#define LP_BAD_STATUS 7
#define LP_BAD_BYTES 8
#define LP_INVALID_UTF8 9
#define LP_BAD_LATENCY 10
#define LP_BAD_JSON 11
// Parser outcomes that are not rejects.
#define LP_RECORD 0
#define LP_DIRECTIVE 100
// A record the plan's filters leave out: counted, not aggregated (`Partial::add_filtered`).
#define LP_FILTERED 101

// Header slots (u64 each), written by the kernels and copied back first.
#define H_LINES 0
#define H_RECORDS 1
#define H_DIRECTIVES 2
#define H_MAX_TIME 3
#define H_NREJECTS 4
#define H_NGROUPS 5
#define H_NCOUNTS 6
#define H_NWINDOWS 7
#define H_REJECT_COUNTS 8
#define H_KEY_BYTES 24
#define H_FILTERED 25
#define H_WORDS 32

// W3C (IIS) logs: the column layouts in force in one batch, from its `#Fields:` directives.
// Segment k covers the lines starting at byte `start[k]` or later (until the next segment);
// segment 0 starts at 0 with the layout carried over from earlier batches. `kinds` are field
// kinds (`LP_F_*`). Mirrored by `W3cLayouts` in src/layout.rs; unused (nseg 0) by other formats.
#define LP_W3C_SEGS 32
#define LP_W3C_COLS 64
struct LpW3c {
    u32 nseg;
    u32 start[LP_W3C_SEGS];
    u32 ncols[LP_W3C_SEGS];
    u8 kinds[LP_W3C_SEGS][LP_W3C_COLS];
};

// Key offset meaning "the status was never assigned: the key is the text 000".
#define LP_KEY_NONE 0xFFFFFFFFu

// Variant timed against the default (LOGPULSE_GPU_NVRTC_DEFINES="LP_EPOCH_SLOTS=1"): a group
// slot is live when its `epoch` is the batch's, so slots of earlier batches read as empty and
// the compaction does not clear the slots it reads (a claim writes the whole slot instead).
// LP_EPOCH_SLOTS=2: the same with relaxed loads of the epoch instead of acquire loads.
#ifndef LP_EPOCH_SLOTS
#define LP_EPOCH_SLOTS 0
#endif
#define LP_SLOT_LOCK 0xFFFFFFFFu

// One group (window, key) of the device hash table: 64 bytes, one atomic target per field.
struct LpGroup {
    u64 tag;        // 64-bit hash of (window, key); 0 = empty
#if LP_EPOCH_SLOTS
    u32 epoch;      // the batch the slot is live for; LP_SLOT_LOCK while being claimed
    u32 key_len;
    i64 window;
    u32 key_off;    // one occurrence of the key in the batch
    u32 requests;
    u32 s4xx;
    u32 s5xx;
    u32 lat_count;
    u32 out_idx;    // index in the compacted output (claim order)
    u64 bytes;
    u64 lat_sum;
#else
    i64 window;
    u32 key_off;    // one occurrence of the key in the batch
    u32 key_len;
    u32 requests;
    u32 s4xx;
    u32 s5xx;
    u32 lat_count;
    u64 bytes;
    u64 lat_sum;
    u32 out_idx;    // index in the compacted output (claim order)
    u32 pad;
#endif
};

// One counter of the auxiliary table: (group, status >= 500) or (window, latency bucket).
struct LpCount {
    u64 tag;        // 0 = empty; bit 62: error entry, bit 63: histogram entry
    u32 count;
    u32 pad;
};

// One window of the window table (for latency histograms).
struct LpWindow {
    u64 key;        // window id bits; LP_WIN_EMPTY = empty
    u32 idx;        // claim order
    u32 pad;
};
#define LP_WIN_EMPTY 0x8000000000000000ull
#define LP_TAG_ERROR (1ull << 62)
#define LP_TAG_HIST (1ull << 63)

// Compacted outputs.
struct LpGroupOut {
    u64 hash;       // logpulse_core::agg::group_hash(window, key)
    i64 window;
    u32 key_off;
    u32 key_len;
    u32 requests;
    u32 s4xx;
    u32 s5xx;
    u32 lat_count;
    u64 bytes;
    u64 lat_sum;
};
struct LpCountOut {
    u32 kind;       // 1: error (a = group index, b = status); 2: histogram (a = window index, b = bucket)
    u32 a;
    u32 b;
    u32 count;
};
struct LpReject {
    u32 line;       // 0-based line index in the batch
    u32 offset;     // byte offset of the line in the batch
    u32 code;
};

__device__ __forceinline__ u64 lp_mix64(u64 x) {
    // splitmix64 finaliser: spreads FNV's low-entropy high bits before masking.
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

// Warp-aggregated reservation of `n` slots (one per lane with `want`) in a counter.
template <class Counter>
__device__ __forceinline__ u32 lp_warp_reserve(Counter* counter, bool want) {
    unsigned mask = __ballot_sync(0xffffffffu, want);
    unsigned lane = threadIdx.x & 31;
    u32 base = 0;
    if (mask != 0) {
        int leader = __ffs(mask) - 1;
        if ((int)lane == leader) base = (u32)atomicAdd(counter, (Counter)__popc(mask));
        base = __shfl_sync(0xffffffffu, base, leader);
    }
    return base + __popc(mask & ((1u << lane) - 1u));
}
