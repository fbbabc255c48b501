// log.h: the log interface (STYLE.md §9). One line per event: time, level, source, message.
// Only router/ code logs; dna/ and pool/ return rc_t and details. Thread: any (one write(2) per
// line, so lines from several workers never interleave).
#ifndef RT_ROUTER_CORE_LOG_H
#define RT_ROUTER_CORE_LOG_H

#include <stdbool.h>

#include "router/core/mem.h"

typedef enum core_log_level {
    CORE_LOG_ERROR = 0,
    CORE_LOG_WARN = 1,
    CORE_LOG_INFO = 2,
    CORE_LOG_DEBUG = 3,
} core_log_level_t;

typedef enum core_log_src {
    CORE_LOG_SRC_MAIN,
    CORE_LOG_SRC_NET,
    CORE_LOG_SRC_TLS,
    CORE_LOG_SRC_XML,
    CORE_LOG_SRC_S2S,
    CORE_LOG_SRC_DIALBACK,
    CORE_LOG_SRC_COMP,
    CORE_LOG_SRC_DNS,
    CORE_LOG_SRC_DNA,
    CORE_LOG_SRC_CONF,
    CORE_LOG_SRC_STATS,
} core_log_src_t;

// core_log_set_level sets the most verbose level that is written. Call before starting threads.
void core_log_set_level(core_log_level_t level);
// core_log_parse_level maps "error|warn|info|debug" to a level; false if unknown.
RT_MUSTCHECK bool core_log_parse_level(const char *s, core_log_level_t *out);
bool core_log_enabled(core_log_level_t level);
void core_log(core_log_level_t level, core_log_src_t src, const char *fmt, ...) RT_PRINTF(3, 4);

// core_log_escape copies at most |max| bytes of peer data |s| into |out| (capacity |out_cap|),
// replacing control and non-ASCII bytes with \xHH and cutting with "..." so that a peer string can
// be logged safely. Returns |out|.
const char *core_log_escape(char *out, size_t out_cap, const char *s, size_t len);

#define CORE_LOG(lvl, src, ...)                                                                    \
    do {                                                                                           \
        if (core_log_enabled(lvl)) {                                                               \
            core_log(lvl, src, __VA_ARGS__);                                                       \
        }                                                                                          \
    } while (0)

#endif
