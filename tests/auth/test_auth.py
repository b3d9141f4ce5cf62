#!/usr/bin/python3
"""The auth module against a real DNS server on loopback with zones this test
writes: an SPF table, DKIM signatures made here with keys made here, DMARC
alignment and policies, DNS timeouts, and the Authentication-Results header."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reputation"))
from dnsserver import DnsServer, reverse_v4, reverse_v6  # noqa: E402
import dkimsign  # noqa: E402

ARGS = None

MESSAGE = (b"From: Alice <alice@%s>\n"
           b"To: bob@example.com\n"
           b"Subject: quarterly  report\n"
           b"Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
           b"Message-ID: <1@%s>\n"
           b"\n"
           b"Hello Bob,  \n"
           b"the figures\tare attached.\n"
           b"\n\n")

SPF_RECORDS = {
    "ip4.test": [("TXT", "v=spf1 ip4:192.0.2.0/24 -all")],
    "_spf.provider.test": [("TXT", "v=spf1 ip4:203.0.113.0/24 -all")],
    "incl.test": [("TXT", "v=spf1 include:_spf.provider.test ~all")],
    "a.test": [("TXT", "v=spf1 a a:other.a.test/28 -all"), ("A", "192.0.2.20")],
    # An include whose expanded name holds a '%': its "a" names that domain as it is.
    "pct.test": [("TXT", "v=spf1 include:inc%%x.pct.test -all")],
    "inc%x.pct.test": [("TXT", "v=spf1 a -all"), ("A", "192.0.2.21")],
    "other.a.test": [("A", "198.51.100.16")],
    "mx.test": [("TXT", "v=spf1 mx -all"), ("MX", "20 mx2.mx.test"), ("MX", "10 mx1.mx.test")],
    "mx1.mx.test": [("A", "192.0.2.30")],
    "mx2.mx.test": [("A", "192.0.2.31")],
    "redir.test": [("TXT", "v=spf1 redirect=ip4.test")],
    "soft.test": [("TXT", "v=spf1 ip4:192.0.2.1 ~all")],
    "neutral.test": [("TXT", "v=spf1 ?all")],
    "none.test": [("A", "192.0.2.1"), ("TXT", "some other text")],
    "syntax.test": [("TXT", "v=spf1 ip4:300.1.2.3 -all")],
    "mapped.test": [("TXT", "v=spf1 ip6:::ffff:198.51.100.1 -all")],
    "badmech.test": [("TXT", "v=spf1 ip4:192.0.2.0/24 frobnicate:x.test -all")],
    # A domain-spec ends in a toplabel, not in a number: an address written for a name is
    # a syntax error. A final dot is allowed.
    "toplabel.test": [("TXT", "v=spf1 a:192.0.2.1 -all")],
    "finaldot.test": [("TXT", "v=spf1 include:_spf.provider.test. -all")],
    "two.test": [("TXT", "v=spf1 -all"), ("TXT", "v=spf1 +all")],
    "many.test": [("TXT", "v=spf1 " + " ".join("a:h%d.many.test" % i for i in range(1, 12))
                   + " -all")],
    "void.test": [("TXT", "v=spf1 a:nx1.void.test a:nx2.void.test a:nx3.void.test -all")],
    "macro.test": [("TXT", "v=spf1 exists:%{i}._spf.%{d} -all")],
    "192.0.2.40._spf.macro.test": [("A", "127.0.0.2")],
    "lmacro.test": [("TXT", "v=spf1 exists:%{l}.users.%{o} -all")],
    "alice.users.lmacro.test": [("A", "127.0.0.2")],
    "rev.test": [("TXT", "v=spf1 exists:%{ir}.%{v}.%{d2} -all")],
    "40.2.0.192.in-addr.rev.test": [("A", "127.0.0.2")],
    "six.test": [("TXT", "v=spf1 ip6:2001:db8::/32 -all")],
    "helo.test": [("TXT", "v=spf1 ip4:192.0.2.0/24 -all")],
    # Its answers come after the DNS budget: temperror.
    "slow.test": [("TXT", "v=spf1 +all")],
    "incl-slow.test": [("TXT", "v=spf1 include:slow.test -all")],
}
for i in range(1, 12):
    SPF_RECORDS["h%d.many.test" % i] = [("A", "10.0.0.%d" % i)]

# Long records, the client's address near their end. About 900 bytes: with EDNS0 the
# answer still fits in one UDP datagram (but not in 512 bytes).
LONG_UDP = ("v=spf1 " + " ".join("ip4:198.51.100.%d" % i for i in range(1, 50))
            + " ip4:192.0.2.77 -all")
# About 2,500 bytes, served as 255-byte strings the evaluator joins: more than the 1232
# bytes EDNS0 offers, so the UDP answer is truncated and the client asks again over TCP.
LONG_TCP = ("v=spf1 " + " ".join("ip6:2001:db8:%x::/48" % i for i in range(1, 120))
            + " ip4:192.0.2.78 -all")
SPF_RECORDS.update({
    "long-udp.test": [("TXT", LONG_UDP)],
    "long-tcp.test": [("TXT", LONG_TCP)],
})

# ptr (RFC 7208 5.5) and %{p} (7.3): the client's PTR names that lead back to it.
SPF_RECORDS.update({
    "ptr.test": [("TXT", "v=spf1 ptr -all")],
    "ptr-other.test": [("TXT", "v=spf1 ptr:ptr.test -all")],
    # Validated, in ptr.test.
    reverse_v4("192.0.2.50") + ".in-addr.arpa": [("PTR", "host.ptr.test")],
    "host.ptr.test": [("A", "192.0.2.50")],
    # Validated, outside ptr.test.
    reverse_v4("192.0.2.51") + ".in-addr.arpa": [("PTR", "mail.elsewhere.test")],
    "mail.elsewhere.test": [("A", "192.0.2.51")],
    # In ptr.test, but its address is another one.
    reverse_v4("192.0.2.52") + ".in-addr.arpa": [("PTR", "liar.ptr.test")],
    "liar.ptr.test": [("A", "192.0.2.99")],
    # 192.0.2.53 has no PTR record.
    # The second name, in other case, is the one that leads back.
    reverse_v4("192.0.2.54") + ".in-addr.arpa": [("PTR", "nowhere.ptr.test"),
                                                 ("PTR", "Host54.PTR.Test")],
    "host54.ptr.test": [("A", "192.0.2.54")],
    # The PTR look-up is refused (below): no match rather than temperror.
    # The first name's look-up is refused: it is skipped.
    reverse_v4("192.0.2.58") + ".in-addr.arpa": [("PTR", "x.refused.test"),
                                                 ("PTR", "host58.ptr.test")],
    "host58.ptr.test": [("A", "192.0.2.58")],
    reverse_v6("2001:db8::50") + ".ip6.arpa": [("PTR", "host6.ptr.test")],
    "host6.ptr.test": [("AAAA", "2001:db8::50")],
    reverse_v6("2001:db8::51") + ".ip6.arpa": [("PTR", "host.ptr.test")],
    "pmacro.test": [("TXT", "v=spf1 exists:%{p}._p.%{d} -all")],
    "host.ptr.test._p.pmacro.test": [("A", "127.0.0.2")],
    # Two validated names: %{p} prefers the one in pmacro.test.
    reverse_v4("192.0.2.56") + ".in-addr.arpa": [("PTR", "a.elsewhere.test"),
                                                 ("PTR", "mail.pmacro.test")],
    "a.elsewhere.test": [("A", "192.0.2.56")],
    "mail.pmacro.test": [("A", "192.0.2.56")],
    "mail.pmacro.test._p.pmacro.test": [("A", "127.0.0.2")],
})
REFUSED = ["refused.test", reverse_v4("192.0.2.57") + ".in-addr.arpa"]

# exp= (RFC 7208 6.2): the explanation of a fail.
SPF_RECORDS.update({
    "exp.test": [("TXT", "v=spf1 ip4:192.0.2.1 -all exp=explain._spf.exp.test")],
    "explain._spf.exp.test": [("TXT", "%{i} is not one of %{d}'s senders")],
    # The exp domain holds a macro; the explanation, in two strings, c, r and t.
    "exp-macro.test": [("TXT", "v=spf1 -all exp=%{l}.why.exp-macro.test")],
    "bob.why.exp-macro.test": [("TXT", ["%{c} may not send for %{o} ",
                                        "(checked by %{r} at %{t})"])],
    "exp-missing.test": [("TXT", "v=spf1 -all exp=gone.exp.test")],
    "exp-two.test": [("TXT", "v=spf1 -all exp=two.exp.test")],
    "two.exp.test": [("TXT", "one explanation"), ("TXT", "another one")],
    "exp-bad.test": [("TXT", "v=spf1 -all exp=bad.exp.test")],
    "bad.exp.test": [("TXT", "100% wrong")],
    "exp-soft.test": [("TXT", "v=spf1 ~all exp=explain._spf.exp.test")],
    # An included record's fail is no match here, and its exp= is not used.
    "exp-incl.test": [("TXT", "v=spf1 include:exp.test -all")],
    # A redirect target's exp= explains its fail; the redirecting record's does not.
    "exp-redir.test": [("TXT", "v=spf1 redirect=exp.test exp=outer.exp.test")],
    "outer.exp.test": [("TXT", "the outer record's explanation")],
    # exp= wants a domain-spec (RFC 7208 6.2, and its test suite's exp-empty-domain,
    # exp-syntax-error, exp-only-macro-char): these records are syntax errors.
    "exp-empty.test": [("TXT", "v=spf1 -all exp=")],
    "exp-syntax.test": [("TXT", "v=spf1 exp=-all")],
    "exp-crt.test": [("TXT", "v=spf1 -all exp=%{r}.exp.test")],
    # An unknown modifier is ignored, but its value must be a macro-string (A).
    "mod-bad.test": [("TXT", "v=spf1 -all foo=%abc")],
    "mod-ok.test": [("TXT", "v=spf1 ip4:192.0.2.0/24 foo=%{d}.x bar= -all")],
    # A bad macro is a syntax error of the record, even in a term never reached (4.6).
    "macro-bad.test": [("TXT", "v=spf1 ip4:192.0.2.0/24 a:%{x}.macro-bad.test -all")],
    # Ten DNS-querying terms: the explanation's look-up is not an eleventh.
    "exp-ten.test": [("TXT", "v=spf1 " + " ".join("a:h%d.many.test" % i for i in range(1, 11))
                      + " -all exp=explain._spf.exp.test")],
})

DMARC_RECORDS = {
    "_dmarc.ip4.test": [("TXT", "v=DMARC1; p=reject")],
    "bank.test": [("TXT", "v=spf1 -all")],
    "_dmarc.bank.test": [("TXT", "v=DMARC1; p=reject; sp=quarantine")],
    # Under the public suffix 公司.cn (xn--55qx5d.cn): two organisations, not one.
    "_dmarc.bank.xn--55qx5d.cn": [("TXT", "v=DMARC1; p=reject")],
    "evil.xn--55qx5d.cn": [("TXT", "v=spf1 +all")],
    # bücher.test: published at its A-label, as DNS holds it.
    "xn--bcher-kva.test": [("TXT", "v=spf1 ip4:192.0.2.0/24 -all")],
    "_dmarc.xn--bcher-kva.test": [("TXT", "v=DMARC1; p=reject")],
    "_dmarc.shop.test": [("TXT", "v=DMARC1; p=quarantine; adkim=s")],
    "_dmarc.news.test": [("TXT", "v=DMARC1; p=none")],
    "_dmarc.signer.test": [("TXT", "v=DMARC1; p=reject")],
    "_dmarc.half.test": [("TXT", "v=DMARC1; p=reject; pct=0")],
    # Records of their own that cannot be used: the discovery ends there, bank.test's is
    # not asked (RFC 7489, 6.6.3).
    "_dmarc.two.bank.test": [("TXT", "v=DMARC1; p=none"), ("TXT", "v=DMARC1; p=none")],
    "_dmarc.broken.bank.test": [("TXT", "v=DMARC1; p=bogus")],
    # The version tag alone: a DMARC record without a p=, invalid, not another kind of TXT.
    "_dmarc.bare.bank.test": [("TXT", "v=DMARC1")],
    # Blanks around '=' and ';' (RFC 7489 6.4), and tag names and keywords in upper case:
    # records all the same.
    "_dmarc.blank.test": [("TXT", "v = DMARC1 ; p = reject")],
    "_dmarc.case.test": [("TXT", "V=DMARC1; P=Reject; ASPF=S")],
    "mail.case.test": [("TXT", "v=spf1 ip4:192.0.2.0/24 -all")],
    # No valid p= (or a bad sp=), but a valid rua=: read as p=none (RFC 7489 6.6.3, step 6).
    "_dmarc.nop.test": [("TXT", "v=DMARC1; rua=mailto:d@nop.test")],
    "_dmarc.badp.test": [("TXT", "v=DMARC1; p=bogus; rua=mailto:d@badp.test,mailto:e@x.test")],
    "_dmarc.badsp.test": [("TXT", "v=DMARC1; p=reject; sp=bogus; rua=mailto:d@badsp.test")],
    # An invalid adkim=, aspf= or pct= gives way to its default (RFC 7489 6.3): p=reject holds.
    "_dmarc.badpct.test": [("TXT", "v=DMARC1; p=reject; pct=100%; adkim=x; aspf=strict")],
    # ... but without a valid rua= it is an invalid record.
    "_dmarc.badrua.test": [("TXT", "v=DMARC1; p=bogus; rua=nonsense")],
    # np= (RFC 9091): the policy for subdomains that do not exist (no A, AAAA or MX).
    "_dmarc.np.test": [("TXT", "v=DMARC1; p=none; sp=quarantine; np=reject")],
    "a.np.test": [("A", "192.0.2.1")],
    "mx.np.test": [("MX", "10 a.np.test")],
    "six.np.test": [("AAAA", "2001:db8::1")],
    "txt.np.test": [("TXT", "just text")],
    # Without sp=, an existing subdomain gets p=.
    "_dmarc.npnosp.test": [("TXT", "v=DMARC1; p=quarantine; np=reject")],
    "a.npnosp.test": [("A", "192.0.2.1")],
    # Its pct= comes after 1,100 bytes of report addresses.
    "_dmarc.longrua.test": [("TXT", "v=DMARC1; p=reject; rua=mailto:" + "r" * 1100
                             + "@longrua.test; pct=0")],
}


# For the cache of DNS replies: one sender whose SPF record asks A, MX, a name that does not
# exist and an include, which also signs with DKIM and publishes DMARC.
CACHE_RECORDS = {
    "cached.test": [("TXT", "v=spf1 a mx exists:%{l}.nx.cached.test include:_spf.cprov.test"
                     " ip4:192.0.2.0/24 -all"),
                    ("A", "198.51.100.60"), ("MX", "10 mx.cached.test")],
    "mx.cached.test": [("A", "198.51.100.61")],
    "_spf.cprov.test": [("TXT", "v=spf1 ip4:203.0.113.0/24 -all")],
    "_dmarc.cached.test": [("TXT", "v=DMARC1; p=reject")],
    # Records whose own TTL is one second.
    "short.test": [("TXT", "v=spf1 ip4:192.0.2.0/24 -all", 1)],
    # Includes of a record that times out, is refused or fails: their own answers are kept,
    # the failures never.
    "incl-refused.test": [("TXT", "v=spf1 include:refused.test -all")],
    "incl-servfail.test": [("TXT", "v=spf1 include:servfail.test -all")],
}


def symbols(res):
    return {s["name"]: s for s in res["symbols"]}


class AuthTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="smf-auth-")
        cls.rsa_key = os.path.join(cls.tmp, "rsa.pem")
        cls.ed_key = os.path.join(cls.tmp, "ed.pem")
        rsa_p = dkimsign.make_key(cls.rsa_key, "rsa")
        ed_p = dkimsign.make_key(cls.ed_key, "ed25519")
        records = dict(SPF_RECORDS)
        records.update(DMARC_RECORDS)
        records.update(CACHE_RECORDS)
        records.update({
            "sel._domainkey.signer.test": [("TXT", "v=DKIM1; k=rsa; p=" + rsa_p)],
            "sel._domainkey.mail.signer.test": [("TXT", "v=DKIM1; k=rsa; p=" + rsa_p)],
            "ed._domainkey.signer.test": [("TXT", "v=DKIM1; k=ed25519; p=" + ed_p)],
            "sel._domainkey.shop.test": [("TXT", "v=DKIM1; p=" + rsa_p)],
            "sel._domainkey.mail.shop.test": [("TXT", "v=DKIM1; p=" + rsa_p)],
            "revoked._domainkey.signer.test": [("TXT", "v=DKIM1; k=rsa; p=")],
            # Service types (s=): a key for other services than mail is none for mail.
            "other._domainkey.signer.test": [("TXT", "v=DKIM1; s=other; p=" + rsa_p)],
            "mail._domainkey.signer.test": [("TXT", "v=DKIM1; s=other:email; p=" + rsa_p)],
            "any._domainkey.signer.test": [("TXT", "v=DKIM1; s=*; p=" + rsa_p)],
            "trial._domainkey.signer.test": [("TXT", "v=DKIM1; k=rsa; t=y; p=" + rsa_p)],
            "trials._domainkey.signer.test": [("TXT", "v=DKIM1; t=s:y; p=" + rsa_p)],
            "notrial._domainkey.signer.test": [("TXT", "v=DKIM1; t=s:yes; p=" + rsa_p)],
            "sel._domainkey.slow.test": [("TXT", "v=DKIM1; p=" + rsa_p)],
            # Several key records (RFC 6376 3.6.2.2): each is tried until one verifies.
            "multi._domainkey.signer.test": [("TXT", "v=DKIM1; p=!!"),
                                             ("TXT", "v=DKIM1; k=ed25519; p=" + ed_p),
                                             ("TXT", "v=DKIM1; p=" + rsa_p)],
            "multibad._domainkey.signer.test": [("TXT", "v=DKIM1; k=ed25519; p=" + ed_p),
                                                ("TXT", "v=DKIM1; p=!!")],
            "sel._domainkey.cached.test": [("TXT", "v=DKIM1; k=rsa; p=" + rsa_p)],
        })
        cls.dns = DnsServer(records, refused=REFUSED, slow=["slow.test", "slowspf.ip4.test"],
                            servfail=["servfail.test"], delay=3.0).start()

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def scan(self, raw=None, sender="alice@ip4.test", ip="192.0.2.10", helo="mail.ip4.test",
             opts=()):
        return self.scan_all([raw], sender=sender, ip=ip, helo=helo, opts=opts)[0]

    def run_modtest(self, raws, sender="alice@ip4.test", ip="192.0.2.10",
                    helo="mail.ip4.test", opts=(), args=()):
        """One smf-modtest run over the messages in raws, one module state as in a worker."""
        paths = []
        for i, raw in enumerate(raws):
            paths.append(os.path.join(self.tmp, "msg-%d-%d.eml" % (time.monotonic_ns(), i)))
            with open(paths[-1], "wb") as f:
                f.write(raw if raw is not None else MESSAGE % (b"ip4.test", b"ip4.test"))
        cmd = [ARGS.modtest, "-m", ARGS.module, "-o", 'dns_server="%s"' % self.dns.address,
               "-o", "dns_budget_ms=800", "-o", "dns_timeout_ms=300"]
        for o in opts:
            cmd += ["-o", o]
        cmd += list(args) + ["--ip", ip, "--helo", helo, "--from", sender] + paths
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    def scan_all(self, raws, **kw):
        p = self.run_modtest(raws, **kw)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        res = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
        self.assertEqual(len(res), len(raws), p.stdout)
        return res

    def signed(self, domain=b"signer.test", sign_domain="signer.test", selector="sel",
               kind="rsa", canon="relaxed/relaxed", crlf=False):
        raw = MESSAGE % (domain, domain)
        if crlf:
            raw = raw.replace(b"\n", b"\r\n")
        key = self.rsa_key if kind == "rsa" else self.ed_key
        return dkimsign.sign(raw, sign_domain, selector, key, kind=kind, canon=canon)

    def header(self, res):
        return [h["value"] for h in res["headers"] if h["name"] == "Authentication-Results"][0]


class SpfTest(AuthTest):
    # sender, client address, expected symbol, text expected in the detail
    TABLE = [
        ("a@ip4.test", "192.0.2.10", "AUTH_SPF_PASS", "ip4:192.0.2.0/24 matched in ip4.test"),
        ("a@ip4.test", "198.51.100.1", "AUTH_SPF_FAIL", "-all matched"),
        ("a@incl.test", "203.0.113.7", "AUTH_SPF_PASS", "matched in _spf.provider.test"),
        ("a@incl.test", "198.51.100.1", "AUTH_SPF_SOFTFAIL", "~all matched in incl.test"),
        ("a@a.test", "192.0.2.20", "AUTH_SPF_PASS", "a matched"),
        ("a@a.test", "198.51.100.20", "AUTH_SPF_PASS", "a:other.a.test/28 matched"),
        ("a@a.test", "198.51.100.40", "AUTH_SPF_FAIL", "-all"),
        ("a@pct.test", "192.0.2.21", "AUTH_SPF_PASS", "a matched in inc%x.pct.test"),
        ("a@mx.test", "192.0.2.31", "AUTH_SPF_PASS", "mx matched"),
        ("a@mx.test", "192.0.2.32", "AUTH_SPF_FAIL", "-all"),
        ("a@redir.test", "192.0.2.10", "AUTH_SPF_PASS", "matched in ip4.test"),
        ("a@redir.test", "198.51.100.1", "AUTH_SPF_FAIL", "-all matched in ip4.test"),
        ("a@soft.test", "192.0.2.2", "AUTH_SPF_SOFTFAIL", "~all"),
        # An ip6 term, even an IPv4-mapped one, never matches an IPv4 client.
        ("a@mapped.test", "203.0.113.9", "AUTH_SPF_FAIL", "-all"),
        ("a@neutral.test", "192.0.2.2", "AUTH_SPF_NEUTRAL", "?all"),
        ("a@none.test", "192.0.2.2", "AUTH_SPF_NONE", "no SPF record"),
        ("a@nxdomain.test", "192.0.2.2", "AUTH_SPF_NONE", "no SPF record"),
        ("a@syntax.test", "192.0.2.2", "AUTH_SPF_PERMERROR", "syntax error at 'ip4:300.1.2.3'"),
        ("a@badmech.test", "192.0.2.2", "AUTH_SPF_PERMERROR", "syntax error at 'frobnicate"),
        ("a@toplabel.test", "192.0.2.1", "AUTH_SPF_PERMERROR", "syntax error at 'a:192.0.2.1'"),
        ("a@finaldot.test", "203.0.113.7", "AUTH_SPF_PASS", "matched in _spf.provider.test"),
        ("a@two.test", "192.0.2.2", "AUTH_SPF_PERMERROR", "more than one SPF record"),
        ("a@many.test", "192.0.2.2", "AUTH_SPF_PERMERROR", "more than 10 DNS lookups"),
        ("a@void.test", "192.0.2.2", "AUTH_SPF_PERMERROR", "too many void lookups"),
        ("a@macro.test", "192.0.2.40", "AUTH_SPF_PASS", "exists:%{i}._spf.%{d} matched"),
        ("a@macro.test", "192.0.2.41", "AUTH_SPF_FAIL", "-all"),
        ("alice@lmacro.test", "192.0.2.2", "AUTH_SPF_PASS", "exists"),
        ("bob@lmacro.test", "192.0.2.2", "AUTH_SPF_FAIL", "-all"),
        # A local part %{l} makes into no DNS name names nothing: still the record's fail,
        # not a temperror the sender could cause to soften DMARC.
        ("a" * 70 + "@lmacro.test", "192.0.2.2", "AUTH_SPF_FAIL", "-all matched in lmacro"),
        ("a..b@lmacro.test", "192.0.2.2", "AUTH_SPF_FAIL", "-all matched in lmacro.test"),
        ("a@rev.test", "192.0.2.40", "AUTH_SPF_PASS", "exists:%{ir}.%{v}.%{d2} matched"),
        ("a@six.test", "2001:db8::5", "AUTH_SPF_PASS", "ip6:2001:db8::/32"),
        ("a@six.test", "2001:db9::5", "AUTH_SPF_FAIL", "-all"),
        ("a@six.test", "192.0.2.5", "AUTH_SPF_FAIL", "-all"),
        ("a@slow.test", "192.0.2.2", "AUTH_SPF_TEMPERROR", "DNS error looking up TXT slow.test"),
        ("a@incl-slow.test", "192.0.2.2", "AUTH_SPF_TEMPERROR", "DNS error"),
        ("a@long-udp.test", "192.0.2.77", "AUTH_SPF_PASS", "ip4:192.0.2.77 matched in long-udp"),
        ("a@long-udp.test", "192.0.2.78", "AUTH_SPF_FAIL", "-all matched in long-udp.test"),
        ("a@long-tcp.test", "192.0.2.78", "AUTH_SPF_PASS", "ip4:192.0.2.78 matched in long-tcp"),
        ("a@long-tcp.test", "2001:db8:64:1::1", "AUTH_SPF_PASS", "ip6:2001:db8:64::/48 matched"),
        ("a@long-tcp.test", "192.0.2.77", "AUTH_SPF_FAIL", "-all matched in long-tcp.test"),
        ("a@ptr.test", "192.0.2.50", "AUTH_SPF_PASS", "ptr matched in ptr.test"),
        ("a@ptr-other.test", "192.0.2.50", "AUTH_SPF_PASS", "ptr:ptr.test matched in ptr-other"),
        ("a@ptr-other.test", "192.0.2.51", "AUTH_SPF_FAIL", "-all matched in ptr-other.test"),
        ("a@ptr.test", "192.0.2.52", "AUTH_SPF_FAIL", "-all matched in ptr.test"),
        ("a@ptr.test", "192.0.2.53", "AUTH_SPF_FAIL", "-all matched in ptr.test"),
        ("a@ptr.test", "192.0.2.54", "AUTH_SPF_PASS", "ptr matched in ptr.test"),
        ("a@ptr.test", "192.0.2.57", "AUTH_SPF_FAIL", "-all matched in ptr.test"),
        ("a@ptr.test", "192.0.2.58", "AUTH_SPF_PASS", "ptr matched in ptr.test"),
        ("a@ptr.test", "2001:db8::50", "AUTH_SPF_PASS", "ptr matched in ptr.test"),
        ("a@ptr.test", "2001:db8::51", "AUTH_SPF_FAIL", "-all matched in ptr.test"),
        ("a@pmacro.test", "192.0.2.50", "AUTH_SPF_PASS", "exists:%{p}._p.%{d} matched"),
        ("a@pmacro.test", "192.0.2.56", "AUTH_SPF_PASS", "exists:%{p}._p.%{d} matched"),
        ("a@pmacro.test", "192.0.2.53", "AUTH_SPF_FAIL", "-all matched in pmacro.test"),
        ("a@exp.test", "192.0.2.9", "AUTH_SPF_FAIL",
         "-all matched in exp.test; explanation: 192.0.2.9 is not one of exp.test's senders"),
        ("a@exp.test", "192.0.2.1", "AUTH_SPF_PASS", "ip4:192.0.2.1 matched in exp.test"),
        ("bob@exp-macro.test", "2001:db8::9", "AUTH_SPF_FAIL",
         "-all matched in exp-macro.test; explanation: 2001:db8::9 may not send for"
         " exp-macro.test (checked by unknown at "),
        ("a@exp-redir.test", "192.0.2.9", "AUTH_SPF_FAIL",
         "-all matched in exp.test; explanation: 192.0.2.9 is not one of exp.test's senders"),
        ("a@exp-ten.test", "192.0.2.9", "AUTH_SPF_FAIL",
         "-all matched in exp-ten.test; explanation: 192.0.2.9 is not one of exp-ten.test's"),
        ("a@exp-empty.test", "192.0.2.9", "AUTH_SPF_PERMERROR", "syntax error at 'exp='"),
        ("a@exp-syntax.test", "192.0.2.9", "AUTH_SPF_PERMERROR", "syntax error at 'exp=-all'"),
        ("a@exp-crt.test", "192.0.2.9", "AUTH_SPF_PERMERROR", "syntax error at 'exp=%{r}"),
        ("a@mod-bad.test", "192.0.2.9", "AUTH_SPF_PERMERROR", "syntax error at 'foo=%abc'"),
        ("a@mod-ok.test", "192.0.2.9", "AUTH_SPF_PASS", "ip4:192.0.2.0/24 matched in mod-ok"),
        ("a@macro-bad.test", "192.0.2.9", "AUTH_SPF_PERMERROR", "syntax error at 'a:%{x}"),
    ]

    # No explanation: the detail ends with the matching term.
    PLAIN_FAILS = [
        ("a@exp-missing.test", "AUTH_SPF_FAIL", "-all matched in exp-missing.test"),
        ("a@exp-two.test", "AUTH_SPF_FAIL", "-all matched in exp-two.test"),
        ("a@exp-bad.test", "AUTH_SPF_FAIL", "-all matched in exp-bad.test"),
        ("a@exp-soft.test", "AUTH_SPF_SOFTFAIL", "~all matched in exp-soft.test"),
        ("a@exp-incl.test", "AUTH_SPF_FAIL", "-all matched in exp-incl.test"),
    ]

    def test_table(self):
        for sender, ip, symbol, detail in self.TABLE:
            with self.subTest(sender=sender, ip=ip):
                s = symbols(self.scan(sender=sender, ip=ip, opts=["dkim=false", "dmarc=false"]))
                spf = [n for n in s if n.startswith("AUTH_SPF_")]
                self.assertEqual(spf, [symbol], s)
                self.assertIn(detail, s[symbol]["detail"])
        # Only the answer too long for EDNS0's UDP came over TCP.
        self.assertEqual({q[0] for q in self.dns.queries(transport="tcp")}, {"long-tcp.test"})

    def spf_detail(self, sender, ip, symbol):
        s = symbols(self.scan(sender=sender, ip=ip, opts=["dkim=false", "dmarc=false"]))
        self.assertIn(symbol, s, s)
        return s[symbol]["detail"]

    def test_long_records_over_edns_and_tcp(self):
        self.assertGreater(len(LONG_UDP), 850)
        self.assertLess(len(LONG_UDP), 1100)
        self.assertGreater(len(LONG_TCP), 2400)
        before = len(self.dns.queries(transport="tcp"))
        self.assertIn("ip4:192.0.2.77 matched in long-udp.test",
                      self.spf_detail("a@long-udp.test", "192.0.2.77", "AUTH_SPF_PASS"))
        # Longer than 512 bytes, yet no TCP: EDNS0 let it through over UDP.
        self.assertEqual([t for _, _, t in self.dns.queries("long-udp.test")],
                         ["udp"] * len(self.dns.queries("long-udp.test")))
        self.assertEqual(len(self.dns.queries(transport="tcp")), before)
        self.assertIn("ip4:192.0.2.78 matched in long-tcp.test",
                      self.spf_detail("a@long-tcp.test", "192.0.2.78", "AUTH_SPF_PASS"))
        # A truncated answer over UDP, then the same question over TCP.
        last = self.dns.queries("long-tcp.test")[-2:]
        self.assertEqual(last, [("long-tcp.test", 16, "udp"), ("long-tcp.test", 16, "tcp")])
        self.assertIn("ip4:192.0.2.0/24 matched in ip4.test",
                      self.spf_detail("a@ip4.test", "192.0.2.1", "AUTH_SPF_PASS"))
        self.assertEqual({q[0] for q in self.dns.queries(transport="tcp")}, {"long-tcp.test"})

    def test_explanation_absent(self):
        for sender, symbol, detail in self.PLAIN_FAILS:
            with self.subTest(sender=sender):
                got = self.spf_detail(sender, "192.0.2.9", symbol)
                self.assertTrue(got.endswith(detail), got)
                self.assertNotIn("explanation", got)

    def test_explanation_macros(self):
        detail = self.spf_detail("bob@exp-macro.test", "2001:db8::9", "AUTH_SPF_FAIL")
        m = re.search(r"explanation: 2001:db8::9 may not send for exp-macro.test "
                      r"\(checked by unknown at (\d+)\)$", detail)
        self.assertIsNotNone(m, detail)
        self.assertLess(abs(int(m.group(1)) - time.time()), 60)

    def test_explanation_only_for_fail(self):
        # An included record's exp= is not even looked up; nor is it for a pass.
        before = len(self.dns.queries("explain._spf.exp.test"))
        self.spf_detail("a@exp-incl.test", "192.0.2.9", "AUTH_SPF_FAIL")
        self.spf_detail("a@exp.test", "192.0.2.1", "AUTH_SPF_PASS")
        self.assertEqual(len(self.dns.queries("explain._spf.exp.test")), before)

    def test_scores(self):
        s = symbols(self.scan(sender="a@ip4.test", ip="198.51.100.1"))
        self.assertEqual(s["AUTH_SPF_FAIL"]["score"], 3)
        s = symbols(self.scan(sender="a@soft.test", ip="192.0.2.2", opts=["spf_softfail_score=2.5"]))
        self.assertEqual(s["AUTH_SPF_SOFTFAIL"]["score"], 2.5)
        self.assertLess(symbols(self.scan())["AUTH_SPF_PASS"]["score"], 0)

    def test_null_sender_uses_helo(self):
        res = self.scan(sender="", helo="helo.test", ip="192.0.2.9", opts=["dmarc=false"])
        s = symbols(res)
        self.assertIn("AUTH_SPF_PASS", s)
        self.assertIn("helo.test", s["AUTH_SPF_PASS"]["detail"])
        self.assertIn("spf=pass smtp.helo=helo.test", self.header(res))
        # The same results reach later stages of the scan as the note auth.results.
        self.assertIn("spf=pass smtp.helo=helo.test", res["notes"]["auth.results"])
        # And its authserv-id, so that the lists stage leaves out headers under that name.
        self.assertEqual(res["notes"]["auth.authserv_id"], "smf")
        self.assertNotIn("auth.authserv_id", self.scan(sender="", helo="helo.test", ip="192.0.2.9",
                                                       opts=["dmarc=false", 'authserv_id=""'])["notes"])

    def test_quoted_local_part_cannot_write_results(self):
        # A sender's local part may hold "; dkim=pass ..."; written as it is, it would add
        # a result of its own to the header and to the note the lists stage trusts.
        res = self.scan(sender='"x; dkim=pass header.d=bank.test ;"@ip4.test',
                        opts=["dmarc=false", "dkim=false"])
        note = res["notes"]["auth.results"]
        self.assertEqual(note, "spf=pass smtp.mailfrom=ip4.test")
        self.assertNotIn("bank.test", self.header(res))

    def test_timeout_stays_within_budget(self):
        start = time.monotonic()
        res = self.scan(sender="a@slow.test", ip="192.0.2.2")
        self.assertLess(time.monotonic() - start, 2.5)
        self.assertLess(res["ms"], 1500)
        self.assertIn("AUTH_SPF_TEMPERROR", symbols(res))


class DkimTest(AuthTest):

    def test_pass_relaxed(self):
        res = self.scan(self.signed(), opts=["spf=false"])
        s = symbols(res)
        self.assertIn("AUTH_DKIM_PASS", s, s)
        self.assertIn("d=signer.test", s["AUTH_DKIM_PASS"]["detail"])
        self.assertLess(s["AUTH_DKIM_PASS"]["score"], 0)
        self.assertIn("dkim=pass header.d=signer.test header.s=sel", self.header(res))

    def test_pass_simple_crlf(self):
        s = symbols(self.scan(self.signed(canon="simple/simple", crlf=True), opts=["spf=false"]))
        self.assertIn("AUTH_DKIM_PASS", s, s)

    def test_pass_simple_lf(self):
        s = symbols(self.scan(self.signed(canon="simple/simple"), opts=["spf=false"]))
        self.assertIn("AUTH_DKIM_PASS", s, s)

    def test_pass_ed25519(self):
        s = symbols(self.scan(self.signed(kind="ed25519", selector="ed"), opts=["spf=false"]))
        self.assertIn("AUTH_DKIM_PASS", s, s)

    def test_body_altered(self):
        raw = self.signed().replace(b"the figures", b"the numbers")
        s = symbols(self.scan(raw, opts=["spf=false"]))
        self.assertIn("body hash mismatch", s["AUTH_DKIM_FAIL"]["detail"])
        self.assertNotIn("AUTH_DKIM_PASS", s)

    def test_header_altered(self):
        raw = self.signed().replace(b"quarterly  report", b"quarterly invoice")
        s = symbols(self.scan(raw, opts=["spf=false"]))
        self.assertIn("signature mismatch", s["AUTH_DKIM_FAIL"]["detail"])

    def test_relaxed_survives_whitespace(self):
        raw = self.signed().replace(b"quarterly  report", b"quarterly   report  ")
        self.assertIn("AUTH_DKIM_PASS", symbols(self.scan(raw, opts=["spf=false"])))

    def test_key_missing(self):
        s = symbols(self.scan(self.signed(selector="gone"), opts=["spf=false"]))
        self.assertIn("no key", s["AUTH_DKIM_PERMERROR"]["detail"])

    def test_key_revoked(self):
        s = symbols(self.scan(self.signed(selector="revoked"), opts=["spf=false"]))
        self.assertIn("key revoked", s["AUTH_DKIM_PERMERROR"]["detail"])

    def test_key_for_other_services(self):
        s = symbols(self.scan(self.signed(selector="other"), opts=["spf=false"]))
        self.assertIn("key is not for email (s=)", s["AUTH_DKIM_PERMERROR"]["detail"], s)
        self.assertNotIn("AUTH_DKIM_PASS", s)
        for selector in ("mail", "any"):
            s = symbols(self.scan(self.signed(selector=selector), opts=["spf=false"]))
            self.assertIn("AUTH_DKIM_PASS", s, s)

    def test_body_length_leaves_the_rest_unsigned(self):
        # l= covers the first bytes only: what a relay appended after them is said.
        raw = dkimsign.sign(MESSAGE % (b"signer.test", b"signer.test"), "signer.test", "sel",
                            self.rsa_key, length=10)
        s = symbols(self.scan(raw, opts=["spf=false"]))
        self.assertIn("AUTH_DKIM_PASS", s, s)
        self.assertEqual(s["AUTH_DKIM_PASS"]["detail"],
                         "d=signer.test s=sel: l= leaves 29 bytes of the body unsigned")
        s = symbols(self.scan(raw + b"Click here\n", opts=["spf=false"]))
        self.assertIn("l= leaves 45 bytes of the body unsigned", s["AUTH_DKIM_PASS"]["detail"])
        # l= of the whole body leaves nothing to say.
        raw = dkimsign.sign(MESSAGE % (b"signer.test", b"signer.test"), "signer.test", "sel",
                            self.rsa_key, length=39)
        self.assertEqual(symbols(self.scan(raw, opts=["spf=false"]))["AUTH_DKIM_PASS"]["detail"],
                         "d=signer.test s=sel")

    def test_rsa_sha1_is_refused_and_names_its_signer(self):
        # RFC 8301: a good rsa-sha1 signature is no pass. The parse stops at a=, before d=
        # and s=; the results still name them.
        raw = dkimsign.sign(MESSAGE % (b"signer.test", b"signer.test"), "signer.test", "sel",
                            self.rsa_key, digest="sha1")
        res = self.scan(raw, opts=["spf=false"])
        s = symbols(res)
        self.assertNotIn("AUTH_DKIM_PASS", s)
        self.assertEqual(s["AUTH_DKIM_PERMERROR"]["detail"],
                         "d=signer.test s=sel: rsa-sha1 is not accepted")
        self.assertIn("dkim=permerror header.d=signer.test header.s=sel", self.header(res))

    def test_timestamps(self):
        # x= must be after t= (RFC 6376 3.5); a t= over 5 minutes ahead is refused, one
        # within that is taken for clock skew, and so is an x= passed less than 5 minutes ago.
        now = int(time.time())
        for t, x, why in ((now + 100, now + 100, "x= is not after t="),
                          (now + 60, now + 30, "x= is not after t="),
                          (now + 3600, now + 7200, "t= is in the future"),
                          (now + 60, None, None),
                          (now, now + 1000, None),
                          (now - 3600, now - 60, None),
                          (now - 3600, now - 1800, "signature expired")):
            extra = " x=%d;" % x if x is not None else ""
            raw = dkimsign.sign(MESSAGE % (b"signer.test", b"signer.test"), "signer.test",
                                "sel", self.rsa_key, extra=extra, timestamp=t)
            s = symbols(self.scan(raw, opts=["spf=false"]))
            with self.subTest(t=t - now, x=x):
                if why is None:
                    self.assertIn("AUTH_DKIM_PASS", s, s)
                else:
                    self.assertEqual(s["AUTH_DKIM_PERMERROR"]["detail"],
                                     "d=signer.test s=sel: " + why, s)

    def test_several_key_records(self):
        s = symbols(self.scan(self.signed(selector="multi"), opts=["spf=false"]))
        self.assertEqual(s["AUTH_DKIM_PASS"]["detail"], "d=signer.test s=multi", s)
        # None verifies: the usable key's outcome is said, not the unreadable record's.
        s = symbols(self.scan(self.signed(selector="multibad"), opts=["spf=false"]))
        self.assertEqual(s["AUTH_DKIM_PERMERROR"]["detail"],
                         "d=signer.test s=multibad: key type does not match a=", s)

    def test_key_slow(self):
        raw = self.signed(domain=b"slow.test", sign_domain="slow.test")
        s = symbols(self.scan(raw, opts=["spf=false"]))
        self.assertIn("AUTH_DKIM_TEMPERROR", s, s)

    def test_failure_under_testing_key_is_neutral(self):
        # RFC 6376, 3.6.1: a domain testing DKIM (t=y) gets the treatment of unsigned mail,
        # even when its signature does not verify: no AUTH_DKIM_FAIL, no DMARC pass.
        for selector in ("trial", "trials"):
            raw = self.signed(selector=selector).replace(b"the figures", b"the numbers")
            res = self.scan(raw, opts=["spf=false"])
            s = symbols(res)
            self.assertNotIn("AUTH_DKIM_FAIL", s, s)
            self.assertIn("body hash mismatch (key in testing mode, t=y)",
                          s["AUTH_DKIM_NEUTRAL"]["detail"], s)
            self.assertEqual(s["AUTH_DKIM_NEUTRAL"]["score"], 0)
            self.assertIn("dkim=neutral header.d=signer.test header.s=%s" % selector,
                          self.header(res))
            self.assertIn("no aligned SPF or DKIM pass", s["AUTH_DMARC_FAIL"]["detail"], s)

    def test_dkim_off_still_feeds_dmarc_without_scoring(self):
        # dkim = false with dmarc on: the signatures are verified for alignment only.
        res = self.scan(self.signed(), opts=["spf=false", "dkim=false"])
        s = symbols(res)
        self.assertIn("DKIM pass aligned", s["AUTH_DMARC_PASS"]["detail"], s)
        self.assertFalse([n for n in s if n.startswith("AUTH_DKIM_")], s)
        raw = self.signed(selector="gone")
        s = symbols(self.scan(raw, opts=["spf=false", "dkim=false"]))
        self.assertFalse([n for n in s if n.startswith("AUTH_DKIM_")], s)
        self.assertIn("AUTH_DMARC_FAIL", s, s)
        s = symbols(self.scan(opts=["spf=false", "dkim=false", "dkim_none_score=1.5"]))
        self.assertFalse([n for n in s if n.startswith("AUTH_DKIM_")], s)

    def test_testing_key_still_passes(self):
        s = symbols(self.scan(self.signed(selector="trial"), opts=["spf=false"]))
        self.assertIn("AUTH_DKIM_PASS", s, s)

    def test_testing_flag_is_a_whole_flag(self):
        # "yes" is not the flag y: the failure counts.
        raw = self.signed(selector="notrial").replace(b"the figures", b"the numbers")
        s = symbols(self.scan(raw, opts=["spf=false"]))
        self.assertIn("AUTH_DKIM_FAIL", s, s)

    def test_unsigned(self):
        s = symbols(self.scan(opts=["spf=false"]))
        self.assertIn("AUTH_DKIM_NONE", s)

    def test_overlong_tag_is_refused_not_cut(self):
        # An h= of over 1,024 characters: cut short it would name other fields.
        names = ("from", "to", "subject", "date", "message-id") + tuple(
            "x-padding-field-%02d" % i for i in range(60))
        raw = dkimsign.sign(MESSAGE % (b"signer.test", b"signer.test"), "signer.test", "sel",
                            self.rsa_key, signed=names)
        s = symbols(self.scan(raw, opts=["spf=false"]))
        self.assertIn("tag value too long", s["AUTH_DKIM_PERMERROR"]["detail"], s)

    def test_signature_field_without_colon(self):
        # Only the name: nothing to parse, and the search for the value must not run on
        # into the body (which here looks like a tag list).
        raw = (b"From: a@signer.test\r\nSubject: hi\r\nDKIM-Signature\r\n\r\n" +
               b"v=1; a=rsa-sha256; d=signer.test; s=sel; h=from; bh=x; b=y\r\n" * 2000)
        s = symbols(self.scan(raw, opts=["spf=false"]))
        self.assertIn("has no ':'", s["AUTH_DKIM_PERMERROR"]["detail"], s)

    def test_two_signatures(self):
        raw = dkimsign.sign(self.signed(), "mail.signer.test", "sel", self.rsa_key)
        res = self.scan(raw, opts=["spf=false"])
        detail = symbols(res)["AUTH_DKIM_PASS"]["detail"]
        self.assertIn("d=signer.test", detail)
        self.assertIn("d=mail.signer.test", detail)
        self.assertEqual(self.header(res).count("dkim=pass"), 2)


class DmarcTest(AuthTest):

    def test_aligned_spf_pass(self):
        res = self.scan(sender="bounce@ip4.test", ip="192.0.2.10")
        s = symbols(res)
        self.assertIn("AUTH_DMARC_PASS", s, s)
        self.assertIn("SPF pass aligned", s["AUTH_DMARC_PASS"]["detail"])
        self.assertIn("dmarc=pass header.from=ip4.test", self.header(res))
        self.assertIsNone(res["verdict"])

    def test_unaligned_reject_blocks(self):
        raw = MESSAGE % (b"bank.test", b"bank.test")
        res = self.scan(raw, sender="bounce@ip4.test", ip="192.0.2.10",
                        opts=["dmarc_reject=true"])
        s = symbols(res)
        self.assertIn("AUTH_SPF_PASS", s)
        self.assertIn("policy reject", s["AUTH_DMARC_FAIL"]["detail"])
        self.assertEqual(res["verdict"], "block")
        self.assertIn("dmarc=fail header.from=bank.test", self.header(res))

    def test_every_author_domain_is_evaluated(self):
        # SPF passes for ip4.test (which has DMARC); bank.test says p=reject. However the
        # From field hides bank.test, its policy must still apply.
        rest = b"To: bob@example.com\nSubject: hi\n\nHello\n"
        for head in (b"From: ceo@bank.test (<x@ip4.test>)\n",
                     b"From: x@ip4.test, ceo@bank.test\n",
                     b"From: ceo@bank.test, x@ip4.test\n",
                     b"From: x@ip4.test\nFrom: ceo@bank.test\n",
                     b"From: ceo@bank.test(x)\n",
                     b'From: "x@ip4.test" <ceo@bank.test>\n',
                     b'From: "\\"" <ceo@bank.test>\n',
                     b'From: x@ip4.test, "\\"" <ceo@bank.test>\n',
                     b'From: "' + b"a" * 2100 + b'" <ceo@bank.test>\n',
                     # An encoded word in the display name decodes to what reads as
                     # ip4.test's mailbox; a mail client shows ceo@bank.test.
                     b"From: =?utf-8?q?=3Cx=40ip4.test=3E?= <ceo@bank.test>\n",
                     b"From: =?utf-8?q?x=40ip4.test=2C?= <ceo@bank.test>\n",
                     # An address sent as an encoded word, which some clients decode.
                     b"From: =?utf-8?q?ceo=40bank.test?=\n",
                     # Full-width letters and an ideographic full stop (RFC 6532 mail): the
                     # reader sees bank.test, and so does a resolver after UTS 46 mapping.
                     "From: ceo@\uff42\uff41\uff4e\uff4b\u3002test\n".encode()):
            res = self.scan(head + rest, sender="bounce@ip4.test", ip="192.0.2.10",
                            opts=["dmarc_reject=true"])
            s = symbols(res)
            self.assertIn("AUTH_DMARC_FAIL", s, head)
            self.assertIn("bank.test: policy reject", s["AUTH_DMARC_FAIL"]["detail"], head)
            self.assertEqual(res["verdict"], "block", head)
        # What cannot be evaluated is said, with a score: more author domains than DMARC
        # evaluates (bank.test fifth), or a mailbox without a readable domain.
        for head in (b"From: a@a1.test, b@a2.test, c@a3.test, d@a4.test, ceo@bank.test\n",
                     b"From: x@ip4.test, <ceo@>\n"):
            s = symbols(self.scan(head + rest, sender="bounce@ip4.test", ip="192.0.2.10"))
            self.assertGreater(s["AUTH_FROM_UNREADABLE"]["score"], 0, head)
        # A From domain under bank.test that DNS cannot be asked about (an empty label, a
        # label of 64 bytes) is unreadable too, not a DNS error that stands in for bank.test's
        # policy as a temperror.
        for head in (b"From: ceo@x..bank.test\n", b"From: ceo@" + b"a" * 64 + b".bank.test\n"):
            s = symbols(self.scan(head + rest, sender="bounce@ip4.test", ip="192.0.2.10"))
            self.assertNotIn("AUTH_DMARC_TEMPERROR", s, head)
            self.assertGreater(s["AUTH_FROM_UNREADABLE"]["score"], 0, head)
        # A domain in another script (RFC 6532 mail) is asked about as its A-label: no
        # record there, nothing unreadable.
        s = symbols(self.scan("From: x@m\u00fcnchen.test\n".encode() + rest,
                              sender="bounce@ip4.test", ip="192.0.2.10"))
        self.assertNotIn("AUTH_FROM_UNREADABLE", s)
        self.assertIn("AUTH_DMARC_NONE", s)
        # A display name whose decoded form holds a comma is no second mailbox.
        s = symbols(self.scan(b"From: =?utf-8?q?M=C3=BCller=2C_Hans?= <x@ip4.test>\n" + rest,
                              sender="bounce@ip4.test", ip="192.0.2.10"))
        self.assertIn("AUTH_DMARC_PASS", s, s)
        self.assertNotIn("AUTH_FROM_UNREADABLE", s)
        # The control: the same sender's own domain alone passes.
        s = symbols(self.scan(b"From: x@ip4.test (ceo@bank.test)\n" + rest,
                              sender="bounce@ip4.test", ip="192.0.2.10"))
        self.assertIn("AUTH_DMARC_PASS", s, s)
        self.assertNotIn("AUTH_FROM_UNREADABLE", s)

    def test_internationalized_sender_and_from(self):
        """SMTPUTF8 mail names its domains in UTF-8; SPF and DMARC ask DNS for the
        A-label (RFC 8616), where the records are."""
        raw = "From: kl\u00e4re@b\u00fccher.test\nTo: bob@example.com\nSubject: hi\n\nHi\n"
        s = symbols(self.scan(raw.encode(), sender="kl\u00e4re@B\u00dcCHER.test", ip="192.0.2.10"))
        self.assertIn("AUTH_SPF_PASS", s, s)
        self.assertIn("AUTH_DMARC_PASS", s, s)
        self.assertNotIn("AUTH_FROM_UNREADABLE", s)
        # From another network it fails, and bücher.test's p=reject applies.
        s = symbols(self.scan(raw.encode(), sender="kl\u00e4re@b\u00fccher.test", ip="198.51.100.7"))
        self.assertIn("AUTH_SPF_FAIL", s, s)
        self.assertIn("policy reject", s["AUTH_DMARC_FAIL"]["detail"], s)

    def test_idn_public_suffix(self):
        # The list writes the suffix in Unicode; mail names it in its xn-- form.
        psl = os.path.join(self.tmp, "psl.dat")
        with open(psl, "w", encoding="utf-8") as f:
            f.write("// test list\ncn\n公司.cn\n")
        raw = MESSAGE % (b"bank.xn--55qx5d.cn", b"bank.xn--55qx5d.cn")
        s = symbols(self.scan(raw, sender="x@evil.xn--55qx5d.cn", ip="192.0.2.10",
                              opts=['public_suffix_list="%s"' % psl, "dkim=false"]))
        self.assertIn("AUTH_SPF_PASS", s, s)
        self.assertIn("AUTH_DMARC_FAIL", s, s)

    def test_unaligned_reject_scores_without_option(self):
        raw = MESSAGE % (b"bank.test", b"bank.test")
        res = self.scan(raw, sender="bounce@ip4.test", ip="192.0.2.10")
        self.assertIsNone(res["verdict"])
        self.assertEqual(symbols(res)["AUTH_DMARC_FAIL"]["score"], 6)

    def test_subdomain_uses_sp(self):
        raw = MESSAGE % (b"sub.bank.test", b"bank.test")
        res = self.scan(raw, sender="bounce@ip4.test", ip="192.0.2.10",
                        opts=["dmarc_reject=true", "dmarc_quarantine_score=4.5"])
        s = symbols(res)
        self.assertIn("policy quarantine (record at bank.test)", s["AUTH_DMARC_FAIL"]["detail"])
        self.assertEqual(s["AUTH_DMARC_FAIL"]["score"], 4.5)
        self.assertIsNone(res["verdict"])

    def test_unusable_record_ends_discovery(self):
        for domain, why in (("two.bank.test", "more than one DMARC record at two.bank.test"),
                            ("broken.bank.test", "an invalid DMARC record at broken.bank.test"),
                            ("bare.bank.test", "an invalid DMARC record at bare.bank.test")):
            raw = MESSAGE % (domain.encode(), domain.encode())
            before = len(self.dns.queries("_dmarc.bank.test"))
            s = symbols(self.scan(raw, sender="bounce@ip4.test", ip="192.0.2.10"))
            self.assertEqual(s["AUTH_DMARC_NONE"]["detail"], why, s)
            self.assertNotIn("AUTH_DMARC_FAIL", s)
            self.assertEqual(len(self.dns.queries("_dmarc.bank.test")), before)

    def test_record_syntax_blanks_and_case(self):
        # "v = DMARC1" is a record; P=Reject is p=reject, and ASPF=S makes SPF's pass for
        # mail.case.test unaligned with case.test.
        for domain, sender in (("blank.test", "bounce@ip4.test"),
                               ("case.test", "bounce@mail.case.test")):
            raw = MESSAGE % (domain.encode(), domain.encode())
            res = self.scan(raw, sender=sender, ip="192.0.2.10", opts=["dmarc_reject=true"])
            s = symbols(res)
            self.assertIn("AUTH_SPF_PASS", s, s)
            self.assertIn("AUTH_DMARC_FAIL", s, s)
            self.assertIn("%s: policy reject" % domain, s["AUTH_DMARC_FAIL"]["detail"], s)
            self.assertEqual(res["verdict"], "block", s)

    def test_bad_policy_with_rua_is_policy_none(self):
        for domain in ("nop.test", "badp.test", "badsp.test"):
            raw = MESSAGE % (domain.encode(), domain.encode())
            res = self.scan(raw, sender="bounce@ip4.test", ip="192.0.2.10",
                            opts=["dmarc_reject=true"])
            s = symbols(res)
            self.assertIn("AUTH_DMARC_FAIL", s, s)
            self.assertIn("%s: policy none (record at %s)" % (domain, domain),
                          s["AUTH_DMARC_FAIL"]["detail"], s)
            self.assertIn("read as p=none", s["AUTH_DMARC_FAIL"]["detail"], s)
            self.assertEqual(s["AUTH_DMARC_FAIL"]["score"], 1, s)
            self.assertIsNone(res["verdict"], s)
        raw = MESSAGE % (b"badrua.test", b"badrua.test")
        s = symbols(self.scan(raw, sender="bounce@ip4.test", ip="192.0.2.10"))
        self.assertEqual(s["AUTH_DMARC_NONE"]["detail"], "an invalid DMARC record at badrua.test")

    def test_bad_alignment_or_pct_takes_the_default(self):
        raw = MESSAGE % (b"badpct.test", b"badpct.test")
        res = self.scan(raw, sender="bounce@ip4.test", ip="192.0.2.10", opts=["dmarc_reject=true"])
        s = symbols(res)
        self.assertIn("AUTH_DMARC_FAIL", s, s)
        self.assertIn("badpct.test: policy reject", s["AUTH_DMARC_FAIL"]["detail"], s)
        self.assertIn("an invalid adkim=, aspf= or pct= read as its default",
                      s["AUTH_DMARC_FAIL"]["detail"], s)
        self.assertEqual(res["verdict"], "block", s)

    def test_np_for_nonexistent_subdomains(self):
        np_why = "(np=: the domain has no A, AAAA or MX records)"
        for domain, policy, np in (("nx.np.test", "reject", True),
                                   ("txt.np.test", "reject", True),
                                   ("deep.nx.np.test", "reject", True),
                                   ("a.np.test", "quarantine", False),
                                   ("mx.np.test", "quarantine", False),
                                   ("six.np.test", "quarantine", False),
                                   ("np.test", "none", False),
                                   ("nx.npnosp.test", "reject", True),
                                   ("a.npnosp.test", "quarantine", False)):
            raw = MESSAGE % (domain.encode(), domain.encode())
            res = self.scan(raw, sender="bounce@ip4.test", ip="192.0.2.10",
                            opts=["dmarc_reject=true"])
            s = symbols(res)
            with self.subTest(domain=domain):
                detail = s["AUTH_DMARC_FAIL"]["detail"]
                self.assertIn("%s: policy %s (record at " % (domain, policy), detail)
                self.assertEqual(np_why in detail, np, detail)
                self.assertEqual(res["verdict"] == "block", policy == "reject")

    def test_dkim_relaxed_alignment(self):
        raw = self.signed(sign_domain="mail.signer.test")
        s = symbols(self.scan(raw, sender="bounce@ip4.test", ip="192.0.2.10"))
        self.assertIn("DKIM pass aligned (d=mail.signer.test)", s["AUTH_DMARC_PASS"]["detail"])

    def test_dkim_strict_alignment(self):
        raw = self.signed(domain=b"shop.test", sign_domain="mail.shop.test")
        s = symbols(self.scan(raw, sender="bounce@ip4.test", ip="192.0.2.10"))
        self.assertIn("AUTH_DKIM_PASS", s)
        self.assertIn("policy quarantine", s["AUTH_DMARC_FAIL"]["detail"])
        raw = self.signed(domain=b"shop.test", sign_domain="shop.test")
        self.assertIn("AUTH_DMARC_PASS", symbols(self.scan(raw, sender="bounce@ip4.test")))

    def test_policy_none(self):
        raw = MESSAGE % (b"news.test", b"news.test")
        res = self.scan(raw, opts=["dmarc_reject=true"])
        self.assertEqual(symbols(res)["AUTH_DMARC_FAIL"]["score"], 1)
        self.assertIsNone(res["verdict"])

    def test_pct_zero_downgrades(self):
        raw = MESSAGE % (b"half.test", b"half.test")
        res = self.scan(raw, opts=["dmarc_reject=true"])
        self.assertIn("policy quarantine (outside pct=)", symbols(res)["AUTH_DMARC_FAIL"]["detail"])
        self.assertIsNone(res["verdict"])

    def test_a_long_record_is_read_whole(self):
        raw = MESSAGE % (b"longrua.test", b"longrua.test")
        res = self.scan(raw, opts=["dmarc_reject=true"])
        self.assertIn("policy quarantine (outside pct=)", symbols(res)["AUTH_DMARC_FAIL"]["detail"])

    def test_no_record(self):
        raw = MESSAGE % (b"nodmarc.test", b"nodmarc.test")
        self.assertIn("AUTH_DMARC_NONE", symbols(self.scan(raw)))

    def test_temperror_is_not_failure(self):
        # The SPF check of an aligned envelope domain failed in DNS: it could have passed.
        raw = MESSAGE % (b"ip4.test", b"ip4.test")
        res = self.scan(raw, sender="a@slowspf.ip4.test", ip="192.0.2.2",
                        opts=["dmarc_reject=true"])
        s = symbols(res)
        self.assertIn("AUTH_DMARC_TEMPERROR", s, s)
        self.assertNotIn("AUTH_DMARC_FAIL", s)
        self.assertIsNone(res["verdict"])

    def test_unaligned_temperror_does_not_soften_a_fail(self):
        # A sender picks an envelope domain whose DNS fails: that says nothing about From.
        raw = MESSAGE % (b"ip4.test", b"ip4.test")
        res = self.scan(raw, sender="a@slow.test", ip="192.0.2.2", opts=["dmarc_reject=true"])
        s = symbols(res)
        self.assertIn("AUTH_DMARC_FAIL", s, s)
        # A signature whose d= cannot be a DNS name is broken, not a DNS failure.
        raw = dkimsign.sign(MESSAGE % (b"ip4.test", b"ip4.test"), "a" * 70 + ".ip4.test", "sel",
                            self.rsa_key)
        s = symbols(self.scan(raw, sender="a@slow.test", ip="192.0.2.2",
                              opts=["dmarc_reject=true"]))
        self.assertIn("no valid DNS name", s["AUTH_DKIM_PERMERROR"]["detail"], s)
        self.assertIn("AUTH_DMARC_FAIL", s, s)

    def test_authenticated_user_skipped(self):
        path = os.path.join(self.tmp, "auth.eml")
        with open(path, "wb") as f:
            f.write(MESSAGE % (b"bank.test", b"bank.test"))
        p = subprocess.run([ARGS.modtest, "-m", ARGS.module, "-o",
                            'dns_server="%s"' % self.dns.address, "--auth-user", "alice", path],
                           capture_output=True, text=True, timeout=60)
        res = json.loads(p.stdout.splitlines()[0])
        self.assertEqual(res["symbols"], [])
        self.assertEqual(res["headers"], [])


class DnsCacheTest(AuthTest):
    """DNS replies are kept for their TTL and shared by the messages of one module state
    (one smf-modtest run over several messages): each test counts the queries that reach
    the server."""

    # (name, type) of every question a message from cached.test puts.
    CACHED = [("cached.test", 16), ("cached.test", 1), ("cached.test", 15),
              ("mx.cached.test", 1), ("bounce.nx.cached.test", 1), ("_spf.cprov.test", 16),
              ("sel._domainkey.cached.test", 16), ("_dmarc.cached.test", 16)]

    def asked(self, name, qtype=None):
        return len([q for q in self.dns.queries(name) if qtype is None or q[1] == qtype])

    def counts(self, questions):
        return {q: self.asked(*q) for q in questions}

    def cached_sender(self, n, opts=()):
        raw = self.signed(domain=b"cached.test", sign_domain="cached.test")
        res = self.scan_all([raw] * n, sender="bounce@cached.test", ip="192.0.2.10", opts=opts)
        for r in res:  # Every message gets the same results, answered or kept.
            s = symbols(r)
            self.assertIn("ip4:192.0.2.0/24 matched in cached.test", s["AUTH_SPF_PASS"]["detail"])
            self.assertIn("AUTH_DKIM_PASS", s, s)
            self.assertIn("cached.test: policy reject", s["AUTH_DMARC_PASS"]["detail"], s)
        return res

    def test_second_message_asks_nothing_again(self):
        before = self.counts(self.CACHED)
        self.cached_sender(3)
        # The SPF record, its A, MX and include look-ups, the name that does not exist, the
        # DKIM key and the DMARC record: each asked once for the three messages.
        for q in self.CACHED:
            self.assertEqual(self.asked(*q) - before[q], 1, q)

    def test_size_zero_disables_the_cache(self):
        before = self.counts(self.CACHED)
        self.cached_sender(3, opts=["dns_cache_size=0"])
        for q in self.CACHED:
            self.assertEqual(self.asked(*q) - before[q], 3, q)

    def test_ttl_is_honoured(self):
        # Within the record's TTL of 1 s, asked once; past it, asked again.
        before = self.asked("short.test", 16)
        res = self.scan_all([None] * 2, sender="a@short.test", opts=["dmarc=false", "dkim=false"])
        self.assertEqual(self.asked("short.test", 16) - before, 1)
        res = self.scan_all([None] * 2, sender="a@short.test", args=["--pause", "1300"],
                            opts=["dmarc=false", "dkim=false"])
        self.assertIn("AUTH_SPF_PASS", symbols(res[1]))
        self.assertEqual(self.asked("short.test", 16) - before, 3)
        # dns_cache_max_ttl caps a longer TTL (60 s here) the same way.
        before = self.asked("cached.test", 16)
        self.cached_sender(2, opts=["dns_cache_max_ttl=1"])
        self.assertEqual(self.asked("cached.test", 16) - before, 1)

    def test_failures_are_asked_again(self):
        # A timeout, a refusal and a SERVFAIL are temperrors for every message, and asked
        # again by each; the answers around them are still kept.
        for sender, kept, failing in (("a@incl-slow.test", "incl-slow.test", "slow.test"),
                                      ("a@incl-refused.test", "incl-refused.test", "refused.test"),
                                      ("a@incl-servfail.test", "incl-servfail.test",
                                       "servfail.test")):
            with self.subTest(sender=sender):
                before = (self.asked(kept, 16), self.asked(failing, 16))
                res = self.scan_all([None] * 2, sender=sender, ip="192.0.2.2",
                                    opts=["dns_tries=1", "dkim=false", "dmarc=false"])
                for r in res:
                    self.assertIn("AUTH_SPF_TEMPERROR", symbols(r), r)
                self.assertEqual(self.asked(kept, 16) - before[0], 1)
                self.assertEqual(self.asked(failing, 16) - before[1], 2)
        # A DKIM key and a DMARC record that time out: temperror again, asked again.
        raw = self.signed(domain=b"slow.test", sign_domain="slow.test")
        names = [("sel._domainkey.slow.test", 16), ("_dmarc.slow.test", 16)]
        before = self.counts(names)
        res = self.scan_all([raw] * 2, sender="bounce@ip4.test", ip="192.0.2.10",
                            opts=["dns_tries=1"])
        for r in res:
            s = symbols(r)
            self.assertIn("AUTH_DKIM_TEMPERROR", s, s)
            self.assertIn("AUTH_DMARC_TEMPERROR", s, s)
        for q in names:
            self.assertEqual(self.asked(*q) - before[q], 2, q)

    def test_kept_answers_still_count_towards_the_lookup_limit(self):
        # RFC 7208 4.6.4 counts terms, not queries: the second message's answers come from
        # the cache, and its eleventh term is still one too many.
        before = self.asked("h1.many.test", 1)
        res = self.scan_all([None] * 2, sender="a@many.test", ip="192.0.2.2",
                            opts=["dkim=false", "dmarc=false"])
        for r in res:
            self.assertIn("more than 10 DNS lookups",
                          symbols(r)["AUTH_SPF_PERMERROR"]["detail"], r)
        self.assertEqual(self.asked("h1.many.test", 1) - before, 1)
        # So do void look-ups: two kept "no such name" answers and a third are too many.
        res = self.scan_all([None] * 2, sender="a@void.test", ip="192.0.2.2",
                            opts=["dkim=false", "dmarc=false"])
        for r in res:
            self.assertIn("too many void lookups",
                          symbols(r)["AUTH_SPF_PERMERROR"]["detail"], r)

    def test_nonsense_cache_options_refused_at_init(self):
        for opt, text in (("dns_cache_size=-1", "dns_cache_size must be 0 (no cache) to"),
                          ("dns_cache_size=2000000", "not 2000000"),
                          ("dns_cache_max_ttl=0", "dns_cache_max_ttl must be 1 to"),
                          ("dns_cache_negative_ttl=-5", "dns_cache_negative_ttl must be 0")):
            with self.subTest(opt=opt):
                p = self.run_modtest([None], opts=[opt])
                self.assertEqual(p.returncode, 2, opt)
                self.assertIn(text, p.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--modtest", required=True)
    parser.add_argument("--module", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
