/* core/metrics: recording from threads, the text format, bounded cardinality. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "testlib.h"

static struct kg_metric *hits;

static void *hammer(void *arg)
{
    const char *route = arg;
    for (int i = 0; i < 20000; i++) {
        kg_metric_inc(hits, (const char *[]){route, i % 2 ? "200" : "404"});
    }
    return NULL;
}

static void test_counters_count_exactly_under_threads(void)
{
    hits = kg_metric_counter("t_requests_total", "Requests.", "route,status");
    pthread_t t[4];
    const char *routes[4] = {"/a", "/b", "/a", "/c"};
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, (void *)routes[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    T_INTEQ(kg_metric_value(hits, (const char *[]){"/a", "200"}), 20000);
    T_INTEQ(kg_metric_value(hits, (const char *[]){"/b", "404"}), 10000);
    T_INTEQ(kg_metric_value(hits, (const char *[]){"/z", "200"}), 0);
    /* Registering again returns the same family. */
    T_CHECK(kg_metric_counter("t_requests_total", "Requests.", "route,status") == hits);
}

static void test_render_follows_the_text_format(void)
{
    struct kg_metric *h = kg_metric_histogram("t_latency_seconds", "Latency \\ with\nnewline.",
                                              "route", (const double[]){0.1, 1}, 2);
    kg_metric_observe(h, (const char *[]){"/x"}, 0.05);
    kg_metric_observe(h, (const char *[]){"/x"}, 0.5);
    kg_metric_observe(h, (const char *[]){"/x"}, 5);
    struct kg_metric *g = kg_metric_gauge("t_gauge", "A gauge.", "");
    kg_metric_set(g, NULL, 2.5);
    struct kg_metric *q = kg_metric_counter("t_quoted_total", "Quoted.", "v");
    kg_metric_inc(q, (const char *[]){"a\"b\\c\nd"});
    struct kg_buf out;
    kg_buf_init(&out, 1 << 20);
    T_INTEQ(kg_metrics_render(&out), KG_OK);
    T_CHECK(strstr(out.data, "# HELP t_latency_seconds Latency \\\\ with\\nnewline.\n"
                             "# TYPE t_latency_seconds histogram\n"
                             "t_latency_seconds_bucket{route=\"/x\",le=\"0.10000000000000001\"} 1\n"
                             "t_latency_seconds_bucket{route=\"/x\",le=\"1\"} 2\n"
                             "t_latency_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"
                             "t_latency_seconds_sum{route=\"/x\"} 5.5499999999999998\n"
                             "t_latency_seconds_count{route=\"/x\"} 3\n") != NULL);
    T_CHECK(strstr(out.data, "# TYPE t_gauge gauge\nt_gauge 2.5\n") != NULL);
    T_CHECK(strstr(out.data, "t_quoted_total{v=\"a\\\"b\\\\c\\nd\"} 1\n") != NULL);
    kg_buf_free(&out);
}

static double forty_two(void *arg)
{
    (void)arg;
    return 42;
}

static void test_gauge_functions_are_read_at_scrape_time(void)
{
    kg_metric_gauge_fn("t_fn_gauge", "From a function.", forty_two, NULL);
    struct kg_buf out;
    kg_buf_init(&out, 1 << 20);
    T_INTEQ(kg_metrics_render(&out), KG_OK);
    T_CHECK(strstr(out.data, "\nt_fn_gauge 42\n") != NULL);
    kg_buf_free(&out);
}

static void test_cardinality_is_bounded(void)
{
    struct kg_metric *m = kg_metric_counter("t_many_total", "Many.", "k");
    char key[32];
    for (int i = 0; i < KG_METRIC_MAX_SERIES + 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        kg_metric_inc(m, (const char *[]){key});
    }
    T_INTEQ(kg_metric_value(m, (const char *[]){"k0"}), 1);
    snprintf(key, sizeof key, "k%d", KG_METRIC_MAX_SERIES + 5);
    T_INTEQ(kg_metric_value(m, (const char *[]){key}), 0);
    struct kg_metric *dropped =
        kg_metric_counter("kvsgate_metrics_dropped_series_total", "x", "");
    T_INTEQ(kg_metric_value(dropped, NULL), 10);
    /* a kept series in a full family: nothing kept, each call a dropped one */
    _Atomic(struct kg_series *) kept = NULL;
    kg_metric_add_kept(m, (const char *[]){"k-new"}, &kept, 1);
    kg_metric_add_kept(m, (const char *[]){"k-new"}, &kept, 1);
    T_CHECK(atomic_load(&kept) == NULL);
    T_INTEQ(kg_metric_value(dropped, NULL), 12);
    T_INTEQ(kg_metric_value(m, (const char *[]){"k-new"}), 0);
}

static _Atomic(struct kg_series *) kept_hit;
static struct kg_metric *kept_family;

static void *hammer_kept(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++)
        kg_metric_add_kept(kept_family, (const char *[]){"c", "hit"}, &kept_hit, 1);
    return NULL;
}

static void test_a_kept_series_counts_as_its_labels_do_under_threads(void)
{
    kept_family = kg_metric_counter("t_kept_total", "Kept.", "cache,result");
    kg_metric_inc(kept_family, (const char *[]){"c", "hit"}); /* one by the labels */
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer_kept, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    T_CHECK(atomic_load(&kept_hit) != NULL);
    T_INTEQ(kg_metric_value(kept_family, (const char *[]){"c", "hit"}), 80001);
    T_INTEQ(kg_metric_value(kept_family, (const char *[]){"c", "miss"}), 0);
    /* a family without labels keeps its one series too */
    struct kg_metric *g = kg_metric_gauge("t_no_labels", "No labels.", "");
    for (int i = 0; i < 5; i++)
        kg_metric_add(g, NULL, 1);
    kg_metric_add(g, NULL, -2);
    T_INTEQ(kg_metric_value(g, NULL), 3);
}

int main(int argc, char **argv)
{
    static const struct t_case cases[] = {
        T_CASE(test_counters_count_exactly_under_threads),
        T_CASE(test_a_kept_series_counts_as_its_labels_do_under_threads),
        T_CASE(test_render_follows_the_text_format),
        T_CASE(test_gauge_functions_are_read_at_scrape_time),
        T_CASE(test_cardinality_is_bounded),
    };
    return t_main(cases, T_COUNT(cases), argc, argv);
}
