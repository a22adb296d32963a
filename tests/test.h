/* Shared test helpers: assertion macros that print both sides, and a tiny runner.
 * Each tests/test-<area>.c is one executable; TEST() functions run in order, and the
 * first failed check ends the process with a message naming the file, line and values. */
#ifndef GROVE_TEST_H
#define GROVE_TEST_H

#include <grove.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T_FAIL(...)                                                                                                    \
    do {                                                                                                               \
        fprintf(stderr, "%s:%d: FAILED: ", __FILE__, __LINE__);                                                        \
        fprintf(stderr, __VA_ARGS__);                                                                                  \
        fprintf(stderr, "\n");                                                                                         \
        fflush(stderr);                                                                                                \
        abort();                                                                                                       \
    } while (0)

#define T_ASSERT(c)                                                                                                    \
    do {                                                                                                               \
        if (!(c))                                                                                                      \
            T_FAIL("%s", #c);                                                                                          \
    } while (0)

/* Integer comparison printing both values: T_EQ(a, b), T_NE, T_LT, T_LE, T_GT, T_GE. */
#define T_CMP(a, op, b)                                                                                                \
    do {                                                                                                               \
        long long a_ = (long long)(a), b_ = (long long)(b);                                                            \
        if (!(a_ op b_))                                                                                               \
            T_FAIL("%s %s %s (%lld vs %lld)", #a, #op, #b, a_, b_);                                                    \
    } while (0)
#define T_EQ(a, b) T_CMP(a, ==, b)
#define T_NE(a, b) T_CMP(a, !=, b)
#define T_LT(a, b) T_CMP(a, <, b)
#define T_LE(a, b) T_CMP(a, <=, b)
#define T_GT(a, b) T_CMP(a, >, b)
#define T_GE(a, b) T_CMP(a, >=, b)

/* A Grove return code that must be >= 0; prints grove_strerror otherwise. */
#define T_OK(expr)                                                                                                     \
    do {                                                                                                               \
        long long r_ = (long long)(expr);                                                                              \
        if (r_ < 0)                                                                                                    \
            T_FAIL("%s returned %lld (%s)", #expr, r_, grove_strerror((int)r_));                                       \
    } while (0)

#define T_STREQ(a, b)                                                                                                  \
    do {                                                                                                               \
        const char *a_ = (a), *b_ = (b);                                                                               \
        if (strcmp(a_, b_) != 0)                                                                                       \
            T_FAIL("%s == %s (\"%s\" vs \"%s\")", #a, #b, a_, b_);                                                     \
    } while (0)

typedef struct t_case {
    const char *name;
    void (*fn)(void);
} t_case;

/* Runs the cases whose name contains argv[1] (all if none given). */
static inline int t_run(const t_case *cases, int argc, char **argv)
{
    int ran = 0;
    for (const t_case *c = cases; c->name; c++) {
        if (argc > 1 && !strstr(c->name, argv[1]))
            continue;
        int64_t t0 = grove_now();
        c->fn();
        fprintf(stderr, "ok   %-40s %8.1f ms\n", c->name, (double)(grove_now() - t0) / 1e6);
        ran++;
    }
    if (!ran) {
        fprintf(stderr, "no test matched\n");
        return 1;
    }
    return 0;
}

#define T_CASE(fn)                                                                                                     \
    {                                                                                                                  \
#fn, fn                                                                                                        \
    }

/* Makes a self-signed certificate for localhost (EC P-256, subjectAltName DNS:localhost)
 * in dir, created if needed: dir/cert.pem and dir/key.pem. Without openssl the test fails. */
/* How many fds the process has open (entries of /proc/self/fd, "." and ".." included), or
 * -1 if it cannot tell. For checks that nothing was left open. */
static inline int t_open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* 1 if Grove was built with TLS. In a build without it (GROVE_WITH_TLS=OFF, make test's
 * portable build) the TLS entry points must fail with ENOTSUP, which is checked here and
 * noted on stderr; the caller then has nothing more to test and returns. */
static inline int t_tls_built(void)
{
    grove_tls_opts none = {0};
    grove_tls_ctx *probe = grove_tls_client_ctx(&none);
    if (!probe) {
        T_EQ(errno, ENOTSUP);
        fprintf(stderr, "NOTE: Grove built without TLS: only its ENOTSUP was checked\n");
        return 0;
    }
    grove_tls_ctx_free(probe);
    return 1;
}

static inline void t_self_signed(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "set -e; mkdir -p %1$s; cd %1$s; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
             "-nodes -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout key.pem "
             "-out cert.pem 2>/dev/null",
             dir);
    if (system(cmd) != 0)
        T_FAIL("openssl could not make a certificate in %s (apt-get install openssl)", dir);
}

#endif
