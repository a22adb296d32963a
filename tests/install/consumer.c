/* Links against an installed Grove and runs two green threads. */
#include <grove.h>

#include <stdio.h>

static void *twice(void *arg) { return (void *)((intptr_t)arg * 2); }

int main(void)
{
    void *r;
    grove_thread *t = grove_spawn(twice, (void *)21);
    if (!t || grove_join(t, &r) != 0 || (intptr_t)r != 42)
        return 1;
    puts("consumer ok");
    return 0;
}
