/* Shared helpers for the bench programs (contract: ../shared/peers/README.md). The result
 * number is the last line of stdout; the human and machine lines go to stderr. */
#ifndef GROVE_BENCH_H
#define GROVE_BENCH_H

#include <grove.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline long bench_arg(int argc, char **argv, long def)
{
    long n = argc > 1 ? atol(argv[1]) : def;
    return n > 0 ? n : def;
}

/* key names the figure in the machine line: ns_per_op, bytes_per_thread... */
static inline void bench_report_as(const char *name, long ops, double value, const char *unit, const char *key)
{
    fprintf(stderr, "%s: %.2f %s (%ld ops)\n", name, value, unit, ops);
    fprintf(stderr, "name=%s ops=%ld %s=%.2f\n", name, ops, key, value);
    printf("%.2f\n", value);
    fflush(stdout);
}

static inline void bench_report(const char *name, long ops, double ns_per_op, const char *unit)
{
    bench_report_as(name, ops, ns_per_op, unit, "ns_per_op");
}

#endif
