// The group hash of (window, key), shared by the parse kernel and the host build of the parser
// (tests/parser_on_host.rs checks it against the Rust definition).

// logpulse_core::agg::group_hash, bit for bit (the host table reuses these hashes as they
// are): 8-byte little-endian words, the last zero-padded, one multiply-xorshift round each,
// the length, splitmix64's finaliser; never 0 (the empty-slot tag).
__device__ __forceinline__ u64 lp_hash_round(u64 h, u64 v) {
    h = (h ^ v) * 0xff51afd7ed558ccdull;
    return h ^ (h >> 32);
}

__device__ __forceinline__ u64 lp_hash_seed(i64 w) {
    return 0x6c6f6770756c7365ull ^ ((u64)w * 0x9E3779B97F4A7C15ull);
}

__device__ __forceinline__ u64 lp_hash_finish(u64 h, u32 len) {
    h ^= (u64)len * 0xc4ceb9fe1a85ec53ull;
    h = lp_mix64(h);
    return h ? h : 1;
}

// The key "000" (LP_KEY_NONE: a status key that was never assigned).
__device__ __forceinline__ u64 lp_none_key_hash(i64 w) {
    return lp_hash_finish(lp_hash_round(lp_hash_seed(w), 0x303030ull), 3);
}

// The key's next 4 bytes from aligned words: `cur` holds the word at the read position, `q`
// the next one to load, `nw` how many words hold key bytes (no word past them is read).
__device__ __forceinline__ u32 lp_next4(const u8* q, u32& t, u32 nw, u32& cur, u32 sh) {
    u32 nxt = t < nw ? lp_ld32(q + 4 * t) : 0;
    ++t;
    u32 c = (u32)((((u64)nxt << 32) | cur) >> sh);
    cur = nxt;
    return c;
}

// The key's 8-byte words are assembled from aligned 4-byte loads (a quarter of the byte loads;
// keys are read from shared memory or the batch, both padded to whole words).
__device__ __forceinline__ u64 lp_key_hash(i64 w, const u8* k, u32 len) {
    u64 h = lp_hash_seed(w);
    if (len) {
        u32 mis = (u32)((unsigned long long)k & 3);
        const u8* q = k - mis;
        u32 nw = (mis + len + 3) >> 2;
        u32 sh = 8 * mis;
        u32 cur = lp_ld32(q);
        u32 t = 1;
        u32 j = 0;
        for (; j + 8 <= len; j += 8) {
            u32 lo = lp_next4(q, t, nw, cur, sh);
            u32 hi = lp_next4(q, t, nw, cur, sh);
            h = lp_hash_round(h, (u64)lo | ((u64)hi << 32));
        }
        if (j < len) {
            u32 rem = len - j; // 1..7 bytes, zero-padded
            u32 lo = lp_next4(q, t, nw, cur, sh);
            u32 hi = rem > 4 ? lp_next4(q, t, nw, cur, sh) : 0;
            u64 v = ((u64)lo | ((u64)hi << 32)) & (~0ull >> (64 - 8 * rem));
            h = lp_hash_round(h, v);
        }
    }
    return lp_hash_finish(h, len);
}
