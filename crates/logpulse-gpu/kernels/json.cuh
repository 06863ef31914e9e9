// The JSON field: a port of logpulse-core's format/json.rs (change both together). The
// recursive scanner there becomes an explicit stack here (one frame per open object or array,
// at most LP_JSON_DEPTH + 1), and the path matching becomes bit sets: bit e of a mask is map
// entry e, and the mask of a value holds the entries whose path starts with the value's path,
// so a key costs one comparison per entry still in the running, not per entry of the map.
//
// The map's tables come from src/program.rs (in the definitions before this file):
// LP_JSON_N entries (0 for formats without JSON), LP_JSON_ALL (their mask), LP_JSON_SEGS
// (segments per entry, most), lp_jkind[e], lp_jnseg[e], and per (e, level) the segment's bytes
// lp_jbytes[lp_jsoff[e * LP_JSON_SEGS + level]..][..lp_jslen[same]].

#define LP_JSON_DEPTH 32

// Entries of `cand` whose path segment `level` is b[off..off+len).
__device__ __forceinline__ u64 lp_jseg(u64 cand, int level, const u8* b, int off, int len) {
    u64 out = 0;
    while (cand) {
        int e = __ffsll((long long)cand) - 1;
        cand &= cand - 1;
        if (lp_jnseg[e] <= level) continue;
        int k = e * LP_JSON_SEGS + level;
        if (lp_jslen[k] != len) continue;
        const u8* s = lp_jbytes + lp_jsoff[k];
        bool eq = true;
        for (int j = 0; j < len; ++j) {
            if (s[j] != b[off + j]) {
                eq = false;
                break;
            }
        }
        if (eq) out |= 1ull << e;
    }
    return out;
}

// Scanner::matched: the first entry of `cand` whose whole path is the value's (length `plen`).
__device__ __forceinline__ int lp_jmatch(u64 cand, int plen) {
    while (cand) {
        int e = __ffsll((long long)cand) - 1;
        cand &= cand - 1;
        if (lp_jnseg[e] == plen) return e;
    }
    return -1;
}

__device__ __forceinline__ void lp_jws(const u8* b, int& i, int n) {
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n')) ++i;
}

// Scanner::string: b[i] is the opening quote; the raw contents (escapes kept) and i past the
// closing quote, or false when the string does not end.
__device__ __forceinline__ bool lp_jstring(const u8* b, int& i, int n, int* s0, int* sl) {
    ++i;
    int start = i;
    while (i < n) {
        u8 c = b[i];
        if (c == '"') {
            *s0 = start;
            *sl = i - start;
            ++i;
            return true;
        }
        i += c == '\\' ? 2 : 1;
    }
    return false;
}

__device__ __noinline__ int lp_json(const u8* L, int off, int len, LpRec& r) {
#if LP_JSON_N == 0
    return LP_BAD_JSON;
#else
    const u8 marker[2] = {'[', ']'}; // the path segment of array elements: never a key
    int voff[LP_JSON_N], vlen[LP_JSON_N];
    u64 found = 0;
    u64 fmask[LP_JSON_DEPTH + 1];
    u8 fobject[LP_JSON_DEPTH + 1], ffirst[LP_JSON_DEPTH + 1];
    signed char fwant[LP_JSON_DEPTH + 1];
    int sp = 0;              // open frames; also the depth (= path length) of the next value
    u64 cur = LP_JSON_ALL;   // entries whose path starts with the next value's path
    int i = off, n = off + len;
    lp_jws(L, i, n);
    if (i >= n || L[i] != '{') return LP_BAD_JSON;
    // 0: a value; 1: an object's next key; 2: an array's next element; 3: a value ended;
    // 4: an array element ended.
    int state = 0;
    while (true) {
        if (state == 0) {
            if (sp > LP_JSON_DEPTH) return LP_BAD_JSON;
            lp_jws(L, i, n);
            if (i >= n) return LP_BAD_JSON;
            u8 c = L[i];
            if (c == '{') {
                ++i;
                lp_jws(L, i, n);
                if (i < n && L[i] == '}') {
                    ++i;
                    state = 3;
                    continue;
                }
                fmask[sp] = cur;
                fobject[sp] = 1;
                ++sp;
                state = 1;
            } else if (c == '[') {
                fwant[sp] = (signed char)lp_jmatch(cur, sp);
                ++i;
                fmask[sp] = cur;
                fobject[sp] = 0;
                ffirst[sp] = 1;
                ++sp;
                state = 2;
            } else {
                int s0, sl;
                if (c == '"') {
                    if (!lp_jstring(L, i, n, &s0, &sl)) return LP_BAD_JSON;
                } else {
                    s0 = i;
                    while (i < n) {
                        u8 d = L[i];
                        if (d == ',' || d == '}' || d == ']' || d == ' ' || d == '\t' ||
                            d == '\r' || d == '\n')
                            break;
                        ++i;
                    }
                    if (i == s0) return LP_BAD_JSON;
                    sl = i - s0;
                }
                int m = lp_jmatch(cur, sp);
                if (m >= 0 && !((found >> m) & 1)) {
                    found |= 1ull << m;
                    voff[m] = s0;
                    vlen[m] = sl;
                }
                state = 3;
            }
        } else if (state == 1) {
            lp_jws(L, i, n);
            if (i >= n || L[i] != '"') return LP_BAD_JSON;
            int k0, kl;
            if (!lp_jstring(L, i, n, &k0, &kl)) return LP_BAD_JSON;
            lp_jws(L, i, n);
            if (i >= n || L[i] != ':') return LP_BAD_JSON;
            ++i;
            cur = lp_jseg(fmask[sp - 1], sp - 1, L, k0, kl);
            state = 0;
        } else if (state == 2) {
            lp_jws(L, i, n);
            int f = sp - 1;
            if (i < n && L[i] == ']') {
                ++i;
                --sp;
                state = 3;
            } else if (ffirst[f] && i < n && L[i] == '"') {
                // A mapped array yields its first string.
                ffirst[f] = 0;
                int s0, sl;
                if (!lp_jstring(L, i, n, &s0, &sl)) return LP_BAD_JSON;
                int m = fwant[f];
                if (m >= 0 && !((found >> m) & 1)) {
                    found |= 1ull << m;
                    voff[m] = s0;
                    vlen[m] = sl;
                }
                state = 4;
            } else {
                ffirst[f] = 0;
                cur = lp_jseg(fmask[f], f, marker, 0, 2);
                state = 0;
            }
        } else if (state == 3) {
            if (sp == 0) break; // the object is complete; what follows is not read
            if (!fobject[sp - 1]) {
                state = 4;
                continue;
            }
            lp_jws(L, i, n);
            if (i < n && L[i] == ',') {
                ++i;
                state = 1;
            } else if (i < n && L[i] == '}') {
                ++i;
                --sp;
            } else {
                return LP_BAD_JSON;
            }
        } else {
            lp_jws(L, i, n);
            if (i < n && L[i] == ',') {
                ++i;
                state = 2;
            } else if (i < n && L[i] == ']') {
                ++i;
                --sp;
                state = 3;
            } else {
                return LP_BAD_JSON;
            }
        }
    }
    // The earliest map entry wins for each field, whatever the document order.
    u32 assigned = 0;
    for (int e = 0; e < LP_JSON_N; ++e) {
        if (!((found >> e) & 1)) continue;
        int kind = lp_jkind[e];
        if (assigned & (1u << kind)) continue;
        assigned |= 1u << kind;
        int c = lp_assign(kind, L, voff[e], vlen[e], r);
        if (c) return c;
    }
    u32 client = (1u << LP_F_CLIENT) | (1u << LP_F_CLIENT_PORT);
    if (!(assigned & client) || !(assigned & (1u << LP_F_STATUS))) return LP_BAD_JSON;
    return 0;
#endif
}
