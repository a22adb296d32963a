/* A private PostgreSQL server for a test: initdb in a temporary directory, postgres on a
 * free port of 127.0.0.1 (as the postgres user when the test runs as root), stopped by
 * PID. Shared by the tests that talk to a real database. */
#ifndef GROVE_TEST_PGSERVER_H
#define GROVE_TEST_PGSERVER_H

#include "servers.h"

#include <glob.h>
#include <libpq-fe.h>
#include <pwd.h>

typedef struct t_pg {
    char bin[256];
    char dir[64];
    int port;
    grove_proc *proc;
    char conninfo[256];
} t_pg;

static inline void t_pg_launch(t_pg *pg)
{
    char datadir[128], portstr[16], postgres[300];
    snprintf(datadir, sizeof datadir, "%s/data", pg->dir);
    snprintf(portstr, sizeof portstr, "%d", pg->port);
    snprintf(postgres, sizeof postgres, "%s/postgres", pg->bin);
    char uid[32], gid[32];
    struct passwd *pw = getpwnam("postgres");
    snprintf(uid, sizeof uid, "--reuid=%u", pw ? pw->pw_uid : 0);
    snprintf(gid, sizeof gid, "--regid=%u", pw ? pw->pw_gid : 0);
    char *root_argv[] = {"setpriv", uid,
                         gid,       "--init-groups",
                         "--",      postgres,
                         "-D",      datadir,
                         "-p",      portstr,
                         "-k",      pg->dir,
                         "-c",      "listen_addresses=127.0.0.1",
                         "-c",      "fsync=off",
                         "-c",      "max_connections=150",
                         NULL};
    char *user_argv[] = {postgres,
                         "-D",
                         datadir,
                         "-p",
                         portstr,
                         "-k",
                         pg->dir,
                         "-c",
                         "listen_addresses=127.0.0.1",
                         "-c",
                         "fsync=off",
                         "-c",
                         "max_connections=150",
                         NULL};
    pg->proc = t_start(geteuid() == 0 ? root_argv : user_argv);
    t_wait_port(pg->port, GROVE_SEC(30));
    /* Listening is not ready: wait until it accepts sessions. */
    int64_t end = grove_now() + GROVE_SEC(30);
    while (PQping(pg->conninfo) != PQPING_OK) {
        if (grove_now() > end)
            T_FAIL("PostgreSQL did not become ready");
        grove_sleep(GROVE_MS(50));
    }
}

/* initdb + start. Fails loudly if PostgreSQL is not installed. */
static inline void t_pg_start(t_pg *pg)
{
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0 || g.gl_pathc == 0)
        T_FAIL("PostgreSQL server binaries not found (apt-get install postgresql)");
    snprintf(pg->bin, sizeof pg->bin, "%s", g.gl_pathv[g.gl_pathc - 1]);
    globfree(&g);
    *strrchr(pg->bin, '/') = 0;
    snprintf(pg->dir, sizeof pg->dir, "/tmp/grove-pg-XXXXXX");
    T_ASSERT(mkdtemp(pg->dir));
    char as[128] = "";
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw)
            T_FAIL("running as root, but there is no postgres user to run the server as");
        T_EQ(chown(pg->dir, pw->pw_uid, pw->pw_gid), 0);
        snprintf(as, sizeof as, "setpriv --reuid=%u --regid=%u --init-groups --", pw->pw_uid, pw->pw_gid);
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s/initdb -D %s/data -A trust -U grove --no-sync >%s/initdb.log 2>&1", as, pg->bin,
             pg->dir, pg->dir);
    if (t_sh(cmd) != 0) {
        snprintf(cmd, sizeof cmd, "cat %s/initdb.log >&2", pg->dir);
        t_sh(cmd);
        T_FAIL("initdb failed");
    }
    pg->port = t_free_port();
    snprintf(pg->conninfo, sizeof pg->conninfo,
             "host=127.0.0.1 port=%d user=grove dbname=postgres connect_timeout=10 application_name=grove-test",
             pg->port);
    t_pg_launch(pg);
}

/* Stops the server (sig: SIGINT fast shutdown, SIGQUIT immediate). */
static inline void t_pg_stop(t_pg *pg, int sig)
{
    if (pg->proc)
        t_stop(pg->proc, sig);
    pg->proc = NULL;
}

static inline void t_pg_cleanup(t_pg *pg)
{
    t_pg_stop(pg, SIGQUIT);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", pg->dir);
    t_sh(cmd);
}

#endif
