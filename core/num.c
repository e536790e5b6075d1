#include "core/num.h"

#include <string.h>

int kg_parse_int64n(const char *s, size_t n, int64_t min, int64_t max, int64_t *out)
{
    if (!s || min > max)
        return 0;
    int neg = n && s[0] == '-';
    size_t i = neg ? 1 : 0;
    if (i == n || n - i > 19)
        return 0;
    /* Accumulate the magnitude as unsigned; 19 digits never pass 2^64. */
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    int64_t value;
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return 0;
        value = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return 0;
        value = (int64_t)v;
    }
    if (value < min || value > max)
        return 0;
    *out = value;
    return 1;
}

int kg_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    return s && kg_parse_int64n(s, strlen(s), min, max, out);
}
