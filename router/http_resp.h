// http_resp.h: a bounded HTTP/1.x response-head parser (status line and header fields,
// RFC 7230 §3) for the POSH fetcher (router/posh_fetch.c). Pure function, no I/O, no allocation.
#ifndef RT_ROUTER_HTTP_RESP_H
#define RT_ROUTER_HTTP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "router/core/rc.h"

#define RT_HTTP_HEAD_MAX (8 * 1024) // status line + header fields + the empty line, in bytes
#define RT_HTTP_FIELDS_MAX 100      // header fields in one response

// rt_http_resp_t is a parsed response head. Views (|location|) point into the parsed input and
// are valid as long as that buffer is.
typedef struct rt_http_resp {
    uint8_t version_minor;      // HTTP/1.<version_minor>: 0 or 1
    uint16_t status;            // 100..599
    size_t head_len;            // bytes of the head, including the final CRLF CRLF
    bool has_content_length;    // a Content-Length field (all copies equal)
    uint64_t content_length;    // its value (at most 2^53)
    bool has_location;          // exactly one Location field
    const uint8_t *location;    // its value, optional whitespace trimmed (not NUL-terminated)
    size_t location_len;
    bool has_transfer_encoding; // any Transfer-Encoding field (the caller decides)
} rt_http_resp_t;

// rt_http_resp_parse parses the response head at the start of |p| (|len| bytes; the body may
// follow). Grammar, strictly: "HTTP/1." DIGIT(0|1) SP 3DIGIT [SP reason] CRLF, then fields
// token ":" OWS value OWS CRLF (value: VCHAR, obs-text, SP, HTAB), then CRLF. Refused: bare LF,
// obs-fold continuation lines, control bytes, a name that is not a token, a Content-Length that
// is not a strict decimal or differs between copies, a second Location, more than
// RT_HTTP_FIELDS_MAX fields. Returns RC_OK (|*out| filled), RC_EAGAIN (the head is incomplete and
// still under RT_HTTP_HEAD_MAX: read more), RC_ENOBUFS (no end of head within RT_HTTP_HEAD_MAX
// bytes), RC_PROTO (malformed; a malformed line is reported as soon as it is complete). On failure
// |*out| is zeroed. Borrows |p|. Thread: any.
RT_MUSTCHECK rc_t rt_http_resp_parse(rt_http_resp_t *out, const uint8_t *p, size_t len);

#endif
