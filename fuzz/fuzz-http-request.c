/* libFuzzer target for the HTTP request path: llhttp (strict) plus Grove's scanner, framing
 * checks and limits (src/http/parse.c), driven the way the server drives it: the input
 * arrives in pieces, heads are checked through the accessors, bodies are consumed, and
 * keep-alive messages follow each other in a buffer that is compacted in between.
 * The first byte picks the piece size and, with its top bit, the response parser (the
 * client's path) instead of the request parser.
 *
 * Built and run by fuzz/run.sh (clang -fsanitize=fuzzer,address,undefined). */
#include "http/parse.h"

#include <stdlib.h>
#include <string.h>

static void check_head(grove__hp *hp, const char *buf)
{
    /* Every header is a NUL-terminated string inside the buffer; lookups agree. */
    for (size_t i = 0;; i++) {
        const char *n, *v;
        if (grove__hp_header_at(hp, buf, i, &n, &v) < 0)
            break;
        size_t nl = strlen(n), vl = strlen(v);
        if (!nl || memchr(n, ' ', nl) || memchr(v, '\r', vl) || memchr(v, '\n', vl))
            abort();
        if (!grove__hp_header(hp, buf, n))
            abort();
    }
    if (hp->is_request && hp->content_length < -1)
        abort();
    /* A method llhttp did not know is a NUL-terminated token before the target; path,
     * query and authority lie inside the target. */
    if (hp->is_request) {
        uint32_t u = hp->url, ue = hp->url + hp->url_len;
        if (hp->method_len && (hp->method + hp->method_len >= u || strlen(buf + hp->method) != hp->method_len))
            abort();
        if (hp->path < u || hp->path + hp->path_len > ue || (hp->query && (hp->query <= u || hp->query > ue)) ||
            (hp->auth_len && (hp->auth < u || hp->auth + hp->auth_len > ue)))
            abort();
    }
    if (hp->content_length >= 0 && (uint64_t)hp->content_length > hp->lim.max_body && hp->is_request)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (data[0] & 0x7f) + 1;
    int is_request = !(data[0] & 0x80);
    data++;
    size--;
    grove_http_limits lim = {.max_request_line = 256,
                             .max_header_line = 256,
                             .max_header_bytes = 1024,
                             .max_headers = 16,
                             .max_body = 4096,
                             .max_chunk_ext = 64};
    grove__hp hp;
    if (grove__hp_init(&hp, is_request, &lim) < 0)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    size_t fed = 0, pos = 0, end = 0, off = 0; /* off: input bytes dropped by compaction */
    int msgs = 0;
    for (;;) {
        int ev = grove__hp_feed(&hp, buf, &pos, end);
        if (ev == GROVE__HP_MORE) {
            if (fed >= size) {
                if (!is_request)
                    grove__hp_eof(&hp);
                break;
            }
            size_t k = size - fed < step ? size - fed : step;
            memcpy(buf + end, data + fed, k);
            fed += k;
            end += k;
            continue;
        }
        if (ev == GROVE__HP_HEAD) {
            check_head(&hp, buf);
            continue;
        }
        if (ev == GROVE__HP_BODY) {
            if (hp.body_off + hp.body_len > end)
                abort();
            hp.body_len = 0;
            continue;
        }
        if (ev == GROVE__HP_DONE) {
            if (++msgs > 64 || hp.upgrade || !hp.keep_alive)
                break;
            (void)grove__hp_trailer(&hp, "x");
            /* the next message starts at the front, as in the server */
            memmove(buf, buf + pos, end - pos);
            off += pos;
            end -= pos;
            pos = 0;
            grove__hp_next(&hp, 0);
            continue;
        }
        if (ev == GROVE__HP_ERROR) {
            if (hp.status < 400 || hp.status > 505 || !hp.reason_text)
                abort();
            break;
        }
        abort();
    }
    (void)off;
    grove__hp_free(&hp);
    free(buf);
    return 0;
}
