#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/encode.h"
#include "core/timeutil.h"

static enum kg_log_level log_level = KG_LOG_INFO;
static int log_fd = 2;

/* kg_log_buffer_start's state; lock also orders the writes while it runs. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    int running; /* read unlocked (atomic) on the way in, then again under lock */
    int stopping;
    int64_t flush_ms;
    size_t len;
    char data[KG_LOG_BUFFER_BYTES];
} logbuf = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void write_all(const char *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(log_fd, p + off, n - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
}

/* Writes what is gathered (logbuf.lock held). */
static void logbuf_write_locked(void)
{
    if (logbuf.len) {
        write_all(logbuf.data, logbuf.len);
        logbuf.len = 0;
    }
}

static const char *const log_level_names[] = {"debug", "info", "warn", "error", "off"};

void kg_log_set_level(enum kg_log_level level) { log_level = level; }
void kg_log_set_fd(int fd) { log_fd = fd; }

int kg_log_level_parse(const char *s)
{
    for (int i = 0; i <= KG_LOG_OFF; i++)
        if (strcmp(s, log_level_names[i]) == 0)
            return i;
    return -1;
}

int kg_log_enabled(enum kg_log_level level) { return level >= log_level && level < KG_LOG_OFF; }

/* Every line ends with at most the truncation marker, '}' and '\n'; the
 * fields before them never pass LOG_BODY_MAX, so a line never passes
 * KG_LOG_LINE_MAX whatever its fields hold. */
static const char log_marker[] = ",\"truncated\":true";
#define LOG_TAIL (sizeof log_marker - 1 + 2)
#define LOG_BODY_MAX (KG_LOG_LINE_MAX - LOG_TAIL)

/* The one place that says how much room is left. l->len never passes
 * LOG_BODY_MAX (every write below asks here first), and the comparison keeps
 * the answer from wrapping even if it did. */
static size_t log_room(const struct kg_log_line *l)
{
    return l->len < LOG_BODY_MAX ? LOG_BODY_MAX - l->len : 0;
}

/* Appends s[0..n) whole, or nothing and marks the line truncated. */
static int log_put(struct kg_log_line *l, const char *s, size_t n)
{
    if (n > log_room(l)) {
        l->truncated = 1;
        return 0;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    return 1;
}

/* Starts a field: `,"key":` goes in only when value_min more bytes fit after
 * it, so a field is whole or absent and the line stays one JSON object. Keys
 * are names from the code, written as they are. */
static int log_key(struct kg_log_line *l, const char *key, size_t value_min)
{
    size_t klen = strlen(key);
    if (klen > LOG_BODY_MAX || value_min > LOG_BODY_MAX || klen + 4 + value_min > log_room(l)) {
        l->truncated = 1;
        return 0;
    }
    l->buf[l->len++] = ',';
    l->buf[l->len++] = '"';
    memcpy(l->buf + l->len, key, klen);
    l->len += klen;
    l->buf[l->len++] = '"';
    l->buf[l->len++] = ':';
    return 1;
}

int kg_log_begin(struct kg_log_line *l, enum kg_log_level level, const char *event)
{
    if (!kg_log_enabled(level))
        return 0;
    char ts[32];
    kg_time_format_iso8601_ms(kg_now_ms(), ts);
    l->len = 0;
    l->truncated = 0;
    l->level = level;
    /* A fixed-size head: it always fits. */
    log_put(l, "{\"ts\":\"", 7);
    log_put(l, ts, strlen(ts));
    log_put(l, "\",\"level\":\"", 11);
    log_put(l, log_level_names[level], strlen(log_level_names[level]));
    log_put(l, "\"", 1);
    kg_log_str(l, "event", event);
    return 1;
}

void kg_log_strn(struct kg_log_line *l, const char *key, const char *value, size_t n)
{
    if (!log_key(l, key, 2))
        return;
    l->buf[l->len++] = '"';
    /* log_key left room for both quotes: the value gets the rest but one. */
    size_t used = 0;
    l->len += kg_json_escape(l->buf + l->len, log_room(l) - 1, value, n, &used);
    if (used < n)
        l->truncated = 1;
    l->buf[l->len++] = '"';
}

void kg_log_str(struct kg_log_line *l, const char *key, const char *value)
{
    if (!value) {
        kg_log_null(l, key);
        return;
    }
    kg_log_strn(l, key, value, strlen(value));
}

static void log_literal(struct kg_log_line *l, const char *key, const char *text, size_t n)
{
    if (log_key(l, key, n))
        log_put(l, text, n);
}

void kg_log_int(struct kg_log_line *l, const char *key, int64_t value)
{
    char num[KG_DECIMAL_MAX + 1];
    size_t n = kg_decimal(value, num);
    log_literal(l, key, num, n);
}

void kg_log_bool(struct kg_log_line *l, const char *key, int value)
{
    if (value)
        log_literal(l, key, "true", 4);
    else
        log_literal(l, key, "false", 5);
}

void kg_log_null(struct kg_log_line *l, const char *key) { log_literal(l, key, "null", 4); }

void kg_log_end(struct kg_log_line *l)
{
    /* LOG_TAIL bytes are always left after LOG_BODY_MAX. */
    if (l->len > LOG_BODY_MAX)
        l->len = LOG_BODY_MAX; /* unreachable; a last guard for the buffer */
    if (l->truncated) {
        memcpy(l->buf + l->len, log_marker, sizeof log_marker - 1);
        l->len += sizeof log_marker - 1;
    }
    l->buf[l->len++] = '}';
    l->buf[l->len++] = '\n';
    if (__atomic_load_n(&logbuf.running, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&logbuf.lock);
        if (logbuf.running) {
            if (l->level <= KG_LOG_INFO) {
                if (l->len > sizeof logbuf.data - logbuf.len)
                    logbuf_write_locked();
                memcpy(logbuf.data + logbuf.len, l->buf, l->len);
                logbuf.len += l->len;
            } else {
                logbuf_write_locked();
                write_all(l->buf, l->len);
            }
            pthread_mutex_unlock(&logbuf.lock);
            return;
        }
        pthread_mutex_unlock(&logbuf.lock);
    }
    write_all(l->buf, l->len);
}

static void *logbuf_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&logbuf.lock);
    while (!logbuf.stopping) {
        kg_cond_wait_until(&logbuf.cond, &logbuf.lock, kg_mono_ms() + logbuf.flush_ms);
        logbuf_write_locked();
    }
    logbuf_write_locked();
    __atomic_store_n(&logbuf.running, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&logbuf.lock);
    return NULL;
}

void kg_log_flush(void)
{
    pthread_mutex_lock(&logbuf.lock);
    logbuf_write_locked();
    pthread_mutex_unlock(&logbuf.lock);
}

void kg_log_buffer_start(int64_t flush_ms)
{
    static int atexit_set;
    if (logbuf.running || flush_ms <= 0)
        return;
    if (!atexit_set) {
        atexit(kg_log_flush);
        atexit_set = 1;
    }
    kg_cond_init_mono(&logbuf.cond);
    logbuf.flush_ms = flush_ms;
    logbuf.stopping = 0;
    __atomic_store_n(&logbuf.running, 1, __ATOMIC_RELEASE);
    if (pthread_create(&logbuf.thread, NULL, logbuf_main, NULL) != 0)
        __atomic_store_n(&logbuf.running, 0, __ATOMIC_RELEASE); /* a write per line, as before */
}

void kg_log_buffer_stop(void)
{
    pthread_mutex_lock(&logbuf.lock);
    int was_running = logbuf.running;
    logbuf.stopping = 1;
    pthread_cond_broadcast(&logbuf.cond);
    pthread_mutex_unlock(&logbuf.lock);
    if (was_running) {
        pthread_join(logbuf.thread, NULL);
        pthread_cond_destroy(&logbuf.cond);
    }
}

void kg_log_msg(enum kg_log_level level, const char *event, const char *fmt, ...)
{
    struct kg_log_line l;
    if (!kg_log_begin(&l, level, event))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof msg)
        n = sizeof msg - 1;
    kg_log_strn(&l, "msg", msg, (size_t)n);
    kg_log_end(&l);
}
