/* service/clientaddr: CIDR ranges, the client's address behind trusted
 * proxies (the rightmost untrusted X-Forwarded-For hop), and the budget key
 * (IPv6 per /64). */
#include <string.h>

#include "service/clientaddr.h"
#include "testlib.h"

static void test_ranges_parse_v4_v6_and_refuse_host_bits_and_junk(void)
{
    static const char *good[] = {"10.0.0.0/8", "127.0.0.1", "0.0.0.0/0", "192.168.1.0/24",
                                 "fd00::/8", "::1", "2001:db8::/32", "::/0", "10.1.2.3/32"};
    static const char *bad[] = {"10.0.0.1/8", "10.0.0.0/33", "fd00::1/8", "::/129", "10.0.0.0/",
                                "10.0.0.0/a", "10.0.0", "host.example", "", "10.0.0.0/08x",
                                "1.2.3.4/-1", "1.2.3.4 "};
    struct clientaddr_range r;
    for (size_t i = 0; i < T_COUNT(good); i++)
        if (clientaddr_range_parse(good[i], &r) != KG_OK)
            t_fail(__FILE__, __LINE__, "refused %s", good[i]);
    for (size_t i = 0; i < T_COUNT(bad); i++)
        if (clientaddr_range_parse(bad[i], &r) == KG_OK)
            t_fail(__FILE__, __LINE__, "accepted '%s'", bad[i]);
}

static void test_the_client_is_the_rightmost_untrusted_hop(void)
{
    const char *ranges[] = {"10.0.0.0/8", "fd00::/8", "127.0.0.1"};
    struct clientaddr_trust t;
    clientaddr_trust_init(&t, ranges, T_COUNT(ranges));
    struct {
        const char *peer, *xff, *want;
    } cases[] = {
        {"10.1.1.1", "203.0.113.7", "203.0.113.7"},
        {"10.1.1.1", "198.51.100.1, 203.0.113.7", "203.0.113.7"},   /* the client's word left */
        {"10.1.1.1", "203.0.113.7, 10.2.2.2", "203.0.113.7"},       /* a trusted hop passes on */
        {"10.1.1.1", "203.0.113.7,10.2.2.2 , fd00::9", "203.0.113.7"},
        {"10.1.1.1", "10.3.3.3, 10.2.2.2", "10.3.3.3"},             /* all trusted: the leftmost */
        {"10.1.1.1", "garbage, 203.0.113.7", "203.0.113.7"},
        {"10.1.1.1", "203.0.113.7, garbage", "10.1.1.1"},           /* unreadable: the peer stands */
        {"10.1.1.1", "10.2.2.2, , 10.3.3.3", "10.3.3.3"},
        {"10.1.1.1", "", "10.1.1.1"},
        {"10.1.1.1", NULL, "10.1.1.1"},
        {"203.0.113.9", "10.2.2.2", "203.0.113.9"},                  /* untrusted peer: its own */
        {"fd00::5", "2001:db8::1", "2001:db8::1"},
        {"127.0.0.1", "[2001:db8::1]", "127.0.0.1"},               /* brackets are not an address */
    };
    char out[CLIENTADDR_LEN];
    for (size_t i = 0; i < T_COUNT(cases); i++) {
        clientaddr_resolve(&t, cases[i].peer, cases[i].xff, out);
        if (strcmp(out, cases[i].want) != 0)
            t_fail(__FILE__, __LINE__, "peer %s xff '%s': got %s, want %s", cases[i].peer,
                   cases[i].xff ? cases[i].xff : "(none)", out, cases[i].want);
    }
    /* No trust list: the peer, whatever X-Forwarded-For says. */
    clientaddr_resolve(NULL, "10.1.1.1", "203.0.113.7", out);
    T_STREQ(out, "10.1.1.1");
}

static void test_budget_keys_cut_ipv6_to_its_64(void)
{
    char out[CLIENTADDR_LEN];
    clientaddr_budget_key("203.0.113.7", out);
    T_STREQ(out, "203.0.113.7");
    clientaddr_budget_key("2001:db8:1:2:3:4:5:6", out);
    T_STREQ(out, "2001:db8:1:2::");
    clientaddr_budget_key("2001:db8:1:2::ffff", out);
    T_STREQ(out, "2001:db8:1:2::");
    clientaddr_budget_key("not an address", out);
    T_STREQ(out, "not an address");
}

int main(int argc, char **argv)
{
    static const struct t_case cases[] = {
        T_CASE(test_ranges_parse_v4_v6_and_refuse_host_bits_and_junk),
        T_CASE(test_the_client_is_the_rightmost_untrusted_hop),
        T_CASE(test_budget_keys_cut_ipv6_to_its_64),
    };
    return t_main(cases, T_COUNT(cases), argc, argv);
}
