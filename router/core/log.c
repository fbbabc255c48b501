#include "router/core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int g_level = CORE_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const src_names[] = {"main", "net",  "tls", "xml", "s2s",  "dialback",
                                        "comp", "dns",  "dna", "conf", "stats"};

void core_log_set_level(core_log_level_t level) {
    atomic_store_explicit(&g_level, (int)level, memory_order_relaxed);
}

bool core_log_parse_level(const char *s, core_log_level_t *out) {
    for (size_t i = 0; i < RT_ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (core_log_level_t)i;
            return true;
        }
    }
    return false;
}

bool core_log_enabled(core_log_level_t level) {
    return (int)level <= atomic_load_explicit(&g_level, memory_order_relaxed);
}

void core_log(core_log_level_t level, core_log_src_t src, const char *fmt, ...) {
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %-8s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], src_names[src]);
    if (n < 0) {
        return;
    }
    size_t used = (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + used, sizeof(line) - used - 1, fmt, ap);
    va_end(ap);
    if (m < 0) {
        return;
    }
    used += (size_t)m;
    if (used > sizeof(line) - 2) {
        used = sizeof(line) - 2; // truncated: keep the line a line
    }
    line[used++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, used);
    (void)w;
}

const char *core_log_escape(char *out, size_t out_cap, const char *s, size_t len) {
    size_t o = 0;
    if (out_cap < 8) {
        if (out_cap) {
            out[0] = '\0';
        }
        return out;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 > out_cap) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c >= 0x7f || c == '\\') {
            o += (size_t)snprintf(out + o, out_cap - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
}
