/* The opening handshakes (RFC 6455 section 4): the server's answer to an upgrade request
 * given as header values, the client's request and its strict check of the 101
 * response, ws:// and wss:// URLs, and the permessage-deflate negotiation (RFC 7692
 * section 7.1). */
#include "base/token.h"
#include "ws/conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define HEAD_MAX (16 * 1024)

static _Thread_local int g_status;

int grove_ws_handshake_status(void) { return g_status; }

int grove_ws_accept_key(const char *key, char out[29])
{
    if (!key || !out)
        return -EINVAL;
    size_t kl = strlen(key);
    char *buf = malloc(kl + sizeof GUID);
    unsigned char dig[20];
    if (!buf)
        return -ENOMEM;
    memcpy(buf, key, kl);
    memcpy(buf + kl, GUID, sizeof GUID - 1);
    grove__ws_sha1(buf, kl + sizeof GUID - 1, dig);
    free(buf);
    grove__ws_base64(dig, 20, out);
    return 0;
}

/* Trims optional white space around a header value into out. */
static size_t trim(const char *v, char *out, size_t cap)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n >= cap)
        return (size_t)-1;
    memcpy(out, v, n);
    out[n] = 0;
    return n;
}

/* Whether the comma-separated list holds item (exact, after trimming). */
static bool list_has(const char *list, const char *item, size_t il)
{
    const char *s = list;
    while (s && *s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *b = s;
        while (*s && *s != ',')
            s++;
        const char *e = s;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - b) == il && memcmp(b, item, il) == 0)
            return true;
    }
    return false;
}

static int write_all(grove_stream *s, const char *text, size_t n)
{
    ssize_t r = grove_stream_write(s, text, n);
    if (r < 0)
        return (int)r;
    return grove_stream_flush(s);
}

static int refuse(grove_stream *s, int status, const char *why, int err)
{
    char resp[512];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 %s\r\nConnection: close\r\n%sContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n\r\n%s\n",
                     status == 426 ? "426 Upgrade Required" : "400 Bad Request",
                     status == 426 ? "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" : "", strlen(why) + 1, why);
    int rc = write_all(s, resp, (size_t)n);
    return rc < 0 ? rc : err;
}

/* ---- Server ---------------------------------------------------------------------------- */

int grove_ws_accept(grove_stream *s, const grove_ws_request *req, const grove_ws_opts *opts, grove_ws **out)
{
    if (!s || !req || !out || !grove__ws_opts_ok(opts))
        return -EINVAL;
    *out = NULL;
    if (req->method && strcmp(req->method, "GET") != 0)
        return refuse(s, 400, "WebSocket upgrade needs GET", -EINVAL);
    if (!grove__list_has_token(req->upgrade, "websocket"))
        return refuse(s, 400, "missing Upgrade: websocket", -EINVAL);
    if (!grove__list_has_token(req->connection, "upgrade"))
        return refuse(s, 400, "missing Connection: Upgrade", -EINVAL);
    char tmp[64];
    if (!req->version || trim(req->version, tmp, sizeof tmp) != 2 || strcmp(tmp, "13") != 0)
        return refuse(s, 426, "unsupported Sec-WebSocket-Version", -EPROTONOSUPPORT);
    char key[64];
    unsigned char raw[32];
    size_t kl = req->key ? trim(req->key, key, sizeof key) : (size_t)-1;
    if (kl == (size_t)-1 || grove__ws_unbase64(key, kl, raw, sizeof raw) != 16)
        return refuse(s, 400, "bad Sec-WebSocket-Key", -EINVAL);

    /* subprotocol: the first of the client's that we support */
    char proto[128] = "";
    if (req->protocol && opts && opts->protocols) {
        const char *p = req->protocol;
        while (*p && !proto[0]) {
            while (*p == ' ' || *p == '\t' || *p == ',')
                p++;
            const char *b = p;
            while (*p && *p != ',' && *p != ' ' && *p != '\t')
                p++;
            size_t n = (size_t)(p - b);
            if (n && n < sizeof proto && list_has(opts->protocols, b, n)) {
                memcpy(proto, b, n);
                proto[n] = 0;
            }
            while (*p && *p != ',')
                p++;
        }
    }

    /* permessage-deflate: the first acceptable offer */
    grove__ws_pmd pmd = {0};
    if (req->extensions && opts && opts->deflate) {
        const char *e = req->extensions;
        while (*e) {
            bool is_pmd;
            grove__ws_pmd offer;
            int rc = grove__ws_ext_parse(&e, &is_pmd, &offer, true);
            if (rc == 0 && is_pmd) {
                pmd = offer;
                break;
            }
        }
    }
    char ext[160] = "";
    if (pmd.on) {
        int want = opts->deflate_window_bits ? opts->deflate_window_bits : 15;
        if (opts->deflate_no_context_takeover)
            pmd.server_no_ctx = true;
        /* our window: at most what the client asked for and what we want */
        int bits = pmd.server_bits && pmd.server_bits < want ? pmd.server_bits : want;
        bool say_bits = pmd.server_bits || bits < 15;
        pmd.server_bits = bits;
        pmd.client_bits = 0; /* we inflate with a full window: no need to limit the client */
        char wb[32] = "";
        if (say_bits)
            snprintf(wb, sizeof wb, "; server_max_window_bits=%d", bits);
        snprintf(ext, sizeof ext, "Sec-WebSocket-Extensions: permessage-deflate%s%s%s\r\n",
                 pmd.server_no_ctx ? "; server_no_context_takeover" : "",
                 pmd.client_no_ctx ? "; client_no_context_takeover" : "", wb);
    }

    grove_ws *ws = grove__ws_new(s, true, false, opts, &pmd, proto);
    if (!ws)
        return -ENOMEM;
    char accept[29];
    grove_ws_accept_key(key, accept);
    char resp[512];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n%s%s%s%s\r\n",
                     accept, proto[0] ? "Sec-WebSocket-Protocol: " : "", proto, proto[0] ? "\r\n" : "", ext);
    int rc = write_all(s, resp, (size_t)n);
    if (rc < 0) {
        grove_ws_free(ws);
        return rc;
    }
    *out = ws;
    return 0;
}

/* ---- Client ---------------------------------------------------------------------------- */

static bool header_safe(const char *v)
{
    for (; *v; v++)
        if (*v == '\r' || *v == '\n' || (unsigned char)*v < 0x20)
            return false;
    return true;
}

static int bad_response(int status)
{
    g_status = status;
    return -EPROTO;
}

/* Checks the response head in head[0..len) (NUL-terminated, ends in CRLF CRLF). */
static int check_response(char *head, const char *accept, const grove_ws_opts *o, grove__ws_pmd *pmd, char *proto,
                          size_t protocap)
{
    /* status line: HTTP/1.1 101 <reason> */
    if (strncmp(head, "HTTP/1.1 ", 9) != 0)
        return bad_response(0);
    char *p = head + 9;
    if (!(p[0] >= '1' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9') ||
        (p[3] != ' ' && p[3] != '\r'))
        return bad_response(0);
    int status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    g_status = status;
    if (status != 101)
        return -EPROTO;
    char *line = strstr(p, "\r\n");
    if (!line)
        return bad_response(status);
    line += 2;
    bool up = false, conn = false, acc = false, ext_seen = false, proto_seen = false;
    while (*line && !(line[0] == '\r' && line[1] == '\n')) {
        char *end = strstr(line, "\r\n");
        if (!end)
            return bad_response(status);
        *end = 0;
        char *colon = strchr(line, ':');
        /* no obs-fold, no empty or spaced names, no bare CR/LF inside */
        if (!colon || colon == line || line[0] == ' ' || line[0] == '\t' || strpbrk(line, "\r\n"))
            return bad_response(status);
        for (char *c = line; c < colon; c++)
            if (*c == ' ' || *c == '\t')
                return bad_response(status);
        *colon = 0;
        const char *name = line, *value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        if (strcasecmp(name, "Upgrade") == 0) {
            up = up || grove__list_has_token(value, "websocket");
        } else if (strcasecmp(name, "Connection") == 0) {
            conn = conn || grove__list_has_token(value, "upgrade");
        } else if (strcasecmp(name, "Sec-WebSocket-Accept") == 0) {
            char v[64];
            if (acc || trim(value, v, sizeof v) != 28 || strcmp(v, accept) != 0)
                return bad_response(status);
            acc = true;
        } else if (strcasecmp(name, "Sec-WebSocket-Extensions") == 0) {
            const char *e = value;
            while (*e) {
                bool is_pmd;
                grove__ws_pmd got;
                if (grove__ws_ext_parse(&e, &is_pmd, &got, false) < 0 || !is_pmd || !o || !o->deflate || ext_seen)
                    return bad_response(status); /* not offered, malformed or twice */
                if (got.client_bits_offered && !got.client_bits)
                    return bad_response(status);
                ext_seen = true;
                *pmd = got;
            }
        } else if (strcasecmp(name, "Sec-WebSocket-Protocol") == 0) {
            char v[128];
            size_t n = trim(value, v, sizeof v);
            if (proto_seen || n == (size_t)-1 || n == 0 || n >= protocap || !o || !o->protocols || strchr(v, ',') ||
                !list_has(o->protocols, v, n))
                return bad_response(status);
            memcpy(proto, v, n + 1);
            proto_seen = true;
        }
        line = end + 2;
    }
    if (!up || !conn || !acc)
        return bad_response(status);
    return 0;
}

int grove_ws_client(grove_stream *s, const char *host, const char *path, const grove_ws_opts *opts, grove_ws **out)
{
    if (!s || !host || !*host || !path || path[0] != '/' || !out || !grove__ws_opts_ok(opts) || !header_safe(host) ||
        !header_safe(path) || strchr(path, ' ') || (opts && opts->origin && !header_safe(opts->origin)) ||
        (opts && opts->protocols && !header_safe(opts->protocols)))
        return -EINVAL;
    *out = NULL;
    g_status = 0;
    unsigned char raw[16];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return -EIO;
    char key[32], accept[29];
    grove__ws_base64(raw, sizeof raw, key);
    grove_ws_accept_key(key, accept);

    char *head = malloc(HEAD_MAX + 1);
    if (!head)
        return -ENOMEM;
    bool deflate = opts && opts->deflate;
    int n = snprintf(
        head, HEAD_MAX,
        "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s%s%s%s%s%s%s%s%s\r\n",
        path, host, key, deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits" : "",
        deflate && opts->deflate_no_context_takeover ? "; client_no_context_takeover" : "", deflate ? "\r\n" : "",
        opts && opts->protocols ? "Sec-WebSocket-Protocol: " : "", opts && opts->protocols ? opts->protocols : "",
        opts && opts->protocols ? "\r\n" : "", opts && opts->origin ? "Origin: " : "",
        opts && opts->origin ? opts->origin : "", opts && opts->origin ? "\r\n" : "");
    int rc;
    if (n < 0 || n >= HEAD_MAX) {
        rc = -EINVAL;
        goto out;
    }
    /* extra header lines go before the final CRLF */
    if (opts && opts->headers && *opts->headers) {
        size_t hl = strlen(opts->headers);
        if (hl < 2 || memcmp(opts->headers + hl - 2, "\r\n", 2) != 0 || (size_t)n + hl >= HEAD_MAX) {
            rc = -EINVAL;
            goto out;
        }
        memcpy(head + n - 2, opts->headers, hl);
        memcpy(head + n - 2 + hl, "\r\n", 3);
        n += (int)hl;
    }
    rc = write_all(s, head, (size_t)n);
    if (rc < 0)
        goto out;
    ssize_t hn = grove_stream_read_until(s, "\r\n\r\n", 4, head, HEAD_MAX);
    if (hn < 0) {
        rc = hn == -EMSGSIZE ? bad_response(0) : hn == -EPIPE ? -ECONNRESET : (int)hn;
        goto out;
    }
    head[hn] = 0;
    if (memchr(head, 0, (size_t)hn)) {
        rc = bad_response(0);
        goto out;
    }
    grove__ws_pmd pmd = {0};
    char proto[128] = "";
    rc = check_response(head, accept, opts, &pmd, proto, sizeof proto);
    if (rc < 0)
        goto out;
    grove_ws *ws = grove__ws_new(s, false, true, opts, &pmd, proto);
    if (!ws) {
        rc = -ENOMEM;
        goto out;
    }
    *out = ws;
out:
    free(head);
    return rc;
}

/* ---- URLs ------------------------------------------------------------------------------- */

int grove_ws_connect(const char *url, const grove_ws_opts *opts, grove_ws **out)
{
    if (!url || !out || !grove__ws_opts_ok(opts))
        return -EINVAL;
    *out = NULL;
    bool tls;
    const char *p;
    if (strncasecmp(url, "ws://", 5) == 0) {
        tls = false;
        p = url + 5;
    } else if (strncasecmp(url, "wss://", 6) == 0) {
        tls = true;
        p = url + 6;
    } else {
        return -EINVAL;
    }
    /* authority: host, [v6], optional :port; no user info */
    const char *aend = p + strcspn(p, "/?#");
    if (aend == p || memchr(p, '@', (size_t)(aend - p)) || strchr(url, '#') || !header_safe(url) || strchr(url, ' '))
        return -EINVAL;
    char host[256];
    const char *hb = p, *he, *portp = NULL;
    bool v6 = false;
    if (*p == '[') {
        he = memchr(p, ']', (size_t)(aend - p));
        if (!he)
            return -EINVAL;
        hb = p + 1;
        v6 = true;
        if (he + 1 < aend) {
            if (he[1] != ':')
                return -EINVAL;
            portp = he + 2;
        }
    } else {
        he = memchr(p, ':', (size_t)(aend - p));
        if (he)
            portp = he + 1;
        else
            he = aend;
    }
    size_t hl = (size_t)(he - hb);
    if (!hl || hl >= sizeof host)
        return -EINVAL;
    memcpy(host, hb, hl);
    host[hl] = 0;
    long port = tls ? 443 : 80;
    if (portp) {
        if (portp == aend || aend - portp > 5)
            return -EINVAL;
        port = 0;
        for (const char *c = portp; c < aend; c++) {
            if (*c < '0' || *c > '9')
                return -EINVAL;
            port = port * 10 + (*c - '0');
        }
        if (port < 1 || port > 65535)
            return -EINVAL;
    }
    char path[2048];
    if (*aend == '/')
        snprintf(path, sizeof path, "%s", aend);
    else
        snprintf(path, sizeof path, "/%s", aend); /* "?q" becomes "/?q" */
    if (strlen(path) >= sizeof path - 1)
        return -EINVAL;
    char addr[300], hosthdr[300];
    snprintf(addr, sizeof addr, v6 ? "[%s]:%ld" : "%s:%ld", host, port);
    if (port == (tls ? 443 : 80))
        snprintf(hosthdr, sizeof hosthdr, v6 ? "[%s]" : "%s", host);
    else
        snprintf(hosthdr, sizeof hosthdr, "%s", addr);

    int fd = grove_connect(addr);
    if (fd < 0)
        return fd;
    size_t bufsize = opts && opts->bufsize ? opts->bufsize : 0;
    grove_stream *s;
    if (tls) {
        grove_tls_opts zero = {0};
        grove_tls_ctx *ctx = grove_tls_client_ctx(opts && opts->tls ? opts->tls : &zero);
        if (!ctx) {
            int e = errno;
            grove_close(fd);
            return e ? -e : -EINVAL;
        }
        grove_tls *t;
        int rc = grove_tls_connect(ctx, fd, host, &t);
        grove_tls_ctx_free(ctx);
        if (rc < 0) {
            grove_close(fd);
            return rc;
        }
        s = grove_tls_stream(t, bufsize);
        if (!s) {
            grove_tls_close(t);
            return -ENOMEM;
        }
    } else {
        s = grove_stream_new(fd, bufsize);
        if (!s) {
            grove_close(fd);
            return -ENOMEM;
        }
    }
    int rc = grove_ws_client(s, hosthdr, path, opts, out);
    if (rc < 0)
        grove_stream_close(s);
    return rc;
}
