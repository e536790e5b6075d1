#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/encode.h"
#include "core/timeutil.h"

static enum kg_log_level log_level = KG_LOG_INFO;
static int log_fd = 2;

static const char *const log_level_names[] = {"debug", "info", "warn", "error", "off"};

void kg_log_set_level(enum kg_log_level level) { log_level = level; }
enum kg_log_level kg_log_get_level(void) { return log_level; }
void kg_log_set_fd(int fd) { log_fd = fd; }

int kg_log_level_parse(const char *s)
{
    for (int i = 0; i <= KG_LOG_OFF; i++)
        if (strcmp(s, log_level_names[i]) == 0)
            return i;
    return -1;
}

int kg_log_enabled(enum kg_log_level level) { return level >= log_level && level < KG_LOG_OFF; }

/* Room kept at the end of the buffer for ",\"truncated\":true}\n". */
#define LOG_TAIL 24

static void log_raw(struct kg_log_line *l, const char *s, size_t n)
{
    size_t room = KG_LOG_LINE_MAX - LOG_TAIL - l->len;
    if (n > room) {
        n = room;
        l->truncated = 1;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

size_t kg_json_escape(char *out, size_t cap, const char *s, size_t n, size_t *consumed)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        char tmp[8];
        size_t tn;
        size_t step = 1;
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            tn = 2;
        } else if (c == '\n') {
            memcpy(tmp, "\\n", 2);
            tn = 2;
        } else if (c == '\r') {
            memcpy(tmp, "\\r", 2);
            tn = 2;
        } else if (c == '\t') {
            memcpy(tmp, "\\t", 2);
            tn = 2;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(tmp, "\\u00", 4);
            tmp[4] = hex[c >> 4];
            tmp[5] = hex[c & 15];
            tn = 6;
        } else if (c < 0x80) {
            tmp[0] = (char)c;
            tn = 1;
        } else {
            size_t sl = kg_utf8_seq_len(u + i, n - i);
            if (sl == 0) {
                memcpy(tmp, "\\ufffd", 6);
                tn = 6;
            } else {
                memcpy(tmp, u + i, sl);
                tn = sl;
                step = sl;
            }
        }
        if (o + tn > cap)
            break;
        memcpy(out + o, tmp, tn);
        o += tn;
        i += step;
    }
    if (consumed)
        *consumed = i;
    return o;
}

static void log_key(struct kg_log_line *l, const char *key)
{
    log_raw(l, ",\"", 2);
    log_raw(l, key, strlen(key));
    log_raw(l, "\":", 2);
}

int kg_log_begin(struct kg_log_line *l, enum kg_log_level level, const char *event)
{
    if (!kg_log_enabled(level))
        return 0;
    char ts[32];
    kg_time_format_iso8601_ms(kg_now_ms(), ts);
    l->len = 0;
    l->truncated = 0;
    log_raw(l, "{\"ts\":\"", 7);
    log_raw(l, ts, strlen(ts));
    log_raw(l, "\",\"level\":\"", 11);
    log_raw(l, log_level_names[level], strlen(log_level_names[level]));
    log_raw(l, "\"", 1);
    kg_log_str(l, "event", event);
    return 1;
}

void kg_log_strn(struct kg_log_line *l, const char *key, const char *value, size_t n)
{
    log_key(l, key);
    log_raw(l, "\"", 1);
    size_t room = KG_LOG_LINE_MAX - LOG_TAIL - l->len;
    if (room > 0) {
        size_t used = 0;
        size_t w = kg_json_escape(l->buf + l->len, room - 1, value, n, &used);
        if (used < n)
            l->truncated = 1;
        l->len += w;
    }
    /* The closing quote always fits: LOG_TAIL keeps room for it. */
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

void kg_log_int(struct kg_log_line *l, const char *key, int64_t value)
{
    /* By hand: snprintf costs more than the rest of a field. */
    char num[24];
    char *p = num + sizeof num;
    uint64_t u = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (value < 0)
        *--p = '-';
    log_key(l, key);
    log_raw(l, p, (size_t)(num + sizeof num - p));
}

void kg_log_bool(struct kg_log_line *l, const char *key, int value)
{
    log_key(l, key);
    if (value)
        log_raw(l, "true", 4);
    else
        log_raw(l, "false", 5);
}

void kg_log_null(struct kg_log_line *l, const char *key)
{
    log_key(l, key);
    log_raw(l, "null", 4);
}

void kg_log_end(struct kg_log_line *l)
{
    static const char trunc[] = ",\"truncated\":true";
    if (l->truncated) {
        memcpy(l->buf + l->len, trunc, sizeof trunc - 1);
        l->len += sizeof trunc - 1;
    }
    l->buf[l->len++] = '}';
    l->buf[l->len++] = '\n';
    size_t off = 0;
    while (off < l->len) {
        ssize_t w = write(log_fd, l->buf + off, l->len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
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
