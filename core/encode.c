#include "core/encode.h"

#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";

void kg_hex_lower(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_lower[in[i] >> 4];
        out[2 * i + 1] = hex_lower[in[i] & 15];
    }
    out[2 * n] = '\0';
}

size_t kg_decimal(int64_t v, char out[KG_DECIMAL_MAX + 1])
{
    char num[KG_DECIMAL_MAX];
    char *p = num + sizeof num;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    size_t n = (size_t)(num + sizeof num - p);
    memcpy(out, p, n);
    out[n] = '\0';
    return n;
}

/* Characters kept as they are: the unreserved set, and with it '/' in
 * uri_keep_slash (kg_uri_encode's keep_slash). */
#define K1(c) [c] = 1
static const unsigned char uri_keep[256] = {KG_ALNUM_DESIGNATORS(K1), K1('-'), K1('.'), K1('_'),
                                            K1('~')};
static const unsigned char uri_keep_slash[256] = {KG_ALNUM_DESIGNATORS(K1), K1('-'), K1('.'),
                                                  K1('_'), K1('~'), K1('/')};
static const unsigned char token_chars[256] = {KG_TCHAR_DESIGNATORS(K1)};
#undef K1

int kg_http_token_char(unsigned char c) { return token_chars[c]; }

enum kg_err kg_uri_encode(struct kg_buf *out, const char *s, size_t n, int keep_slash)
{
    /* One reservation and direct writes: this runs on every presigned URL, a
     * few hundred bytes each. The worst case (every byte encoded, 3n) is
     * reserved when it fits the buffer's bound, so one pass writes; otherwise
     * a first pass sizes the output exactly. n <= room / 3 keeps 3n from
     * wrapping. */
    const unsigned char *u = (const unsigned char *)s;
    const unsigned char *keep = keep_slash ? uri_keep_slash : uri_keep;
    size_t need;
    if (n <= (out->max_len - out->len) / 3) {
        need = 3 * n;
    } else {
        size_t kept = 0;
        for (size_t i = 0; i < n; i++)
            kept += keep[u[i]];
        need = kept + 3 * (n - kept);
    }
    enum kg_err err = kg_buf_reserve(out, need);
    if (err != KG_OK)
        return err;
    char *start = out->data + out->len, *w = start;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = u[i];
        if (keep[c]) {
            *w++ = (char)c;
        } else {
            w[0] = '%';
            w[1] = hex_upper[c >> 4];
            w[2] = hex_upper[c & 15];
            w += 3;
        }
    }
    kg_buf_commit(out, (size_t)(w - start));
    return KG_OK;
}

static int hex_val(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

enum kg_err kg_uri_decode(struct kg_buf *out, const char *s, size_t n, int plus_is_space)
{
    /* The output is never longer than the input: reserve once, write directly. */
    size_t need = 0;
    for (size_t i = 0; i < n; i++, need++) {
        if (s[i] == '%') {
            if (n - i < 3 || hex_val((unsigned char)s[i + 1]) < 0 ||
                hex_val((unsigned char)s[i + 2]) < 0)
                return KG_ERR_BAD_REQUEST;
            i += 2;
        }
    }
    enum kg_err err = kg_buf_reserve(out, need);
    if (err != KG_OK)
        return err;
    char *w = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            c = (char)(hex_val((unsigned char)s[i + 1]) * 16 + hex_val((unsigned char)s[i + 2]));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        *w++ = c;
    }
    kg_buf_commit(out, need);
    return KG_OK;
}

static enum kg_err b64_encode(struct kg_buf *out, const unsigned char *in, size_t n,
                              const char *alphabet, int pad)
{
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        size_t left = n - i;
        if (left > 1)
            v |= (unsigned)in[i + 1] << 8;
        if (left > 2)
            v |= in[i + 2];
        char q[4] = {alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63],
                     alphabet[(v >> 6) & 63], alphabet[v & 63]};
        size_t emit = left >= 3 ? 4 : left + 1;
        enum kg_err err = kg_buf_append(out, q, emit);
        if (err == KG_OK && emit < 4 && pad)
            err = kg_buf_append(out, "==", 4 - emit);
        if (err != KG_OK)
            return err;
    }
    return KG_OK;
}

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

enum kg_err kg_base64_encode(struct kg_buf *out, const unsigned char *in, size_t n)
{
    return b64_encode(out, in, n, b64_std, 1);
}

enum kg_err kg_base64url_encode(struct kg_buf *out, const unsigned char *in, size_t n)
{
    return b64_encode(out, in, n, b64_url, 0);
}

static int b64_val(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

static enum kg_err b64_decode(struct kg_buf *out, const char *in, size_t n, int url)
{
    if (!url) {
        /* Padding is required: the length is a multiple of 4 and '=' only at the end. */
        if (n % 4 != 0)
            return KG_ERR_BAD_REQUEST;
        if (n >= 1 && in[n - 1] == '=')
            n--;
        if (n >= 1 && in[n - 1] == '=')
            n--;
    }
    if (n % 4 == 1)
        return KG_ERR_BAD_REQUEST;
    enum kg_err err = kg_buf_reserve(out, n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0));
    if (err != KG_OK)
        return err;
    char *w = out->data + out->len;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val((unsigned char)in[i], url);
        if (v < 0) {
            out->data[out->len] = '\0';
            return KG_ERR_BAD_REQUEST;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *w++ = (char)((acc >> bits) & 0xff);
        }
    }
    if (bits && (acc & ((1u << bits) - 1))) {
        out->data[out->len] = '\0';
        return KG_ERR_BAD_REQUEST;
    }
    kg_buf_commit(out, (size_t)(w - (out->data + out->len)));
    return KG_OK;
}

enum kg_err kg_base64_decode(struct kg_buf *out, const char *in, size_t n)
{
    return b64_decode(out, in, n, 0);
}

enum kg_err kg_base64url_decode(struct kg_buf *out, const char *in, size_t n)
{
    return b64_decode(out, in, n, 1);
}

size_t kg_utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned min;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Bytes a character takes inside a JSON string: 1 as it is, 2 for a
 * backslash escape, 6 for \u00xx; 0 marks a UTF-8 lead or continuation byte
 * (validated, then copied as it is). */
static const unsigned char json_width[256] = {
    6, 6, 6, 6, 6, 6, 6, 6, 6, 2, 2, 6, 6, 2, 6, 6, /* \t \n \r: 2 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* '"': 2 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, /* '\\': 2 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 6, /* DEL: 6 */
};

/* Index of the first byte at or after i that is not plain printable ASCII
 * (json_width 1): a byte below 0x20, '"', '\\', DEL or one with the high bit
 * set. Sixteen bytes at a time with SSE2 (x86-64 has it), else eight in a
 * word; the last few one by one. */
static size_t json_plain_end(const unsigned char *u, size_t i, size_t n)
{
#if defined(__SSE2__)
    const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"');
    const __m128i bslash = _mm_set1_epi8('\\'), del = _mm_set1_epi8(0x7f);
    while (n - i >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(u + i));
        /* signed: a byte with the high bit set is negative, so below 0x20 too */
        __m128i special = _mm_or_si128(
            _mm_or_si128(_mm_cmplt_epi8(x, space), _mm_cmpeq_epi8(x, quote)),
            _mm_or_si128(_mm_cmpeq_epi8(x, bslash), _mm_cmpeq_epi8(x, del)));
        unsigned mask = (unsigned)_mm_movemask_epi8(special);
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
        i += 16;
    }
#else
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (n - i >= 8) {
        uint64_t x;
        memcpy(&x, u + i, 8);
        uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\'), d = x ^ (ones * 0x7f);
        uint64_t special = ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b) |
                           ((d - ones) & ~d) | x;
        if (special & highs)
            break;
        i += 8;
    }
#endif
    while (i < n && json_width[u[i]] == 1)
        i++;
    return i;
}

/* Writes the escape of c, a byte of json_width 2 or 6, at w; returns its width. */
static size_t json_escape_byte(unsigned char c, char *w)
{
    w[0] = '\\';
    if (c == '"' || c == '\\') {
        w[1] = (char)c;
        return 2;
    }
    if (c == '\n' || c == '\r' || c == '\t') {
        w[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        return 2;
    }
    memcpy(w + 1, "u00", 3);
    w[4] = hex_lower[c >> 4];
    w[5] = hex_lower[c & 15];
    return 6;
}

size_t kg_json_escape(char *out, size_t cap, const char *s, size_t n, size_t *consumed)
{
    /* Invariant: o <= cap, so cap - o never wraps. */
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0, i = 0;
    while (i < n) {
        size_t plain = json_plain_end(u, i, n);
        size_t run = plain - i;
        if (run > cap - o) {
            memcpy(out + o, u + i, cap - o);
            i += cap - o;
            o = cap;
            break;
        }
        memcpy(out + o, u + i, run);
        o += run;
        i = plain;
        if (i == n)
            break;
        char esc[6];
        const char *piece = esc;
        size_t width, step = 1;
        if (json_width[u[i]]) {
            width = json_escape_byte(u[i], esc);
        } else {
            size_t sl = kg_utf8_seq_len(u + i, n - i);
            if (sl) {
                piece = (const char *)u + i;
                width = step = sl;
            } else {
                piece = "\\ufffd";
                width = 6;
            }
        }
        if (width > cap - o)
            break;
        memcpy(out + o, piece, width);
        o += width;
        i += step;
    }
    if (consumed)
        *consumed = i;
    return o;
}

int kg_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t sl = kg_utf8_seq_len(u + i, n - i);
        if (!sl)
            return 0;
        i += sl;
    }
    return 1;
}

enum kg_err kg_json_append_string_cut(struct kg_buf *out, const char *s, size_t n, size_t max_len)
{
    static const char marker[] = "...";
    if (max_len < 2 + sizeof marker - 1)
        return KG_ERR_BAD_REQUEST;
    enum kg_err err = kg_buf_reserve(out, max_len);
    if (err != KG_OK)
        return err;
    char *w = out->data + out->len;
    size_t used = 0;
    size_t inner = kg_json_escape(w + 1, max_len - 2, s, n, &used);
    if (used < n) /* cut: again, leaving room for the marker */
        inner = kg_json_escape(w + 1, max_len - 2 - (sizeof marker - 1), s, n, &used);
    w[0] = '"';
    if (used < n) {
        memcpy(w + 1 + inner, marker, sizeof marker - 1);
        inner += sizeof marker - 1;
    }
    w[1 + inner] = '"';
    kg_buf_commit(out, inner + 2);
    return KG_OK;
}

enum kg_err kg_json_append_string(struct kg_buf *out, const char *s, size_t n)
{
    /* Size first (escapes counted, UTF-8 checked), then one reservation and
     * runs of plain bytes copied with memcpy. */
    const unsigned char *u = (const unsigned char *)s;
    size_t need = 2;
    for (size_t i = 0; i < n;) {
        size_t plain = json_plain_end(u, i, n);
        need += plain - i;
        i = plain;
        if (i == n)
            break;
        unsigned w = json_width[u[i]];
        if (w) {
            need += w;
            i++;
            continue;
        }
        size_t sl = kg_utf8_seq_len(u + i, n - i);
        if (!sl)
            return KG_ERR_BAD_REQUEST;
        need += sl;
        i += sl;
    }
    enum kg_err err = kg_buf_reserve(out, need);
    if (err != KG_OK)
        return err;
    char *w = out->data + out->len;
    *w++ = '"';
    if (need == n + 2) { /* nothing to escape: the common case */
        memcpy(w, s, n);
        w[n] = '"';
        kg_buf_commit(out, need);
        return KG_OK;
    }
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        for (;;) {
            run = json_plain_end(u, run, n);
            if (run == n || json_width[u[run]] != 0)
                break;
            run++; /* UTF-8 bytes (validated above) are copied as they are */
        }
        memcpy(w, u + i, run - i);
        w += run - i;
        if (run == n)
            break;
        w += json_escape_byte(u[run], w);
        i = run + 1;
    }
    *w = '"';
    kg_buf_commit(out, need);
    return KG_OK;
}
