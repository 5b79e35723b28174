/* The firmware model's common journal lines (jline.h). */
#include "jline.h"

#include <limits.h>
#include <math.h>
#include <string.h>

__extension__ typedef unsigned __int128 u128;

static const uint64_t POW10[10] = {1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u,
                                   10000000u, 100000000u, 1000000000u};

/* "00" .. "99": two digits per division (a line has a dozen 10-17 digit numbers) */
static const char DIGIT_PAIRS[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static char *put_uint(char *p, uint64_t v, int min_digits)
{
    char b[24];
    int i = (int)sizeof b;
    while (v >= 100) {
        i -= 2;
        memcpy(b + i, DIGIT_PAIRS + 2 * (v % 100), 2);
        v /= 100;
        min_digits -= 2;
    }
    if (v >= 10) {
        i -= 2;
        memcpy(b + i, DIGIT_PAIRS + 2 * v, 2);
        min_digits -= 2;
    } else {
        b[--i] = (char)('0' + v);
        min_digits--;
    }
    while (min_digits-- > 0)
        b[--i] = '0';
    memcpy(p, b + i, sizeof b - (size_t)i);
    return p + (sizeof b - (size_t)i);
}

int fw_fixed(char *out, double x, int digits)
{
    if (digits < 0 || digits > 9 || !isfinite(x))
        return FW_JLINE_NOFIT;
    char *p = out;
    if (signbit(x)) {
        *p++ = '-';
        x = -x;
    }
    uint64_t scale = POW10[digits];
    if (x >= 4.0e18 / (double)scale)   /* x * scale must fit 63 bits */
        return FW_JLINE_NOFIT;
    uint64_t q = 0;
    if (x != 0.0) {
        /* x = m * 2^e exactly (m: 53 bits), so x * scale = m * scale * 2^e exactly in 128
         * bits: the digits are those of the exact binary value, rounded half to even, as
         * printf and CPython's float formatting give them (not x * scale in doubles, which
         * rounds first and can land on the other side of a tie). */
        uint64_t bits, m;
        memcpy(&bits, &x, sizeof bits);
        int e = (int)(bits >> 52 & 0x7ff);
        m = bits & (((uint64_t)1 << 52) - 1);
        if (e) {                 /* normal: the implicit bit */
            m |= (uint64_t)1 << 52;
            e -= 1075;
        } else {                 /* subnormal */
            e = -1074;
        }
        if (e >= 0) {
            q = (m << e) * scale;
        } else if (-e < 100) {   /* past that, m * scale < 2^83 is under half a unit: 0 */
            int s = -e;
            u128 prod = (u128)m * scale;
            q = (uint64_t)(prod >> s);
            u128 rem = prod - ((u128)q << s);
            u128 half = (u128)1 << (s - 1);
            if (rem > half || (rem == half && (q & 1)))
                q++;
        }
    }
    p = put_uint(p, q / scale, 1);
    if (digits) {
        *p++ = '.';
        p = put_uint(p, q % scale, digits);
    }
    return (int)(p - out);
}

/* A line being written into [p, end): `bad` once anything did not fit or had no exact form. */
typedef struct {
    char *p, *end;
    int bad;
} jw;

static void w_mem(jw *w, const char *s, size_t n)
{
    if (w->bad || (size_t)(w->end - w->p) < n) {
        w->bad = 1;
        return;
    }
    memcpy(w->p, s, n);
    w->p += n;
}

static void w_str(jw *w, const char *s) { w_mem(w, s, strlen(s)); }

static void w_uint(jw *w, uint64_t v)
{
    char b[24];
    w_mem(w, b, (size_t)(put_uint(b, v, 1) - b));
}

static void w_fixed(jw *w, double x, int digits)
{
    char b[40];
    int n = fw_fixed(b, x, digits);
    if (n < 0)
        w->bad = 1;
    else
        w_mem(w, b, (size_t)n);
}

/* byte b as two lowercase hex digits, at 2b */
static const char HEX_PAIRS[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

static void w_hex(jw *w, const uint8_t *d, uint32_t n)
{
    if (w->bad || (size_t)(w->end - w->p) / 2 < n) {
        w->bad = 1;
        return;
    }
    char *p = w->p;      /* a local: a char store through w->p could alias w->p itself */
    for (uint32_t i = 0; i < n; i++, p += 2)
        memcpy(p, HEX_PAIRS + 2 * d[i], 2);
    w->p = p;
}

static int w_done(jw *w, char *out)
{
    return w->bad || w->p - out > INT_MAX ? FW_JLINE_NOFIT : (int)(w->p - out);
}

/* A batch's column of strings (one per row, each ended by its NUL): this row's, and on. */
static const char *next_str(const char **col)
{
    const char *s = *col;
    *col += strlen(s) + 1;
    return s;
}

/* What both lines start with: the injection, its scenario, source, notification and PE. */
static void w_who(jw *w, uint64_t id, const char *scenario_json, uint32_t source,
                  const char *notify, uint32_t pe)
{
    w_str(w, "\"id\":");
    w_uint(w, id);
    w_str(w, ",\"scenario\":");
    w_str(w, scenario_json);
    w_str(w, ",\"source\":");
    w_uint(w, source);
    w_str(w, ",\"notify\":\"");
    w_str(w, notify);
    w_str(w, "\",\"pe\":");
    w_uint(w, pe);
}

/* The accepted line's text, into w: the one formatter of single lines and batches. */
static void w_accepted(jw *w, uint64_t id, const char *scenario_json, uint32_t source,
                       const char *notify, uint32_t pe, const char *digest, double accepted,
                       const char *run, double m_accepted, uint32_t length, uint32_t bs,
                       const char *fields_json)
{
    w_str(w, "{\"event\":\"accepted\",");
    w_who(w, id, scenario_json, source, notify, pe);
    w_str(w, ",\"digest\":\"");
    w_str(w, digest);
    w_str(w, "\",\"accepted\":");
    w_fixed(w, accepted, 6);
    w_str(w, ",\"run\":\"");
    w_str(w, run);
    w_str(w, "\",\"m_accepted\":");
    w_fixed(w, m_accepted, 6);
    w_str(w, ",\"length\":");
    w_uint(w, length);
    w_str(w, ",\"bs\":");
    w_uint(w, bs);
    w_str(w, ",\"fields\":");
    w_str(w, fields_json);
    w_str(w, "}");
}

int fw_jline_accepted(char *out, size_t cap, uint64_t id, const char *scenario_json,
                      uint32_t source, const char *notify, uint32_t pe, const char *digest,
                      double accepted, const char *run, double m_accepted, uint32_t length,
                      uint32_t bs, const char *fields_json)
{
    jw w = {out, out + cap, 0};
    w_accepted(&w, id, scenario_json, source, notify, pe, digest, accepted, run, m_accepted,
               length, bs, fields_json);
    return w_done(&w, out);
}

int fw_jline_accepted_n(char *out, size_t cap, size_t n, const uint64_t *id,
                        const char *scenario_json, const uint32_t *source, const char *notify,
                        const uint32_t *pe, const char *digest, const double *accepted,
                        const char *run, const double *m_accepted, const uint32_t *length,
                        const uint32_t *bs, const char *fields_json)
{
    jw w = {out, out + cap, 0};
    for (size_t i = 0; i < n && !w.bad; i++) {
        const char *scen = next_str(&scenario_json), *note = next_str(&notify);
        const char *dig = next_str(&digest), *r = next_str(&run), *f = next_str(&fields_json);
        w_accepted(&w, id[i], scen, source[i], note, pe[i], dig, accepted[i], r, m_accepted[i],
                   length[i], bs[i], f);
        w_mem(&w, "\n", 1);
    }
    return w_done(&w, out);
}

/* The final line's text, into w: the one formatter of single lines and batches. */
static void w_final(jw *w, uint64_t id, const char *scenario_json, uint32_t source,
                    const char *notify, uint32_t pe, uint64_t block, const char *digest,
                    const char *state, double wall, double acc, double posted, double notified,
                    double consumed, double end, const char *run, const char *fields_json,
                    const uint8_t *record, uint32_t length, const char *event)
{
    w_str(w, "{");
    w_who(w, id, scenario_json, source, notify, pe);
    w_str(w, ",\"block\":");
    w_uint(w, block);
    w_str(w, ",\"length\":");
    w_uint(w, length);
    w_str(w, ",\"digest\":\"");
    w_str(w, digest);
    w_str(w, "\",\"state\":\"");
    w_str(w, state);
    w_str(w, "\",\"reason\":null,\"accepted\":");
    w_fixed(w, wall, 6);
    w_str(w, ",\"posted\":");
    w_fixed(w, wall + (posted - acc), 6);
    w_str(w, ",\"notified\":");
    w_fixed(w, wall + (notified - acc), 6);
    w_str(w, ",\"consumed\":");
    w_fixed(w, wall + (consumed - acc), 6);
    w_str(w, ",\"latency_ms\":");
    w_fixed(w, (consumed - notified) * 1000, 4);
    w_str(w, ",\"run\":\"");
    w_str(w, run);
    w_str(w, "\",\"m_accepted\":");
    w_fixed(w, acc, 6);
    w_str(w, ",\"m_posted\":");
    w_fixed(w, posted, 6);
    w_str(w, ",\"m_notified\":");
    w_fixed(w, notified, 6);
    w_str(w, ",\"m_consumed\":");
    w_fixed(w, consumed, 6);
    w_str(w, ",\"m_end\":");
    w_fixed(w, end, 6);
    w_str(w, ",\"fields\":");
    w_str(w, fields_json);
    w_str(w, ",\"record\":\"");
    w_hex(w, record, length);
    w_str(w, "\",\"event\":\"");
    w_str(w, event);
    w_str(w, "\"}");
}

int fw_jline_final(char *out, size_t cap, uint64_t id, const char *scenario_json,
                   uint32_t source, const char *notify, uint32_t pe, uint64_t block,
                   const char *digest, const char *state, double wall, double acc,
                   double posted, double notified, double consumed, double end,
                   const char *run, const char *fields_json, const uint8_t *record,
                   uint32_t length, const char *event)
{
    jw w = {out, out + cap, 0};
    w_final(&w, id, scenario_json, source, notify, pe, block, digest, state, wall, acc, posted,
            notified, consumed, end, run, fields_json, record, length, event);
    return w_done(&w, out);
}

int fw_jline_final_n(char *out, size_t cap, size_t n, const uint64_t *id,
                     const char *scenario_json, const uint32_t *source, const char *notify,
                     const uint32_t *pe, const uint64_t *block, const char *digest,
                     const char *state, const double *wall, const double *acc,
                     const double *posted, const double *notified, const double *consumed,
                     const double *end, const char *run, const char *fields_json,
                     const uint8_t *records, const uint32_t *length, const char *event,
                     uint32_t *ends)
{
    jw w = {out, out + cap, 0};
    for (size_t i = 0; i < n && !w.bad; i++) {
        const char *scen = next_str(&scenario_json), *note = next_str(&notify);
        const char *dig = next_str(&digest), *st = next_str(&state), *r = next_str(&run);
        const char *f = next_str(&fields_json), *ev = next_str(&event);
        w_final(&w, id[i], scen, source[i], note, pe[i], block[i], dig, st, wall[i], acc[i],
                posted[i], notified[i], consumed[i], end[i], r, f, records, length[i], ev);
        records += length[i];
        w_mem(&w, "\n", 1);
        if (ends)
            ends[i] = (uint32_t)(w.p - out);
    }
    return w_done(&w, out);
}
