#include "core/encode.h"

#include <string.h>

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

int kg_uri_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

enum kg_err kg_uri_encode(struct kg_buf *out, const char *s, size_t n, int keep_slash)
{
    size_t start = out->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        enum kg_err err;
        if (kg_uri_unreserved(c) || (keep_slash && c == '/')) {
            err = kg_buf_append_char(out, (char)c);
        } else {
            char esc[3] = {'%', hex_upper[c >> 4], hex_upper[c & 15]};
            err = kg_buf_append(out, esc, 3);
        }
        if (err != KG_OK) {
            kg_buf_truncate(out, start);
            return err;
        }
    }
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
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (n - i < 3)
                return KG_ERR_BAD_REQUEST;
            int h = hex_val((unsigned char)s[i + 1]);
            int l = hex_val((unsigned char)s[i + 2]);
            if (h < 0 || l < 0)
                return KG_ERR_BAD_REQUEST;
            c = (char)(h * 16 + l);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        enum kg_err err = kg_buf_append_char(out, c);
        if (err != KG_OK)
            return err;
    }
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
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val((unsigned char)in[i], url);
        if (v < 0)
            return KG_ERR_BAD_REQUEST;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            enum kg_err err = kg_buf_append_char(out, (char)((acc >> bits) & 0xff));
            if (err != KG_OK)
                return err;
        }
    }
    /* Leftover bits must be zero (canonical encoding only). */
    if (bits && (acc & ((1u << bits) - 1)))
        return KG_ERR_BAD_REQUEST;
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
