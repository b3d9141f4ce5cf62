#!/usr/bin/python3
"""The auth module against a real DNS server on loopback with zones this test
writes: an SPF table, DKIM signatures made here with keys made here, DMARC
alignment and policies, DNS timeouts, and the Authentication-Results header."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reputation"))
from dnsserver import DnsServer  # noqa: E402
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
    "other.a.test": [("A", "198.51.100.16")],
    "mx.test": [("TXT", "v=spf1 mx -all"), ("MX", "20 mx2.mx.test"), ("MX", "10 mx1.mx.test")],
    "mx1.mx.test": [("A", "192.0.2.30")],
    "mx2.mx.test": [("A", "192.0.2.31")],
    "redir.test": [("TXT", "v=spf1 redirect=ip4.test")],
    "soft.test": [("TXT", "v=spf1 ip4:192.0.2.1 ~all")],
    "neutral.test": [("TXT", "v=spf1 ?all")],
    "none.test": [("A", "192.0.2.1"), ("TXT", "some other text")],
    "syntax.test": [("TXT", "v=spf1 ip4:300.1.2.3 -all")],
    "badmech.test": [("TXT", "v=spf1 ip4:192.0.2.0/24 frobnicate:x.test -all")],
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

DMARC_RECORDS = {
    "_dmarc.ip4.test": [("TXT", "v=DMARC1; p=reject")],
    "bank.test": [("TXT", "v=spf1 -all")],
    "_dmarc.bank.test": [("TXT", "v=DMARC1; p=reject; sp=quarantine")],
    "_dmarc.shop.test": [("TXT", "v=DMARC1; p=quarantine; adkim=s")],
    "_dmarc.news.test": [("TXT", "v=DMARC1; p=none")],
    "_dmarc.signer.test": [("TXT", "v=DMARC1; p=reject")],
    "_dmarc.half.test": [("TXT", "v=DMARC1; p=reject; pct=0")],
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
        records.update({
            "sel._domainkey.signer.test": [("TXT", "v=DKIM1; k=rsa; p=" + rsa_p)],
            "sel._domainkey.mail.signer.test": [("TXT", "v=DKIM1; k=rsa; p=" + rsa_p)],
            "ed._domainkey.signer.test": [("TXT", "v=DKIM1; k=ed25519; p=" + ed_p)],
            "sel._domainkey.shop.test": [("TXT", "v=DKIM1; p=" + rsa_p)],
            "sel._domainkey.mail.shop.test": [("TXT", "v=DKIM1; p=" + rsa_p)],
            "revoked._domainkey.signer.test": [("TXT", "v=DKIM1; k=rsa; p=")],
            "sel._domainkey.slow.test": [("TXT", "v=DKIM1; p=" + rsa_p)],
        })
        cls.dns = DnsServer(records, slow=["slow.test"], delay=3.0).start()

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def scan(self, raw=None, sender="alice@ip4.test", ip="192.0.2.10", helo="mail.ip4.test",
             opts=()):
        path = os.path.join(self.tmp, "msg-%d.eml" % time.monotonic_ns())
        with open(path, "wb") as f:
            f.write(raw if raw is not None else MESSAGE % (b"ip4.test", b"ip4.test"))
        cmd = [ARGS.modtest, "-m", ARGS.module, "-o", 'dns_server="%s"' % self.dns.address,
               "-o", "dns_budget_ms=800", "-o", "dns_timeout_ms=300"]
        for o in opts:
            cmd += ["-o", o]
        cmd += ["--ip", ip, "--helo", helo, "--from", sender, path]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        line = [l for l in p.stdout.splitlines() if l.startswith("{")]
        return json.loads(line[0])

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
        ("a@mx.test", "192.0.2.31", "AUTH_SPF_PASS", "mx matched"),
        ("a@mx.test", "192.0.2.32", "AUTH_SPF_FAIL", "-all"),
        ("a@redir.test", "192.0.2.10", "AUTH_SPF_PASS", "matched in ip4.test"),
        ("a@redir.test", "198.51.100.1", "AUTH_SPF_FAIL", "-all matched in ip4.test"),
        ("a@soft.test", "192.0.2.2", "AUTH_SPF_SOFTFAIL", "~all"),
        ("a@neutral.test", "192.0.2.2", "AUTH_SPF_NEUTRAL", "?all"),
        ("a@none.test", "192.0.2.2", "AUTH_SPF_NONE", "no SPF record"),
        ("a@nxdomain.test", "192.0.2.2", "AUTH_SPF_NONE", "no SPF record"),
        ("a@syntax.test", "192.0.2.2", "AUTH_SPF_PERMERROR", "syntax error at 'ip4:300.1.2.3'"),
        ("a@badmech.test", "192.0.2.2", "AUTH_SPF_PERMERROR", "syntax error at 'frobnicate"),
        ("a@two.test", "192.0.2.2", "AUTH_SPF_PERMERROR", "more than one SPF record"),
        ("a@many.test", "192.0.2.2", "AUTH_SPF_PERMERROR", "more than 10 DNS lookups"),
        ("a@void.test", "192.0.2.2", "AUTH_SPF_PERMERROR", "too many void lookups"),
        ("a@macro.test", "192.0.2.40", "AUTH_SPF_PASS", "exists:%{i}._spf.%{d} matched"),
        ("a@macro.test", "192.0.2.41", "AUTH_SPF_FAIL", "-all"),
        ("alice@lmacro.test", "192.0.2.2", "AUTH_SPF_PASS", "exists"),
        ("bob@lmacro.test", "192.0.2.2", "AUTH_SPF_FAIL", "-all"),
        ("a@rev.test", "192.0.2.40", "AUTH_SPF_PASS", "exists:%{ir}.%{v}.%{d2} matched"),
        ("a@six.test", "2001:db8::5", "AUTH_SPF_PASS", "ip6:2001:db8::/32"),
        ("a@six.test", "2001:db9::5", "AUTH_SPF_FAIL", "-all"),
        ("a@six.test", "192.0.2.5", "AUTH_SPF_FAIL", "-all"),
        ("a@slow.test", "192.0.2.2", "AUTH_SPF_TEMPERROR", "DNS error looking up TXT slow.test"),
        ("a@incl-slow.test", "192.0.2.2", "AUTH_SPF_TEMPERROR", "DNS error"),
    ]

    def test_table(self):
        for sender, ip, symbol, detail in self.TABLE:
            with self.subTest(sender=sender, ip=ip):
                s = symbols(self.scan(sender=sender, ip=ip, opts=["dkim=false", "dmarc=false"]))
                spf = [n for n in s if n.startswith("AUTH_SPF_")]
                self.assertEqual(spf, [symbol], s)
                self.assertIn(detail, s[symbol]["detail"])

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

    def test_key_slow(self):
        raw = self.signed(domain=b"slow.test", sign_domain="slow.test")
        s = symbols(self.scan(raw, opts=["spf=false"]))
        self.assertIn("AUTH_DKIM_TEMPERROR", s, s)

    def test_unsigned(self):
        s = symbols(self.scan(opts=["spf=false"]))
        self.assertIn("AUTH_DKIM_NONE", s)

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

    def test_no_record(self):
        raw = MESSAGE % (b"nodmarc.test", b"nodmarc.test")
        self.assertIn("AUTH_DMARC_NONE", symbols(self.scan(raw)))

    def test_temperror_is_not_failure(self):
        raw = MESSAGE % (b"ip4.test", b"ip4.test")
        res = self.scan(raw, sender="a@slow.test", ip="192.0.2.2", opts=["dmarc_reject=true"])
        s = symbols(res)
        self.assertIn("AUTH_DMARC_TEMPERROR", s, s)
        self.assertNotIn("AUTH_DMARC_FAIL", s)
        self.assertIsNone(res["verdict"])

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


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--modtest", required=True)
    parser.add_argument("--module", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
