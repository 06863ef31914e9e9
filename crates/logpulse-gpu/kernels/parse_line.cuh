// The format interpreter's building blocks: a port of logpulse-core's format/line.rs. The Rust
// side (src/program.rs) turns the plan's encoded format program (`LineFormat::encode`) into a
// straight-line body of `lp_parse_line` that calls these helpers with compile-time constant
// arguments, so NVRTC folds every token's branch away. Change line.rs and this file together.

// Key fields, numbered as `KeyField::NAMES` in logpulse-core.
#define LP_KEY_CLIENT 0
#define LP_KEY_VHOST 1
#define LP_KEY_PATH 2
#define LP_KEY_METHOD 3
#define LP_KEY_STATUS 4
#define LP_KEY_USER_AGENT 5
#define LP_KEY_REFERER 6
#define LP_KEY_UPSTREAM 7

// Field kinds, numbered as `FieldKind` in logpulse-core.
#define LP_F_SKIP 0
#define LP_F_CLIENT 1
#define LP_F_CLIENT_PORT 2
#define LP_F_VHOST 3
#define LP_F_TIME_CLF 4
#define LP_F_TIME_EPOCH 5
#define LP_F_TIME_ISO 6
#define LP_F_REQUEST 7
#define LP_F_METHOD 8
#define LP_F_URL 9
#define LP_F_PROTOCOL 10
#define LP_F_STATUS 11
#define LP_F_BYTES 12
#define LP_F_LAT_US 13
#define LP_F_LAT_MS 14
#define LP_F_LAT_SECS 15
#define LP_F_REFERER 16
#define LP_F_USER_AGENT 17
#define LP_F_UPSTREAM 18
#define LP_F_QUERY 19
#define LP_F_DATE 20
#define LP_F_TIME_OF_DAY 21
#define LP_F_TIME_SLASH 22
#define LP_F_JSON 23
#define LP_F_LAT_SECS_ADD 24

// Text fields filters can read (`LP_FILTER_TEXT`, a bit each): the key fields by their
// LP_KEY_* number, then the two request parts that are never keys.
#define LP_T_QUERY 8
#define LP_T_PROTOCOL 9
#define LP_NTEXT 10

// What a line yields for the grouping key, the measures and the text fields the plan's
// filters read (the rest of `Record` is not needed). The program's defines say which:
// `LP_KEY` and the mask `LP_FILTER_TEXT`; NVRTC drops the stores nothing reads.
struct LpRec {
    i64 time;
    u64 bytes;
    u64 lat;
    u32 status;
    u32 key_off;    // relative to the line start, or LP_KEY_NONE (status key never assigned)
    u32 key_len;
    bool has_lat;
    u32 t_off[LP_NTEXT]; // filters' text fields, relative to the line start (empty: length 0)
    u32 t_len[LP_NTEXT];
};

__device__ __forceinline__ void lp_rec_init(LpRec& r) {
    r.time = 0; r.bytes = 0; r.lat = 0; r.status = 0; r.has_lat = false;
    r.key_off = LP_KEY == LP_KEY_STATUS ? LP_KEY_NONE : 0;
    r.key_len = LP_KEY == LP_KEY_STATUS ? 3 : 0;
#pragma unroll
    for (int t = 0; t < LP_NTEXT; ++t) { r.t_off[t] = 0; r.t_len[t] = 0; }
}

// True when the key or a filter reads text field `t` (a compile-time constant).
#define LP_READS(t) (LP_KEY == (t) || ((LP_FILTER_TEXT >> (t)) & 1))
// The request line's parts are split only when something reads one of them.
#define LP_READS_URL (LP_READS(LP_KEY_PATH) || LP_READS(LP_T_QUERY))
#define LP_READS_REQUEST (LP_READS_URL || LP_READS(LP_T_PROTOCOL))

// The JSON field of JSON formats (json.cuh, after lp_assign): reads L[off..off+len).
__device__ int lp_json(const u8* L, int off, int len, LpRec& r);

// Field `key` (LP_KEY_* or LP_T_*) is L[off..off+len): kept if the key or a filter reads it.
__device__ __forceinline__ void lp_set_key(LpRec& r, int key, u32 off, u32 len) {
    if (key == LP_KEY) {
        r.key_off = off;
        r.key_len = len;
    }
    if ((LP_FILTER_TEXT >> key) & 1) {
        r.t_off[key] = off;
        r.t_len[key] = len;
    }
}

// A literal at `pos`: 0 and `pos` advanced, or Truncated / FormatMismatch as line.rs decides.
__device__ __forceinline__ int lp_lit(const u8* L, int n, int& pos, const u8* lit, int len) {
    int rest = n - pos;
    int m = rest < len ? rest : len;
#pragma unroll
    for (int j = 0; j < len; ++j) {
        if (j < m && L[pos + j] != lit[j]) return LP_FORMAT_MISMATCH;
    }
    if (rest < len) return LP_TRUNCATED;
    pos += len;
    return 0;
}

__device__ __forceinline__ bool lp_starts(const u8* L, int n, const u8* p, int len) {
    if (n < len) return false;
#pragma unroll
    for (int j = 0; j < len; ++j)
        if (L[j] != p[j]) return false;
    return true;
}

// First occurrence of `p` (len >= 1) in L[0..n), or -1 (memchr::memmem::find).
__device__ __forceinline__ int lp_memmem(const u8* L, int n, const u8* p, int len) {
    for (int i = 0; i + len <= n; ++i) {
        if (L[i] != p[0]) continue;
        int j = 1;
        while (j < len && L[i + j] == p[j]) ++j;
        if (j == len) return i;
    }
    return -1;
}

// First byte in L[from..to) equal to `a` or `b`, or -1. It reads the aligned 8-byte words that
// hold those bytes (never a word outside them: a staged line starts in a 16-aligned copy padded
// to whole 16-byte words, and the device batch is padded too), so a field costs an eighth of
// the dependent steps of a byte loop, and of its shared-memory reads.
__device__ __forceinline__ int lp_find2(const u8* L, int from, int to, u8 a, u8 b) {
    if (from >= to) return -1;
    int mis = (int)((unsigned long long)(L + from) & 7);
    int base = from - mis;
    u64 pa = 0x0101010101010101ull * a, pb = 0x0101010101010101ull * b;
    u64 w = lp_ld64(L + base);
    u64 m = (lp_zero_bytes64(w ^ pa) | lp_zero_bytes64(w ^ pb)) & (~0ull << (8 * mis));
    while (!m) {
        base += 8;
        if (base >= to) return -1;
        w = lp_ld64(L + base);
        m = lp_zero_bytes64(w ^ pa) | lp_zero_bytes64(w ^ pb);
    }
    int i = base + ((__ffsll((long long)m) - 1) >> 3);
    return i < to ? i : -1;
}

// First `c` in L[from..to), or -1.
__device__ __forceinline__ int lp_find(const u8* L, int from, int to, u8 c) {
    return lp_find2(L, from, to, c, c);
}

// Last `c` in L[from..to), or -1.
__device__ __forceinline__ int lp_rfind(const u8* L, int from, int to, u8 c) {
    for (int i = to - 1; i >= from; --i)
        if (L[i] == c) return i;
    return -1;
}

// The closing quote of a quoted field starting at L[from], honouring backslash escapes exactly
// as line.rs's find_quote does (a backslash skips the next byte; running off the end fails).
__device__ __forceinline__ int lp_find_quote(const u8* L, int from, int to) {
    int i = from;
    while (i < to) {
        int p = lp_find2(L, i, to, '"', '\\');
        if (p < 0 || L[p] == '"') return p;
        i = p + 2;
        if (i >= to) return -1;
    }
    return -1;
}

// parse_u64: 1..=15 ASCII digits (so sums of many values cannot overflow).
__device__ __forceinline__ bool lp_u64(const u8* b, int n, u64* out) {
    if (n == 0 || n > 15) return false;
    u64 v = 0;
    for (int i = 0; i < n; ++i) {
        u32 d = (u32)(u8)(b[i] - '0');
        if (d > 9) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

// parse_secs_us: seconds with an optional fraction, to microseconds; overflow is a reject
// (checked_mul / checked_add on the host).
__device__ __forceinline__ bool lp_secs_us(const u8* b, int n, u64* out) {
    int dot = n;
    for (int i = 0; i < n; ++i)
        if (b[i] == '.') { dot = i; break; }
    u64 ip = 0;
    if (dot != 0 && !lp_u64(b, dot, &ip)) return false;
    u64 frac = 0;
    if (dot < n) {
        if (dot + 1 == n) return false;
        u64 scale = 100000;
        for (int i = dot + 1; i < n; ++i) {
            u32 d = (u32)(u8)(b[i] - '0');
            if (d > 9) return false;
            frac += (u64)d * scale;
            scale /= 10;
        }
    }
    if (ip > 18446744073709ull) return false; // u64::MAX / 1e6
    u64 us = ip * 1000000ull;
    if (us + frac < us) return false;
    *out = us + frac;
    return true;
}

// split_url: an absolute URI (`http://host:80/path`) keeps only its path; the path is what
// precedes the first '?'.
__device__ __forceinline__ void lp_url(const u8* L, int off, int len, LpRec& r) {
    if (!LP_READS_URL) return;
    if (len > 0 && L[off] != '/') {
        int se = 0;
        if (len >= 7 && L[off] == 'h' && L[off + 1] == 't' && L[off + 2] == 't' &&
            L[off + 3] == 'p') {
            if (L[off + 4] == ':' && L[off + 5] == '/' && L[off + 6] == '/') se = 7;
            else if (len >= 8 && L[off + 4] == 's' && L[off + 5] == ':' && L[off + 6] == '/' &&
                     L[off + 7] == '/')
                se = 8;
        }
        if (se) {
            int p = lp_find(L, off + se, off + len, '/');
            int start = p >= 0 ? p : off + len;
            len -= start - off;
            off = start;
        }
    }
    int q = lp_find(L, off, off + len, '?');
    lp_set_key(r, LP_KEY_PATH, off, q >= 0 ? q - off : len);
    if (q >= 0) lp_set_key(r, LP_T_QUERY, q + 1, off + len - (q + 1));
    else lp_set_key(r, LP_T_QUERY, off + len, 0);
}

// split_request: `METHOD url [HTTP/x]`.
__device__ __forceinline__ void lp_request(const u8* L, int off, int len, LpRec& r) {
    int end = off + len;
    int sp = lp_find(L, off, end, ' ');
    int rest = sp >= 0 ? sp + 1 : end;
    lp_set_key(r, LP_KEY_METHOD, off, sp >= 0 ? sp - off : len);
    if (!LP_READS_REQUEST) return;
    int url_end = end;
    int p = lp_rfind(L, rest, end, ' ');
    if (p >= 0 && end - (p + 1) >= 5 && L[p + 1] == 'H' && L[p + 2] == 'T' && L[p + 3] == 'T' &&
        L[p + 4] == 'P' && L[p + 5] == '/')
        url_end = p;
    lp_set_key(r, LP_T_PROTOCOL, url_end < end ? url_end + 1 : end,
               url_end < end ? end - (url_end + 1) : 0);
    lp_url(L, rest, url_end - rest, r);
}

// strip_port: drops `:digits` from an address; `[v6]:port` loses its brackets too.
__device__ __forceinline__ void lp_strip_port(const u8* L, int off, int len, u32* o, u32* l) {
    *o = off;
    *l = len;
    int end = off + len;
    int p = lp_rfind(L, off, end, ':');
    if (p < 0 || p + 1 >= end) return;
    for (int i = p + 1; i < end; ++i)
        if ((u8)(L[i] - '0') > 9) return;
    int hl = p - off;
    if (hl >= 1 && L[off] == '[' && L[p - 1] == ']') {
        if (hl >= 2) {
            *o = off + 1;
            *l = hl - 2;
        }
        return;
    }
    if (lp_find(L, off, p, ':') >= 0) return;
    *l = hl;
}

// assign(): one field's bytes into the record; 0 or a reject code.
__device__ __forceinline__ int lp_assign(int kind, const u8* L, int off, int len, LpRec& r) {
    const u8* v = L + off;
    switch (kind) {
    case LP_F_CLIENT: lp_set_key(r, LP_KEY_CLIENT, off, len); break;
    case LP_F_CLIENT_PORT: {
        if (LP_READS(LP_KEY_CLIENT)) {
            u32 o, l;
            lp_strip_port(L, off, len, &o, &l);
            lp_set_key(r, LP_KEY_CLIENT, o, l);
        }
        break;
    }
    case LP_F_VHOST: lp_set_key(r, LP_KEY_VHOST, off, len); break;
    case LP_F_TIME_CLF: if (!lp_parse_clf(v, len, &r.time)) return LP_BAD_TIME; break;
    case LP_F_TIME_EPOCH: if (!lp_parse_epoch(v, len, &r.time)) return LP_BAD_TIME; break;
    case LP_F_TIME_ISO: if (!lp_parse_iso(v, len, &r.time)) return LP_BAD_TIME; break;
    case LP_F_REQUEST: lp_request(L, off, len, r); break;
    case LP_F_METHOD: lp_set_key(r, LP_KEY_METHOD, off, len); break;
    case LP_F_URL: lp_url(L, off, len, r); break;
    case LP_F_STATUS: {
        u64 s;
        if (len != 3 || !lp_u64(v, 3, &s)) return LP_BAD_STATUS;
        r.status = (u32)s;
        lp_set_key(r, LP_KEY_STATUS, off, 3);
        break;
    }
    case LP_F_BYTES: {
        if (len == 1 && v[0] == '-') {
            r.bytes = 0;
        } else if (!lp_u64(v, len, &r.bytes)) {
            return LP_BAD_BYTES;
        }
        break;
    }
    case LP_F_LAT_US:
    case LP_F_LAT_MS:
    case LP_F_LAT_SECS: {
        if ((len == 1 && v[0] == '-') || (len == 2 && v[0] == '-' && v[1] == '1')) {
            r.has_lat = false;
        } else {
            u64 us;
            bool ok;
            if (kind == LP_F_LAT_SECS) {
                ok = lp_secs_us(v, len, &us);
            } else {
                ok = lp_u64(v, len, &us);
                if (kind == LP_F_LAT_MS) us *= 1000ull;
            }
            if (!ok) return LP_BAD_LATENCY;
            r.lat = us;
            r.has_lat = true;
        }
        break;
    }
    case LP_F_REFERER: lp_set_key(r, LP_KEY_REFERER, off, len); break;
    case LP_F_USER_AGENT: lp_set_key(r, LP_KEY_USER_AGENT, off, len); break;
    case LP_F_UPSTREAM: lp_set_key(r, LP_KEY_UPSTREAM, off, len); break;
    case LP_F_PROTOCOL: lp_set_key(r, LP_T_PROTOCOL, off, len); break;
    case LP_F_QUERY: lp_set_key(r, LP_T_QUERY, off, len); break;
    case LP_F_DATE: {
        i64 d;
        if (!lp_parse_date(v, len, &d)) return LP_BAD_TIME;
        r.time += d;
        break;
    }
    case LP_F_TIME_OF_DAY: {
        i64 t;
        if (!lp_parse_time_of_day(v, len, &t)) return LP_BAD_TIME;
        r.time += t;
        break;
    }
    case LP_F_TIME_SLASH: if (!lp_parse_slash(v, len, &r.time)) return LP_BAD_TIME; break;
    case LP_F_LAT_SECS_ADD: {
        if (!((len == 1 && v[0] == '-') || (len == 2 && v[0] == '-' && v[1] == '1'))) {
            u64 us;
            if (!lp_secs_us(v, len, &us)) return LP_BAD_LATENCY;
            u64 base = r.has_lat ? r.lat : 0;
            u64 sum = base + us;
            r.lat = sum < base ? ~0ull : sum; // saturating_add
            r.has_lat = true;
        }
        break;
    }
    // Skip: nothing; Json: read by lp_field.
    default: break;
    }
    return 0;
}

// One field token: find its end (`end`: 0 byte, 1 quoted, 2 end of line), then assign it.
// `last`: only optional tokens (or none) follow; `quoted_tail`: a quoted field cut off by the
// line's end is accepted as the record's last field.
__device__ __forceinline__ int lp_field(const u8* L, int n, int& pos, int kind, int end, u8 byte,
                                        bool last, bool quoted_tail, LpRec& r, bool* done) {
    int len;
    if (end == 0) {
        int p = lp_find(L, pos, n, byte);
        if (p >= 0) len = p - pos;
        else if (last) len = n - pos;
        else return LP_TRUNCATED;
    } else if (end == 1) {
        int p = lp_find_quote(L, pos, n);
        if (p >= 0) {
            len = p - pos;
        } else if (quoted_tail) {
            *done = true;
            return lp_assign(kind, L, pos, n - pos, r);
        } else {
            return LP_TRUNCATED;
        }
    } else {
        len = n - pos;
    }
    int c = kind == LP_F_JSON ? lp_json(L, pos, len, r) : lp_assign(kind, L, pos, len, r);
    if (c) return c;
    pos += len;
    return 0;
}

// Rust's str::from_utf8 acceptance, exactly (no overlongs, surrogates or > U+10FFFF).
// Index of the first byte >= 0x80 in s[0..n), or n: whole aligned 8-byte words at a time
// (keys are almost always ASCII).
__device__ __forceinline__ u32 lp_first_high(const u8* s, u32 n) {
    if (n == 0) return 0;
    u32 mis = (u32)((unsigned long long)s & 7);
    const u8* p = s - mis;
    u32 end = mis + n;
    const u64 hi = 0x8080808080808080ull;
    u64 m = lp_ld64(p) & hi & (~0ull << (8 * mis));
    u32 b = 0;
    while (!m) {
        b += 8;
        if (b >= end) return n;
        m = lp_ld64(p + b) & hi;
    }
    u32 k = b + ((__ffsll((long long)m) - 1) >> 3);
    return k < end ? k - mis : n;
}

__device__ __forceinline__ bool lp_utf8(const u8* s, u32 n) {
    u32 i = lp_first_high(s, n);
    while (i < n) {
        u8 c = s[i];
        if (c < 0x80) { ++i; continue; }
        u32 need;
        u8 lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c == 0xE0) { need = 2; lo = 0xA0; }
        else if (c >= 0xE1 && c <= 0xEC) need = 2;
        else if (c == 0xED) { need = 2; hi = 0x9F; }
        else if (c >= 0xEE && c <= 0xEF) need = 2;
        else if (c == 0xF0) { need = 3; lo = 0x90; }
        else if (c >= 0xF1 && c <= 0xF3) need = 3;
        else if (c == 0xF4) { need = 3; hi = 0x8F; }
        else return false;
        if (i + need >= n) return false;
        u8 c1 = s[i + 1];
        if (c1 < lo || c1 > hi) return false;
        for (u32 k = 2; k <= need; ++k) {
            u8 ck = s[i + k];
            if (ck < 0x80 || ck > 0xBF) return false;
        }
        i += need + 1;
    }
    return true;
}

// looks_binary: C0 controls other than tab, CR and ESC.
__device__ __forceinline__ bool lp_looks_binary(const u8* L, int n) {
    for (int i = 0; i < n; ++i) {
        u8 c = L[i];
        if (c < 0x20 && c != '\t' && c != '\r' && c != 0x1b) return true;
    }
    return false;
}

// Filter comparisons (filter.rs `Filter::accepts`), called by the program's lp_filters_pass
// with constant operands. Text: byte for byte.
__device__ __forceinline__ bool lp_text_eq(const u8* v, u32 n, const u8* w, u32 m) {
    if (n != m) return false;
    for (u32 j = 0; j < m; ++j)
        if (v[j] != w[j]) return false;
    return true;
}

__device__ __forceinline__ bool lp_text_prefix(const u8* v, u32 n, const u8* w, u32 m) {
    return n >= m && lp_text_eq(v, m, w, m);
}

__device__ __forceinline__ bool lp_text_suffix(const u8* v, u32 n, const u8* w, u32 m) {
    return n >= m && lp_text_eq(v + (n - m), m, w, m);
}

__device__ __forceinline__ bool lp_text_contains(const u8* v, u32 n, const u8* w, u32 m) {
    return m == 0 || lp_memmem(v, (int)n, w, (int)m) >= 0;
}
