#include "core/timeutil.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

int64_t kg_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

int64_t kg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kg_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kg_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* UTC fields of epoch_s by arithmetic (days to civil date, proleptic
 * Gregorian; H. Hinnant's algorithm). glibc's gmtime_r takes the process-wide
 * tzset lock on every call, and a warm request formats four or five times. */
static void time_utc(int64_t epoch_s, struct tm *tm)
{
    memset(tm, 0, sizeof *tm);
    int64_t days = epoch_s / 86400, secs = epoch_s % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }
    tm->tm_hour = (int)(secs / 3600);
    tm->tm_min = (int)(secs / 60 % 60);
    tm->tm_sec = (int)(secs % 60);
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                  /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);           /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                /* [0, 11], from March */
    int64_t d = doy - (153 * mp + 2) / 5 + 1;                        /* [1, 31] */
    int64_t m = mp < 10 ? mp + 3 : mp - 9;                           /* [1, 12] */
    int64_t y = yoe + era * 400 + (m <= 2);
    tm->tm_year = (int)(y - 1900);
    tm->tm_mon = (int)(m - 1);
    tm->tm_mday = (int)d;
}

/* Writes v as exactly `width` decimal digits (v is in range by construction). */
static char *put_digits(char *out, int v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return out + width;
}

void kg_time_format_amz(int64_t epoch_s, char *out)
{
    struct tm tm;
    time_utc(epoch_s, &tm);
    char *p = put_digits(out, (tm.tm_year + 1900) % 10000, 4);
    p = put_digits(p, tm.tm_mon + 1, 2);
    p = put_digits(p, tm.tm_mday, 2);
    *p++ = 'T';
    p = put_digits(p, tm.tm_hour, 2);
    p = put_digits(p, tm.tm_min, 2);
    p = put_digits(p, tm.tm_sec, 2);
    *p++ = 'Z';
    *p = '\0';
}

static char *format_iso(char *out, const struct tm *tm)
{
    char *p = put_digits(out, (tm->tm_year + 1900) % 10000, 4);
    *p++ = '-';
    p = put_digits(p, tm->tm_mon + 1, 2);
    *p++ = '-';
    p = put_digits(p, tm->tm_mday, 2);
    *p++ = 'T';
    p = put_digits(p, tm->tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, tm->tm_min, 2);
    *p++ = ':';
    return put_digits(p, tm->tm_sec, 2);
}

void kg_time_format_iso8601(int64_t epoch_s, char *out)
{
    struct tm tm;
    time_utc(epoch_s, &tm);
    char *p = format_iso(out, &tm);
    *p++ = 'Z';
    *p = '\0';
}

void kg_time_format_iso8601_ms(int64_t epoch_ms, char *out)
{
    struct tm tm;
    time_utc(epoch_ms / 1000, &tm);
    char *p = format_iso(out, &tm);
    *p++ = '.';
    p = put_digits(p, (int)(epoch_ms % 1000), 3);
    *p++ = 'Z';
    *p = '\0';
}

/* Reads exactly n decimal digits. */
static int time_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static enum kg_err time_from_fields(int y, int mo, int d, int h, int mi, int se, int64_t *out)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
        se > 60)
        return KG_ERR_BAD_REQUEST;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return KG_ERR_BAD_REQUEST;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se > 59 ? 59 : se;
    *out = (int64_t)timegm(&tm);
    return KG_OK;
}

enum kg_err kg_time_parse_amz(const char *s, int64_t *epoch_s)
{
    int y, mo, d, h, mi, se;
    if (!s || strlen(s) != KG_AMZ_DATE_LEN || s[8] != 'T' || s[15] != 'Z')
        return KG_ERR_BAD_REQUEST;
    if (!time_digits(s, 4, &y) || !time_digits(s + 4, 2, &mo) || !time_digits(s + 6, 2, &d) ||
        !time_digits(s + 9, 2, &h) || !time_digits(s + 11, 2, &mi) ||
        !time_digits(s + 13, 2, &se))
        return KG_ERR_BAD_REQUEST;
    return time_from_fields(y, mo, d, h, mi, se, epoch_s);
}

enum kg_err kg_time_parse_iso8601(const char *s, int64_t *epoch_s)
{
    int y, mo, d, h, mi, se;
    if (!s || strlen(s) < 20)
        return KG_ERR_BAD_REQUEST;
    if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return KG_ERR_BAD_REQUEST;
    if (!time_digits(s, 4, &y) || !time_digits(s + 5, 2, &mo) || !time_digits(s + 8, 2, &d) ||
        !time_digits(s + 11, 2, &h) || !time_digits(s + 14, 2, &mi) ||
        !time_digits(s + 17, 2, &se))
        return KG_ERR_BAD_REQUEST;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return KG_ERR_BAD_REQUEST;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    int64_t offset_s = 0;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        offset_s = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;
        if (!time_digits(p + 1, 2, &oh) || !time_digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return KG_ERR_BAD_REQUEST;
        offset_s = (int64_t)(oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
    } else {
        return KG_ERR_BAD_REQUEST;
    }
    int64_t t;
    enum kg_err err = time_from_fields(y, mo, d, h, mi, se, &t);
    if (err != KG_OK)
        return err;
    *epoch_s = t - offset_s;
    return KG_OK;
}

void kg_cond_init_mono(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
}

int kg_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline_ms)
{
    if (kg_mono_ms() >= deadline_ms)
        return 1;
    struct timespec ts = {.tv_sec = (time_t)(deadline_ms / 1000),
                          .tv_nsec = (long)(deadline_ms % 1000) * 1000000L};
    pthread_cond_timedwait(c, m, &ts);
    return kg_mono_ms() >= deadline_ms;
}

void kg_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

enum kg_err kg_time_parse_http_date(const char *s, int64_t *epoch_s)
{
    static const char days[] = "MonTueWedThuFriSatSun";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    /* "Www, DD Mmm YYYY HH:MM:SS GMT": 29 bytes exactly */
    if (!s || strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || s[25] != ' ' ||
        strcmp(s + 26, "GMT") != 0)
        return KG_ERR_BAD_REQUEST;
    int known_day = 0;
    for (int i = 0; i < 7; i++)
        known_day |= memcmp(s, days + 3 * i, 3) == 0;
    int mo = 0;
    for (int i = 0; i < 12 && !mo; i++)
        if (memcmp(s + 8, months + 3 * i, 3) == 0)
            mo = i + 1;
    int d, y, h, mi, se;
    if (!known_day || !mo || !time_digits(s + 5, 2, &d) || !time_digits(s + 12, 4, &y) ||
        !time_digits(s + 17, 2, &h) || !time_digits(s + 20, 2, &mi) ||
        !time_digits(s + 23, 2, &se))
        return KG_ERR_BAD_REQUEST;
    return time_from_fields(y, mo, d, h, mi, se, epoch_s);
}

/* AWS's time is kept against the monotonic clock (AWS ms = monotonic ms +
 * base): once learnt, a step of the host's wall clock (time sync catching up)
 * does not move it, and the offset to the host's clock shrinks by itself
 * when the host is fixed. INT64_MIN: nothing learnt (the host's clock). */
static _Atomic int64_t aws_base_ms = INT64_MIN;

int64_t kg_aws_now_s(void)
{
    int64_t base = atomic_load(&aws_base_ms);
    if (base == INT64_MIN)
        return kg_now_s();
    int64_t ms = kg_mono_ms() + base;
    return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

int64_t kg_aws_clock_offset_s(void)
{
    return atomic_load(&aws_base_ms) == INT64_MIN ? 0 : kg_aws_now_s() - kg_now_s();
}

void kg_aws_clock_offset_set(int64_t offset_s)
{
    atomic_store(&aws_base_ms,
                 offset_s ? kg_now_ms() + offset_s * 1000 - kg_mono_ms() : INT64_MIN);
}
