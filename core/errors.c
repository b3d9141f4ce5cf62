/*
 * errors.c - names for the SMF_E* codes of the module kit.
 */
#include "smf/module.h"

const char *smf_strerror(int code)
{
    switch (code) {
    case SMF_OK:
        return "success";
    case SMF_EINVAL:
        return "invalid argument";
    case SMF_ENOMEM:
        return "out of memory or message arena full";
    case SMF_ENOENT:
        return "no such item";
    case SMF_ELIMIT:
        return "limit reached";
    case SMF_EPERM:
        return "not allowed for this kind of stage";
    case SMF_EIO:
        return "storage or system error";
    case SMF_ETIMEDOUT:
        return "deadline passed";
    case SMF_ENOTSUP:
        return "not supported by this engine";
    case SMF_EFAIL:
        return "module failure";
    default:
        return "unknown error";
    }
}
