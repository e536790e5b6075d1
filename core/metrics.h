/* kvsgate: a Prometheus metrics registry (counters, gauges, histograms).
 *
 * Families are registered once at start-up (or lazily, thread-safely) and
 * return a handle; recording takes the family and its label values:
 *
 *     static struct kg_metric *calls;   // kg_metric_counter("kvsgate_upstream_calls_total",
 *                                       //   "...", "operation,outcome")
 *     kg_metric_inc(calls, (const char *[]){"DescribeSignalingChannel", "ok"});
 *
 * Series are created on first use and live for the process. Label values must
 * come from bounded sets (routes, statuses, operations): never a channel name,
 * a subject or a token. A family holds at most KG_METRIC_MAX_SERIES series;
 * past that, new label sets are counted in kvsgate_metrics_dropped_series_total
 * and not recorded.
 *
 * Thread-safe. Recording is lock-free once a series exists; creating a series
 * takes the family's mutex.
 */
#ifndef KG_CORE_METRICS_H
#define KG_CORE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

#define KG_METRIC_MAX_LABELS 4
#define KG_METRIC_MAX_SERIES 512

struct kg_metric;

/* label_names: comma-separated ("route,status"), or "" for none. Registering
 * the same name twice returns the first family (types must agree, or it aborts). */
struct kg_metric *kg_metric_counter(const char *name, const char *help, const char *label_names);
struct kg_metric *kg_metric_gauge(const char *name, const char *help, const char *label_names);
/* bounds: ascending upper bounds in the metric's unit (seconds for latency);
 * NULL uses KG_METRIC_LATENCY_BUCKETS. */
struct kg_metric *kg_metric_histogram(const char *name, const char *help, const char *label_names,
                                      const double *bounds, size_t bound_count);
/* A gauge without labels whose value is read at scrape time. */
void kg_metric_gauge_fn(const char *name, const char *help, double (*fn)(void *arg), void *arg);

/* label_values has exactly as many entries as the family has labels (NULL when none). */
void kg_metric_inc(struct kg_metric *m, const char *const *label_values);
void kg_metric_add(struct kg_metric *m, const char *const *label_values, double v);
void kg_metric_set(struct kg_metric *m, const char *const *label_values, double v);
void kg_metric_observe(struct kg_metric *m, const char *const *label_values, double v);

/* kg_metric_add (a counter or gauge) for a label set fixed at the call site
 * (a cache's "hit"): the series is found once and kept in *kept (NULL at
 * first), so that later calls skip the label lookup. */
struct kg_series;
void kg_metric_add_kept(struct kg_metric *m, const char *const *label_values,
                        _Atomic(struct kg_series *) *kept, double v);

/* Current value of a counter or gauge series (0 when it does not exist): tests. */
double kg_metric_value(struct kg_metric *m, const char *const *label_values);

/* Appends every family in the Prometheus text exposition format 0.0.4. */
KG_WARN_UNUSED enum kg_err kg_metrics_render(struct kg_buf *out);

/* Default latency buckets, seconds: 0.25 ms .. 10 s. */
extern const double KG_METRIC_LATENCY_BUCKETS[];
extern const size_t KG_METRIC_LATENCY_BUCKET_COUNT;

#endif
