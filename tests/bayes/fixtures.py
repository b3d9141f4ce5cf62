"""Synthetic mail for the bayes tests: ham and spam drawn from two distinct
vocabularies (plus shared filler words), deterministic for a fixed seed, and a
few unseen messages to score. Standard library only."""
import hashlib
import os
import random

HAM_WORDS = """meeting agenda kernel patch review lunch schedule release build report
budget draft minutes compiler branch merge ticket sprint deploy backup server
config module thanks regards tomorrow monday invoice project roadmap design
benchmark profile staging commit rebase changelog""".split()
SPAM_WORDS = """winner lottery prize million cheap pills casino bonus offer guaranteed
viagra discount claim urgent unsubscribe refinance mortgage credit jackpot free
investment opportunity limited exclusive deal rolex replica weight loss cash
click act now approved""".split()
FILLER = "the and you your for with this that from have will are our".split()


def message(rng, vocab, sender, subject_words, n=60):
    words = [rng.choice(vocab) if rng.random() < 0.8 else rng.choice(FILLER) for _ in range(n)]
    lines = [" ".join(words[i:i + 12]) for i in range(0, len(words), 12)]
    subject = " ".join(rng.choice(subject_words) for _ in range(4))
    return ("From: %s\nTo: user@example.com\nSubject: %s\nMessage-ID: <%d@%s>\n"
            "Content-Type: text/plain; charset=us-ascii\n\n%s\n"
            % (sender, subject, rng.randrange(10**9), sender.split("@")[1], "\n".join(lines)))


def ham(rng):
    who = rng.choice(["alice", "bob", "carol", "dave"])
    return message(rng, HAM_WORDS, "%s@example.org" % who, HAM_WORDS)


def spam(rng):
    who = "".join(rng.choice("abcdefghij") for _ in range(8))
    dom = rng.choice(["deals.biz", "win-now.info", "cheap-pills.ru"])
    return message(rng, SPAM_WORDS, "%s@%s" % (who, dom), SPAM_WORDS)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def write_all(root, count=30, seed=1):
    """Writes the fixtures under root; returns their paths by role."""
    rng = random.Random(seed)
    out = {"ham": os.path.join(root, "ham"), "spam": os.path.join(root, "spam")}
    for d in (out["ham"], out["spam"]):
        os.makedirs(d)
    spams = [spam(rng) for _ in range(count)]
    for i in range(count):
        write(os.path.join(out["ham"], "ham-%02d.eml" % i), ham(rng))
        write(os.path.join(out["spam"], "spam-%02d.eml" % i), spams[i])
    test = random.Random(seed + 1000)
    out["test_spam"] = write(os.path.join(root, "test-spam.eml"), spam(test))
    out["test_ham"] = write(os.path.join(root, "test-ham.eml"), ham(test))
    half = message(test, HAM_WORDS + SPAM_WORDS, "someone@example.net", FILLER, n=80)
    out["test_mixed"] = write(os.path.join(root, "test-mixed.eml"), half)
    # An mbox of the first three spams, each cut back out byte for byte.
    mbox = "\n".join("From sender@example.net Mon Jan  1 00:00:00 2024\n" + m for m in spams[:3])
    out["mbox"] = write(os.path.join(root, "three.mbox"), mbox)
    return out


def files(folder):
    return [os.path.join(folder, n) for n in sorted(os.listdir(folder))]


ADDED_ON_THE_WAY = {b"received", b"return-path", b"delivered-to", b"delivery-date",
                    b"envelope-to", b"received-spf", b"authentication-results", b"status",
                    b"content-length", b"lines"}


def message_key(raw):
    """The registry key smfctl learn uses: SHA-256 of the header fields but those added on
    the way (trace fields, X- and ARC- fields...), unfolded with their blanks collapsed, and of
    the body, CRLF read as LF and without the line breaks at its end."""
    ln = lambda n: n.to_bytes(8, "little")
    h = hashlib.sha256(b"smf.learnreg.2")
    raw = raw.replace(b"\r\n", b"\n")
    head, sep, body = raw.partition(b"\n\n")
    if not sep and raw.startswith(b"\n"):
        head, body = b"", raw[1:]
    elif not sep:
        head, body = raw, b""
    fields = []
    for line in head.split(b"\n") if head else []:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1] += b" " + line
        else:
            name, _, value = line.partition(b":")
            fields.append([name.rstrip(b" \t").lower(), value])
    for name, value in fields:
        if name.startswith((b"x-", b"arc-")) or name in ADDED_ON_THE_WAY:
            continue
        value = b" ".join(value.replace(b"\r", b" ").replace(b"\t", b" ").split(b" "))
        value = b" ".join(w for w in value.split(b" ") if w)
        h.update(b"F" + ln(len(name)) + name + ln(len(value)) + value)
    h.update(b"B" + body.rstrip(b"\n"))
    return h.digest()
