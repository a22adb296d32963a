/* A first look at Grove: a few green threads that sleep, talk through a timeout scope and
 * are joined. Build with `make build` and run ./build/examples/grove-hello (`make run`
 * starts the echo server demo, examples/echo.c). */
#include <grove.h>

#include <stdio.h>

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < 3; i++) {
        printf("worker %d: tick %d\n", id, i);
        grove_sleep(GROVE_MS(100 * id));
    }
    return (void *)(intptr_t)(id * 10);
}

int main(void)
{
    grove_thread *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = grove_spawn(worker, (void *)(intptr_t)(i + 1));

    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(250));
    int rc = grove_sleep(GROVE_SEC(10));
    printf("main: a 10 s sleep inside a 250 ms scope returned %s\n", grove_strerror(rc));
    grove_timeout_end(&to);

    for (int i = 0; i < 3; i++) {
        void *res;
        grove_join(t[i], &res);
        printf("main: worker %d returned %d\n", i + 1, (int)(intptr_t)res);
    }
    return 0;
}
