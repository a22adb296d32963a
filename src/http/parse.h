/* The HTTP/1.x message parser: llhttp (strict) plus Grove's own checks and limits.
 * Pure: bytes in, events out, no I/O and no Grove calls, so the fuzz target (fuzz/) and
 * the tests drive it alone. The caller owns the buffer; everything recorded here is an
 * offset into it, so the caller may move or grow the buffer between calls (see conn.c
 * for the rules it follows). */
#ifndef GROVE_HTTP_PARSE_H
#define GROVE_HTTP_PARSE_H

#include "grove/http.h"
#include "llhttp.h"

#include <stddef.h>
#include <stdint.h>

#define GROVE__HIDDEN __attribute__((visibility("hidden")))

/* Events returned by grove__hp_feed. */
enum {
    GROVE__HP_MORE = 0, /* all input consumed: feed more */
    GROVE__HP_HEAD,     /* the head is complete: headers can be read */
    GROVE__HP_BODY,     /* a body span is ready: body_off/body_len */
    GROVE__HP_DONE,     /* the message is complete */
    GROVE__HP_ERROR,    /* bad message: status (HTTP code) and reason say why */
};

typedef struct grove__hp_hdr {
    uint32_t name, name_len, value, value_len; /* offsets into the buffer (trailers: into tbuf) */
} grove__hp_hdr;

#define GROVE__HP_MAX_BLANK_LINES 4 /* skipped before a request line; one more is 400 */

typedef struct grove__hp {
    llhttp_t ll;
    grove_http_limits lim; /* defaults filled in */
    int is_request;
    char *base; /* the buffer during one feed */

    /* head scanner */
    size_t head_start, scan, line_start;
    unsigned line_no, nlines;
    unsigned blank_lines; /* empty lines skipped before this request's line */
    size_t head_end;

    /* message state */
    int head_done, head_reported, msg_done, in_trailers, field_open, value_open;
    int pause_event;
    int keep_alive, upgrade, expect_continue, skip_body;
    int http_minor, status_code;
    int64_t content_length; /* -1 chunked, -2 until EOF (responses) */
    uint32_t url, url_len, reason, reason_len;
    /* requests: a method llhttp does not know (offset, length; 0 when it does), and the
     * target split by check_target: path, query (0: none) and, in absolute-form, the
     * authority (length 0: none) */
    uint32_t method, method_len, path, path_len, query, auth, auth_len;
    grove__hp_hdr *hdr;
    unsigned nhdr, ntrail, hcap;
    char *tbuf; /* trailers' bytes */
    size_t tlen, tcap;

    /* body */
    size_t body_off, body_len;
    uint64_t body_total;
    size_t ext_len;

    /* error */
    int status;
    const char *reason_text;
} grove__hp;

/* Fills the zero fields of *lim with the defaults. */
GROVE__HIDDEN void grove__http_limits_fill(grove_http_limits *lim, const grove_http_limits *in);
/* Initialises a parser for requests (is_request) or responses. Returns 0 or -ENOMEM. */
/* RFC 9110 field syntax, for names and values an application hands us (client request
 * headers, server response headers): a token (no separators, no controls, not empty), and a
 * value without controls other than tab. 1 if valid. */
GROVE__HIDDEN int grove__http_valid_token(const char *s);
GROVE__HIDDEN int grove__http_valid_value(const char *s);

GROVE__HIDDEN int grove__hp_init(grove__hp *hp, int is_request, const grove_http_limits *lim);
GROVE__HIDDEN void grove__hp_free(grove__hp *hp);
/* Starts the next message at buffer offset start (keep-alive). */
GROVE__HIDDEN void grove__hp_next(grove__hp *hp, size_t start);
/* Parses base[*pos, end). Advances *pos past what was consumed and returns an event. */
GROVE__HIDDEN int grove__hp_feed(grove__hp *hp, char *base, size_t *pos, size_t end);
/* The peer closed: completes a body delimited by EOF (responses). Returns DONE or ERROR. */
GROVE__HIDDEN int grove__hp_eof(grove__hp *hp);
/* Headers and trailers (after HEAD / DONE), NUL-terminated. */
GROVE__HIDDEN const char *grove__hp_header(const grove__hp *hp, const char *base, const char *name);
GROVE__HIDDEN const char *grove__hp_trailer(const grove__hp *hp, const char *name);
GROVE__HIDDEN int grove__hp_header_at(const grove__hp *hp, const char *base, size_t i, const char **name,
                                      const char **value);
/* The reason text of an HTTP status code ("Not Found"); "" if unknown. */
GROVE__HIDDEN const char *grove__http_reason(int status);

#endif
