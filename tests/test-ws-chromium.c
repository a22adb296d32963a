/* WebSocket with a real browser: headless Chromium (Debian chromium) loads a page served
 * here over HTTP, then over HTTPS (Grove's TLS server with a certificate made here;
 * Chromium is told to accept it); its script opens a WebSocket (ws:// or wss://) to this
 * Grove server (subprotocol "chat";
 * Chromium offers permessage-deflate, which the server accepts), exchanges text, binary,
 * large and pipelined messages, answers the server's ping, and sends back a final
 * "RESULT ..." message that the test checks, then closes with 1000. Chromium runs on
 * 127.0.0.1 only, is bounded in time and is killed by PID. It runs alone (serial): a
 * browser's start-up would disturb the timing of tests running beside it. */
// ctest: labels=net,ws,interop,browser timeout=120 libs=grove_ws serial
#include "servers.h"
#include "ws-harness.h"

static const char page[] =
    "<!doctype html><html><head><meta charset=utf-8><title>grove ws</title></head><body>\n"
    "<pre id=out>running</pre>\n"
    "<script>\n"
    "const out = document.getElementById('out');\n"
    "const q = [], waiters = [];\n"
    "const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';\n"
    "const ws = new WebSocket(scheme + location.host + '/ws', ['superchat', 'chat']);\n"
    "ws.binaryType = 'arraybuffer';\n"
    "ws.onmessage = e => { if (waiters.length) waiters.shift()(e.data); else q.push(e.data); };\n"
    "ws.onclose = e => { out.textContent = 'closed ' + e.code; };\n"
    "const recv = () => new Promise(r => q.length ? r(q.shift()) : waiters.push(r));\n"
    "function eqBuf(a, b) { a = new Uint8Array(a); if (a.length !== b.length) return false;\n"
    "  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false; return true; }\n"
    "ws.onopen = async () => {\n"
    "  try {\n"
    "    if (ws.protocol !== 'chat') throw 'protocol ' + ws.protocol;\n"
    "    for (const t of ['hello from chromium', '\\u03ba\\u1f79\\u03c3\\u03bc\\u03b5 \\u{1F389}', '']) {\n"
    "      ws.send(t); const g = await recv(); if (g !== t) throw 'text echo ' + g; }\n"
    "    const bin = new Uint8Array(256 * 1000); for (let i = 0; i < bin.length; i++) bin[i] = i & 255;\n"
    "    ws.send(bin); if (!eqBuf(await recv(), bin)) throw 'binary echo';\n"
    "    const rnd = new Uint8Array(300000); let x = 12345;\n"
    "    for (let i = 0; i < rnd.length; i++) { x = (x * 1103515245 + 12345) >>> 0; rnd[i] = x >>> 24; }\n"
    "    ws.send(rnd); if (!eqBuf(await recv(), rnd)) throw 'random echo';\n"
    "    const big = 'grove websocket '.repeat(40000);\n"
    "    ws.send(big); if (await recv() !== big) throw 'large text echo';\n"
    "    for (let i = 0; i < 50; i++) ws.send('pipelined ' + i);\n"
    "    for (let i = 0; i < 50; i++) { const g = await recv(); if (g !== 'pipelined ' + i) throw 'pipelined ' + g; }\n"
    "    ws.send('RESULT ok ' + ws.url.split(':')[0] + ' ' + ws.extensions);\n"
    "  } catch (e) { ws.send('RESULT fail ' + e); }\n"
    "  ws.close(1000, 'done');\n"
    "};\n"
    "</script></body></html>\n";

static char g_result[512];
static int g_close_code, g_pongs, g_deflate, g_ws_conns;
static grove_event g_done;

static void serve_ws(grove_stream *s, t_head *h)
{
    grove_ws *ws;
    grove_ws_opts o = {.deflate = 1, .protocols = "chat", .deliver_control = 1};
    if (grove_ws_accept(s, &h->req, &o, &ws) < 0)
        return;
    g_ws_conns++;
    g_deflate = grove_ws_deflate(ws);
    T_OK(grove_ws_ping(ws, "from grove", 10));
    grove_ws_msg m;
    int rc;
    while ((rc = grove_ws_recv(ws, &m)) > 0 && rc != GROVE_WS_CLOSE) {
        if (rc == GROVE_WS_PONG) {
            T_EQ(m.len, 10);
            g_pongs++;
        } else if (rc == GROVE_WS_TEXT && m.len >= 7 && memcmp(m.data, "RESULT ", 7) == 0) {
            snprintf(g_result, sizeof g_result, "%s", (const char *)m.data + 7);
        } else if (rc == GROVE_WS_TEXT || rc == GROVE_WS_BINARY) {
            T_OK(grove_ws_send(ws, rc, m.data, m.len));
        }
    }
    g_close_code = rc == GROVE_WS_CLOSE ? m.code : rc;
    grove_ws_free(ws);
    grove_event_send(&g_done, NULL);
}

static grove_tls_ctx *g_tls; /* set for the HTTPS run */

static void handler(int fd, void *arg)
{
    grove_stream *s;
    if (g_tls) {
        int dfd = dup(fd); /* the grove_tls owns its fd; the server closes the original */
        grove_tls *t;
        if (dfd < 0 || grove_tls_accept(g_tls, dfd, &t) < 0) {
            if (dfd >= 0)
                grove_close(dfd);
            return;
        }
        s = grove_tls_stream(t, 0);
        T_ASSERT(s);
    } else {
        s = grove_stream_wrap(fd, 0);
    }
    t_head h;
    if (t_read_head(s, &h) == 0) {
        if (!strcmp(h.path, "/ws")) {
            serve_ws(s, &h);
        } else {
            char head[256];
            bool root = !strcmp(h.path, "/");
            int n = snprintf(head, sizeof head,
                             "HTTP/1.1 %s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %zu\r\n"
                             "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                             root ? "200 OK" : "404 Not Found", root ? sizeof page - 1 : 0);
            grove_stream_write(s, head, (size_t)n);
            if (root)
                grove_stream_write(s, page, sizeof page - 1);
        }
    }
    grove_stream_close(s);
}

static void run_chromium(bool tls)
{
    g_result[0] = 0;
    g_close_code = g_pongs = g_deflate = g_ws_conns = 0;
    char dir[64], cert[128], key[128];
    snprintf(dir, sizeof dir, "/tmp/grove-ws-chromium-cert-%d", (int)getpid());
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    if (tls) {
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "mkdir -p %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
                 "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s 2>/dev/null",
                 dir, key, cert);
        T_EQ(t_sh(cmd), 0);
        grove_tls_opts so = {.cert_file = cert, .key_file = key};
        g_tls = grove_tls_server_ctx(&so);
        T_ASSERT(g_tls);
    }
    int l = grove_listen("127.0.0.1:0", 64);
    T_OK(l);
    int port = grove_sock_port(l);
    grove_server *srv = grove_server_start(l, handler, NULL, 0);
    T_ASSERT(srv);
    grove_event_init(&g_done);

    char profile[64], url[64], profarg[100];
    snprintf(profile, sizeof profile, "/tmp/grove-ws-chromium-%d", (int)getpid());
    snprintf(profarg, sizeof profarg, "--user-data-dir=%s", profile);
    snprintf(url, sizeof url, "%s://127.0.0.1:%d/", tls ? "https" : "http", port);
    /* as root Chromium needs --no-sandbox */
    /* the HTTPS run's certificate is made here: Chromium is told to accept it */
    char *argv[] = {"chromium",
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    tls ? "--ignore-certificate-errors" : "--disable-sync",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-extensions",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--metrics-recording-only",
                    "--mute-audio",
                    profarg,
                    url,
                    NULL};
    grove_proc_opts po = {.flags = GROVE_PROC_STDOUT | GROVE_PROC_STDERR_TO_STDOUT};
    grove_proc *p = grove_proc_spawn(argv, &po);
    if (!p)
        T_FAIL("cannot start chromium: %s (apt-get install chromium)", strerror(errno));
    t_servers[0] = grove_proc_pid(p);
    signal(SIGABRT, t_kill_servers);

    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(60));
    int rc = grove_event_wait(&g_done, NULL);
    grove_timeout_end(&to);

    t_servers[0] = 0;
    grove_proc_kill(p, SIGKILL);
    grove_proc_wait(p);
    if (rc < 0) {
        /* show what Chromium said */
        char buf[4096];
        ssize_t n = grove_read(grove_proc_stdout(p), buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = 0;
        T_FAIL("no result from chromium within 60 s (%s); its output:\n%s", grove_strerror(rc), buf);
    }
    grove_proc_free(p);
    grove_server_stop(srv, GROVE_SEC(1));
    grove_close(l);
    char rm[100];
    snprintf(rm, sizeof rm, "rm -rf %s", profile);
    t_sh(rm);

    if (tls) {
        grove_tls_ctx_free(g_tls);
        g_tls = NULL;
        snprintf(rm, sizeof rm, "rm -rf %s", dir);
        t_sh(rm);
    }
    fprintf(stderr, "chromium: %s\n", g_result);
    if (strncmp(g_result, "ok ", 3) != 0)
        T_FAIL("chromium reported: %s", g_result);
    T_ASSERT(strncmp(g_result + 3, tls ? "wss " : "ws ", tls ? 4 : 3) == 0);
    T_ASSERT(strstr(g_result, "permessage-deflate"));
    T_EQ(g_ws_conns, 1);
    T_ASSERT(g_deflate);
    T_EQ(g_pongs, 1);
    T_EQ(g_close_code, 1000);
}

static void test_chromium_ws(void) { run_chromium(false); }
static void test_chromium_wss(void) { run_chromium(true); }

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        T_CASE(test_chromium_ws),
        T_CASE(test_chromium_wss),
        {NULL, NULL},
    };
    return t_run(cases, argc, argv);
}
