#include "service/clientaddr.h"

#include <string.h>

/* Text to 16 bytes (IPv4 mapped into ::ffff:0:0/96); 0 when not an address. */
static int addr_parse(const char *s, size_t n, unsigned char out[16], int *is_v4)
{
    char text[CLIENTADDR_LEN];
    if (n == 0 || n >= sizeof text)
        return 0;
    memcpy(text, s, n);
    text[n] = '\0';
    unsigned char v4[4];
    if (inet_pton(AF_INET, text, v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, v4, 4);
        *is_v4 = 1;
        return 1;
    }
    *is_v4 = 0;
    return inet_pton(AF_INET6, text, out) == 1;
}

enum kg_err clientaddr_range_parse(const char *s, struct clientaddr_range *out)
{
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    int is_v4;
    if (!addr_parse(s, n, out->addr, &is_v4))
        return KG_ERR_BAD_REQUEST;
    unsigned max = is_v4 ? 32 : 128, prefix = max;
    if (slash) {
        const char *p = slash + 1;
        if (!*p || strlen(p) > 3)
            return KG_ERR_BAD_REQUEST;
        prefix = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9')
                return KG_ERR_BAD_REQUEST;
            prefix = prefix * 10 + (unsigned)(*p - '0');
        }
        if (prefix > max)
            return KG_ERR_BAD_REQUEST;
    }
    out->prefix = is_v4 ? 96 + prefix : prefix;
    /* No host bits past the prefix: "10.0.0.1/8" is a typo for 10.0.0.0/8. */
    for (unsigned bit = out->prefix; bit < 128; bit++)
        if (out->addr[bit / 8] & (0x80u >> (bit % 8)))
            return KG_ERR_BAD_REQUEST;
    return KG_OK;
}

void clientaddr_trust_init(struct clientaddr_trust *t, const char *const *ranges, size_t count)
{
    t->count = 0;
    for (size_t i = 0; i < count && t->count < CLIENTADDR_MAX_RANGES; i++)
        if (clientaddr_range_parse(ranges[i], &t->ranges[t->count]) == KG_OK)
            t->count++;
}

static int range_holds(const struct clientaddr_range *r, const unsigned char a[16])
{
    unsigned whole = r->prefix / 8, rest = r->prefix % 8;
    if (memcmp(r->addr, a, whole) != 0)
        return 0;
    if (!rest)
        return 1;
    unsigned char mask = (unsigned char)(0xffu << (8 - rest));
    return (r->addr[whole] & mask) == (a[whole] & mask);
}

static int trusted(const struct clientaddr_trust *t, const char *s, size_t n)
{
    unsigned char a[16];
    int is_v4;
    if (!addr_parse(s, n, a, &is_v4))
        return 0;
    for (size_t i = 0; i < t->count; i++)
        if (range_holds(&t->ranges[i], a))
            return 1;
    return 0;
}

static void copy_addr(char out[CLIENTADDR_LEN], const char *s, size_t n)
{
    if (n >= CLIENTADDR_LEN)
        n = CLIENTADDR_LEN - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

void clientaddr_resolve(const struct clientaddr_trust *t, const char *peer, const char *xff,
                        char out[CLIENTADDR_LEN])
{
    copy_addr(out, peer, strlen(peer));
    if (!t || !t->count || !xff || !trusted(t, peer, strlen(peer)))
        return;
    /* From the right: each hop that is trusted passes us on to the one before. */
    size_t end = strlen(xff);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && (xff[a] == ' ' || xff[a] == '\t'))
            a++;
        while (b > a && (xff[b - 1] == ' ' || xff[b - 1] == '\t'))
            b--;
        unsigned char bytes[16];
        int is_v4;
        if (!addr_parse(xff + a, b - a, bytes, &is_v4))
            return; /* not an address: the last hop we could read stands */
        copy_addr(out, xff + a, b - a);
        if (!trusted(t, xff + a, b - a))
            return;
        end = start ? start - 1 : 0;
    }
}

void clientaddr_budget_key(const char *addr, char out[CLIENTADDR_LEN])
{
    unsigned char a[16];
    int is_v4;
    if (!addr_parse(addr, strlen(addr), a, &is_v4) || is_v4) {
        copy_addr(out, addr, strlen(addr));
        return;
    }
    memset(a + 8, 0, 8);
    if (!inet_ntop(AF_INET6, a, out, CLIENTADDR_LEN))
        copy_addr(out, addr, strlen(addr));
}
