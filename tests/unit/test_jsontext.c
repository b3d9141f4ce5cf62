/*
 * test_jsontext.c - text that is not UTF-8 as JSON strings: valid text
 * unchanged, each refused byte as \xHH, NUL and cut sequences included,
 * and the check that keeps such text from being used as an address.
 */
#include "check.h"
#include "jsontext.h"

#include <stdlib.h>

/* The string jsontext_newn makes of n bytes at s, as its C text. */
static char *made(const char *s, size_t n)
{
    json_t *j = jsontext_newn(s, n);
    char *out = json_is_string(j) ? strdup(json_string_value(j)) : NULL;
    json_decref(j);
    return out;
}

static void test_strings(void)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } rows[] = {
        {"plain.exe", 9, "plain.exe"},
        {"", 0, ""},
        /* Valid UTF-8 (ä) and a backslash stay as they are. */
        {"\xc3\xa4 C:\\x84", 9, "\xc3\xa4 C:\\x84"},
        /* CP437 ä inside a zip. */
        {"\x84.exe", 5, "\\x84.exe"},
        /* Latin-1 é in an address: the domain survives. */
        {"x\xe9@evil.example", 15, "x\\xe9@evil.example"},
        /* A sequence cut short, an overlong form, a surrogate. */
        {"a\xe2\x82", 3, "a\\xe2\\x82"},
        {"\xc0\xaf", 2, "\\xc0\\xaf"},
        {"\xed\xa0\x80", 3, "\\xed\\xa0\\x80"},
        /* A NUL byte inside the text. */
        {"a\0b\xff", 4, "a\\x00b\\xff"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *got = made(rows[i].in, rows[i].n);
        CHECK(got != NULL && strcmp(got, rows[i].out) == 0, "row %zu: got \"%s\"", i,
              got ? got : "(null)");
        free(got);
    }
}

static void test_null_and_fields(void)
{
    json_t *j = jsontext_new(NULL);
    CHECK(json_is_null(j), "NULL gives JSON null");
    json_decref(j);
    /* The field is kept, where json_string() would have dropped it. */
    json_t *o = json_object();
    json_object_set_new(o, "detail", jsontext_new("\x84.exe"));
    char *text = json_dumps(o, JSON_COMPACT);
    CHECK_CONTAINS(text, "{\"detail\":\"\\\\x84.exe\"}");
    free(text);
    json_decref(o);
}

static void test_has_escape(void)
{
    CHECK(jsontext_has_escape("x\\xe9@evil.example"), "escaped 8-bit byte");
    CHECK(jsontext_has_escape("a\\x00b"), "escaped NUL");
    CHECK(!jsontext_has_escape("bob@example.com"), "plain address");
    CHECK(!jsontext_has_escape("\"a\\x41\"@example.com"), "an ASCII escape is never written");
    CHECK(!jsontext_has_escape("a\\x"), "cut at the end");
    CHECK(!jsontext_has_escape("a\\x8"), "one digit");
    CHECK(!jsontext_has_escape(NULL), "NULL");
}

int main(void)
{
    test_strings();
    test_null_and_fields();
    test_has_escape();
    return check_done();
}
