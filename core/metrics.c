/* Design note: a family keeps its series in a fixed open-addressing table of
 * atomic pointers. A lookup hashes the label values and probes without a lock;
 * only a miss takes the family mutex to create and publish the series (release
 * store, read with acquire). Values are doubles kept as atomic 64-bit patterns
 * updated with compare-and-swap, so recording never blocks. */
#include "core/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/mem.h"

const double KG_METRIC_LATENCY_BUCKETS[] = {0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                            0.05,    0.1,    0.25,  0.5,    1,     2.5,  5,
                                            10};
const size_t KG_METRIC_LATENCY_BUCKET_COUNT =
    sizeof KG_METRIC_LATENCY_BUCKETS / sizeof KG_METRIC_LATENCY_BUCKETS[0];

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM, METRIC_GAUGE_FN };

#define TABLE_SLOTS (KG_METRIC_MAX_SERIES * 2)
#define MAX_FAMILIES 128

struct series {
    char *labels[KG_METRIC_MAX_LABELS];
    _Atomic uint64_t value; /* double bits: counter or gauge */
    _Atomic uint64_t count; /* histogram */
    _Atomic uint64_t sum;   /* histogram, double bits */
    _Atomic uint64_t *buckets;
};

struct kg_metric {
    char *name;
    char *help;
    enum metric_type type;
    size_t label_count;
    char *label_names[KG_METRIC_MAX_LABELS];
    double *bounds;
    size_t bound_count;
    double (*fn)(void *);
    void *fn_arg;
    pthread_mutex_t lock;
    size_t series_count;
    _Atomic(struct series *) only; /* a family without labels: its one series, once made */
    _Atomic(struct series *) table[TABLE_SLOTS];
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kg_metric *families[MAX_FAMILIES];
static size_t family_count;
static struct kg_metric *dropped_series;
static pthread_once_t dropped_once = PTHREAD_ONCE_INIT;

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void atomic_add_double(_Atomic uint64_t *slot, double v)
{
    uint64_t old = atomic_load_explicit(slot, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(slot, &old, dbits(bitsd(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

static void metric_die(const char *why, const char *name)
{
    fprintf(stderr, "{\"level\":\"fatal\",\"event\":\"metrics_misuse\",\"why\":\"%s\",\"name\":\"%s\"}\n",
            why, name);
    abort();
}

static struct kg_metric *family_register(const char *name, const char *help,
                                         const char *label_names, enum metric_type type,
                                         const double *bounds, size_t bound_count)
{
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i < family_count; i++) {
        if (strcmp(families[i]->name, name) == 0) {
            struct kg_metric *m = families[i];
            pthread_mutex_unlock(&registry_lock);
            if (m->type != type)
                metric_die("registered twice with different types", name);
            return m;
        }
    }
    if (family_count == MAX_FAMILIES)
        metric_die("too many families", name);
    struct kg_metric *m = kg_calloc(1, sizeof *m);
    m->name = kg_strdup(name);
    m->help = kg_strdup(help);
    m->type = type;
    pthread_mutex_init(&m->lock, NULL);
    if (label_names && *label_names) {
        const char *p = label_names;
        while (*p) {
            size_t n = strcspn(p, ",");
            if (m->label_count == KG_METRIC_MAX_LABELS)
                metric_die("too many labels", name);
            m->label_names[m->label_count++] = kg_strndup(p, n);
            p += n;
            if (*p == ',')
                p++;
        }
    }
    if (type == METRIC_HISTOGRAM) {
        if (!bounds) {
            bounds = KG_METRIC_LATENCY_BUCKETS;
            bound_count = KG_METRIC_LATENCY_BUCKET_COUNT;
        }
        m->bounds = kg_malloc(bound_count * sizeof *m->bounds);
        memcpy(m->bounds, bounds, bound_count * sizeof *m->bounds);
        m->bound_count = bound_count;
    }
    families[family_count++] = m;
    pthread_mutex_unlock(&registry_lock);
    return m;
}

struct kg_metric *kg_metric_counter(const char *name, const char *help, const char *label_names)
{
    return family_register(name, help, label_names, METRIC_COUNTER, NULL, 0);
}

struct kg_metric *kg_metric_gauge(const char *name, const char *help, const char *label_names)
{
    return family_register(name, help, label_names, METRIC_GAUGE, NULL, 0);
}

struct kg_metric *kg_metric_histogram(const char *name, const char *help, const char *label_names,
                                      const double *bounds, size_t bound_count)
{
    return family_register(name, help, label_names, METRIC_HISTOGRAM, bounds, bound_count);
}

void kg_metric_gauge_fn(const char *name, const char *help, double (*fn)(void *arg), void *arg)
{
    struct kg_metric *m = family_register(name, help, "", METRIC_GAUGE_FN, NULL, 0);
    pthread_mutex_lock(&m->lock);
    m->fn = fn;
    m->fn_arg = arg;
    pthread_mutex_unlock(&m->lock);
}

/* A fixed seed: the exposition lists series in table order, the same every run. */
static uint64_t labels_hash(const struct kg_metric *m, const char *const *values)
{
    uint64_t h = 0;
    for (size_t i = 0; i < m->label_count; i++)
        h = kg_hash_str(h, values[i]); /* each value's length is mixed in: "a","bc" != "ab","c" */
    return h;
}

static int labels_equal(const struct kg_metric *m, const struct series *s,
                        const char *const *values)
{
    for (size_t i = 0; i < m->label_count; i++)
        if (strcmp(s->labels[i], values[i]) != 0)
            return 0;
    return 1;
}

/* Lock-free probe: the series for values, or NULL. Series are never removed,
 * so the probe may stop at the first empty slot. */
static struct series *series_find(struct kg_metric *m, const char *const *values, uint64_t h,
                                  size_t *empty_slot)
{
    for (size_t probe = 0; probe < TABLE_SLOTS; probe++) {
        size_t slot = (size_t)((h + probe) % TABLE_SLOTS);
        struct series *s = atomic_load_explicit(&m->table[slot], memory_order_acquire);
        if (!s) {
            if (empty_slot)
                *empty_slot = slot;
            return NULL;
        }
        if (labels_equal(m, s, values))
            return s;
    }
    return NULL; /* unreachable: the table has twice the slots of the series bound */
}

/* The series for values, created on first use; NULL when the family is full. */
static struct series *series_get(struct kg_metric *m, const char *const *values)
{
    uint64_t h = labels_hash(m, values);
    struct series *s = series_find(m, values, h, NULL);
    if (s)
        return s;
    pthread_mutex_lock(&m->lock);
    size_t slot = TABLE_SLOTS;
    s = series_find(m, values, h, &slot);
    if (!s && slot < TABLE_SLOTS && m->series_count < KG_METRIC_MAX_SERIES) {
        s = kg_calloc(1, sizeof *s);
        for (size_t i = 0; i < m->label_count; i++)
            s->labels[i] = kg_strdup(values[i]);
        if (m->type == METRIC_HISTOGRAM)
            s->buckets = kg_calloc(m->bound_count, sizeof *s->buckets);
        m->series_count++;
        atomic_store_explicit(&m->table[slot], s, memory_order_release);
    }
    pthread_mutex_unlock(&m->lock);
    return s;
}

static void register_dropped(void)
{
    dropped_series = kg_metric_counter("kvsgate_metrics_dropped_series_total",
                                       "Label sets not recorded because a family was full.", "");
}

static void count_dropped(struct kg_metric *m)
{
    if (m == dropped_series)
        return;
    pthread_once(&dropped_once, register_dropped);
    kg_metric_inc(dropped_series, NULL);
}

static struct series *series_record(struct kg_metric *m, const char *const *values)
{
    static const char *const none[1] = {""};
    if (!m)
        return NULL;
    struct series *s;
    if (m->label_count == 0) {
        /* No labels, no lookup: the one series, kept once made. */
        s = atomic_load_explicit(&m->only, memory_order_acquire);
        if (!s && (s = series_get(m, none)) != NULL)
            atomic_store_explicit(&m->only, s, memory_order_release);
    } else {
        s = series_get(m, values);
    }
    if (!s)
        count_dropped(m);
    return s;
}

void kg_metric_add_kept(struct kg_metric *m, const char *const *label_values,
                        _Atomic(struct kg_series *) *kept, double v)
{
    struct series *s = (struct series *)atomic_load_explicit(kept, memory_order_acquire);
    if (!s) {
        s = series_record(m, label_values); /* counts a dropped series when full */
        if (!s)
            return;
        atomic_store_explicit(kept, (struct kg_series *)s, memory_order_release);
    }
    atomic_add_double(&s->value, v);
}

void kg_metric_add(struct kg_metric *m, const char *const *label_values, double v)
{
    struct series *s = series_record(m, label_values);
    if (s)
        atomic_add_double(&s->value, v);
}

void kg_metric_inc(struct kg_metric *m, const char *const *label_values)
{
    kg_metric_add(m, label_values, 1.0);
}

void kg_metric_set(struct kg_metric *m, const char *const *label_values, double v)
{
    struct series *s = series_record(m, label_values);
    if (s)
        atomic_store_explicit(&s->value, dbits(v), memory_order_relaxed);
}

void kg_metric_observe(struct kg_metric *m, const char *const *label_values, double v)
{
    struct series *s = series_record(m, label_values);
    if (!s)
        return;
    for (size_t i = 0; i < m->bound_count; i++)
        if (v <= m->bounds[i]) {
            atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
            break;
        }
    atomic_add_double(&s->sum, v);
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

double kg_metric_value(struct kg_metric *m, const char *const *label_values)
{
    static const char *const none[1] = {""};
    if (!m)
        return 0;
    const char *const *values = m->label_count ? label_values : none;
    struct series *s = series_find(m, values, labels_hash(m, values), NULL);
    return s ? bitsd(atomic_load_explicit(&s->value, memory_order_relaxed)) : 0;
}

/* ---- exposition ------------------------------------------------------------ */

static enum kg_err put_number(struct kg_buf *out, double v)
{
    if (isinf(v))
        return kg_buf_append_str(out, v > 0 ? "+Inf" : "-Inf");
    if (isnan(v))
        return kg_buf_append_str(out, "NaN");
    if (v == floor(v) && fabs(v) < 9.007199254740992e15)
        return kg_buf_appendf(out, "%.0f", v);
    return kg_buf_appendf(out, "%.17g", v);
}

static enum kg_err put_escaped(struct kg_buf *out, const char *s, int quotes)
{
    enum kg_err err = KG_OK;
    for (; *s && err == KG_OK; s++) {
        if (*s == '\\')
            err = kg_buf_append_str(out, "\\\\");
        else if (*s == '\n')
            err = kg_buf_append_str(out, "\\n");
        else if (*s == '"' && quotes)
            err = kg_buf_append_str(out, "\\\"");
        else
            err = kg_buf_append_char(out, *s);
    }
    return err;
}

/* name{labels[,extra]} */
static enum kg_err put_series_name(struct kg_buf *out, const struct kg_metric *m,
                                   const struct series *s, const char *suffix,
                                   const char *extra_name, const char *extra_value)
{
    enum kg_err err = kg_buf_appendf(out, "%s%s", m->name, suffix);
    size_t n = m->label_count + (extra_name ? 1 : 0);
    if (err != KG_OK || n == 0)
        return err;
    err = kg_buf_append_char(out, '{');
    for (size_t i = 0; i < m->label_count && err == KG_OK; i++) {
        err = kg_buf_appendf(out, "%s%s=\"", i ? "," : "", m->label_names[i]);
        if (err == KG_OK)
            err = put_escaped(out, s->labels[i], 1);
        if (err == KG_OK)
            err = kg_buf_append_char(out, '"');
    }
    if (err == KG_OK && extra_name)
        err = kg_buf_appendf(out, "%s%s=\"%s\"", m->label_count ? "," : "", extra_name,
                             extra_value);
    if (err == KG_OK)
        err = kg_buf_append_char(out, '}');
    return err;
}

static enum kg_err render_family(struct kg_buf *out, struct kg_metric *m)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram", "gauge"};
    enum kg_err err = kg_buf_appendf(out, "# HELP %s ", m->name);
    if (err == KG_OK)
        err = put_escaped(out, m->help, 0);
    if (err == KG_OK)
        err = kg_buf_appendf(out, "\n# TYPE %s %s\n", m->name, type_names[m->type]);
    if (err != KG_OK)
        return err;
    if (m->type == METRIC_GAUGE_FN) {
        pthread_mutex_lock(&m->lock);
        double v = m->fn ? m->fn(m->fn_arg) : 0;
        pthread_mutex_unlock(&m->lock);
        err = kg_buf_appendf(out, "%s ", m->name);
        if (err == KG_OK)
            err = put_number(out, v);
        return err == KG_OK ? kg_buf_append_char(out, '\n') : err;
    }
    for (size_t slot = 0; slot < TABLE_SLOTS && err == KG_OK; slot++) {
        struct series *s = atomic_load_explicit(&m->table[slot], memory_order_acquire);
        if (!s)
            continue;
        if (m->type != METRIC_HISTOGRAM) {
            err = put_series_name(out, m, s, "", NULL, NULL);
            if (err == KG_OK)
                err = kg_buf_append_char(out, ' ');
            if (err == KG_OK)
                err = put_number(out, bitsd(atomic_load_explicit(&s->value, memory_order_relaxed)));
            if (err == KG_OK)
                err = kg_buf_append_char(out, '\n');
            continue;
        }
        /* Read count first: buckets then never exceed it in this snapshot's +Inf. */
        uint64_t count = atomic_load_explicit(&s->count, memory_order_relaxed);
        double sum = bitsd(atomic_load_explicit(&s->sum, memory_order_relaxed));
        uint64_t cumulative = 0;
        for (size_t b = 0; b < m->bound_count && err == KG_OK; b++) {
            cumulative += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
            if (cumulative > count)
                cumulative = count;
            char le[64];
            snprintf(le, sizeof le, "%.17g", m->bounds[b]);
            err = put_series_name(out, m, s, "_bucket", "le", le);
            if (err == KG_OK)
                err = kg_buf_appendf(out, " %llu\n", (unsigned long long)cumulative);
        }
        if (err == KG_OK)
            err = put_series_name(out, m, s, "_bucket", "le", "+Inf");
        if (err == KG_OK)
            err = kg_buf_appendf(out, " %llu\n", (unsigned long long)count);
        if (err == KG_OK)
            err = put_series_name(out, m, s, "_sum", NULL, NULL);
        if (err == KG_OK)
            err = kg_buf_append_char(out, ' ');
        if (err == KG_OK)
            err = put_number(out, sum);
        if (err == KG_OK)
            err = kg_buf_append_char(out, '\n');
        if (err == KG_OK)
            err = put_series_name(out, m, s, "_count", NULL, NULL);
        if (err == KG_OK)
            err = kg_buf_appendf(out, " %llu\n", (unsigned long long)count);
    }
    return err;
}

enum kg_err kg_metrics_render(struct kg_buf *out)
{
    pthread_mutex_lock(&registry_lock);
    size_t n = family_count;
    struct kg_metric *snapshot[MAX_FAMILIES];
    memcpy(snapshot, families, n * sizeof *snapshot);
    pthread_mutex_unlock(&registry_lock);
    enum kg_err err = KG_OK;
    for (size_t i = 0; i < n && err == KG_OK; i++)
        err = render_family(out, snapshot[i]);
    return err;
}
