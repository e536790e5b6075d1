/* kvsgate: clocks and the three time formats we read and write.
 *
 * Anything that signs or validates takes the time as an argument (now_epoch_s)
 * so tests pin the clock; only the outermost callers read the system clock.
 * Formatting computes UTC fields itself (no gmtime, and no gmtime_r: it takes
 * glibc's tzset lock); parsing uses timegm.
 */
#ifndef KG_CORE_TIMEUTIL_H
#define KG_CORE_TIMEUTIL_H

#include <pthread.h>
#include <stdint.h>

#include "core/err.h"

/* Wall clock. */
int64_t kg_now_s(void);
int64_t kg_now_ms(void);
/* Monotonic clock for deadlines and durations. */
int64_t kg_mono_ms(void);
int64_t kg_mono_us(void);

#define KG_AMZ_DATE_LEN 16 /* YYYYMMDDTHHMMSSZ */
#define KG_ISO8601_LEN 20  /* YYYY-MM-DDTHH:MM:SSZ */

/* SigV4's X-Amz-Date form; out needs KG_AMZ_DATE_LEN + 1 bytes. */
void kg_time_format_amz(int64_t epoch_s, char *out);
/* RFC 3339 UTC with second precision; out needs KG_ISO8601_LEN + 1 bytes. */
void kg_time_format_iso8601(int64_t epoch_s, char *out);
/* RFC 3339 UTC with milliseconds (log lines); out needs 25 bytes. */
void kg_time_format_iso8601_ms(int64_t epoch_ms, char *out);

/* Strict YYYYMMDDTHHMMSSZ. KG_ERR_BAD_REQUEST on anything else. */
KG_WARN_UNUSED enum kg_err kg_time_parse_amz(const char *s, int64_t *epoch_s);
/* RFC 3339 / ISO 8601 as AWS emits it: YYYY-MM-DDTHH:MM:SS[.fff...](Z|+HH:MM|-HH:MM).
 * Fractions are dropped. KG_ERR_BAD_REQUEST on anything else. */
KG_WARN_UNUSED enum kg_err kg_time_parse_iso8601(const char *s, int64_t *epoch_s);

/* An HTTP-date in its IMF-fixdate form ("Sun, 06 Nov 1994 08:49:37 GMT",
 * RFC 9110 5.6.7), the form AWS's Date header has; KG_ERR_BAD_REQUEST on
 * anything else (the obsolete forms included). */
KG_WARN_UNUSED enum kg_err kg_time_parse_http_date(const char *s, int64_t *epoch_s);

/* The clock AWS agrees with: the host's wall clock until AWS refused a
 * signature as too far off, then AWS's time learnt from its Date
 * (aws/signed_request.h), kept on the monotonic clock so a later step of the
 * host's clock does not move it. What signs and presigns, and the expiry
 * times handed to clients, read it; tokens and credential expiry stay on the
 * host's clock. kg_aws_clock_offset_s: AWS's clock minus the host's (0 until
 * learnt). Thread-safe. */
int64_t kg_aws_now_s(void);
int64_t kg_aws_clock_offset_s(void);
void kg_aws_clock_offset_set(int64_t offset_s);

/* Sleeps ms milliseconds (through signals). */
void kg_sleep_ms(int64_t ms);

/* Condition variables whose timed waits run on the monotonic clock (the one
 * kg_mono_ms reads), so a wall-clock step never lengthens or cuts a wait.
 * kg_cond_wait_until waits on c (m locked) until it is signalled or
 * kg_mono_ms() reaches deadline_ms; 1 when the deadline has passed. Callers
 * loop on their own condition, as with any condition variable. */
void kg_cond_init_mono(pthread_cond_t *c);
int kg_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline_ms);

#endif
