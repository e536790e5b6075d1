/* kvsgate: bounded byte buffers (after curl's dynbuf).
 *
 * A kg_buf grows on demand up to a hard maximum fixed at init; an append that
 * would pass the maximum fails with KG_ERR_PAYLOAD_TOO_LARGE and leaves the
 * buffer as it was. `data` is never NULL and always NUL-terminated (an empty
 * buffer points at a shared ""), so it can be used as a C string when no NUL
 * was appended.
 *
 * A buffer made with kg_buf_init_fixed uses caller storage and never grows;
 * a secret buffer (kg_buf_init_secret) wipes memory it lets go of.
 * Not thread-safe: a buffer belongs to one thread at a time.
 */
#ifndef KG_CORE_BUF_H
#define KG_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "core/err.h"

struct kg_buf {
    char *data;
    size_t len;
    size_t cap;     /* bytes allocated (including room for the NUL) */
    size_t max_len; /* hard maximum of len */
    size_t dirty;   /* bytes from data that may have been written (every write beyond
                       len is preceded by a reserve): what a secret buffer wipes */
    unsigned flags;
};

#define KG_BUF_FIXED 1u  /* storage belongs to the caller */
#define KG_BUF_SECRET 2u /* wipe on grow, reset and free */

void kg_buf_init(struct kg_buf *b, size_t max_len);
void kg_buf_init_secret(struct kg_buf *b, size_t max_len);
/* Uses storage[0..cap); max_len is cap - 1. */
void kg_buf_init_fixed(struct kg_buf *b, char *storage, size_t cap);
void kg_buf_free(struct kg_buf *b);
/* Empties the buffer, keeping its memory. */
void kg_buf_reset(struct kg_buf *b);
/* Shortens the contents to len bytes (no-op when len >= b->len). */
void kg_buf_truncate(struct kg_buf *b, size_t len);

/* Makes room for n more bytes (and the NUL) so that appends up to that much
 * do not reallocate; fails like an append of n bytes would, changing nothing.
 * Writers that know their exact output size fill b->data + b->len directly
 * after it and then call kg_buf_commit. */
KG_WARN_UNUSED enum kg_err kg_buf_reserve(struct kg_buf *b, size_t n);
/* A capacity hint for a buffer that has none yet: allocates cap bytes at once
 * (when cap fits its maximum), so a buffer whose usual size is known grows
 * once instead of doubling from 64 (a secret one wiping at every step). */
void kg_buf_presize(struct kg_buf *b, size_t cap);
/* Adds n bytes already written after b->len (room made by kg_buf_reserve). */
void kg_buf_commit(struct kg_buf *b, size_t n);
KG_WARN_UNUSED enum kg_err kg_buf_append(struct kg_buf *b, const void *p, size_t n);
KG_WARN_UNUSED static inline enum kg_err kg_buf_append_str(struct kg_buf *b, const char *s);
KG_WARN_UNUSED static inline enum kg_err kg_buf_append_char(struct kg_buf *b, char c);
KG_WARN_UNUSED enum kg_err kg_buf_appendf(struct kg_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
KG_WARN_UNUSED enum kg_err kg_buf_vappendf(struct kg_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Moves the contents out as a malloc'ed NUL-terminated string and empties the
 * buffer; *len_out (optional) gets the length. Works for fixed buffers too (copies). */
char *kg_buf_take(struct kg_buf *b, size_t *len_out);

/* Inline: the length of a literal (most appended strings) is then known at
 * compile time, and a byte that fits needs no call. */
static inline enum kg_err kg_buf_append_str(struct kg_buf *b, const char *s)
{
    return kg_buf_append(b, s, strlen(s));
}

static inline enum kg_err kg_buf_append_char(struct kg_buf *b, char c)
{
    /* The rule of kg_buf_append for one byte: len < max_len, room for it and
     * the NUL (len + 2 <= cap: no wrap, len < cap), dirty up to the NUL. */
    if (b->len < b->max_len && b->len + 2 <= b->cap) {
        if (b->dirty < b->len + 2)
            b->dirty = b->len + 2;
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return KG_OK;
    }
    return kg_buf_append(b, &c, 1);
}

#endif
