/*
 * resolve_as.c - an LD_PRELOAD shim for the tests: getaddrinfo() gives the
 * name in SMF_RESOLVE_NAME the numeric addresses in SMF_RESOLVE_AS (a comma
 * separated list), in that order, as a DNS name with several A records
 * would. Other names are resolved as usual. With SMF_RESOLVE_AGAIN_MS, the
 * name fails with EAI_AGAIN (a resolver that does not answer for a moment)
 * for that many milliseconds from its first lookup.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Whether the name is still to fail for a moment: see SMF_RESOLVE_AGAIN_MS. */
static int resolve_again(void)
{
    static long long first_ms = -1;
    const char *again = getenv("SMF_RESOLVE_AGAIN_MS");
    if (again == NULL)
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, unset = -1;
    __atomic_compare_exchange_n(&first_ms, &unset, now, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return now - first_ms < atoll(again);
}

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *,
                              struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    getaddrinfo_fn real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    const char *name = getenv("SMF_RESOLVE_NAME"), *as = getenv("SMF_RESOLVE_AS");
    if (node == NULL || name == NULL || as == NULL || strcmp(node, name) != 0)
        return real(node, service, hints, res);
    if (resolve_again())
        return EAI_AGAIN;
    struct addrinfo h = hints ? *hints : (struct addrinfo){0};
    h.ai_flags |= AI_NUMERICHOST;
    struct addrinfo *head = NULL, **tail = &head;
    char list[256];
    strncpy(list, as, sizeof list - 1);
    list[sizeof list - 1] = '\0';
    char *save = NULL;
    for (char *a = strtok_r(list, ",", &save); a != NULL; a = strtok_r(NULL, ",", &save)) {
        struct addrinfo *one = NULL;
        if (real(a, service, &h, &one) != 0)
            continue;
        *tail = one;
        while (*tail != NULL)
            tail = &(*tail)->ai_next;
    }
    *res = head;
    return head != NULL ? 0 : EAI_NONAME;
}
