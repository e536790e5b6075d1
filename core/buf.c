#include "core/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

/* An empty buffer points here, so `data` is always a valid C string. Nothing
 * ever writes to it: every write first reserves real storage (cap > 0). */
static char buf_empty[1];

void kg_buf_init(struct kg_buf *b, size_t max_len)
{
    b->data = buf_empty;
    b->len = 0;
    b->cap = 0;
    b->max_len = max_len < SIZE_MAX ? max_len : SIZE_MAX - 1; /* max_len + 1 must not wrap */
    b->dirty = 0;
    b->flags = 0;
}

void kg_buf_init_secret(struct kg_buf *b, size_t max_len)
{
    kg_buf_init(b, max_len);
    b->flags = KG_BUF_SECRET;
}

void kg_buf_init_fixed(struct kg_buf *b, char *storage, size_t cap)
{
    b->data = storage;
    b->len = 0;
    b->cap = cap;
    b->max_len = cap ? cap - 1 : 0;
    b->dirty = cap;
    b->flags = KG_BUF_FIXED;
    if (cap)
        storage[0] = '\0';
}

/* The bytes a wipe must cover: all that may have been written, within cap. */
static size_t buf_dirty(const struct kg_buf *b) { return b->dirty < b->cap ? b->dirty : b->cap; }

void kg_buf_free(struct kg_buf *b)
{
    if (b->cap && (b->flags & KG_BUF_SECRET))
        kg_wipe(b->data, buf_dirty(b));
    if (b->cap && !(b->flags & KG_BUF_FIXED))
        free(b->data);
    b->data = buf_empty;
    b->len = 0;
    b->cap = 0;
    b->dirty = 0;
}

void kg_buf_reset(struct kg_buf *b)
{
    if (b->cap && (b->flags & KG_BUF_SECRET)) {
        kg_wipe(b->data, buf_dirty(b));
        b->dirty = 0; /* all zeros now: nothing to wipe until written again */
    }
    b->len = 0;
    if (b->cap)
        b->data[0] = '\0';
}

void kg_buf_truncate(struct kg_buf *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->data[len] = '\0'; /* len < old len implies cap > 0 */
    }
}

/* Makes room for `extra` more bytes plus the NUL. */
static enum kg_err buf_reserve(struct kg_buf *b, size_t extra)
{
    if (extra > b->max_len - b->len)
        return KG_ERR_PAYLOAD_TOO_LARGE;
    size_t need = b->len + extra + 1;
    if (need > b->dirty)
        b->dirty = need; /* the caller may write up to here */
    if (need <= b->cap)
        return KG_OK;
    if (b->flags & KG_BUF_FIXED)
        return KG_ERR_PAYLOAD_TOO_LARGE;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max_len + 1)
        cap = b->max_len + 1;
    if (b->flags & KG_BUF_SECRET) {
        char *fresh = kg_malloc(cap);
        if (b->cap) {
            memcpy(fresh, b->data, b->len + 1);
            kg_wipe(b->data, buf_dirty(b));
            free(b->data);
        }
        b->data = fresh;
    } else {
        b->data = kg_realloc(b->cap ? b->data : NULL, cap);
        if (b->len == 0)
            b->data[0] = '\0';
    }
    b->cap = cap;
    return KG_OK;
}

enum kg_err kg_buf_reserve(struct kg_buf *b, size_t n) { return buf_reserve(b, n); }

void kg_buf_presize(struct kg_buf *b, size_t cap)
{
    if (b->cap || (b->flags & KG_BUF_FIXED) || cap == 0 || cap - 1 > b->max_len)
        return;
    b->data = kg_malloc(cap);
    b->data[0] = '\0';
    b->cap = cap;
    b->dirty = 1;
}

void kg_buf_commit(struct kg_buf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

enum kg_err kg_buf_append(struct kg_buf *b, const void *p, size_t n)
{
    enum kg_err err = buf_reserve(b, n);
    if (err != KG_OK)
        return err;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return KG_OK;
}

enum kg_err kg_buf_vappendf(struct kg_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return KG_ERR_INTERNAL;
    enum kg_err err = buf_reserve(b, (size_t)n);
    if (err != KG_OK)
        return err;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return KG_OK;
}

enum kg_err kg_buf_appendf(struct kg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum kg_err err = kg_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return err;
}

char *kg_buf_take(struct kg_buf *b, size_t *len_out)
{
    char *out;
    if (len_out)
        *len_out = b->len;
    if (b->flags & KG_BUF_FIXED) {
        out = kg_strndup(b->data, b->len);
        kg_buf_reset(b);
        return out;
    }
    if (!b->cap)
        out = kg_strdup("");
    else
        out = b->data;
    b->data = buf_empty;
    b->len = 0;
    b->cap = 0;
    b->dirty = 0;
    return out;
}
