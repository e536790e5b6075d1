/* kvsgate: structured logs, one JSON object per line on stderr.
 *
 *     struct kg_log_line l;
 *     if (kg_log_begin(&l, KG_LOG_WARN, "creds_refresh_failed")) {
 *         kg_log_str(&l, "source", "imds");
 *         kg_log_int(&l, "retry_in_s", 30);
 *         kg_log_end(&l);
 *     }
 *
 * kg_log_begin returns 0 when the level is off, so nothing is formatted (redis's
 * rule: check the level before doing work). A line is built in a fixed 4 KiB
 * stack buffer and written with one write(2), so lines from several threads
 * never interleave.
 *
 * Bounded by construction, whatever the values hold: a line is always one
 * valid JSON object of at most KG_LOG_LINE_MAX bytes with its newline. String
 * values are escaped (kg_json_escape: controls as \u00xx, invalid UTF-8 as
 * \ufffd) and cut at a character boundary when the line is full; a field that
 * does not fit at all is left out; either way the line ends with
 * "truncated":true.
 *
 * Never pass a secret (keys, tokens, signatures, passwords, JWTs) to these
 * functions; tests grep the log for them.
 */
#ifndef KG_CORE_LOG_H
#define KG_CORE_LOG_H

#include <stddef.h>
#include <stdint.h>

enum kg_log_level { KG_LOG_DEBUG = 0, KG_LOG_INFO, KG_LOG_WARN, KG_LOG_ERROR, KG_LOG_OFF };

#define KG_LOG_LINE_MAX 4096

struct kg_log_line {
    char buf[KG_LOG_LINE_MAX];
    size_t len;
    int truncated;
    enum kg_log_level level;
};

/* Process-wide settings; set them at start-up before threads run. */
void kg_log_set_level(enum kg_log_level level);
void kg_log_set_fd(int fd);
/* Parses "debug", "info", "warn", "error", "off". -1 when unknown. */
int kg_log_level_parse(const char *s);

int kg_log_enabled(enum kg_log_level level);

int kg_log_begin(struct kg_log_line *l, enum kg_log_level level, const char *event);
void kg_log_str(struct kg_log_line *l, const char *key, const char *value);
void kg_log_strn(struct kg_log_line *l, const char *key, const char *value, size_t n);
void kg_log_int(struct kg_log_line *l, const char *key, int64_t value);
void kg_log_bool(struct kg_log_line *l, const char *key, int value);
void kg_log_null(struct kg_log_line *l, const char *key);
void kg_log_end(struct kg_log_line *l);

/* Buffered output (as nginx's access_log buffer=, flush=): from now on debug
 * and info lines are gathered (at most KG_LOG_BUFFER_BYTES) and written by a
 * thread every flush_ms, or at once when the buffer is full; a warn or error
 * line first writes what is gathered, then itself, so lines keep their order
 * and problems are never delayed. Saves a write(2) per request. kg_log_flush
 * writes what is gathered (also at exit); kg_log_buffer_stop flushes and goes
 * back to a write per line. Start it once, from one thread. */
#define KG_LOG_BUFFER_BYTES (64 * 1024)
void kg_log_buffer_start(int64_t flush_ms);
void kg_log_buffer_stop(void);
void kg_log_flush(void);

/* A line with one "msg" field. */
void kg_log_msg(enum kg_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
