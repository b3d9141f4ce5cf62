/*
 * test_punycode.c - the Punycode encoder against the samples of RFC 3492
 * (section 7.1), and host names turned into their ASCII form.
 */
#include "check.h"
#include "idna.h"
#include "punycode.h"
#include "utf8.h"

/* The code points of a UTF-8 string; returns their number. */
static size_t points(const char *s, unsigned *cp, size_t max)
{
    size_t n = 0, len = strlen(s);
    for (size_t i = 0; i < len && n < max;) {
        size_t k = utf8_get((const unsigned char *)s + i, len - i, &cp[n++]);
        i += k ? k : 1;
    }
    return n;
}

static void test_rfc3492_samples(void)
{
    static const struct {
        const char *text, *code;
    } samples[] = {
        /* (A) Arabic (Egyptian), (B) Chinese (simplified), (D) Czech, the case of
         * basic code points kept as the RFC's mixed-case sample shows. */
        {"\xd9\x84\xd9\x8a\xd9\x87\xd9\x85\xd8\xa7\xd8\xa8\xd8\xaa\xd9\x83\xd9\x84"
         "\xd9\x85\xd9\x88\xd8\xb4\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a\xd8\x9f",
         "egbpdaj6bu4bxfgehfvwxn"},
        {"\xe4\xbb\x96\xe4\xbb\xac\xe4\xb8\xba\xe4\xbb\x80\xe4\xb9\x88\xe4\xb8\x8d"
         "\xe8\xaf\xb4\xe4\xb8\xad\xe6\x96\x87",
         "ihqwcrb4cv8a8dqg056pqjye"},
        {"Pro\xc4\x8dprost\xc4\x9bnemluv\xc3\xad\xc4\x8d"
         "esky",
         "Proprostnemluvesky-uyb24dma41a"},
        {"b\xc3\xbc"
         "cher",
         "bcher-kva"},
        {"abc", "abc-"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        unsigned cp[64];
        char out[128];
        size_t n = points(samples[i].text, cp, 64);
        long w = punycode_encode(cp, n, out, sizeof(out));
        CHECK(w == (long)strlen(samples[i].code) && strcmp(out, samples[i].code) == 0,
              "sample %zu: got %s, want %s", i, w < 0 ? "-1" : out, samples[i].code);
    }
}

/* Output that does not fit, and deltas past what an int holds, are refused
 * rather than cut. */
static void test_refusals(void)
{
    unsigned cp[] = {'b', 0xfc, 'c', 'h', 'e', 'r'};
    char out[16];
    CHECK(punycode_encode(cp, 6, out, 9) == -1, "9 bytes hold 'bcher-kva' only without NUL");
    CHECK(punycode_encode(cp, 6, out, 10) == 9, "10 bytes hold it");
    CHECK(punycode_encode(cp, 6, out, 0) == -1, "no room at all");
    /* 4000 basic code points, then the last code point: its first delta is
     * (0x10ffff - 0x80) * 4001, more than 32 bits hold. */
    static unsigned big[4001];
    static char wide[8192];
    for (size_t i = 0; i < 4000; i++)
        big[i] = 'a';
    big[4000] = 0x10ffff;
    CHECK(punycode_encode(big, 4001, wide, sizeof(wide)) == -1, "delta overflow refused");
    big[4000] = 0x100;
    CHECK(punycode_encode(big, 4001, wide, sizeof(wide)) > 4001, "a small delta still encodes");
}

static void test_hosts(void)
{
    static const struct {
        const char *host, *ascii;
    } hosts[] = {
        {"ex\xc3\xa4mple.com", "xn--exmple-cua.com"},
        {"EX\xc3\x84MPLE.Com", "xn--exmple-cua.com"},
        /* Cyrillic a, then Latin "pple": the classic look-alike of apple.com. */
        {"\xd0\xb0pple.com", "xn--pple-43d.com"},
        {"\xd0\x9f\xd0\xa0\xd0\x98\xd0\x9c\xd0\x95\xd0\xa0.\xd1\x80\xd1\x84",
         "xn--e1afmkfd.xn--p1ai"},
        {"\xce\x95\xce\xbb\xce\xbb\xce\xac\xce\xb4\xce\xb1.gr", "xn--hxakic4aa.gr"},
        {"XN--Exmple-CUA.com", "xn--exmple-cua.com"},
        {"plain.example.", "plain.example."},
    };
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        char out[256];
        long w = idna_host(hosts[i].host, strlen(hosts[i].host), out, sizeof(out));
        CHECK(w >= 0 && strcmp(out, hosts[i].ascii) == 0, "host %zu: got %s, want %s", i,
              w < 0 ? "-1" : out, hosts[i].ascii);
    }
    char out[256];
    CHECK(idna_host("bad\xc3.example", 13, out, sizeof(out)) == -1, "cut sequence refused");
    CHECK(idna_host("\xc0\xae.example", 10, out, sizeof(out)) == -1, "overlong refused");
    CHECK(idna_host("ex\xc3\xa4mple.com", 12, out, 12) == -1, "too small a buffer refused");
    /* A label longer than any DNS allows is refused, not read past the
     * label buffer (ASan sees the overflow this once was). */
    char longest[300 + 5];
    memset(longest, 'a', 300);
    memcpy(longest + 300, ".com", 5);
    char big[1024];
    CHECK(idna_host(longest, strlen(longest), big, sizeof(big)) == -1,
          "a 300-letter label refused");
}

static void test_lower(void)
{
    CHECK(idna_lower(0xc4) == 0xe4, "A with diaeresis");
    CHECK(idna_lower(0xd7) == 0xd7, "multiplication sign is no letter");
    CHECK(idna_lower(0x141) == 0x142, "L with stroke");
    CHECK(idna_lower(0x17d) == 0x17e, "Z with caron");
    CHECK(idna_lower(0x130) == 'i', "I with dot above");
    CHECK(idna_lower(0x3a3) == 0x3c3, "Greek sigma");
    CHECK(idna_lower(0x401) == 0x451, "Cyrillic io");
    CHECK(idna_lower(0x4c1) == 0x4c2, "Cyrillic zhe with breve");
    CHECK(idna_lower(0x4e00) == 0x4e00, "CJK unchanged");
}

int main(void)
{
    test_rfc3492_samples();
    test_refusals();
    test_hosts();
    test_lower();
    return check_done();
}
