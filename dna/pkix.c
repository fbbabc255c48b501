// pkix.c: RFC 6125 identity matching for XMPP server certificates (RFC 6120 §13.7.2, SPEC.md §2).
//
// The certificate is decoded by BoringSSL only (X509_get_ext_d2i, GENERAL_NAME, X509_NAME); this
// file never parses DER itself. It compares the decoded strings with the reference domain:
//   DNS-ID    SAN dNSName, case-insensitive, '*' only as the whole left-most label matching one
//             label, and only with at least two labels after it ("*.example" and "*.com" never
//             match; partial wildcards such as "f*o.example" never match).
//   SRV-ID    SAN otherName id-on-dnsSRV (1.3.6.1.5.5.7.8.7, IA5String) "_xmpp-server.D"; the
//             service must be xmpp-server; no wildcard.
//   XmppAddr  SAN otherName id-on-xmppAddr (1.3.6.1.5.5.7.8.5, UTF8String) "D"; converted with
//             dna_domain_normalize (U-labels to A-labels) before comparing; no wildcard.
//   URI-ID    SAN uniformResourceIdentifier: never matches for XMPP but counts as present.
//   CN-ID     subject CN, only with opts->cn_fallback, only when none of the above is present, and
//             only when the subject has exactly one CN; same rules as DNS-ID.
// ASN.1 strings with an embedded NUL, or of the wrong string type, never match.
#include "dna/pkix.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/mem.h>
#include <openssl/obj.h>
#include <openssl/x509v3.h>

#include "dna/domain.h"
#include "router/core/mem.h"

// DER contents of the two otherName OIDs (RFC 6120 §13.7.1.4, RFC 4985).
static const uint8_t kOidXmppAddr[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x05};
static const uint8_t kOidSrvName[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x07};

static const char kSrvPrefix[] = "_xmpp-server.";
#define SRV_PREFIX_LEN (sizeof(kSrvPrefix) - 1)

// A presented identifier longer than a JID part cannot name a domain; refuse it before copying.
#define PKIX_VALUE_MAX 1023

static bool oid_is(const ASN1_OBJECT *obj, const uint8_t *der, size_t der_len) {
    return obj != NULL && OBJ_length(obj) == der_len &&
           core_memcmp(OBJ_get0_data(obj), der, der_len) == 0;
}

// asn1_view sets (*out, *out_len) to the bytes of |s| when |s| has ASN.1 string type |type|, is
// 1..PKIX_VALUE_MAX bytes and holds no NUL. Returns false otherwise. Borrows |s|.
static bool asn1_view(const ASN1_STRING *s, int type, const char **out, size_t *out_len) {
    if (s == NULL || ASN1_STRING_type(s) != type) {
        return false;
    }
    int len = ASN1_STRING_length(s);
    if (len <= 0 || len > PKIX_VALUE_MAX) {
        return false;
    }
    const char *p = (const char *)ASN1_STRING_get0_data(s);
    if (p == NULL || memchr(p, '\0', (size_t)len) != NULL) {
        return false; // "good.example\0.evil.example" must not pass for anything
    }
    *out = p;
    *out_len = (size_t)len;
    return true;
}

static size_t strip_dot(const char *s, size_t len) {
    return (len > 0 && s[len - 1] == '.') ? len - 1 : len;
}

// dns_id_match is true when presented DNS-ID (or CN-ID) |pat| (|pat_len| bytes) names |ref|
// (|ref_len| bytes, a normalised domain). See the file comment for the wildcard rules.
static bool dns_id_match(const char *pat, size_t pat_len, const char *ref, size_t ref_len) {
    pat_len = strip_dot(pat, pat_len);
    if (pat_len == 0) {
        return false;
    }
    size_t stars = 0;
    for (size_t i = 0; i < pat_len; i++) {
        char c = pat[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '*';
        if (!ok) {
            return false; // U-labels, '_', spaces: not a DNS-ID we can match
        }
        if (c == '*') {
            stars++;
        }
    }
    if (stars == 0) {
        return core_ascii_lower_eq(pat, pat_len, ref, ref_len);
    }
    // Only "*.<rest>" with exactly one '*' is a wildcard we honour.
    if (stars != 1 || pat_len < 2 || pat[0] != '*' || pat[1] != '.') {
        return false;
    }
    const char *rest = pat + 2;
    size_t rest_len = pat_len - 2;
    // <rest> must have at least two non-empty labels: no "*.com", no "*.example".
    bool inner_dot = false;
    for (size_t i = 1; i + 1 < rest_len; i++) {
        if (rest[i] == '.') {
            inner_dot = true;
            break;
        }
    }
    if (!inner_dot) {
        return false;
    }
    // '*' stands for exactly one non-empty label of the reference.
    size_t first_dot = ref_len;
    for (size_t i = 0; i < ref_len; i++) {
        if (ref[i] == '.') {
            first_dot = i;
            break;
        }
    }
    if (first_dot == 0 || first_dot >= ref_len) {
        return false;
    }
    return core_ascii_lower_eq(rest, rest_len, ref + first_dot + 1, ref_len - first_dot - 1);
}

// srv_id_match is true when presented SRV-ID |val| is "_xmpp-server.<ref>" (case-insensitive).
static bool srv_id_match(const char *val, size_t val_len, const char *ref, size_t ref_len) {
    val_len = strip_dot(val, val_len);
    if (val_len <= SRV_PREFIX_LEN ||
        !core_ascii_lower_eq(val, SRV_PREFIX_LEN, kSrvPrefix, SRV_PREFIX_LEN)) {
        return false; // other services (_xmpp-client) do not prove an s2s domain
    }
    const char *name = val + SRV_PREFIX_LEN;
    size_t name_len = val_len - SRV_PREFIX_LEN;
    if (memchr(name, '*', name_len) != NULL) {
        return false; // no wildcards in SRV-IDs (router policy, SPEC.md ID-7)
    }
    return core_ascii_lower_eq(name, name_len, ref, ref_len);
}

// xmppaddr_match is true when presented XmppAddr |val| (UTF-8) normalises to |ref|.
static bool xmppaddr_match(const char *val, size_t val_len, const char *ref, size_t ref_len) {
    char norm[DNA_DOMAIN_MAX];
    if (dna_domain_normalize(norm, sizeof(norm), val, val_len) != RC_OK) {
        return false; // includes '*' (not LDH) and full JIDs ("user@domain")
    }
    size_t norm_len = strlen(norm);
    return norm_len == ref_len && core_memcmp(norm, ref, ref_len) == 0;
}

// cn_match applies the CN-ID rules to the subject of |cert|.
static bool cn_match(X509 *cert, const char *ref, size_t ref_len) {
    X509_NAME *subj = X509_get_subject_name(cert);
    uint8_t *utf8 = NULL;
    bool matched = false;

    if (subj == NULL) {
        goto out;
    }
    int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
    if (idx < 0 || X509_NAME_get_index_by_NID(subj, NID_commonName, idx) >= 0) {
        goto out; // none, or ambiguous (RFC 6125 §6.4.4 wants exactly one)
    }
    X509_NAME_ENTRY *ent = X509_NAME_get_entry(subj, idx);
    ASN1_STRING *data = ent != NULL ? X509_NAME_ENTRY_get_data(ent) : NULL;
    if (data == NULL) {
        goto out;
    }
    // CN may be PrintableString, UTF8String, BMPString...: let BoringSSL transcode it.
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len <= 0 || len > PKIX_VALUE_MAX || memchr(utf8, '\0', (size_t)len) != NULL) {
        goto out;
    }
    matched = dns_id_match((const char *)utf8, (size_t)len, ref, ref_len);

out:
    OPENSSL_free(utf8);
    return matched;
}

// ref_is_ip is true for a normalised reference that is an IP literal (dna_domain_normalize passes
// them through): "[v6]" or a name made only of digits and dots.
static bool ref_is_ip(const char *ref, size_t ref_len) {
    if (ref_len > 0 && ref[0] == '[') {
        return true;
    }
    for (size_t i = 0; i < ref_len; i++) {
        if (!((ref[i] >= '0' && ref[i] <= '9') || ref[i] == '.')) {
            return false;
        }
    }
    return true;
}

rc_t dna_pkix_match(X509 *cert, const char *domain, const dna_pkix_opts_t *opts) {
    rc_t rc = RC_DNA_MISMATCH;
    GENERAL_NAMES *gens = NULL;
    char norm[DNA_DOMAIN_MAX];

    if (domain == NULL) {
        return RC_DNA_BAD_NAME;
    }
    size_t ref_len = strnlen(domain, DNA_DOMAIN_MAX);
    // The reference must already be in normalised form: the caller keys everything on it.
    if (ref_len == 0 || ref_len >= DNA_DOMAIN_MAX ||
        dna_domain_normalize(norm, sizeof(norm), domain, ref_len) != RC_OK ||
        strcmp(norm, domain) != 0) {
        return RC_DNA_BAD_NAME;
    }
    if (cert == NULL || ref_is_ip(domain, ref_len)) {
        return RC_DNA_MISMATCH; // iPAddress SANs are not an XMPP identity type
    }

    int crit = -1;
    gens = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
    if (gens == NULL && crit != -1) {
        goto out; // duplicate or undecodable SAN extension: fail closed, and no CN fallback
    }
    bool present = false; // any DNS-ID, SRV-ID, URI-ID or XmppAddr (ID-8)
    size_t num = gens != NULL ? sk_GENERAL_NAME_num(gens) : 0;
    for (size_t i = 0; i < num; i++) {
        const GENERAL_NAME *gen = sk_GENERAL_NAME_value(gens, i);
        const char *val = NULL;
        size_t val_len = 0;
        switch (gen->type) {
        case GEN_DNS:
            present = true;
            if (asn1_view(gen->d.dNSName, V_ASN1_IA5STRING, &val, &val_len) &&
                dns_id_match(val, val_len, domain, ref_len)) {
                rc = RC_OK;
                goto out;
            }
            break;
        case GEN_URI:
            present = true;
            break;
        case GEN_OTHERNAME: {
            ASN1_OBJECT *oid = NULL;
            ASN1_TYPE *value = NULL;
            if (!GENERAL_NAME_get0_otherName(gen, &oid, &value) || value == NULL) {
                break;
            }
            if (oid_is(oid, kOidXmppAddr, sizeof(kOidXmppAddr))) {
                present = true;
                if (value->type == V_ASN1_UTF8STRING &&
                    asn1_view(value->value.utf8string, V_ASN1_UTF8STRING, &val, &val_len) &&
                    xmppaddr_match(val, val_len, domain, ref_len)) {
                    rc = RC_OK;
                    goto out;
                }
            } else if (oid_is(oid, kOidSrvName, sizeof(kOidSrvName))) {
                present = true;
                if (value->type == V_ASN1_IA5STRING &&
                    asn1_view(value->value.ia5string, V_ASN1_IA5STRING, &val, &val_len) &&
                    srv_id_match(val, val_len, domain, ref_len)) {
                    rc = RC_OK;
                    goto out;
                }
            }
            break;
        }
        default:
            break;
        }
    }
    if (!present && opts != NULL && opts->cn_fallback && cn_match(cert, domain, ref_len)) {
        rc = RC_OK;
    }

out:
    GENERAL_NAMES_free(gens);
    return rc;
}

// names_writer_t appends to a caller buffer, keeping room for "..." and the NUL; once a write does
// not fit, everything after it is dropped and the output ends in "...".
typedef struct names_writer {
    char *out;
    size_t usable; // bytes available for content (capacity minus "..." and NUL)
    size_t len;
    bool truncated;
    bool first;
} names_writer_t;

static void nw_raw(names_writer_t *w, const char *s, size_t len) {
    if (w->truncated) {
        return;
    }
    if (len > w->usable - w->len) {
        w->truncated = true;
        return;
    }
    core_memcpy(w->out + w->len, s, len);
    w->len += len;
}

// nw_value appends peer-controlled bytes, escaping everything that is not printable ASCII, and
// ',' and '\\' (the list separator and the escape character), as \xNN.
static void nw_value(names_writer_t *w, const uint8_t *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len && !w->truncated; i++) {
        uint8_t c = s[i];
        if (c > 0x20 && c < 0x7f && c != ',' && c != '\\') {
            nw_raw(w, (const char *)&c, 1);
        } else {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 0xf]};
            nw_raw(w, esc, sizeof(esc));
        }
    }
}

static void nw_item(names_writer_t *w, const char *tag, const ASN1_STRING *s) {
    if (!w->first) {
        nw_raw(w, ",", 1);
    }
    w->first = false;
    nw_raw(w, tag, strlen(tag));
    if (s == NULL) {
        nw_raw(w, "?", 1);
        return;
    }
    int len = ASN1_STRING_length(s);
    nw_value(w, ASN1_STRING_get0_data(s), len > 0 ? (size_t)len : 0);
}

bool dna_pkix_names(X509 *cert, char *out, size_t out_len) {
    names_writer_t w = {.out = out, .usable = out_len > 4 ? out_len - 4 : 0, .first = true};
    GENERAL_NAMES *gens = NULL;

    if (out == NULL || out_len == 0) {
        return false;
    }
    if (cert == NULL) {
        goto out;
    }
    gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    size_t num = gens != NULL ? sk_GENERAL_NAME_num(gens) : 0;
    for (size_t i = 0; i < num && !w.truncated; i++) {
        const GENERAL_NAME *gen = sk_GENERAL_NAME_value(gens, i);
        switch (gen->type) {
        case GEN_DNS:
            nw_item(&w, "DNS:", gen->d.dNSName);
            break;
        case GEN_URI:
            nw_item(&w, "URI:", gen->d.uniformResourceIdentifier);
            break;
        case GEN_IPADD: {
            const ASN1_OCTET_STRING *ip = gen->d.iPAddress;
            char text[INET6_ADDRSTRLEN] = "?";
            int ip_len = ip != NULL ? ASN1_STRING_length(ip) : 0;
            if (ip_len == 4 || ip_len == 16) {
                if (inet_ntop(ip_len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(ip), text,
                              sizeof(text)) == NULL) {
                    text[0] = '?';
                    text[1] = '\0';
                }
            }
            if (!w.first) {
                nw_raw(&w, ",", 1);
            }
            w.first = false;
            nw_raw(&w, "IP:", 3);
            nw_raw(&w, text, strlen(text));
            break;
        }
        case GEN_OTHERNAME: {
            ASN1_OBJECT *oid = NULL;
            ASN1_TYPE *value = NULL;
            if (!GENERAL_NAME_get0_otherName(gen, &oid, &value) || value == NULL) {
                break;
            }
            // Only string-typed values are printed; anything else shows as '?'.
            const ASN1_STRING *str =
                (value->type == V_ASN1_UTF8STRING || value->type == V_ASN1_IA5STRING)
                    ? value->value.asn1_string
                    : NULL;
            if (oid_is(oid, kOidXmppAddr, sizeof(kOidXmppAddr))) {
                nw_item(&w, "XmppAddr:", str);
            } else if (oid_is(oid, kOidSrvName, sizeof(kOidSrvName))) {
                nw_item(&w, "SRV:", str);
            } else {
                nw_item(&w, "otherName:", NULL);
            }
            break;
        }
        default:
            break;
        }
    }
    X509_NAME *subj = X509_get_subject_name(cert);
    int idx = -1;
    while (subj != NULL && !w.truncated &&
           (idx = X509_NAME_get_index_by_NID(subj, NID_commonName, idx)) >= 0) {
        X509_NAME_ENTRY *ent = X509_NAME_get_entry(subj, idx);
        nw_item(&w, "CN:", ent != NULL ? X509_NAME_ENTRY_get_data(ent) : NULL);
    }

out:
    GENERAL_NAMES_free(gens);
    if (w.truncated && out_len >= 4) {
        core_memcpy(out + w.len, "...", 3);
        w.len += 3;
    }
    out[w.len] = '\0';
    return !w.truncated;
}
