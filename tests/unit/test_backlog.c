/*
 * test_backlog.c - the transport's backlog: first in, first out across the
 * ring's growth, the count and byte limits, and one request always fitting
 * an empty backlog.
 */
#include "backlog.h"
#include "check.h"

#include <stdio.h>
#include <string.h>

/* Pushes a one-part request holding `text`, stamped `at`. */
static void push(backlog_t *b, const char *text, int64_t at)
{
    zmq_msg_t part;
    zmq_msg_init_size(&part, strlen(text));
    memcpy(zmq_msg_data(&part), text, strlen(text));
    backlog_push(b, &part, 1, 1, at);
    CHECK(zmq_msg_size(&part) == 0, "the caller's part is moved, not copied");
    zmq_msg_close(&part);
}

/* Pops the oldest request and checks its text and stamp. */
static void pop_expect(backlog_t *b, const char *text, int64_t at)
{
    backlog_entry_t *e = backlog_pop(b);
    CHECK(e != NULL, "expected \"%s\", the backlog is empty", text);
    if (e == NULL)
        return;
    size_t n = zmq_msg_size(&e->parts[0]);
    CHECK(n == strlen(text) && memcmp(zmq_msg_data(&e->parts[0]), text, n) == 0,
          "expected \"%s\" next", text);
    CHECK(e->arrived_ms == at, "stamp %lld, expected %lld", (long long)e->arrived_ms,
          (long long)at);
    backlog_entry_free(e);
}

static void test_order_across_growth(void)
{
    backlog_t b;
    backlog_init(&b, 100, 1 << 20);
    char text[16];
    /* Wrap the ring before it grows, so that growth must unroll it. */
    for (int i = 0; i < 10; i++) {
        snprintf(text, sizeof(text), "r%d", i);
        push(&b, text, i);
    }
    for (int i = 0; i < 8; i++) {
        snprintf(text, sizeof(text), "r%d", i);
        pop_expect(&b, text, i);
    }
    for (int i = 10; i < 60; i++) {
        snprintf(text, sizeof(text), "r%d", i);
        CHECK(backlog_admits(&b, strlen(text)), "request %d fits", i);
        push(&b, text, i);
    }
    CHECK(b.count == 52, "52 wait, not %zu", b.count);
    for (int i = 8; i < 60; i++) {
        snprintf(text, sizeof(text), "r%d", i);
        pop_expect(&b, text, i);
    }
    CHECK(backlog_pop(&b) == NULL && b.bytes == 0, "empty again, holding no bytes");
    backlog_free(&b);
}

static void test_limits(void)
{
    backlog_t b;
    backlog_init(&b, 3, 10);
    CHECK(backlog_admits(&b, 1000), "one request always fits an empty backlog");
    push(&b, "0123456789abcdef", 1);
    CHECK(!backlog_admits(&b, 1), "over the byte limit nothing more waits");
    pop_expect(&b, "0123456789abcdef", 1);
    push(&b, "abcd", 2);
    CHECK(backlog_admits(&b, 6), "4 + 6 bytes fit a limit of 10");
    CHECK(!backlog_admits(&b, 7), "4 + 7 bytes do not");
    push(&b, "ab", 3);
    push(&b, "cd", 4);
    CHECK(!backlog_admits(&b, 1), "three requests fill a count limit of 3");
    backlog_free(&b); /* Frees the entries still waiting (ASan checks). */

    backlog_init(&b, 0, 1 << 20);
    CHECK(!backlog_admits(&b, 1), "max_count 0: no request waits");
    backlog_free(&b);
}

int main(void)
{
    test_order_across_growth();
    test_limits();
    return check_done();
}
