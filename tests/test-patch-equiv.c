/* Grove's own calls behave the same with the patch layer on and off: libgrove reaches the
 * kernel through its own wrappers, never through the libc names libgrove-patch
 * interposes. Each scenario runs with patching off, then on, and must give the same
 * results. (The symbol side of this contract is tests/layers/check-symbols.sh.) */
// ctest: labels=unit,patch timeout=60
#include "test.h"
#include <grove/patch.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>

typedef struct outcome {
    long second_reader; /* grove_read by a second green thread on one pipe */
    long first_reader;
    long write_closed; /* grove_write to a pipe whose reader is gone */
    long send_closed;  /* grove_send to a socket whose peer is gone */
    long read_eof;
    long nb_flag_kept; /* the fd is non-blocking after grove_read (Grove's own flag) */
    long wait_timeout;
} outcome;

static int g_fd;
static void *reader(void *arg)
{
    char c;
    return (void *)(intptr_t)grove_read(g_fd, &c, 1);
}

static void scenario(outcome *o)
{
    int p[2];
    T_EQ(pipe(p), 0);
    g_fd = p[0];
    grove_thread *a = grove_spawn(reader, NULL);
    grove_thread *b = grove_spawn(reader, NULL);
    T_OK(grove_yield());
    T_EQ(write(p[1], "x", 1), 1);
    void *ra, *rb;
    T_OK(grove_join(a, &ra));
    T_OK(grove_join(b, &rb));
    o->first_reader = (intptr_t)ra;
    o->second_reader = (intptr_t)rb;
    o->nb_flag_kept = (fcntl(p[0], F_GETFL) & O_NONBLOCK) != 0;
    grove_close(p[0]);
    o->write_closed = grove_write(p[1], "y", 1);
    grove_close(p[1]);

    int sv[2];
    T_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    grove_close(sv[1]);
    char c;
    o->read_eof = grove_read(sv[0], &c, 1);
    o->send_closed = grove_send(sv[0], "z", 1, 0);
    grove_close(sv[0]);

    T_EQ(pipe(p), 0);
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(5));
    o->wait_timeout = grove_read(p[0], &c, 1);
    grove_timeout_end(&to);
    grove_close(p[0]);
    grove_close(p[1]);
}

static void test_same_with_and_without_patching(void)
{
    signal(SIGPIPE, SIG_IGN); /* what a pipe write to a gone reader reports: -EPIPE */
    outcome off, on;
    grove_patch(0);
    scenario(&off);
    grove_patch(GROVE_PATCH_ALL);
    scenario(&on);
    grove_patch(0);
    T_EQ(off.first_reader, 1);
    T_EQ(off.second_reader, -EBUSY); /* one reader per direction, as documented */
    T_EQ(off.write_closed, -EPIPE);
    T_EQ(off.send_closed, -EPIPE);
    T_EQ(off.read_eof, 0);
    T_EQ(off.nb_flag_kept, 1);
    T_EQ(off.wait_timeout, -ETIMEDOUT);
    T_EQ(on.first_reader, off.first_reader);
    T_EQ(on.second_reader, off.second_reader);
    T_EQ(on.write_closed, off.write_closed);
    T_EQ(on.send_closed, off.send_closed);
    T_EQ(on.read_eof, off.read_eof);
    T_EQ(on.nb_flag_kept, off.nb_flag_kept);
    T_EQ(on.wait_timeout, off.wait_timeout);
}

static const t_case cases[] = {
    T_CASE(test_same_with_and_without_patching),
    {0},
};

int main(int argc, char **argv) { return t_run(cases, argc, argv); }
