/* Links libgrove-patch: with patching on, a libc sleep() in two green threads overlaps. */
#include <grove.h>
#include <grove/patch.h>

#include <stdio.h>
#include <unistd.h>

static void *nap(void *arg)
{
    usleep(100000);
    return arg;
}

int main(void)
{
    grove_patch(GROVE_PATCH_ALL);
    int64_t t0 = grove_now();
    grove_thread *a = grove_spawn(nap, NULL), *b = grove_spawn(nap, NULL);
    if (!a || !b || grove_join(a, NULL) != 0 || grove_join(b, NULL) != 0)
        return 1;
    int64_t took = grove_now() - t0;
    if (took > GROVE_MS(180)) {
        fprintf(stderr, "usleep did not overlap: %lld ns\n", (long long)took);
        return 1;
    }
    puts("consumer-patch ok");
    return 0;
}
