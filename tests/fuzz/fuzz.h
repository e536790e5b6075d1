/* What the libFuzzer targets share: the entry point's prototype, an invariant
 * check that aborts with a message (libFuzzer then saves the input as a
 * crash-* file), and a tiny reader that splits one input into several fields.
 *
 * Field format, so that seed files stay readable: fields are separated by the
 * byte 0x1F (ASCII unit separator), e.g. "GET\x1f/v1/channels\x1fprefix=a".
 */
#ifndef KG_TESTS_FUZZ_H
#define KG_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__,       \
                    __LINE__);                                                            \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

#define FUZZ_SEP '\x1f'

/* A request body as the service hands it to a handler: at most max bytes of the
 * input, copied and NUL-terminated (malloc'd: the request frees it); *len its
 * length. */
static inline char *fuzz_body_copy(const uint8_t *data, size_t size, size_t max, size_t *len)
{
    if (size > max)
        size = max;
    char *body = malloc(size + 1);
    if (!body)
        abort();
    memcpy(body, data, size);
    body[size] = '\0';
    *len = size;
    return body;
}

struct fuzz_in {
    const char *p;
    size_t n;
};

/* The next field (up to FUZZ_SEP or the end): a pointer into the input and its
 * length. Returns 0 when the input is used up. */
static inline int fuzz_field(struct fuzz_in *in, const char **s, size_t *len)
{
    if (!in->n && !in->p)
        return 0;
    const char *sep = in->n ? memchr(in->p, FUZZ_SEP, in->n) : NULL;
    *s = in->p;
    if (sep) {
        *len = (size_t)(sep - in->p);
        in->n -= *len + 1;
        in->p = sep + 1;
    } else {
        *len = in->n;
        in->p = NULL; /* the last field was handed out */
        in->n = 0;
    }
    return 1;
}

/* The next field as a new NUL-terminated string ("" when the input is used up). */
static inline char *fuzz_field_str(struct fuzz_in *in, size_t *len_out)
{
    const char *s = "";
    size_t n = 0;
    if (!fuzz_field(in, &s, &n)) {
        s = "";
        n = 0;
    }
    char *out = malloc(n + 1);
    if (!out)
        abort();
    memcpy(out, s, n);
    out[n] = '\0';
    if (len_out)
        *len_out = n;
    return out;
}

/* The first byte as a selector (0 when empty); the rest stays in the input. */
static inline unsigned fuzz_selector(const uint8_t **data, size_t *size)
{
    if (!*size)
        return 0;
    unsigned v = (*data)[0];
    (*data)++;
    (*size)--;
    return v;
}

#endif
