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

static inline void bench_report(const char *name, long ops, double ns_per_op, const char *unit)
{
    fprintf(stderr, "%s: %.2f %s (%ld ops)\n", name, ns_per_op, unit, ops);
    fprintf(stderr, "name=%s ops=%ld ns_per_op=%.2f\n", name, ops, ns_per_op);
    printf("%.2f\n", ns_per_op);
    fflush(stdout);
}

#endif
