/* kvsgate: the client's address, behind trusted proxies (`clientaddr_`).
 *
 * Behind a load balancer or an ingress every request comes from the proxy's
 * address. With KVSGATE_TRUSTED_PROXIES (CIDRs), a request whose peer is in
 * that list is taken to come from the rightmost X-Forwarded-For entry that is
 * not itself trusted (the address the nearest untrusted hop connected from:
 * entries further left are the client's own words). The access log and the
 * per-address budget of failed tokens use that address; nothing else trusts
 * it. Without the setting, or from an untrusted peer, the peer is the client.
 */
#ifndef KG_SERVICE_CLIENTADDR_H
#define KG_SERVICE_CLIENTADDR_H

#include <arpa/inet.h>
#include <stddef.h>

#include "core/err.h"

#define CLIENTADDR_MAX_RANGES 64
#define CLIENTADDR_LEN INET6_ADDRSTRLEN

struct clientaddr_range {
    unsigned char addr[16]; /* IPv4 as ::ffff:a.b.c.d */
    unsigned prefix;        /* bits of addr that must match, 0..128 */
};

struct clientaddr_trust {
    struct clientaddr_range ranges[CLIENTADDR_MAX_RANGES];
    size_t count;
};

/* Parses one "a.b.c.d[/n]" or "v6[/n]" range. KG_ERR_BAD_REQUEST when it is
 * not one (host bits set beyond the prefix are refused too). */
KG_WARN_UNUSED enum kg_err clientaddr_range_parse(const char *s, struct clientaddr_range *out);

/* Fills t from the ranges (each already valid: config.c checks them). */
void clientaddr_trust_init(struct clientaddr_trust *t, const char *const *ranges, size_t count);

/* Writes the client's address into out: peer, or, when peer is trusted and
 * xff (the last X-Forwarded-For header, may be NULL) names hops, the rightmost
 * entry not in t (all trusted: the leftmost). An entry that is not an address
 * stops the walk at the hop before it. */
void clientaddr_resolve(const struct clientaddr_trust *t, const char *peer, const char *xff,
                        char out[CLIENTADDR_LEN]);

/* The key of an address for per-address budgets: IPv4 as it is, IPv6 cut to
 * its /64 (one subscriber's network hands out the rest at will). */
void clientaddr_budget_key(const char *addr, char out[CLIENTADDR_LEN]);

#endif
