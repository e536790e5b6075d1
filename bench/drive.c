/* bench_drive: a fixed number of keep-alive GET requests, one at a time on one
 * connection, for instruction counts under callgrind (where a fixed request
 * count matters and wall time does not). Request i asks for
 * PATH_PREFIX<i % channels>/viewer with token i % tokens as the bearer. Every
 * answer must be 200; the exit status is 1 otherwise.
 *
 *   bench_drive PORT REQUESTS TOKENS_FILE CHANNEL_PREFIX CHANNELS
 *
 * prints {"requests":N,"ok":N,"bytes":B,"seconds":S} on stdout. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_TOKENS 4096
#define MAX_TOKEN_LEN 8192
#define RESPONSE_MAX (64 * 1024)

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one response; returns its status, or -1. */
static int read_response(int fd, char *buf, size_t cap, size_t *total)
{
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        if (have == cap - 1)
            return -1;
        ssize_t r = read(fd, buf + have, cap - 1 - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        have += (size_t)r;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    int status = 0;
    if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
        return -1;
    size_t header_len = (size_t)(end + 4 - buf);
    long body_len = 0;
    for (char *p = buf; p < end; p = strstr(p, "\r\n") + 2) {
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            body_len = strtol(p + 15, NULL, 10);
    }
    if (body_len < 0 || header_len + (size_t)body_len >= cap)
        return -1;
    while (have < header_len + (size_t)body_len) {
        ssize_t r = read(fd, buf + have, header_len + (size_t)body_len - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        have += (size_t)r;
    }
    *total += have;
    return status;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: bench_drive PORT REQUESTS TOKENS_FILE CHANNEL_PREFIX CHANNELS\n");
        return 2;
    }
    int port = (int)strtol(argv[1], NULL, 10);
    long requests = strtol(argv[2], NULL, 10);
    const char *prefix = argv[4];
    long channels = strtol(argv[5], NULL, 10);
    if (port <= 0 || requests <= 0 || channels <= 0) {
        fprintf(stderr, "bench_drive: bad arguments\n");
        return 2;
    }
    FILE *f = fopen(argv[3], "r");
    if (!f) {
        perror(argv[3]);
        return 2;
    }
    static char *tokens[MAX_TOKENS];
    size_t ntok = 0;
    char line[MAX_TOKEN_LEN];
    while (ntok < MAX_TOKENS && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0])
            tokens[ntok++] = strdup(line);
    }
    fclose(f);
    if (!ntok) {
        fprintf(stderr, "bench_drive: no tokens in %s\n", argv[3]);
        return 2;
    }

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("connect");
        return 1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    static char req[MAX_TOKEN_LEN + 1024];
    static char resp[RESPONSE_MAX];
    long ok = 0;
    size_t bytes = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < requests; i++) {
        int n = snprintf(req, sizeof req,
                         "GET /v1/channels/%s%ld/viewer HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                         "Authorization: Bearer %s\r\nAccept: application/json\r\n\r\n",
                         prefix, i % channels, port, tokens[(size_t)i % ntok]);
        if (n < 0 || (size_t)n >= sizeof req || write_all(fd, req, (size_t)n) != 0) {
            fprintf(stderr, "bench_drive: write failed at request %ld\n", i);
            return 1;
        }
        int status = read_response(fd, resp, sizeof resp, &bytes);
        if (status == 200) {
            ok++;
        } else {
            fprintf(stderr, "bench_drive: request %ld answered %d\n", i, status);
            if (status < 0)
                return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    close(fd);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("{\"requests\":%ld,\"ok\":%ld,\"bytes\":%zu,\"seconds\":%.3f}\n", requests, ok, bytes, s);
    return ok == requests ? 0 : 1;
}
