/* kvsgate: bounded decimal integers (`kg_parse_int64`), the one parser for
 * settings, command-line flags, query parameters, ports and HTTP headers.
 *
 * Strict: an optional '-' and 1..19 digits, nothing else (no sign '+', no
 * spaces, no leading or trailing junk, no hex); the value must lie in
 * [min, max]. Overflow is impossible: digits are accumulated only while the
 * result stays within max's magnitude. */
#ifndef KG_CORE_NUM_H
#define KG_CORE_NUM_H

#include <stddef.h>
#include <stdint.h>

/* Parses s[0..n). 1 with *out set, or 0 (and *out untouched). */
int kg_parse_int64n(const char *s, size_t n, int64_t min, int64_t max, int64_t *out);
/* The same for a NUL-terminated string (NULL: 0). */
int kg_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);

#endif
