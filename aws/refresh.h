/* kvsgate: the refresh-ahead threads of the caches (`refresher_`).
 *
 * A refresher owns `threads` threads that reload cache entries still in use
 * before their TTL ends (the rule is the cache's: aws/cache.h). Caches join it
 * through cache_options.refresher and leave it when freed. It bounds the work
 * two ways, so that refreshing stays a small share of AWS's quotas: at most
 * `threads` reloads at once, and at most `rps` started per second (a token
 * bucket with a burst of one second's worth). Due entries beyond those bounds
 * wait; if they wait past their TTL they expire and the next caller loads
 * them, as without refresh-ahead (kvsgate_aws_waits_total shows it).
 *
 * Thread-safe. Free it after every cache that uses it.
 */
#ifndef KG_AWS_REFRESH_H
#define KG_AWS_REFRESH_H

#include <stdint.h>

struct refresher;

struct refresher_options {
    unsigned threads; /* 1..64 */
    double rps;       /* > 0: reloads started per second, at most */
    int64_t tick_ms;  /* how often idle threads look for due entries; 0: 100 */
};

struct refresher *refresher_new(const struct refresher_options *opts);
/* Stops and joins the threads (a reload under way finishes first); caches may
 * still leave afterwards. Stop before freeing caches whose reloads touch one
 * another (aws/channels.c forgets a deleted channel in all its caches). */
void refresher_stop(struct refresher *r);
/* Stops (if not yet) and frees r. NULL is allowed. */
void refresher_free(struct refresher *r);

#endif
