/* The HTTP/1.x parser: llhttp 8.1.0 in strict mode, wrapped with the checks llhttp does
 * not make (see parse.h and docs/http.md).
 *
 * The head is first walked by a small scanner of our own, before llhttp sees a byte of it:
 * it enforces CRLF line ends (no bare CR, no bare LF), refuses obs-fold continuation lines
 * (CVE-2024-27982), NUL and control bytes, and every head limit, so llhttp only ever parses
 * a head that is already bounded and line-clean. After the head, header semantics that
 * decide the body's framing (Content-Length, Transfer-Encoding, version, Host, Expect) are
 * checked again here, independently of llhttp, because a framing mistake is a smuggling
 * bug. Bodies go through llhttp; its callbacks count the body and chunk-extension limits
 * and check trailers. */
#include "base/token.h"
#include "http/parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void grove__http_limits_fill(grove_http_limits *lim, const grove_http_limits *in)
{
    static const grove_http_limits defaults = {
        .max_request_line = 8192,
        .max_header_line = 8192,
        .max_header_bytes = 32768,
        .max_headers = 100,
        .max_body = 1 << 20,
        .max_chunk_ext = 1024,
        .header_timeout = GROVE_SEC(60),
        .idle_timeout = GROVE_SEC(75),
        .body_timeout = GROVE_SEC(60),
        .send_timeout = GROVE_SEC(60),
    };
    *lim = in ? *in : defaults;
#define FILL(f)                                                                                                        \
    if (!lim->f)                                                                                                       \
        lim->f = defaults.f;
    FILL(max_request_line)
    FILL(max_header_line)
    FILL(max_header_bytes)
    FILL(max_headers)
    FILL(max_body)
    FILL(max_chunk_ext)
    FILL(header_timeout)
    FILL(idle_timeout)
    FILL(body_timeout)
    FILL(send_timeout)
#undef FILL
}

static int fail(grove__hp *hp, int status, const char *why)
{
    if (!hp->status) {
        hp->status = status;
        hp->reason_text = why;
    }
    return HPE_USER;
}

/* ---- llhttp callbacks ------------------------------------------------------------------ */

static grove__hp *HP(llhttp_t *ll) { return (grove__hp *)ll->data; }

static int push_hdr(grove__hp *hp)
{
    unsigned n = hp->nhdr + hp->ntrail;
    if (n >= hp->lim.max_headers)
        return fail(hp, 431, "too many header fields");
    if (n >= hp->hcap) {
        unsigned cap = hp->hcap ? hp->hcap * 2 : 16;
        if (cap > hp->lim.max_headers)
            cap = (unsigned)hp->lim.max_headers;
        grove__hp_hdr *h = realloc(hp->hdr, cap * sizeof *h);
        if (!h)
            return fail(hp, 503, "out of memory");
        hp->hdr = h;
        hp->hcap = cap;
    }
    memset(&hp->hdr[n], 0, sizeof hp->hdr[n]);
    if (hp->in_trailers)
        hp->ntrail++;
    else
        hp->nhdr++;
    return 0;
}

static int tbuf_add(grove__hp *hp, const char *at, size_t len)
{
    if (hp->tlen + len + 1 > hp->lim.max_header_bytes)
        return fail(hp, 431, "trailers too large");
    if (hp->tlen + len + 1 > hp->tcap) {
        size_t cap = hp->tcap ? hp->tcap : 256;
        while (cap < hp->tlen + len + 1)
            cap *= 2;
        char *b = realloc(hp->tbuf, cap);
        if (!b)
            return fail(hp, 503, "out of memory");
        hp->tbuf = b;
        hp->tcap = cap;
    }
    memcpy(hp->tbuf + hp->tlen, at, len);
    hp->tlen += len;
    return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t len)
{
    grove__hp *hp = HP(ll);
    if (!hp->url_len)
        hp->url = (uint32_t)(at - hp->base);
    hp->url_len += (uint32_t)len;
    return 0;
}

static int on_status(llhttp_t *ll, const char *at, size_t len)
{
    grove__hp *hp = HP(ll);
    if (!hp->reason_len)
        hp->reason = (uint32_t)(at - hp->base);
    hp->reason_len += (uint32_t)len;
    return 0;
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len)
{
    grove__hp *hp = HP(ll);
    if (!hp->field_open) {
        int rc = push_hdr(hp);
        if (rc)
            return rc;
        hp->field_open = 1;
        grove__hp_hdr *h = &hp->hdr[hp->nhdr + hp->ntrail - 1];
        h->name = hp->in_trailers ? (uint32_t)hp->tlen : (uint32_t)(at - hp->base);
    }
    grove__hp_hdr *h = &hp->hdr[hp->nhdr + hp->ntrail - 1];
    h->name_len += (uint32_t)len;
    if (hp->in_trailers) {
        for (size_t i = 0; i < len; i++)
            if (at[i] == ' ' || at[i] == '\t' || (unsigned char)at[i] < 0x21)
                return fail(hp, 400, "bad trailer name");
        return tbuf_add(hp, at, len);
    }
    return 0;
}

static int on_header_field_complete(llhttp_t *ll)
{
    grove__hp *hp = HP(ll);
    hp->field_open = 0;
    hp->value_open = 2; /* a value (possibly empty) belongs to this field now */
    if (hp->in_trailers)
        return tbuf_add(hp, "", 1);
    return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len)
{
    grove__hp *hp = HP(ll);
    if (!hp->nhdr && !hp->ntrail)
        return fail(hp, 400, "header value without a name");
    grove__hp_hdr *h = &hp->hdr[hp->nhdr + hp->ntrail - 1];
    if (!hp->value_open)
        return fail(hp, 400, "header value without a name");
    if (hp->value_open == 2) {
        hp->value_open = 1;
        h->value = hp->in_trailers ? (uint32_t)hp->tlen : (uint32_t)(at - hp->base);
    }
    h->value_len += (uint32_t)len;
    if (hp->in_trailers) {
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)at[i];
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return fail(hp, 400, "control character in a trailer");
        }
        return tbuf_add(hp, at, len);
    }
    return 0;
}

static void trim_value(const char *s, grove__hp_hdr *h)
{
    while (h->value_len && (s[h->value + h->value_len - 1] == ' ' || s[h->value + h->value_len - 1] == '\t'))
        h->value_len--;
}

static int on_header_value_complete(llhttp_t *ll)
{
    grove__hp *hp = HP(ll);
    hp->value_open = 0;
    if (!hp->in_trailers && hp->nhdr)
        trim_value(hp->base, &hp->hdr[hp->nhdr - 1]);
    if (hp->in_trailers && hp->ntrail) {
        grove__hp_hdr *h = &hp->hdr[hp->nhdr + hp->ntrail - 1];
        if (h->value_len) {
            trim_value(hp->tbuf, h);
            hp->tlen = h->value + h->value_len;
        }
        return tbuf_add(hp, "", 1);
    }
    return 0;
}

static int token_eq(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && !strncasecmp(s, lit, l);
}

/* Transfer-Encoding: the only coding Grove decodes is chunked, and it must come last and
 * once. Returns 0 (chunked is final), or fails with 400 / 501. */
static int check_te(grove__hp *hp, const char *v, size_t n, int *chunked_seen, int *last_chunked)
{
    size_t i = 0;
    int any = 0;
    while (i <= n) {
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (s < e && (v[s] == ' ' || v[s] == '\t'))
            s++;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (s == e)
            return fail(hp, 400, "empty transfer coding");
        any = 1;
        if (token_eq(v + s, e - s, "chunked")) {
            if (*chunked_seen)
                return fail(hp, 400, "chunked applied twice");
            *chunked_seen = 1;
            *last_chunked = 1;
        } else {
            for (size_t k = s; k < e; k++)
                if (v[k] == ';' || v[k] == '=' || v[k] == ' ' || v[k] == '"')
                    return fail(hp, 400, "malformed transfer coding");
            if (*chunked_seen)
                return fail(hp, 400, "chunked is not the final coding");
            if (hp->is_request)
                return fail(hp, 501, "unsupported transfer coding");
            *last_chunked = 0;
        }
        i++;
    }
    return any ? 0 : fail(hp, 400, "empty Transfer-Encoding");
}

/* uri-host [":" port] (RFC 3986 3.2.2): reg-name, IPv4 or IP-literal characters. Not
 * empty-checked here (an empty Host is valid, RFC 9112 3.2), and no userinfo ('@'). */
static int valid_host(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("-._~%!$&'()*+,;=:[]", c)))
            return 0;
    }
    return 1;
}

/* The request target's form must suit the method (RFC 9112 3.2): origin-form ("/path")
 * for any method but CONNECT, absolute-form ("http://host/path", which a server must
 * accept) likewise, authority-form ("host:port", llhttp checks it) only for CONNECT, and
 * asterisk-form only for OPTIONS. A fragment is never part of a target. Splits the target
 * into path, query and (absolute-form) authority for the server. */
static int check_target(grove__hp *hp, const char *b, int method)
{
    const char *t = b + hp->url;
    size_t n = hp->url_len, p = 0;
    if (memchr(t, '#', n))
        return fail(hp, 400, "fragment in the request target");
    if (method == HTTP_CONNECT) {
        if (t[0] == '/' || t[0] == '*' || memchr(t, '/', n))
            return fail(hp, 400, "CONNECT needs an authority-form target");
        hp->path = hp->url;
        hp->path_len = (uint32_t)n;
        return 0;
    }
    if (t[0] == '*') {
        if (n != 1 || method != HTTP_OPTIONS)
            return fail(hp, 400, "asterisk-form target for a method other than OPTIONS");
    } else if (t[0] != '/') {
        /* absolute-form: only the schemes this server serves, with a host (RFC 9110 4.2.1:
         * an empty one must be rejected) and without userinfo (4.2.4) */
        if (n > 7 && !strncasecmp(t, "http://", 7))
            p = 7;
        else if (n > 8 && !strncasecmp(t, "https://", 8))
            p = 8;
        else
            return fail(hp, 400, "unsupported request target");
        size_t a = p;
        while (a < n && t[a] != '/' && t[a] != '?')
            a++;
        if (a == p || !valid_host(t + p, a - p))
            return fail(hp, 400, "bad host in the request target");
        hp->auth = hp->url + (uint32_t)p;
        hp->auth_len = (uint32_t)(a - p);
        p = a;
    }
    const char *q = memchr(t + p, '?', n - p);
    hp->path = hp->url + (uint32_t)p;
    hp->path_len = (uint32_t)((q ? (size_t)(q - t) : n) - p);
    hp->query = q ? (uint32_t)(q + 1 - b) : 0;
    return 0;
}

/* Framing and version semantics, checked by us whatever llhttp thought of them. */
static int check_head(grove__hp *hp)
{
    const char *b = hp->base;
    llhttp_t *ll = &hp->ll;
    if (ll->http_major != 1 || ll->http_minor > 1)
        return fail(hp, 505, "HTTP version not supported");
    hp->http_minor = ll->http_minor;
    int ncl = 0, nte = 0, nhost = 0, chunked = 0, last_chunked = 0;
    uint64_t cl = 0;
    hp->expect_continue = 0;
    for (unsigned i = 0; i < hp->nhdr; i++) {
        const grove__hp_hdr *h = &hp->hdr[i];
        const char *name = b + h->name, *v = b + h->value;
        size_t vn = h->value_len;
        if (token_eq(name, h->name_len, "content-length")) {
            if (++ncl > 1)
                return fail(hp, 400, "more than one Content-Length");
            if (!vn || vn > 18)
                return fail(hp, 400, "malformed Content-Length");
            cl = 0;
            for (size_t k = 0; k < vn; k++) {
                if (v[k] < '0' || v[k] > '9')
                    return fail(hp, 400, "malformed Content-Length");
                cl = cl * 10 + (uint64_t)(v[k] - '0');
            }
        } else if (token_eq(name, h->name_len, "transfer-encoding")) {
            nte++;
            int rc = check_te(hp, v, vn, &chunked, &last_chunked);
            if (rc)
                return rc;
        } else if (token_eq(name, h->name_len, "host")) {
            nhost++;
            if (hp->is_request && !valid_host(v, vn))
                return fail(hp, 400, "bad Host header");
        } else if (hp->is_request && token_eq(name, h->name_len, "expect")) {
            if (!token_eq(v, vn, "100-continue"))
                return fail(hp, 417, "unsupported expectation");
            if (hp->http_minor == 1)
                hp->expect_continue = 1;
        }
    }
    if (nte && ncl)
        return fail(hp, 400, "both Content-Length and Transfer-Encoding");
    if (nte && hp->http_minor == 0)
        return fail(hp, 400, "Transfer-Encoding in HTTP/1.0");
    if (nte && hp->is_request && !last_chunked)
        return fail(hp, 400, "chunked is not the final coding");
    if (hp->is_request) {
        /* request-line = method SP request-target SP HTTP-version, one SP each. */
        int sp = 0;
        for (const char *c = b + hp->head_start; *c != '\r'; c++)
            if (*c == ' ' || *c == '\t')
                sp++;
        if (sp != 2)
            return fail(hp, 400, "malformed request line");
        if (hp->http_minor == 1 ? nhost != 1 : nhost > 1)
            return fail(hp, 400, hp->http_minor == 1 && !nhost ? "no Host header" : "more than one Host header");
        if (!hp->url_len)
            return fail(hp, 400, "no request target");
        int rc = check_target(hp, b, hp->method_len ? -1 : (int)ll->method);
        if (rc)
            return rc;
        if (ncl && cl > hp->lim.max_body)
            return fail(hp, 413, "request body too large");
    }
    if (nte)
        hp->content_length = last_chunked ? -1 : -2;
    else if (ncl)
        hp->content_length = (int64_t)cl;
    else
        hp->content_length = hp->is_request ? 0 : -2;
    if (!hp->is_request) {
        /* status-line = HTTP-version SP 3DIGIT SP [reason] (RFC 9112 4); llhttp takes any
         * number of digits ("20"). The reason may be left out with its space, as curl and
         * Python's http.client allow. */
        const char *sl = b + hp->head_start;
        size_t len = (size_t)((const char *)memchr(sl, '\r', hp->head_end - hp->head_start) - sl);
        int sc = ll->status_code;
        if (len < 12 || sl[8] != ' ' || sl[9] < '1' || sl[9] > '9' || sl[10] < '0' || sl[10] > '9' || sl[11] < '0' ||
            sl[11] > '9' || (len > 12 && sl[12] != ' '))
            return fail(hp, 400, "malformed status line");
        if (hp->skip_body || sc / 100 == 1 || sc == 204 || sc == 304)
            hp->content_length = 0;
    }
    return 0;
}

static int on_headers_complete(llhttp_t *ll)
{
    grove__hp *hp = HP(ll);
    hp->status_code = ll->status_code;
    int rc = check_head(hp);
    if (rc)
        return rc;
    hp->head_done = 1;
    /* "close" wins over an HTTP/1.0 "keep-alive" in the same header (RFC 9112 9.3), which
     * llhttp_should_keep_alive lets through. */
    hp->keep_alive = llhttp_should_keep_alive(ll) && !(ll->flags & F_CONNECTION_CLOSE);
    hp->upgrade = ll->upgrade;
    /* A response to HEAD and a 1xx, 204 or 304 response end with their head, whatever
     * Content-Length or Transfer-Encoding say (RFC 9112 6.3): llhttp 8.1.0 would read
     * the body they announce, so it is told to skip it (1). */
    if (hp->skip_body ||
        (!hp->is_request && (hp->status_code / 100 == 1 || hp->status_code == 204 || hp->status_code == 304)))
        return 1;
    hp->pause_event = GROVE__HP_HEAD;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *ll, const char *at, size_t len)
{
    grove__hp *hp = HP(ll);
    if (!len)
        return 0; /* llhttp flushes an open span at the end of every input */
    hp->body_total += len;
    if (hp->is_request && hp->body_total > hp->lim.max_body)
        return fail(hp, 413, "request body too large");
    hp->body_off = (size_t)(at - hp->base);
    hp->body_len = len;
    hp->pause_event = GROVE__HP_BODY;
    return HPE_PAUSED;
}

static int on_chunk_header(llhttp_t *ll)
{
    grove__hp *hp = HP(ll);
    hp->ext_len = 0;
    /* After the last chunk come the trailers: header lines again, kept apart. Pause so
     * that feed can point the line scanner at them before llhttp parses them. */
    if (ll->content_length == 0) {
        hp->in_trailers = 1;
        hp->pause_event = GROVE__HP_MORE;
        return HPE_PAUSED;
    }
    return 0;
}

static int on_chunk_ext(llhttp_t *ll, const char *at, size_t len)
{
    grove__hp *hp = HP(ll);
    hp->ext_len += len;
    if (hp->ext_len > hp->lim.max_chunk_ext)
        return fail(hp, 400, "chunk extension too long");
    return 0;
}

static int on_message_complete(llhttp_t *ll)
{
    grove__hp *hp = HP(ll);
    hp->msg_done = 1;
    hp->pause_event = GROVE__HP_DONE;
    return HPE_PAUSED;
}

/* ---- the head scanner --------------------------------------------------------------------- */

/* Walks base[scan, end) of the head. Returns 1 when the blank line ending the head was
 * seen (head_end set), 0 when more input is needed, -1 on a violation (status set). */
static int scan_head(grove__hp *hp, const char *b, size_t end)
{
    /* The hot loop keeps its position in locals: b is a char pointer, so every store the
     * compiler cannot place would otherwise make it reload hp's fields for every byte. */
    size_t i = hp->scan, ls = hp->line_start;
    unsigned ln = hp->line_no;
    const grove_http_limits *lim = &hp->lim;
    while (i < end) {
        unsigned char c = (unsigned char)b[i];
        if (i == ls && ln > 0) {
            if (c == ' ' || c == '\t')
                return fail(hp, 400, "obs-fold line"), -1;
            if (c == ':')
                return fail(hp, 400, "empty header name"), -1;
        }
        /* The rest of the line: visible characters, spaces and tabs. */
        while ((c >= 0x20 && c != 0x7f) || c == '\t') {
            if (++i == end)
                goto out;
            c = (unsigned char)b[i];
        }
        if (c == '\r') {
            if (i + 1 == end)
                break; /* wait for the byte after it */
            if (b[i + 1] != '\n')
                return fail(hp, 400, "bare CR"), -1;
            size_t len = i - ls;
            if (ln == 0) {
                if (len == 0)
                    return fail(hp, 400, "empty request line"), -1;
                if (len > lim->max_request_line)
                    return fail(hp, hp->is_request ? 414 : 502, "request line too long"), -1;
            } else if (len == 0) {
                hp->head_end = i + 2;
                hp->scan = i + 2;
                hp->line_start = ls;
                hp->line_no = ln;
                if (hp->head_end - hp->head_start > lim->max_header_bytes)
                    return fail(hp, 431, "header section too large"), -1;
                return 1;
            } else {
                if (len > lim->max_header_line)
                    return fail(hp, 431, "header line too long"), -1;
                if (++hp->nlines > lim->max_headers)
                    return fail(hp, 431, "too many header fields"), -1;
            }
            ln++;
            i += 2;
            ls = i;
            continue;
        }
        if (c == '\n')
            return fail(hp, 400, "bare LF"), -1;
        return fail(hp, 400, c ? "control character in the head" : "NUL in the head"), -1;
    }
out:
    hp->scan = i;
    hp->line_start = ls;
    hp->line_no = ln;
    size_t cur = i - ls;
    if (ln == 0 && cur > lim->max_request_line)
        return fail(hp, hp->is_request ? 414 : 502, "request line too long"), -1;
    if (ln > 0 && cur > lim->max_header_line)
        return fail(hp, 431, "header line too long"), -1;
    if (i - hp->head_start > lim->max_header_bytes)
        return fail(hp, 431, "header section too large"), -1;
    return 0;
}

/* ---- driving ------------------------------------------------------------------------------ */

/* One set of callbacks for every parser (llhttp keeps a pointer to it). */
static const llhttp_settings_t settings = {
    .on_url = on_url,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_chunk_extension_name = on_chunk_ext,
    .on_chunk_extension_value = on_chunk_ext,
    .on_message_complete = on_message_complete,
};

int grove__hp_init(grove__hp *hp, int is_request, const grove_http_limits *lim)
{
    memset(hp, 0, sizeof *hp);
    grove__http_limits_fill(&hp->lim, lim);
    hp->is_request = is_request;
    llhttp_init(&hp->ll, is_request ? HTTP_REQUEST : HTTP_RESPONSE, &settings);
    hp->ll.data = hp;
    grove__hp_next(hp, 0);
    return 0;
}

void grove__hp_free(grove__hp *hp)
{
    free(hp->hdr);
    free(hp->tbuf);
    hp->hdr = NULL;
    hp->tbuf = NULL;
}

void grove__hp_next(grove__hp *hp, size_t start)
{
    hp->head_start = hp->scan = hp->line_start = start;
    hp->line_no = hp->nlines = hp->blank_lines = 0;
    hp->head_end = 0;
    hp->head_done = hp->head_reported = hp->msg_done = hp->in_trailers = 0;
    hp->field_open = hp->value_open = 0;
    hp->keep_alive = hp->upgrade = hp->expect_continue = 0;
    hp->content_length = 0;
    hp->url = hp->url_len = hp->reason = hp->reason_len = 0;
    hp->method_len = hp->path_len = hp->query = hp->auth_len = 0;
    hp->nhdr = hp->ntrail = 0;
    hp->tlen = 0;
    hp->body_off = hp->body_len = 0;
    hp->body_total = 0;
    hp->ext_len = 0;
    hp->status_code = 0;
}

static const char *errno_reason(llhttp_errno_t e)
{
    switch (e) {
    case HPE_INVALID_METHOD: return "invalid method";
    case HPE_INVALID_URL: return "invalid request target";
    case HPE_INVALID_VERSION: return "invalid HTTP version";
    case HPE_INVALID_HEADER_TOKEN: return "invalid header field";
    case HPE_INVALID_CONTENT_LENGTH: return "malformed Content-Length";
    case HPE_UNEXPECTED_CONTENT_LENGTH: return "conflicting Content-Length";
    case HPE_INVALID_CHUNK_SIZE: return "malformed chunk size";
    case HPE_INVALID_TRANSFER_ENCODING: return "invalid Transfer-Encoding";
    case HPE_STRICT: return "malformed chunked body";
    case HPE_LF_EXPECTED: return "CRLF expected";
    case HPE_CR_EXPECTED: return "CRLF expected";
    case HPE_CLOSED_CONNECTION: return "data after the last message";
    default: return "malformed message";
    }
}

/* Makes the head's names and values NUL-terminated strings in place: the byte after each
 * is ':' or whitespace or CR, which llhttp has already passed. */
static void finish_head(grove__hp *hp, char *b)
{
    for (unsigned i = 0; i < hp->nhdr; i++) {
        grove__hp_hdr *h = &hp->hdr[i];
        b[h->name + h->name_len] = 0;
        if (h->value_len) {
            trim_value(b, h);
            b[h->value + h->value_len] = 0;
        }
    }
    if (hp->url_len)
        b[hp->url + hp->url_len] = 0;
    if (hp->method_len)
        b[hp->method + hp->method_len] = 0;
    if (hp->reason_len)
        b[hp->reason + hp->reason_len] = 0;
}

/* Whether the request line ends in a well-formed "HTTP/d.d" (then a version llhttp
 * refuses is an unsupported one, 505, rather than a malformed line, 400). */
static int well_formed_version(const grove__hp *hp, const char *b, size_t end)
{
    const char *s = b + hp->head_start, *e = memchr(s, '\r', end - hp->head_start);
    if (!e || e - s < 9)
        return 0;
    const char *v = e - 8;
    return v[-1] == ' ' && !memcmp(v, "HTTP/", 5) && v[5] >= '0' && v[5] <= '9' && v[6] == '.' && v[7] >= '0' &&
           v[7] <= '9';
}

/* A method character: RFC 9110 5.6.2's tchar without lower-case letters. Methods are
 * case-sensitive and every registered one is upper-case; like nginx and gunicorn we take
 * a lower-case one ("get") for a mangled request, not for a method nobody knows. */
static int method_char(unsigned char c) { return !(c >= 'a' && c <= 'z') && grove__tchar(c); }

/* llhttp knows a fixed list of methods and refuses any other; but a method is any token
 * (RFC 9110 9.1), and one the server does not know is the handler's to answer (501, 405).
 * So when llhttp refused the method of a complete request line that is an upper-case
 * token (method_char), it is restarted on a stand-in ("GET": no method changes a
 * request's framing for llhttp but CONNECT, which it knows) and the real name is kept.
 * Returns 1 if so. */
static int custom_method(grove__hp *hp, const char *b, size_t pos, size_t end)
{
    if (!hp->is_request || hp->method_len || pos != hp->head_start || hp->line_no == 0)
        return 0;
    size_t i = pos;
    while (i < end && method_char((unsigned char)b[i]))
        i++;
    if (i == pos || i == end || b[i] != ' ')
        return 0;
    llhttp_reset(&hp->ll);
    if (llhttp_execute(&hp->ll, "GET", 3) != HPE_OK)
        return 0;
    hp->method = (uint32_t)pos;
    hp->method_len = (uint32_t)(i - pos);
    return 1;
}

int grove__hp_feed(grove__hp *hp, char *base, size_t *pos, size_t end)
{
    if (hp->status)
        return GROVE__HP_ERROR;
    hp->base = base;
    if (hp->head_done && !hp->head_reported)
        goto report_head;
    if (hp->msg_done)
        return GROVE__HP_DONE;
again:;
    size_t limit = end;
    /* The head, and the trailer section after the last chunk, pass the line scanner
     * before llhttp sees them (head_end marks how far the scanned section reaches). */
    int scanning = !hp->head_done || (hp->in_trailers == 2), head_scanned = 0;
    /* RFC 9112 2.2: a server SHOULD ignore at least one empty line before a request line
     * (clients have sent a CRLF after a POST body); nginx does. A few, CRLF only. */
    while (hp->is_request && !hp->head_done && !hp->line_no && hp->scan <= *pos && *pos + 1 < end &&
           base[*pos] == '\r' && base[*pos + 1] == '\n' && hp->blank_lines < GROVE__HP_MAX_BLANK_LINES) {
        *pos += 2;
        hp->blank_lines++;
        hp->head_start = hp->scan = hp->line_start = *pos;
    }
    if (scanning) {
        if (hp->scan < *pos)
            hp->scan = *pos;
        int r = scan_head(hp, base, end);
        if (r < 0)
            return GROVE__HP_ERROR;
        /* llhttp sees the first line only whole, so a method it refuses can be judged
         * (custom_method) */
        limit = r ? hp->head_end : hp->line_no ? hp->scan : *pos;
        head_scanned = r && !hp->head_done;
        if (r && hp->in_trailers == 2)
            hp->in_trailers = 3; /* scanned to its end: llhttp may finish it */
    }
    if (limit <= *pos && scanning)
        return GROVE__HP_MORE;
    hp->pause_event = GROVE__HP_MORE;
    int was_in_trailers = hp->in_trailers;
    llhttp_errno_t e = llhttp_execute(&hp->ll, base + *pos, limit - *pos);
    if (e == HPE_INVALID_METHOD && custom_method(hp, base, *pos, limit)) {
        *pos = hp->method + hp->method_len;
        e = llhttp_execute(&hp->ll, base + *pos, limit - *pos);
    }
    if (e == HPE_OK && head_scanned && !hp->head_done) {
        /* The head ended but llhttp wants more: its HTTP/2 preface path ("PRI *
         * HTTP/2.0"), which would otherwise wait for the header timeout. */
        *pos = limit;
        int v = well_formed_version(hp, base, limit);
        fail(hp, v ? 505 : 400, v ? "HTTP version not supported" : "malformed request head");
        e = HPE_USER;
    }
    if (e == HPE_OK) {
        *pos = limit;
    } else if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
        *pos = (size_t)(llhttp_get_error_pos(&hp->ll) - base);
        if (e == HPE_PAUSED)
            llhttp_resume(&hp->ll);
        else
            hp->msg_done = 1; /* the rest belongs to another protocol */
        if (hp->in_trailers == 1 && !was_in_trailers) {
            /* Paused at the last chunk: scan the trailer lines from here. */
            hp->in_trailers = 2;
            hp->head_start = hp->scan = hp->line_start = *pos;
            hp->line_no = 1;
            hp->nlines = 0;
            goto again;
        }
    } else {
        if (!hp->status)
            fail(hp, 400, errno_reason(e));
        if (hp->status == 400 && e == HPE_INVALID_VERSION && well_formed_version(hp, base, limit)) {
            hp->status = 505;
            hp->reason_text = "HTTP version not supported";
        }
        return GROVE__HP_ERROR;
    }
    if (hp->head_done && !hp->head_reported)
        goto report_head;
    if (hp->pause_event == GROVE__HP_MORE && hp->msg_done)
        return GROVE__HP_DONE;
    return hp->pause_event;
report_head:
    hp->head_reported = 1;
    finish_head(hp, base);
    return GROVE__HP_HEAD;
}

int grove__hp_eof(grove__hp *hp)
{
    if (hp->status)
        return GROVE__HP_ERROR;
    if (hp->msg_done)
        return GROVE__HP_DONE;
    if (hp->head_done && hp->content_length == -2) {
        hp->msg_done = 1;
        return GROVE__HP_DONE;
    }
    fail(hp, 400, "connection closed inside a message");
    return GROVE__HP_ERROR;
}

const char *grove__hp_header(const grove__hp *hp, const char *base, const char *name)
{
    size_t n = strlen(name);
    for (unsigned i = 0; i < hp->nhdr; i++) {
        const grove__hp_hdr *h = &hp->hdr[i];
        if (h->name_len == n && !strcasecmp(base + h->name, name))
            return h->value_len ? base + h->value : "";
    }
    return NULL;
}

const char *grove__hp_trailer(const grove__hp *hp, const char *name)
{
    if (!hp->msg_done)
        return NULL;
    for (unsigned i = hp->nhdr; i < hp->nhdr + hp->ntrail; i++) {
        const grove__hp_hdr *h = &hp->hdr[i];
        if (!strcasecmp(hp->tbuf + h->name, name))
            return h->value_len ? hp->tbuf + h->value : "";
    }
    return NULL;
}

int grove__hp_header_at(const grove__hp *hp, const char *base, size_t i, const char **name, const char **value)
{
    if (i >= hp->nhdr)
        return -EINVAL;
    const grove__hp_hdr *h = &hp->hdr[i];
    if (name)
        *name = base + h->name;
    if (value)
        *value = h->value_len ? base + h->value : "";
    return 0;
}

const char *grove__http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
    }
}

int grove__http_valid_token(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!grove__tchar((unsigned char)*s))
            return 0;
    return 1;
}

int grove__http_valid_value(const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return 0;
    }
    return 1;
}
