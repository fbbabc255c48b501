// http_resp.c: bounded HTTP/1.x response-head parsing (see http_resp.h). Cursor-based: no
// strchr/strtol on peer bytes, no NUL-termination of peer data.
#include "router/http_resp.h"

#include "router/core/bytes.h"

// Largest Content-Length accepted by the grammar; callers apply their own, lower caps.
#define HTTP_CL_MAX (UINT64_C(1) << 53)

// is_tchar: RFC 7230 §3.2.6 token characters.
static bool is_tchar(uint8_t c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}

// is_field_vchar: field-content bytes (VCHAR, obs-text) plus SP and HTAB.
static bool is_field_byte(uint8_t c) {
    return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

// take_line takes the next CRLF-terminated line (without CRLF) as |*line|. Returns 1 on success,
// 0 when no LF is in |cur| yet, -1 for a bare LF or a CR inside the line.
static int take_line(core_cur_t *cur, core_cur_t *line) {
    core_cur_t probe = *cur;
    core_cur_t l;
    if (!core_cur_get_until(&probe, &l, '\n')) {
        return 0;
    }
    if (l.len == 0 || l.ptr[l.len - 1] != '\r') {
        return -1;
    }
    l.len--;
    for (size_t i = 0; i < l.len; i++) {
        if (l.ptr[i] == '\r') {
            return -1;
        }
    }
    *line = l;
    *cur = probe;
    return 1;
}

// trim_ows removes leading and trailing SP/HTAB.
static void trim_ows(core_cur_t *v) {
    while (v->len > 0 && (v->ptr[0] == ' ' || v->ptr[0] == '\t')) {
        v->ptr++;
        v->len--;
    }
    while (v->len > 0 && (v->ptr[v->len - 1] == ' ' || v->ptr[v->len - 1] == '\t')) {
        v->len--;
    }
}

// parse_status_line: "HTTP/1." (0|1) SP 3DIGIT [SP reason].
static bool parse_status_line(rt_http_resp_t *r, core_cur_t line) {
    uint8_t minor = 0;
    uint8_t d[3] = {0};
    if (!core_cur_match(&line, "HTTP/1.", 7) || !core_cur_get_u8(&line, &minor) ||
        (minor != '0' && minor != '1') || !core_cur_match(&line, " ", 1)) {
        return false;
    }
    for (size_t i = 0; i < 3; i++) {
        if (!core_cur_get_u8(&line, &d[i]) || d[i] < '0' || d[i] > '9') {
            return false;
        }
    }
    uint16_t status = (uint16_t)((d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0'));
    if (status < 100 || status > 599) {
        return false;
    }
    if (!core_cur_empty(&line)) {
        if (!core_cur_match(&line, " ", 1)) {
            return false;
        }
        for (size_t i = 0; i < line.len; i++) {
            if (!is_field_byte(line.ptr[i])) {
                return false;
            }
        }
    }
    r->version_minor = (uint8_t)(minor - '0');
    r->status = status;
    return true;
}

// parse_field handles one header field line.
static bool parse_field(rt_http_resp_t *r, core_cur_t line) {
    core_cur_t name;
    if (!core_cur_get_until(&line, &name, ':') || name.len == 0) {
        return false;
    }
    for (size_t i = 0; i < name.len; i++) {
        if (!is_tchar(name.ptr[i])) {
            return false; // also refuses obs-fold (a line starting with SP/HTAB)
        }
    }
    for (size_t i = 0; i < line.len; i++) {
        if (!is_field_byte(line.ptr[i])) {
            return false;
        }
    }
    core_cur_t value = line;
    trim_ows(&value);
    const char *n = (const char *)name.ptr;
    if (core_ascii_lower_eq(n, name.len, "content-length", 14)) {
        core_cur_t v = value;
        uint64_t cl = 0;
        if (!core_cur_get_decimal(&v, HTTP_CL_MAX, &cl) || !core_cur_empty(&v)) {
            return false;
        }
        if (r->has_content_length && r->content_length != cl) {
            return false;
        }
        r->has_content_length = true;
        r->content_length = cl;
    } else if (core_ascii_lower_eq(n, name.len, "location", 8)) {
        if (r->has_location) {
            return false;
        }
        r->has_location = true;
        r->location = value.ptr;
        r->location_len = value.len;
    } else if (core_ascii_lower_eq(n, name.len, "transfer-encoding", 17)) {
        r->has_transfer_encoding = true;
    }
    return true;
}

rc_t rt_http_resp_parse(rt_http_resp_t *out, const uint8_t *p, size_t len) {
    rt_http_resp_t r = {0};
    rc_t rc = RC_OK;
    size_t window = len < RT_HTTP_HEAD_MAX ? len : RT_HTTP_HEAD_MAX;
    core_cur_t cur;
    core_cur_t line;
    size_t num_fields = 0;
    core_cur_init(&cur, p, window);

    int got = take_line(&cur, &line);
    if (got <= 0) {
        rc = got < 0 ? RC_PROTO : (len >= RT_HTTP_HEAD_MAX ? RC_ENOBUFS : RC_EAGAIN);
        goto out;
    }
    if (!parse_status_line(&r, line)) {
        rc = RC_PROTO;
        goto out;
    }
    for (;;) {
        got = take_line(&cur, &line);
        if (got <= 0) {
            rc = got < 0 ? RC_PROTO : (len >= RT_HTTP_HEAD_MAX ? RC_ENOBUFS : RC_EAGAIN);
            goto out;
        }
        if (line.len == 0) {
            break; // end of head
        }
        if (++num_fields > RT_HTTP_FIELDS_MAX || !parse_field(&r, line)) {
            rc = RC_PROTO;
            goto out;
        }
    }
    r.head_len = window - cur.len;

out:
    if (rc == RC_OK) {
        *out = r;
    } else {
        core_memset(out, 0, sizeof(*out));
    }
    return rc;
}
