// fuzz_http_resp.c: router/http_resp.c, the HTTP/1.x response-head parser of the POSH fetcher.
// Checks: no crash or over-read; a parsed head lies within the input and within
// RT_HTTP_HEAD_MAX; the Location view lies within the head; parsing is prefix-stable (the head
// alone parses to the same result, and every shorter prefix of it is incomplete or malformed,
// never a different success).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "router/http_resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rt_http_resp_t r;
    rc_t rc = rt_http_resp_parse(&r, data, size);
    RT_CHECK(rc == RC_OK || rc == RC_EAGAIN || rc == RC_ENOBUFS || rc == RC_PROTO);
    if (rc != RC_OK) {
        RT_CHECK(r.status == 0 && r.head_len == 0 && !r.has_location);
        if (rc == RC_ENOBUFS) {
            RT_CHECK(size >= RT_HTTP_HEAD_MAX);
        }
        return 0;
    }
    RT_CHECK(r.head_len >= 4 && r.head_len <= size && r.head_len <= RT_HTTP_HEAD_MAX);
    RT_CHECK(r.status >= 100 && r.status <= 599 && r.version_minor <= 1);
    RT_CHECK(memcmp(data + r.head_len - 4, "\r\n\r\n", 4) == 0);
    if (r.has_location) {
        RT_CHECK(r.location >= data && r.location + r.location_len <= data + r.head_len);
    }
    rt_http_resp_t again;
    RT_CHECK(rt_http_resp_parse(&again, data, r.head_len) == RC_OK);
    RT_CHECK(again.status == r.status && again.head_len == r.head_len &&
             again.content_length == r.content_length && again.location == r.location);
    for (size_t cut = 0; cut < r.head_len; cut += 1 + cut / 8) {
        rt_http_resp_t part;
        rc_t prc = rt_http_resp_parse(&part, data, cut);
        RT_CHECK(prc == RC_EAGAIN);
    }
    return 0;
}
