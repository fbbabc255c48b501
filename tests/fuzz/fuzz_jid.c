// fuzz_jid.c: JID domainpart extraction and domain normalisation on arbitrary bytes.
//
// Input: the whole buffer is a JID. Properties checked (abort on violation):
// - dna_jid_domain's view lies inside the input and is 1..1023 bytes;
// - dna_domain_normalize never writes past its buffer and, on success, returns a NUL-terminated
//   lower-case result of at most 253 octets that is a fixed point (normalising it again gives it
//   back unchanged);
// - normalising the raw input too (not only the domainpart) is memory-safe.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dna/domain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_normalize(const char *in, size_t len) {
    char out[DNA_DOMAIN_MAX];
    char again[DNA_DOMAIN_MAX];
    if (dna_domain_normalize(out, sizeof(out), in, len) != RC_OK) {
        return;
    }
    size_t out_len = strnlen(out, sizeof(out));
    if (out_len == 0 || out_len >= sizeof(out)) {
        abort();
    }
    // IP literals keep their case ("[2001:DB8::1]"); names are lower-case.
    if (out[0] != '[') {
        for (size_t i = 0; i < out_len; i++) {
            if (out[i] >= 'A' && out[i] <= 'Z') {
                abort();
            }
        }
        if (out_len > 253) {
            abort();
        }
    }
    if (dna_domain_normalize(again, sizeof(again), out, out_len) != RC_OK ||
        strcmp(out, again) != 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *jid = (const char *)data;
    const char *dom = NULL;
    size_t dom_len = 0;
    if (dna_jid_domain(jid, size, &dom, &dom_len)) {
        if (dom < jid || dom_len == 0 || dom_len > 1023 || (size_t)(dom - jid) + dom_len > size) {
            abort();
        }
        check_normalize(dom, dom_len);
    }
    check_normalize(jid, size);
    return 0;
}
