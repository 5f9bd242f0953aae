/*
 * async_bench: micro-benchmarks of OpenSSL's own ASYNC_* job API, written
 * from the ASYNC_start_job(3) manual page. It is the C half of
 * bench/compare.sh; bench/gojobs is the Go half and prints the same metrics.
 *
 * Output: one line per metric, "metric_name value unit".
 *
 * Usage: async_bench [-m metrics] [-n jobs] [-N iters] [-r runs] [-V]
 *   -m  comma-separated list of pause_resume, start_finish, create_paused
 *       (create_paused also prints rss_per_paused_bytes), or "all" (default).
 *       With "all", create_paused runs first so that it sees a fresh process.
 *   -n  number of paused jobs for create_paused (default 1000000)
 *   -N  iterations for pause_resume and start_finish (default 5000000)
 *   -r  runs for pause_resume and start_finish; the best is reported (3)
 *   -V  print the OpenSSL version text and exit
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/async.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <openssl/err.h>

static void die(const char *what)
{
    fprintf(stderr, "async_bench: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Resident set size in bytes, from /proc/self/statm (second field, pages). */
static long rss_bytes(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f == NULL)
        die("cannot open /proc/self/statm");
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        die("cannot parse /proc/self/statm");
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

/* ---- pause_resume: one job pauses N times, main resumes it each time. --- */

static int pause_loop(void *arg)
{
    long n;

    memcpy(&n, arg, sizeof(n));
    for (long i = 0; i < n; i++)
        if (!ASYNC_pause_job())
            return 0;
    return 1;
}

static double run_pause_resume(long iters)
{
    ASYNC_WAIT_CTX *wctx = ASYNC_WAIT_CTX_new();
    ASYNC_JOB *job = NULL;
    long pauses = 0;
    int ret = 0, st;
    double t0, t1;

    if (wctx == NULL)
        die("ASYNC_WAIT_CTX_new failed");
    t0 = now_ns();
    for (;;) {
        st = ASYNC_start_job(&job, wctx, &ret, pause_loop, &iters,
                             sizeof(iters));
        if (st == ASYNC_PAUSE) {
            pauses++;
            continue;
        }
        if (st == ASYNC_FINISH)
            break;
        die("pause_resume: ASYNC_start_job failed");
    }
    t1 = now_ns();
    if (ret != 1 || pauses != iters)
        die("pause_resume: job did not pause as expected");
    ASYNC_WAIT_CTX_free(wctx);
    return (t1 - t0) / (double)iters;
}

/* ---- start_finish: pooled start of a job that returns at once. ---------- */

static int return_at_once(void *arg)
{
    return ((unsigned char *)arg)[0] + 1;
}

static double run_start_finish(long iters)
{
    ASYNC_WAIT_CTX *wctx = ASYNC_WAIT_CTX_new();
    unsigned char args[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    double t0, t1;

    if (wctx == NULL)
        die("ASYNC_WAIT_CTX_new failed");
    t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        ASYNC_JOB *job = NULL;
        int ret = 0;

        if (ASYNC_start_job(&job, wctx, &ret, return_at_once, args,
                            sizeof(args)) != ASYNC_FINISH || ret != 2)
            die("start_finish: ASYNC_start_job did not finish");
    }
    t1 = now_ns();
    ASYNC_WAIT_CTX_free(wctx);
    return (t1 - t0) / (double)iters;
}

/* ---- create_paused: n jobs, each with its own wait ctx, all paused. ---- */

static int pause_once(void *arg)
{
    (void)arg;
    return ASYNC_pause_job() ? 1 : 0;
}

static void run_create_paused(long n)
{
    ASYNC_JOB **jobs;
    ASYNC_WAIT_CTX **wctxs;
    unsigned char args[8] = {0};
    long before, after;
    double t0, t1;

    if (!ASYNC_init_thread(0, 0))
        die("ASYNC_init_thread(0, 0) failed");
    /* Allocate and touch the handle arrays before the first RSS reading. */
    jobs = calloc((size_t)n, sizeof(*jobs));
    wctxs = calloc((size_t)n, sizeof(*wctxs));
    if (jobs == NULL || wctxs == NULL)
        die("out of memory");
    memset(jobs, 0, (size_t)n * sizeof(*jobs));
    memset(wctxs, 0, (size_t)n * sizeof(*wctxs));

    before = rss_bytes();
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        int ret = 0;

        wctxs[i] = ASYNC_WAIT_CTX_new();
        if (wctxs[i] == NULL)
            die("ASYNC_WAIT_CTX_new failed");
        if (ASYNC_start_job(&jobs[i], wctxs[i], &ret, pause_once, args,
                            sizeof(args)) != ASYNC_PAUSE)
            die("create_paused: job did not pause");
    }
    t1 = now_ns();
    after = rss_bytes();

    printf("create_paused_ns %.1f ns/op\n", (t1 - t0) / (double)n);
    printf("rss_per_paused_bytes %.1f bytes/job\n",
           (double)(after - before) / (double)n);
    fflush(stdout);

    /* Resume every job so that it finishes, then free everything. */
    for (long i = 0; i < n; i++) {
        int ret = 0;

        if (ASYNC_start_job(&jobs[i], wctxs[i], &ret, pause_once, NULL, 0)
                != ASYNC_FINISH || ret != 1)
            die("create_paused: resumed job did not finish");
        ASYNC_WAIT_CTX_free(wctxs[i]);
    }
    ASYNC_cleanup_thread();
    free(jobs);
    free(wctxs);
}

static int wants(const char *list, const char *name)
{
    size_t len = strlen(name);
    const char *p = list;

    if (strcmp(list, "all") == 0)
        return 1;
    while ((p = strstr(p, name)) != NULL) {
        if ((p == list || p[-1] == ',') && (p[len] == '\0' || p[len] == ','))
            return 1;
        p += len;
    }
    return 0;
}

static long parse_long(const char *s, const char *flag)
{
    char *end;
    double v = strtod(s, &end); /* accepts 5e6 as well as 5000000 */

    if (end == s || *end != '\0' || v < 1)
        die(flag);
    return (long)v;
}

int main(int argc, char **argv)
{
    const char *metrics = "all";
    long jobs = 1000000, iters = 5000000, runs = 3;
    int opt;

    while ((opt = getopt(argc, argv, "m:n:N:r:Vh")) != -1) {
        switch (opt) {
        case 'm':
            metrics = optarg;
            break;
        case 'n':
            jobs = parse_long(optarg, "bad -n (job count)");
            break;
        case 'N':
            iters = parse_long(optarg, "bad -N (iterations)");
            break;
        case 'r':
            runs = parse_long(optarg, "bad -r (runs)");
            break;
        case 'V':
            printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
            return 0;
        default:
            fprintf(stderr, "usage: %s [-m pause_resume,start_finish,"
                    "create_paused|all] [-n jobs] [-N iters] [-r runs] [-V]\n",
                    argv[0]);
            return 2;
        }
    }
    if (!ASYNC_is_capable())
        die("ASYNC_is_capable() is 0 on this platform");

    /* create_paused first: it wants a process whose heap is still fresh. */
    if (wants(metrics, "create_paused"))
        run_create_paused(jobs);

    if (wants(metrics, "pause_resume")) {
        double best = 0;

        for (long r = 0; r < runs; r++) {
            double v = run_pause_resume(iters);

            if (r == 0 || v < best)
                best = v;
        }
        ASYNC_cleanup_thread();
        printf("pause_resume_ns %.1f ns/op\n", best);
        fflush(stdout);
    }

    if (wants(metrics, "start_finish")) {
        double best = 0;

        if (!ASYNC_init_thread(1, 1))
            die("ASYNC_init_thread(1, 1) failed");
        for (long r = 0; r < runs; r++) {
            double v = run_start_finish(iters);

            if (r == 0 || v < best)
                best = v;
        }
        ASYNC_cleanup_thread();
        printf("start_finish_ns %.1f ns/op\n", best);
        fflush(stdout);
    }
    return 0;
}
