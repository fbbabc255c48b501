// fuzz_config: arbitrary bytes as a configuration file through rt_conf_load. The input is written
// to a private temporary file (libconfig reads files) and loaded; success and RC_CONF are both
// fine, anything else (crash, leak, sanitizer report, an error without a message) is a bug.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "router/conf.h"
#include "router/core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// libconfig 1.5 (Debian 12) leaks the string token of some syntax errors (for example
// `s={""`: strbuf_append's buffer is never freed). That is libconfig's bug, not ours; suppress
// leaks whose allocation stack passes through libconfig so the fuzzer finds our bugs instead.
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
    return "leak:libconfig.so\n";
}

// contains reports whether |lit| occurs in |data|.
static bool contains(const uint8_t *data, size_t size, const char *lit) {
    size_t len = strlen(lit);
    for (size_t i = 0; i + len <= size; i++) {
        if (memcmp(data + i, lit, len) == 0) {
            return true;
        }
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[] = "/tmp/fuzz_config_XXXXXX";
    char err[256];
    rt_conf_t *conf = NULL;
    // @include would read arbitrary local files (/dev/zero never ends): not what we fuzz.
    if (size > 65536 || contains(data, size, "@include")) {
        return 0;
    }
    core_log_set_level(CORE_LOG_ERROR);
    int fd = mkstemp(path);
    if (fd < 0) {
        abort();
    }
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) {
            abort();
        }
        off += (size_t)w;
    }
    close(fd);
    rc_t rc = rt_conf_load(path, &conf, err, sizeof(err));
    if (rc == RC_OK) {
        if (conf == NULL || conf->dialback_secret == NULL) {
            abort();
        }
        // Every hosted domain must be found by the binary search.
        for (size_t i = 0; i < conf->num_domains; i++) {
            if (rt_conf_domain(conf, conf->domains[i].name) != &conf->domains[i]) {
                abort();
            }
        }
    } else if (rc != RC_CONF || conf != NULL || err[0] == '\0') {
        abort();
    }
    rt_conf_free(conf);
    unlink(path);
    return 0;
}
