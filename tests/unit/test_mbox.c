/*
 * test_mbox.c - cutting an mbox into messages, as smfc scans them and
 * smfctl learns them: separators, the blank line before them, empty
 * messages, CRLF files and mboxrd unescaping.
 */
#include "check.h"
#include "mbox.h"

#include <stdlib.h>

/* Cuts text and checks the messages against want[] (NULL-terminated), unescaped. */
static void check_cut(const char *what, const char *text, const char *const *want)
{
    mbox_t m = {text, strlen(text), 0};
    const char *raw;
    size_t len, n = 0;
    while (mbox_next(&m, &raw, &len)) {
        if (want[n] == NULL) {
            CHECK(false, "%s: message %zu is one too many", what, n + 1);
            return;
        }
        char *msg = malloc(len + 1);
        size_t got = mbox_unescape(raw, len, msg);
        CHECK(got == strlen(want[n]) && memcmp(msg, want[n], got) == 0,
              "%s: message %zu is \"%s\", want \"%s\"", what, n + 1, msg, want[n]);
        free(msg);
        n++;
    }
    CHECK(want[n] == NULL, "%s: %zu messages cut, more wanted", what, n);
}

static void test_separators(void)
{
    const char *two[] = {"Subject: a\n\nbody a\n", "Subject: b\n\nbody b\n", NULL};
    check_cut("two messages",
              "From x@y Mon Jan  1 00:00:00 2024\nSubject: a\n\nbody a\n\n"
              "From z@y Mon Jan  1 00:00:01 2024\nSubject: b\n\nbody b\n",
              two);
    const char *crlf[] = {"Subject: a\r\n\r\nbody a\r\n", "Subject: b\r\n\r\nb\r\n", NULL};
    check_cut("CRLF", "From x\r\nSubject: a\r\n\r\nbody a\r\n\r\nFrom z\r\nSubject: b\r\n\r\nb\r\n",
              crlf);
    /* Writers end the last message with a blank line too: it is not the
     * message's, or the file it came from would hash differently. */
    check_cut("blank line after the last message",
              "From x@y Mon Jan  1 00:00:00 2024\nSubject: a\n\nbody a\n\n"
              "From z@y Mon Jan  1 00:00:01 2024\nSubject: b\n\nbody b\n\n",
              two);
    check_cut("CRLF, blank line after the last message",
              "From x\r\nSubject: a\r\n\r\nbody a\r\n\r\nFrom z\r\nSubject: b\r\n\r\nb\r\n\r\n",
              crlf);
    const char *no_nl[] = {"Subject: a\n\nlast line", NULL};
    check_cut("no final newline", "From x\nSubject: a\n\nlast line", no_nl);
}

static void test_empty_messages(void)
{
    const char *empty[] = {"", "Subject: b\n", NULL};
    check_cut("empty first message", "From x\nFrom z\nSubject: b\n", empty);
    const char *only[] = {"", NULL};
    check_cut("a From line alone", "From x\n", only);
}

static void test_unquoted_from_lines(void)
{
    /* A writer that quotes nothing (mboxcl2, a file put together by hand)
     * leaves "From " lines in bodies: only one that a header follows cuts. */
    const char *two[] = {"Subject: a\n\nHello,\n\nFrom the desk of Bob\nregards\n",
                         "Subject: b\n\nb\n", NULL};
    check_cut("unquoted From line in a body",
              "From x\nSubject: a\n\nHello,\n\nFrom the desk of Bob\nregards\n\n"
              "From z\nSubject: b\n\nb\n",
              two);
    const char *last[] = {"Subject: a\n\nbody\n\nFrom me\n", NULL};
    check_cut("unquoted From line at the end", "From x\nSubject: a\n\nbody\n\nFrom me\n", last);
    const char *crlf[] = {"Subject: a\r\n\r\nFrom us\r\nhi\r\n", "Received : x\r\n", NULL};
    check_cut("CRLF", "From x\r\nSubject: a\r\n\r\nFrom us\r\nhi\r\n\r\nFrom y\r\nReceived : x\r\n",
              crlf);
}

static void test_unescaping(void)
{
    const char *rd[] = {"From here on\n>From there\n>Fromage\n> From\n", NULL};
    check_cut("mboxrd", "From x\n>From here on\n>>From there\n>Fromage\n> From\n", rd);
    /* "From " inside a line is not a separator. */
    const char *inner[] = {"Subject: a\n\nsaid From here\n", NULL};
    check_cut("From inside a line", "From x\nSubject: a\n\nsaid From here\n", inner);
}

static void test_is(void)
{
    CHECK(mbox_is("From x\n", 7), "a From line starts an mbox");
    CHECK(!mbox_is("Received: x\n", 12), "a header does not");
    CHECK(!mbox_is("From", 4), "a short file does not");
    CHECK(!mbox_is(">From x\n", 8), "an escaped From line does not");
}

int main(void)
{
    test_separators();
    test_empty_messages();
    test_unquoted_from_lines();
    test_unescaping();
    test_is();
    return check_done();
}
