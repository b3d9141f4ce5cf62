/*
 * resolve_as.c - an LD_PRELOAD shim for the tests: getaddrinfo() gives the
 * name in SMF_RESOLVE_NAME the numeric addresses in SMF_RESOLVE_AS (a comma
 * separated list), in that order, as a DNS name with several A records
 * would. Other names are resolved as usual.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *,
                              struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    getaddrinfo_fn real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    const char *name = getenv("SMF_RESOLVE_NAME"), *as = getenv("SMF_RESOLVE_AS");
    if (node == NULL || name == NULL || as == NULL || strcmp(node, name) != 0)
        return real(node, service, hints, res);
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
