// Timestamp parsing to UTC epoch seconds: a line-for-line port of logpulse-core's
// format/time.rs (parse_clf, parse_iso8601, parse_epoch). Change both together.

__device__ __forceinline__ bool lp_digits(const u8* b, int n, u32* out) {
    u32 v = 0;
    for (int i = 0; i < n; ++i) {
        u32 d = (u32)(u8)(b[i] - '0');
        if (d > 9) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

__device__ __forceinline__ u32 lp_month(const u8* m) {
    u32 key = (u32)(m[0] | 0x20) | ((u32)(m[1] | 0x20) << 8) | ((u32)(m[2] | 0x20) << 16);
    const u32 months[12] = {
        'j' | ('a' << 8) | ('n' << 16), 'f' | ('e' << 8) | ('b' << 16),
        'm' | ('a' << 8) | ('r' << 16), 'a' | ('p' << 8) | ('r' << 16),
        'm' | ('a' << 8) | ('y' << 16), 'j' | ('u' << 8) | ('n' << 16),
        'j' | ('u' << 8) | ('l' << 16), 'a' | ('u' << 8) | ('g' << 16),
        's' | ('e' << 8) | ('p' << 16), 'o' | ('c' << 8) | ('t' << 16),
        'n' | ('o' << 8) | ('v' << 16), 'd' | ('e' << 8) | ('c' << 16)};
#pragma unroll
    for (int i = 0; i < 12; ++i)
        if (months[i] == key) return (u32)i + 1;
    return 0;
}

// `hh:mm:ss` (8 bytes) in seconds, or -1.
__device__ __forceinline__ i64 lp_hms(const u8* b) {
    if (b[2] != ':' || b[5] != ':') return -1;
    u32 h, mi, s;
    if (!lp_digits(b, 2, &h) || !lp_digits(b + 3, 2, &mi) || !lp_digits(b + 6, 2, &s)) return -1;
    if (h > 23 || mi > 59 || s > 60) return -1;
    return (i64)h * 3600 + (i64)mi * 60 + (i64)s;
}

__device__ __forceinline__ bool lp_valid_date(u32 y, u32 m, u32 d) {
    return m >= 1 && m <= 12 && d >= 1 && d <= 31 && y >= 1970;
}

__device__ __forceinline__ i64 lp_floor_div(i64 a, i64 b) {
    i64 q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q -= 1;
    return q;
}

__device__ __forceinline__ i64 lp_days_from_civil(i64 y, u32 m, u32 d) {
    if (m <= 2) y -= 1;
    i64 era = lp_floor_div(y, 400);
    i64 yoe = y - era * 400;
    i64 mp = (i64)((m + 9) % 12);
    i64 doy = (153 * mp + 2) / 5 + (i64)d - 1;
    i64 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

// Skips an optional `.ddd` at b[0..n); returns the index after it, or -1 for a bare dot.
__device__ __forceinline__ int lp_skip_fraction(const u8* b, int n) {
    if (n > 0 && b[0] == '.') {
        int k = 1;
        while (k < n && (u8)(b[k] - '0') <= 9) ++k;
        if (k == 1) return -1;
        return k;
    }
    return 0;
}

// `+hhmm`, `-hhmm` or `+hh:mm`, seconds east of UTC.
__device__ __forceinline__ bool lp_zone(const u8* b, int n, i64* off) {
    if (n < 1) return false;
    i64 sign;
    if (b[0] == '+') sign = 1;
    else if (b[0] == '-') sign = -1;
    else return false;
    u32 h, m;
    if (n == 5) {
        if (!lp_digits(b + 1, 2, &h) || !lp_digits(b + 3, 2, &m)) return false;
    } else if (n == 6 && b[3] == ':') {
        if (!lp_digits(b + 1, 2, &h) || !lp_digits(b + 4, 2, &m)) return false;
    } else {
        return false;
    }
    if (h > 23 || m > 59) return false;
    *off = sign * ((i64)h * 3600 + (i64)m * 60);
    return true;
}

__device__ bool lp_parse_clf(const u8* b, int n, i64* out) {
    if (n < 20 || b[2] != '/' || b[6] != '/' || b[11] != ':') return false;
    u32 d, y;
    if (!lp_digits(b, 2, &d)) return false;
    u32 m = lp_month(b + 3);
    if (m == 0) return false;
    if (!lp_digits(b + 7, 4, &y)) return false;
    i64 t = lp_hms(b + 12);
    if (t < 0) return false;
    if (!lp_valid_date(y, m, d)) return false;
    int k = lp_skip_fraction(b + 20, n - 20);
    if (k < 0) return false;
    const u8* rest = b + 20 + k;
    int rn = n - 20 - k;
    i64 off = 0;
    if (rn == 0) {
        off = 0;
    } else if (rest[0] == ' ') {
        if (!lp_zone(rest + 1, rn - 1, &off)) return false;
    } else {
        return false;
    }
    *out = lp_days_from_civil((i64)y, m, d) * 86400 + t - off;
    return true;
}

__device__ bool lp_parse_iso(const u8* b, int n, i64* out) {
    if (n < 19 || b[4] != '-' || b[7] != '-' || !(b[10] == 'T' || b[10] == ' ')) return false;
    u32 y, m, d;
    if (!lp_digits(b, 4, &y) || !lp_digits(b + 5, 2, &m) || !lp_digits(b + 8, 2, &d)) return false;
    i64 t = lp_hms(b + 11);
    if (t < 0) return false;
    if (!lp_valid_date(y, m, d)) return false;
    int k = lp_skip_fraction(b + 19, n - 19);
    if (k < 0) return false;
    const u8* rest = b + 19 + k;
    int rn = n - 19 - k;
    i64 off = 0;
    if (rn == 0 || (rn == 1 && (rest[0] == 'Z' || rest[0] == 'z'))) {
        off = 0;
    } else if (!lp_zone(rest, rn, &off)) {
        return false;
    }
    *out = lp_days_from_civil((i64)y, m, d) * 86400 + t - off;
    return true;
}

__device__ bool lp_parse_epoch(const u8* b, int n, i64* out) {
    int il = 0;
    while (il < n && (u8)(b[il] - '0') <= 9) ++il;
    if (il == 0 || il > 12) return false;
    int k = lp_skip_fraction(b + il, n - il);
    if (k < 0 || il + k != n) return false;
    i64 v = 0;
    for (int i = 0; i < il; ++i) v = v * 10 + (i64)(b[i] - '0');
    *out = v;
    return true;
}

// parse_date: `2015-10-17`, seconds of that day's midnight (IIS `date`, added to `time`).
__device__ bool lp_parse_date(const u8* b, int n, i64* out) {
    if (n != 10 || b[4] != '-' || b[7] != '-') return false;
    u32 y, m, d;
    if (!lp_digits(b, 4, &y) || !lp_digits(b + 5, 2, &m) || !lp_digits(b + 8, 2, &d)) return false;
    if (!lp_valid_date(y, m, d)) return false;
    *out = lp_days_from_civil((i64)y, m, d) * 86400;
    return true;
}

// parse_time_of_day: `16:27:13` with an optional fraction, in seconds.
__device__ bool lp_parse_time_of_day(const u8* b, int n, i64* out) {
    if (n < 8) return false;
    int k = lp_skip_fraction(b + 8, n - 8);
    if (k < 0 || 8 + k != n) return false;
    i64 t = lp_hms(b);
    if (t < 0) return false;
    *out = t;
    return true;
}

// parse_slash: `2024/01/23 23:27:57.060` (Caddy's console encoder), taken as UTC.
__device__ bool lp_parse_slash(const u8* b, int n, i64* out) {
    if (n < 19 || b[4] != '/' || b[7] != '/' || b[10] != ' ') return false;
    u8 iso[19];
#pragma unroll
    for (int i = 0; i < 19; ++i) iso[i] = b[i];
    iso[4] = '-';
    iso[7] = '-';
    i64 t;
    if (!lp_parse_iso(iso, 19, &t)) return false;
    int k = lp_skip_fraction(b + 19, n - 19);
    if (k < 0 || 19 + k != n) return false;
    *out = t;
    return true;
}
