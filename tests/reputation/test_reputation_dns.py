#!/usr/bin/python3
"""The reputation module against a real DNS server on loopback: DNS block and
allow lists (IP, IPv6, sender, HELO and URL zones, return codes, masks),
refusing and slow zones, parallel queries, FCrDNS, the cache of DNS answers,
history and rate limits."""
import argparse
import contextlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import unittest

from dnsserver import DnsServer, reverse_v4, reverse_v6

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import lmdbrecords  # noqa: E402

ARGS = None

# Clients and links the lists are asked about must be public addresses: the
# documentation networks (192.0.2.0/24, 2001:db8::/32 and the others) are
# never asked, like every special-purpose network, so these take their
# neighbours 192.0.3.0/24 and 2001:db9::/32.
RECORDS = {
    reverse_v4("192.0.3.99") + ".zen.test": [("A", "127.0.0.2")],
    reverse_v4("192.0.3.98") + ".zen.test": [("A", "127.0.0.20")],
    reverse_v4("192.0.3.97") + ".multi.test": [("A", "127.0.0.6")],
    reverse_v4("192.0.3.97") + ".zen.test": [("A", "127.0.0.11")],
    reverse_v6("2001:db9::99") + ".zen.test": [("A", "127.0.0.3")],
    reverse_v4("192.0.3.50") + ".wl.test": [("A", "127.0.10.1")],
    "spammer.test.dbl.test": [("A", "127.0.1.2")],
    reverse_v4("127.0.0.2") + ".zen.test": [("A", "127.0.0.2")],
    # Private and link-local clients, listed only to show that they are never asked.
    reverse_v4("10.1.2.3") + ".zen.test": [("A", "127.0.0.2")],
    reverse_v4("169.254.1.1") + ".zen.test": [("A", "127.0.0.2")],
    "bad-helo.test.dbl.test": [("A", "127.0.1.2")],
    # A name of no dot, listed only to show that it is never asked, with a final dot or not.
    "localhost.dbl.test": [("A", "127.0.1.2")],
    # Addresses in a domain zone, listed only to show that they are never asked.
    "192.0.3.1.dbl.test": [("A", "127.0.1.2")],
    "[192.0.3.1].dbl.test": [("A", "127.0.1.2")],
    "evil-link.test.dbl.test": [("A", "127.0.1.5")],
    # A registered domain under a two-label suffix, as URIBL and SURBL hold them.
    "spam.co.test.dbl.test": [("A", "127.0.1.6")],
    reverse_v4("192.0.3.99") + ".blocked.test": [("A", "127.255.255.254")],
    # What URIBL and SURBL (127.0.0.1) and dnswl.org (127.0.0.255) answer a refused resolver.
    reverse_v4("192.0.3.99") + ".uribl.test": [("A", "127.0.0.1")],
    reverse_v4("192.0.3.99") + ".wl255.test": [("A", "127.0.0.255")],
    # Link hosts: an IDN name (Cyrillic "а" then "pple"), IPv6 literals, and
    # private IPv6 addresses listed only to show that they are never asked.
    "xn--pple-43d.test.dbl.test": [("A", "127.0.1.3")],
    reverse_v6("2001:db9::98") + ".zen.test": [("A", "127.0.0.4")],
    reverse_v6("::1") + ".zen.test": [("A", "127.0.0.2")],
    reverse_v6("fe80::1") + ".zen.test": [("A", "127.0.0.2")],
    reverse_v6("fd00::1") + ".zen.test": [("A", "127.0.0.2")],
    reverse_v6("ff02::1") + ".zen.test": [("A", "127.0.0.2")],
    # FCrDNS: .99 is confirmed, .98 names a host elsewhere, .97 has no PTR.
    reverse_v4("192.0.3.99") + ".in-addr.arpa": [("PTR", "mail.good.test")],
    "mail.good.test": [("A", "192.0.3.99"), ("AAAA", "2001:db9::99")],
    reverse_v4("192.0.3.98") + ".in-addr.arpa": [("PTR", "mail.liar.test")],
    "mail.liar.test": [("A", "10.9.9.9")],
    reverse_v6("2001:db9::99") + ".ip6.arpa": [("PTR", "mail.good.test")],
    # .80's name has many addresses, its own the last; .81's has more than are kept.
    reverse_v4("192.0.3.80") + ".in-addr.arpa": [("PTR", "mail.pool.test")],
    "mail.pool.test": [("A", "198.51.100.%d" % i) for i in range(1, 20)] + [("A", "192.0.3.80")],
    reverse_v4("192.0.3.81") + ".in-addr.arpa": [("PTR", "mail.bigpool.test")],
    "mail.bigpool.test": [("A", "198.51.100.%d" % i) for i in range(1, 41)] + [("A", "192.0.3.81")],
    # .65's name is served by a server that refuses us; .66's reverse zone refuses us.
    reverse_v4("192.0.3.65") + ".in-addr.arpa": [("PTR", "mail.refusing.test")],
}

ZEN = '"zen.test:ip:127.0.0.2-127.0.0.11:3"'
DBL = '"dbl.test:sender,helo,url:127.0.1.2-127.0.1.99:2.5"'


def run(dns, *args, opts=(), fixture="plain.eml", data_dir=None, tmp=None):
    """One smf-modtest run; returns (parsed JSON line or None, CompletedProcess)."""
    cmd = [ARGS.modtest, "-m", ARGS.module, "-o", 'dns_server="%s"' % dns.address]
    for o in opts:
        cmd += ["-o", o]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    cmd += list(args) + [os.path.join(tmp, fixture)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    line = [l for l in p.stdout.splitlines() if l.startswith("{")]
    return (json.loads(line[0]) if line else None), p


def dump(data):
    """The module's store as {key bytes: value bytes}."""
    return lmdbrecords.dump(os.path.join(data, "kv"), "reputation")


def load(data, records):
    """Writes {key bytes: value bytes} into the module's store."""
    lmdbrecords.load(os.path.join(data, "kv"), "reputation", records)


def last_txn(data):
    """The store's last committed write transaction (mdb_stat)."""
    p = subprocess.run(["mdb_stat", "-e", os.path.join(data, "kv")], capture_output=True,
                       text=True, timeout=60)
    for line in p.stdout.splitlines():
        if "Last transaction ID:" in line:
            return int(line.split(":")[1])
    raise AssertionError("mdb_stat: %s%s" % (p.stdout, p.stderr))


HOUR_MS = 3600 * 1000
HALF_LIFE_MS = 168 * HOUR_MS


def history(ham, spam, virus, at_ms):
    """A history record as history.c stores it."""
    return struct.pack("=3dq", ham, spam, virus, int(at_ms))


def rate(hour, msgs):
    """A rate record as ratelimit.c stores it."""
    return struct.pack("=q4IQ", hour, msgs, msgs, 0, 0, 1)


def symbols(res):
    return {s["name"]: s for s in res["symbols"]}


class DnsListTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="smf-rep-")
        with open(os.path.join(cls.tmp, "plain.eml"), "w") as f:
            f.write("From: a@example.net\nSubject: hello\n\nJust text.\n")
        with open(os.path.join(cls.tmp, "links.eml"), "w") as f:
            f.write("From: a@example.net\nSubject: offer\n\n"
                    "See http://user@Evil-Link.test:8080/x and https://fine.test/ and http://192.0.3.1/\n")
        # A benign host repeated ten times, then a listed host written as a browser still
        # reads it: with a final dot; and one behind user info up to the last '@'.
        with open(os.path.join(cls.tmp, "tricky-dot.eml"), "w") as f:
            f.write("From: a@example.net\nSubject: offer\n\n" +
                    "".join("http://news.good.test/item%d\n" % i for i in range(10)) +
                    "http://evil-link.test./x\n")
        with open(os.path.join(cls.tmp, "tricky-at.eml"), "w") as f:
            f.write("From: a@example.net\nSubject: offer\n\n"
                    "http://a@paypal.example@spammer.test/login\n")
        # Hosts a browser reads through percent-escapes and numeric address forms.
        with open(os.path.join(cls.tmp, "encoded.eml"), "w") as f:
            f.write("From: a@example.net\nSubject: offer\n\n"
                    "http://%65vil-link.test/x and http://0xc0.0.3.99/ and http://3221226338/\n")
        # A host no DNS name can be, after one that can: nothing of the first may leak
        # into the second's question (spammer.test is listed, and nowhere in the mail).
        with open(os.path.join(cls.tmp, "bad-host.eml"), "w") as f:
            f.write("From: a@example.net\nSubject: offer\n\n"
                    "http://xxxxxxx.test/ and http://spammer!/ and http://127.0.0.2/\n")
        # Link hosts of other scripts and IPv6 literals, in UTF-8 text.
        with open(os.path.join(cls.tmp, "idn.eml"), "w", encoding="utf-8") as f:
            f.write("From: a@example.net\nSubject: offer\nContent-Type: text/plain; charset=utf-8\n"
                    "Content-Transfer-Encoding: 8bit\n\nLog in at https://\u0430pple.test/login\n")
        with open(os.path.join(cls.tmp, "v6-links.eml"), "w") as f:
            f.write("From: a@example.net\nSubject: offer\n\n"
                    "http://[2001:DB9::98]/x and http://[::ffff:192.0.3.99]/y\n")
        with open(os.path.join(cls.tmp, "v6-private.eml"), "w") as f:
            f.write("From: a@example.net\nSubject: offer\n\n"
                    "http://[::1]/ http://[fe80::1]/ http://[fd00::1]/ http://[ff02::1]/ "
                    "http://[::ffff:127.0.0.2]/ http://[::ffff:10.0.0.1]/\n")
        # Links to NAT64 and 6to4 addresses, public (192.0.3.99, 192.0.3.97) and not
        # (10.0.0.1, 192.0.2.1), and to documentation and benchmarking networks.
        with open(os.path.join(cls.tmp, "v6-embedded.eml"), "w") as f:
            f.write("From: a@example.net\nSubject: offer\n\n"
                    "http://[64:ff9b::c000:363]/ http://[2002:c000:361::1]/ "
                    "http://[64:ff9b::a00:1]/ http://[2002:c000:201::1]/ http://192.0.2.1/ "
                    "http://198.18.0.1/ http://[2001:db8::1]/ http://203.0.113.1/\n")
        with open(os.path.join(cls.tmp, "localhost-link.eml"), "w") as f:
            f.write("From: a@example.net\nSubject: offer\n\n"
                    "http://localhost./x http://LOCALHOST../y http://user@localhost.:8080/\n")
        cls.dns = DnsServer(RECORDS, refused=["refused.test", "refusing.test",
                                              reverse_v4("192.0.3.66") + ".in-addr.arpa"],
                            slow=["slow.test"], delay=3.0).start()

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def scan(self, *args, **kw):
        res, p = run(self.dns, *args, tmp=self.tmp, **kw)
        self.assertEqual(p.returncode, 0, p.stderr)
        return res

    def test_ip_listed(self):
        res = self.scan("--ip", "192.0.3.99", opts=["dnsbl={%s}" % ZEN])
        s = symbols(res)
        self.assertIn("REP_DNSBL_ZEN_TEST", s)
        self.assertEqual(s["REP_DNSBL_ZEN_TEST"]["score"], 3)
        self.assertIn("99.3.0.192.zen.test -> 127.0.0.2", s["REP_DNSBL_ZEN_TEST"]["detail"])

    def test_ip_not_listed(self):
        res = self.scan("--ip", "192.0.3.1", "--client-name", "mx.test", opts=["dnsbl={%s}" % ZEN])
        self.assertEqual(symbols(res), {})

    def test_return_code_outside_range(self):
        res = self.scan("--ip", "192.0.3.98", opts=["dnsbl={%s}" % ZEN])
        self.assertNotIn("REP_DNSBL_ZEN_TEST", symbols(res))

    def test_mask(self):
        opts = ['dnsbl={"multi.test:ip:&0x04:4", "zen.test:ip:127.0.0.4:1"}']
        s = symbols(self.scan("--ip", "192.0.3.97", opts=opts))
        self.assertEqual(s["REP_DNSBL_MULTI_TEST"]["score"], 4)
        self.assertNotIn("REP_DNSBL_ZEN_TEST", s)  # 127.0.0.11 is not 127.0.0.4

    def test_ipv6_nibbles(self):
        s = symbols(self.scan("--ip", "2001:db9::99", opts=["dnsbl={%s}" % ZEN]))
        self.assertIn("REP_DNSBL_ZEN_TEST", s)

    def test_sender_domain_zone(self):
        s = symbols(self.scan("--from", "x@Spammer.test", opts=["dnsbl={%s}" % DBL]))
        self.assertEqual(s["REP_DNSBL_DBL_TEST"]["score"], 2.5)

    def test_helo_zone(self):
        s = symbols(self.scan("--helo", "bad-helo.test", opts=["dnsbl={%s}" % DBL]))
        self.assertIn("bad-helo.test.dbl.test", s["REP_DNSBL_DBL_TEST"]["detail"])

    def test_url_zone(self):
        s = symbols(self.scan(fixture="links.eml", opts=["dnsbl={%s}" % DBL]))
        self.assertIn("evil-link.test.dbl.test -> 127.0.1.5", s["REP_DNSBL_DBL_TEST"]["detail"])

    def test_queries_past_the_cap_are_reported(self):
        """A message asks at most 256 names; one that needs more (300 URL hosts in
        one zone) says which went unasked, with a symbol of score 0."""
        path = os.path.join(self.tmp, "many-links.eml")
        with open(path, "w") as f:
            f.write("From: a@example.net\nSubject: offer\n\n" +
                    "".join("http://h%d.many.test/\n" % i for i in range(300)))
        opts = ["dnsbl={%s}" % DBL, "max_url_hosts=300", "dns_budget_ms=20000"]
        s = symbols(self.scan(fixture="many-links.eml", opts=opts))
        self.assertEqual(s["REP_DNS_SKIPPED"]["score"], 0)
        self.assertIn("past the limit of 256", s["REP_DNS_SKIPPED"]["detail"])
        s = symbols(self.scan(fixture="many-links.eml", opts=["dnsbl={%s}" % DBL, "max_url_hosts=200"]))
        self.assertNotIn("REP_DNS_SKIPPED", s)

    def test_queries_past_the_cap_are_counted_once_each(self):
        """The count of names left unasked holds each name once, however many
        links lead to its host, and only those max_url_hosts would have asked:
        260 hosts in one zone, each linked twice, the sender domain and HELO
        name asked first and the hosts' parent domain (twice.test) leave 7
        names unasked."""
        path = os.path.join(self.tmp, "twice-links.eml")
        with open(path, "w") as f:
            f.write("From: a@example.net\nSubject: offer\n\n" +
                    "".join("http://h%d.twice.test/a\nhttp://h%d.twice.test/b\n" % (i, i)
                            for i in range(300)))
        opts = ["dnsbl={%s}" % DBL, "max_url_hosts=260", "dns_budget_ms=20000"]
        s = symbols(self.scan(fixture="twice-links.eml", opts=opts))
        self.assertIn("7 queries past the limit of 256", s["REP_DNS_SKIPPED"]["detail"])
        self.assertIn("from h253.twice.test.dbl.test on", s["REP_DNS_SKIPPED"]["detail"])

    def test_hosts_too_long_to_ask_count_toward_max_url_hosts(self):
        """A host too long to ask under a zone is still asked as its registered
        domain, and counts as a host: 200 such links, each under its own domain,
        must not use up the 256 queries before the next zone asks the client."""
        path = os.path.join(self.tmp, "long-hosts.eml")
        # 247 bytes and more: with ".dbl.test" the name would pass 255.
        deep = ".".join(["a" * 60, "b" * 60, "c" * 60, "d" * 54])
        with open(path, "w") as f:
            f.write("From: a@example.net\nSubject: offer\n\n" +
                    "".join("http://%s.x%03d.test/\n" % (deep, i) for i in range(200)))
        opts = ['dnsbl={%s, %s}' % (DBL, ZEN), "dns_budget_ms=20000"]
        s = symbols(self.scan("--ip", "192.0.3.99", fixture="long-hosts.eml", opts=opts))
        self.assertNotIn("REP_DNS_SKIPPED", s)
        self.assertIn("REP_DNSBL_ZEN_TEST", s)

    def test_url_hosts_as_a_browser_reads_them(self):
        s = symbols(self.scan(fixture="tricky-dot.eml", opts=["dnsbl={%s}" % DBL, "max_url_hosts=2"]))
        self.assertIn("evil-link.test.dbl.test -> 127.0.1.5", s["REP_DNSBL_DBL_TEST"]["detail"])
        s = symbols(self.scan(fixture="tricky-at.eml", opts=["dnsbl={%s}" % DBL]))
        self.assertIn("spammer.test.dbl.test -> 127.0.1.2", s["REP_DNSBL_DBL_TEST"]["detail"])

    def test_percent_escaped_url_host(self):
        s = symbols(self.scan(fixture="encoded.eml", opts=["dnsbl={%s}" % DBL]))
        self.assertIn("evil-link.test.dbl.test -> 127.0.1.5", s["REP_DNSBL_DBL_TEST"]["detail"])

    def test_subdomains_of_a_listed_domain(self):
        """Lists of registered domains answer "no such name" below one: a link,
        sender or HELO name is asked with its last three and two labels too."""
        path = os.path.join(self.tmp, "subdomains.eml")
        with open(path, "w") as f:
            f.write("From: a@example.net\nSubject: offer\n\n"
                    "http://x7f3.www.spammer.test/a and http://login.spam.co.test./b\n")
        s = symbols(self.scan(fixture="subdomains.eml", opts=["dnsbl={%s}" % DBL]))
        self.assertIn("spammer.test.dbl.test -> 127.0.1.2", s["REP_DNSBL_DBL_TEST"]["detail"])
        zone = '"dbl.test:url:127.0.1.6:2"'
        s = symbols(self.scan(fixture="subdomains.eml", opts=["dnsbl={%s}" % zone]))
        self.assertIn("spam.co.test.dbl.test -> 127.0.1.6", s["REP_DNSBL_DBL_TEST"]["detail"])
        s = symbols(self.scan("--from", "x@bounce.spammer.test", opts=["dnsbl={%s}" % DBL]))
        self.assertIn("spammer.test.dbl.test -> 127.0.1.2", s["REP_DNSBL_DBL_TEST"]["detail"])
        s = symbols(self.scan("--helo", "mx1.bad-helo.test", opts=["dnsbl={%s}" % DBL]))
        self.assertIn("bad-helo.test.dbl.test", s["REP_DNSBL_DBL_TEST"]["detail"])

    def test_url_host_that_is_no_name_is_not_asked(self):
        s = symbols(self.scan(fixture="bad-host.eml", opts=["dnsbl={%s}" % DBL]))
        self.assertNotIn("REP_DNSBL_DBL_TEST", s)
        # Loopback is no spam site, and 127.0.0.2 is every list's test entry.
        zone = '"zen.test:url_ip:127.0.0.2-127.0.0.11:3"'
        s = symbols(self.scan(fixture="bad-host.eml", opts=["dnsbl={%s}" % zone]))
        self.assertNotIn("REP_DNSBL_ZEN_TEST", s)

    def test_url_addresses_asked_of_url_ip_zones_only(self):
        # 0xc0.0.3.99 is 192.0.3.99, listed in zen.test; 3221226338 is 192.0.3.98.
        zone = '"zen.test:url_ip:127.0.0.2-127.0.0.11:3"'
        res = self.scan(fixture="encoded.eml", opts=["dnsbl={%s}" % zone])
        self.assertIn("99.3.0.192.zen.test -> 127.0.0.2",
                      symbols(res)["REP_DNSBL_ZEN_TEST"]["detail"])
        # An ip zone is about the client (here 192.0.3.1), not the links.
        res = self.scan("--ip", "192.0.3.1", fixture="encoded.eml", opts=["dnsbl={%s}" % ZEN])
        self.assertNotIn("REP_DNSBL_ZEN_TEST", symbols(res))

    def test_idn_url_host_asked_as_its_a_label(self):
        s = symbols(self.scan(fixture="idn.eml", opts=["dnsbl={%s}" % DBL]))
        self.assertIn("xn--pple-43d.test.dbl.test -> 127.0.1.3", s["REP_DNSBL_DBL_TEST"]["detail"])

    def test_ipv6_url_hosts_asked_of_url_ip_zones(self):
        # An IPv6 literal is asked in nibbles as a client address is; a mapped
        # IPv4 one as that IPv4 address (192.0.3.99 is listed).
        zone = '"zen.test:url_ip:127.0.0.2-127.0.0.11:3"'
        detail = symbols(self.scan(fixture="v6-links.eml",
                                   opts=["dnsbl={%s}" % zone]))["REP_DNSBL_ZEN_TEST"]["detail"]
        self.assertIn(reverse_v6("2001:db9::98") + ".zen.test -> 127.0.0.4", detail)
        zone = '"zen.test:url_ip:127.0.0.2:3"'
        detail = symbols(self.scan(fixture="v6-links.eml",
                                   opts=["dnsbl={%s}" % zone]))["REP_DNSBL_ZEN_TEST"]["detail"]
        self.assertIn("99.3.0.192.zen.test -> 127.0.0.2", detail)
        # Never asked of url zones: an address is no name.
        self.assertNotIn("REP_DNSBL_DBL_TEST",
                         symbols(self.scan(fixture="v6-links.eml", opts=["dnsbl={%s}" % DBL])))

    def test_private_ipv6_url_hosts_are_not_asked(self):
        zone = '"zen.test:url_ip:127.0.0.2-127.0.0.11:3"'
        s = symbols(self.scan(fixture="v6-private.eml", opts=["dnsbl={%s}" % zone]))
        self.assertNotIn("REP_DNSBL_ZEN_TEST", s)

    def test_sender_and_helo_addresses_are_not_asked_of_domain_zones(self):
        # An address literal or a dotted quad is no name a domain list holds.
        before = len(self.dns.log)
        for args in (["--from", "x@[192.0.3.1]"], ["--from", "x@192.0.3.1"],
                     ["--helo", "192.0.3.1."], ["--from", "x@bad domain.test"]):
            s = symbols(self.scan(*args, "--client-name", "mx.test",
                                  opts=['dnsbl={"dbl.test:sender,helo:any:2.5"}']))
            self.assertNotIn("REP_DNSBL_DBL_TEST", s, args)
            self.assertNotIn("REP_DNS_TIMEOUT", s, args)
        self.assertNotIn("192.0.3.1.dbl.test", [q[1] for q in self.dns.log[before:]])
        self.assertNotIn("[192.0.3.1].dbl.test", [q[1] for q in self.dns.log[before:]])

    def test_helo_with_a_final_dot(self):
        s = symbols(self.scan("--helo", "bad-helo.test.", opts=["dnsbl={%s}" % DBL]))
        self.assertIn("bad-helo.test.dbl.test", s["REP_DNSBL_DBL_TEST"]["detail"])

    def test_names_of_no_dot_but_a_final_one_are_not_asked(self):
        # "localhost." is the name "localhost": no dot, no name a domain list holds.
        before = len(self.dns.log)
        for args in (["--helo", "localhost."], ["--helo", "LOCALHOST."], ["--helo", "localhost.."],
                     ["--from", "x@localhost."], ["--from", "x@LOCALHOST."]):
            s = symbols(self.scan(*args, "--client-name", "mx.test",
                                  opts=['dnsbl={"dbl.test:sender,helo:any:2.5"}']))
            self.assertNotIn("REP_DNSBL_DBL_TEST", s, args)
        s = symbols(self.scan(fixture="localhost-link.eml", opts=["dnsbl={%s}" % DBL]))
        self.assertNotIn("REP_DNSBL_DBL_TEST", s)
        self.assertEqual([q[1] for q in self.dns.log[before:] if "localhost" in q[1].lower()], [])
        # A name with a dot besides its final one is asked without the final one.
        s = symbols(self.scan("--from", "x@Spammer.Test.", opts=["dnsbl={%s}" % DBL]))
        self.assertIn("spammer.test.dbl.test -> 127.0.1.2", s["REP_DNSBL_DBL_TEST"]["detail"])

    def test_allow_list(self):
        s = symbols(self.scan("--ip", "192.0.3.50", opts=['dnswl={"wl.test:ip:any:-2"}']))
        self.assertEqual(s["REP_DNSWL_WL_TEST"]["score"], -2)

    def test_refused_zone_is_a_health_problem(self):
        res, p = run(self.dns, "--ip", "192.0.3.99", tmp=self.tmp,
                     opts=['dnsbl={"refused.test:ip:any:3", %s}' % ZEN])
        s = symbols(res)
        self.assertEqual(s["REP_DNSBL_BLOCKED_REFUSED_TEST"]["score"], 0)
        self.assertIn("REFUSED", s["REP_DNSBL_BLOCKED_REFUSED_TEST"]["detail"])
        self.assertNotIn("REP_DNSBL_REFUSED_TEST", s)
        self.assertIn("REP_DNSBL_ZEN_TEST", s)
        # Reported as a health problem (smf_health), not only as a symbol.
        self.assertTrue(any("refuses our resolver" in h for h in res["health"]), res["health"])

    def test_blocked_answer_is_not_a_listing(self):
        res, p = run(self.dns, "--ip", "192.0.3.99", tmp=self.tmp,
                     opts=['dnsbl={"blocked.test:ip:any:3"}'])
        s = symbols(res)
        self.assertIn("127.255.255.254", s["REP_DNSBL_BLOCKED_BLOCKED_TEST"]["detail"])
        self.assertEqual(s["REP_DNSBL_BLOCKED_BLOCKED_TEST"]["score"], 0)
        self.assertNotIn("REP_DNSBL_BLOCKED_TEST", s)
        # Reported as a health problem (smf_health), not only as a symbol.
        self.assertTrue(any("refuses our resolver" in h for h in res["health"]), res["health"])

    def test_other_lists_refusal_codes_are_not_listings(self):
        res, p = run(self.dns, "--ip", "192.0.3.99", tmp=self.tmp,
                     opts=['dnsbl={"uribl.test:ip:any:3"}',
                           'dnswl={"wl255.test:ip:127.0.0.0-127.0.255.255:-2"}'])
        s = symbols(res)
        self.assertIn("127.0.0.1", s["REP_DNSBL_BLOCKED_URIBL_TEST"]["detail"])
        self.assertIn("127.0.0.255", s["REP_DNSWL_BLOCKED_WL255_TEST"]["detail"])
        self.assertNotIn("REP_DNSBL_URIBL_TEST", s)
        self.assertNotIn("REP_DNSWL_WL255_TEST", s)
        # A zone whose codes name the address alone uses it for a listing.
        res, p = run(self.dns, "--ip", "192.0.3.99", tmp=self.tmp,
                     opts=['dnsbl={"uribl.test:ip:127.0.0.1:3"}'])
        s = symbols(res)
        self.assertEqual(s["REP_DNSBL_URIBL_TEST"]["score"], 3, s)
        self.assertNotIn("REP_DNSBL_BLOCKED_URIBL_TEST", s)

    def test_slow_zone_times_out_others_still_count(self):
        t = time.time()
        res = self.scan("--ip", "192.0.3.99", opts=[
            'dnsbl={"slow.test:ip:any:3", %s}' % ZEN, "dns_timeout_ms=300", "dns_tries=1"])
        s = symbols(res)
        self.assertIn("REP_DNS_TIMEOUT", s)
        self.assertIn("slow.test", s["REP_DNS_TIMEOUT"]["detail"])
        self.assertIn("REP_DNSBL_ZEN_TEST", s)
        self.assertLess(res["ms"], 1500)
        self.assertLess(time.time() - t, 2.5)

    def test_budget_caps_all_queries(self):
        res = self.scan("--ip", "192.0.3.99", opts=[
            'dnsbl={"slow.test:ip:any:3"}', "dns_timeout_ms=2000", "dns_budget_ms=250"])
        self.assertIn("REP_DNS_TIMEOUT", symbols(res))
        self.assertLess(res["ms"], 1000)

    def test_queries_run_in_parallel(self):
        zones = ["slow.test", "a.slow.test", "b.slow.test", "c.slow.test"]
        slow = DnsServer({}, slow=["slow.test"], delay=0.5).start()
        try:
            spec = ", ".join('"%s:ip:any:1"' % z for z in zones)
            res, p = run(slow, "--ip", "192.0.3.1", tmp=self.tmp,
                         opts=["dnsbl={%s}" % spec, "dns_timeout_ms=3000"])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(len(slow.log), 4)
            # Four answers of 0.5 s each: in sequence that is 2 s.
            self.assertLess(res["ms"], 1200)
            self.assertNotIn("REP_DNS_TIMEOUT", symbols(res))
        finally:
            slow.stop()

    def test_fcrdns_confirmed(self):
        s = symbols(self.scan("--ip", "192.0.3.99", "--client-name", "mail.good.test",
                              opts=["fcrdns=true"]))
        self.assertNotIn("REP_NO_FCRDNS", s)

    def test_fcrdns_asks_each_name_once(self):
        own = DnsServer(RECORDS).start()
        try:
            res, p = run(own, "--ip", "192.0.3.99", "--client-name", "mail.good.test",
                         tmp=self.tmp, opts=["fcrdns=true"])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertNotIn("REP_NO_FCRDNS", symbols(res))
            self.assertEqual(own.queries("mail.good.test"), [("mail.good.test", 1, "udp")])
        finally:
            own.stop()

    def test_fcrdns_ipv6_confirmed(self):
        s = symbols(self.scan("--ip", "2001:db9::99", "--client-name", "mail.good.test",
                              opts=["fcrdns=true"]))
        self.assertNotIn("REP_NO_FCRDNS", s)

    def test_fcrdns_name_leads_elsewhere(self):
        s = symbols(self.scan("--ip", "192.0.3.98", "--client-name", "mail.liar.test",
                              opts=["fcrdns=true", "no_fcrdns_score=2"]))
        self.assertEqual(s["REP_NO_FCRDNS"]["score"], 2)
        self.assertIn("mail.liar.test", s["REP_NO_FCRDNS"]["detail"])

    def test_fcrdns_name_with_many_addresses(self):
        # The client is the 20th address of its name: confirmed.
        s = symbols(self.scan("--ip", "192.0.3.80", "--client-name", "mail.pool.test",
                              opts=["fcrdns=true"]))
        self.assertNotIn("REP_NO_FCRDNS", s)
        self.assertNotIn("REP_DNS_TIMEOUT", s)
        # Past the addresses kept the answer is unknown, which is no penalty.
        s = symbols(self.scan("--ip", "192.0.3.81", "--client-name", "mail.bigpool.test",
                              opts=["fcrdns=true"]))
        self.assertNotIn("REP_NO_FCRDNS", s)
        self.assertIn("REP_DNS_TIMEOUT", s)

    def test_fcrdns_no_ptr(self):
        s = symbols(self.scan("--ip", "192.0.3.97", "--client-name", "x.test", opts=["fcrdns=true"]))
        self.assertIn("no PTR", s["REP_NO_FCRDNS"]["detail"])

    def test_fcrdns_failed_lookups_are_not_a_penalty(self):
        # A forward or reverse lookup the server refuses says nothing about the client: it
        # is shown as a DNS failure, never as REP_NO_FCRDNS, and never silently.
        for ip in ("192.0.3.65", "192.0.3.66"):
            s = symbols(self.scan("--ip", ip, "--client-name", "x.test", opts=["fcrdns=true"]))
            self.assertNotIn("REP_NO_FCRDNS", s, ip)
            self.assertIn("reverse DNS of %s" % ip, s["REP_DNS_TIMEOUT"]["detail"])

    def test_trusted_client_asks_nothing(self):
        before = len(self.dns.log)
        res = self.scan("--ip", "127.0.0.1", opts=["dnsbl={%s}" % ZEN, "fcrdns=true"])
        self.assertEqual(symbols(res), {})
        self.assertEqual(len(self.dns.log), before)

    def test_private_and_loopback_clients_are_not_asked(self):
        # Outside trusted_networks, a client on such an address is still judged, but no
        # list is asked about it: none holds it, and 127.0.0.2 is every list's test entry.
        before = len(self.dns.log)
        for ip in ("127.0.0.2", "10.1.2.3", "169.254.1.1", "::1", "fd00::1", "fe80::1",
                   # The special-purpose networks IANA marks as not globally reachable.
                   "0.1.2.3", "100.64.0.1", "192.0.0.9", "192.0.2.1", "198.18.0.1",
                   "198.19.255.1", "198.51.100.1", "203.0.113.1", "240.0.0.1", "::",
                   "2001:db8::1", "2001:2::1", "100::1", "fec0::1",
                   # Addresses that carry a private IPv4 one: mapped, NAT64, 6to4.
                   "::ffff:10.1.2.3", "64:ff9b::a01:203", "2002:a01:203::1",
                   "2002:c000:201::1"):
            res = self.scan("--ip", ip, "--client-name", "mx.test",
                            opts=["dnsbl={%s}" % ZEN, 'trusted_networks={"192.0.3.250/32"}'])
            self.assertNotIn("REP_DNSBL_ZEN_TEST", symbols(res), ip)
        self.assertEqual(self.dns.log[before:], [])
        # A public client is asked as ever.
        res = self.scan("--ip", "192.0.3.99", opts=["dnsbl={%s}" % ZEN,
                                                   'trusted_networks={"192.0.3.250/32"}'])
        self.assertIn("REP_DNSBL_ZEN_TEST", symbols(res))

    def test_nat64_and_6to4_clients_asked_as_their_ipv4_address(self):
        # Behind NAT64 the IPv4 host is the client; a 6to4 network is its IPv4
        # address's holder's. Both are asked as that address, which lists hold.
        for ip in ("64:ff9b::c000:363", "64:ff9b::192.0.3.99", "2002:c000:363::1"):
            res = self.scan("--ip", ip, opts=["dnsbl={%s}" % ZEN])
            self.assertIn("99.3.0.192.zen.test -> 127.0.0.2",
                          symbols(res)["REP_DNSBL_ZEN_TEST"]["detail"], ip)

    def test_nat64_client_is_trusted_as_its_ipv4_address(self):
        before = len(self.dns.log)
        res = self.scan("--ip", "64:ff9b::c000:363", opts=["dnsbl={%s}" % ZEN, "fcrdns=true",
                                                             'trusted_networks={"192.0.3.0/24"}'])
        self.assertEqual(symbols(res), {})
        self.assertEqual(self.dns.log[before:], [])

    def test_nat64_and_6to4_url_hosts_asked_as_their_ipv4_address(self):
        zone = '"zen.test:url_ip:127.0.0.2-127.0.0.11:3"'
        before = len(self.dns.log)
        s = symbols(self.scan(fixture="v6-embedded.eml", opts=["dnsbl={%s}" % zone]))
        self.assertIn("99.3.0.192.zen.test -> 127.0.0.2", s["REP_DNSBL_ZEN_TEST"]["detail"])
        self.assertEqual(sorted(q[1] for q in self.dns.log[before:]),
                         ["97.3.0.192.zen.test", "99.3.0.192.zen.test"])

    def test_bad_spec_refused_at_init(self):
        for spec in ['"zen.test:ipx:any:3"', '"zen.test:ip:127.0.0.300:3"', '"zen:ip:any:3"',
                     '"zen.test:ip:any"', '"zen.test:ip:any:3x"', '"zen.test:ip:any:nan"',
                     '"zen.test:ip:any:inf"', '"zen.test:ip:any:-1e999"',
                     # Zones under which every query would be a malformed name.
                     '".zen.test:ip:any:3"', '"zen..test:ip:any:3"', '"zen test.x:ip:any:3"',
                     '"%s.test:ip:any:3"' % ("z" * 64), '"zen.test..:ip:any:3"']:
            res, p = run(self.dns, tmp=self.tmp, opts=["dnsbl={%s}" % spec])
            self.assertEqual(p.returncode, 2, spec)
            self.assertIn("dnsbl: invalid entry", p.stderr)
        # A bonus for what the sender writes (a sender domain, HELO name, link) would be
        # every spammer's: only the client's address may earn one.
        for spec in ['"wl.test:sender:any:-2"', '"wl.test:ip,helo:any:-2"', '"wl.test:url:any:-1"',
                     '"wl.test:url_ip:any:-1"']:
            res, p = run(self.dns, tmp=self.tmp, opts=["dnswl={%s}" % spec])
            self.assertEqual(p.returncode, 2, spec)
            self.assertIn("negative SCORE is for ip queries only", p.stderr)
        res, p = run(self.dns, tmp=self.tmp, opts=['dnsbl={"dbl.test:url:any:-1"}'])
        self.assertEqual(p.returncode, 2)

    def test_bad_server_refused_at_init(self):
        cmd = [ARGS.modtest, "-m", ARGS.module, "-o", 'dns_server="not an address"',
               "-o", "fcrdns=true", os.path.join(self.tmp, "plain.eml")]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("not an address", p.stderr)


def run_files(dns, files, *args, opts=(), tmp=None):
    """One smf-modtest run over several files, one module state as in a worker;
    returns (symbols of each file, CompletedProcess)."""
    cmd = [ARGS.modtest, "-m", ARGS.module, "-o", 'dns_server="%s"' % dns.address]
    for o in opts:
        cmd += ["-o", o]
    cmd += list(args) + [os.path.join(tmp, f) for f in files]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return [symbols(json.loads(l)) for l in p.stdout.splitlines() if l.startswith("{")], p


class DnsCacheTest(unittest.TestCase):
    """Answers are kept for their TTL and shared by the messages of one module
    state: each test counts the queries that reach the server."""

    LISTED = reverse_v4("192.0.3.99") + ".zen.test"
    SHORT = reverse_v4("192.0.3.44") + ".zen.test"
    RECORDS = dict(RECORDS, **{
        # Listed for one second only.
        reverse_v4("192.0.3.44") + ".zen.test": [("A", "127.0.0.2", 1)],
        "host1.test.url.test": [("A", "127.0.1.2")],
        reverse_v4("192.0.3.99") + ".servfail.test": [("A", "127.0.0.2")],
    })

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="smf-rep-cache-")
        with open(os.path.join(self.tmp, "plain.eml"), "w") as f:
            f.write("From: a@example.net\nSubject: hello\n\nJust text.\n")
        for i in (1, 2, 3):
            with open(os.path.join(self.tmp, "u%d.eml" % i), "w") as f:
                f.write("From: a@example.net\nSubject: link\n\nhttp://host%d.test/\n" % i)
        # neg.test says "no such name" for 1 second, url.test for 300.
        self.dns = DnsServer(self.RECORDS, slow=["slow.test"], delay=1.0,
                             servfail=["servfail.test"],
                             soa={"neg.test": 1, "url.test": 300}).start()

    def tearDown(self):
        self.dns.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def files(self, files, *args, opts=()):
        res, p = run_files(self.dns, files, *args, opts=opts, tmp=self.tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(res), len(files))
        return res

    def asked(self, name):
        return len(self.dns.queries(name))

    def test_second_lookup_within_ttl_is_not_asked(self):
        opts = ['dnsbl={%s, "neg.test:ip:any:1"}' % ZEN, "fcrdns=true"]
        res = self.files(["plain.eml"] * 3, "--ip", "192.0.3.99", opts=opts)
        for s in res:  # Every message gets the same verdict, answered or cached.
            self.assertIn("99.3.0.192.zen.test -> 127.0.0.2", s["REP_DNSBL_ZEN_TEST"]["detail"])
            self.assertNotIn("REP_NO_FCRDNS", s)
            self.assertNotIn("REP_DNS_TIMEOUT", s)
        self.assertEqual(self.asked(self.LISTED), 1)
        # "No such name" is kept too, and so are the PTR and A of FCrDNS.
        self.assertEqual(self.asked(reverse_v4("192.0.3.99") + ".neg.test"), 1)
        self.assertEqual(self.asked(reverse_v4("192.0.3.99") + ".in-addr.arpa"), 1)
        self.assertEqual(self.asked("mail.good.test"), 1)

    def test_expired_ttl_is_asked_again(self):
        zones = 'dnsbl={%s, "neg.test:ip:any:1"}' % ZEN
        # Within the TTL of 1 s (record) and 1 s (the SOA's MINIMUM): asked once.
        self.files(["plain.eml"] * 2, "--ip", "192.0.3.44", opts=[zones])
        self.assertEqual(self.asked(self.SHORT), 1)
        self.assertEqual(self.asked(reverse_v4("192.0.3.44") + ".neg.test"), 1)
        # Past it: asked again, and still listed.
        res = self.files(["plain.eml"] * 2, "--ip", "192.0.3.44", "--pause", "1300", opts=[zones])
        self.assertIn("REP_DNSBL_ZEN_TEST", res[1])
        self.assertEqual(self.asked(self.SHORT), 3)
        self.assertEqual(self.asked(reverse_v4("192.0.3.44") + ".neg.test"), 3)

    def test_max_ttl_caps_the_answers_ttl(self):
        # The answer says 60 s, the option 1 s.
        opts = ["dnsbl={%s}" % ZEN, "dns_cache_max_ttl=1"]
        self.files(["plain.eml"] * 2, "--ip", "192.0.3.99", opts=opts)
        self.assertEqual(self.asked(self.LISTED), 1)
        self.files(["plain.eml"] * 2, "--ip", "192.0.3.99", "--pause", "1300", opts=opts)
        self.assertEqual(self.asked(self.LISTED), 3)

    def test_timeout_and_servfail_are_not_cached(self):
        opts = ['dnsbl={"slow.test:ip:any:3", "servfail.test:ip:any:3", %s}' % ZEN,
                "dns_timeout_ms=300", "dns_tries=1"]
        res = self.files(["plain.eml"] * 2, "--ip", "192.0.3.99", opts=opts)
        for s in res:  # The next message asks again and sees the failure again.
            self.assertIn("slow.test", s["REP_DNS_TIMEOUT"]["detail"])
            self.assertIn("REP_DNSBL_ZEN_TEST", s)
        self.assertEqual(self.asked(reverse_v4("192.0.3.99") + ".slow.test"), 2)
        self.assertEqual(self.asked(reverse_v4("192.0.3.99") + ".servfail.test"), 2)
        self.assertEqual(self.asked(self.LISTED), 1)

    def test_size_cap_evicts_the_least_recently_used(self):
        # Two answers kept: host1, asked again before host3 comes, stays; host2 goes.
        opts = ['dnsbl={"url.test:url:any:1"}', "dns_cache_size=2"]
        res = self.files(["u1.eml", "u2.eml", "u1.eml", "u3.eml", "u1.eml", "u2.eml"], opts=opts)
        self.assertIn("REP_DNSBL_URL_TEST", res[4])
        self.assertEqual(self.asked("host1.test.url.test"), 1)
        self.assertEqual(self.asked("host2.test.url.test"), 2)
        self.assertEqual(self.asked("host3.test.url.test"), 1)

    def test_size_zero_disables_the_cache(self):
        self.files(["plain.eml"] * 2, "--ip", "192.0.3.99", opts=["dnsbl={%s}" % ZEN])
        self.assertEqual(self.asked(self.LISTED), 1)
        res = self.files(["plain.eml"] * 2, "--ip", "192.0.3.99",
                         opts=["dnsbl={%s}" % ZEN, "dns_cache_size=0"])
        self.assertIn("REP_DNSBL_ZEN_TEST", res[1])
        self.assertEqual(self.asked(self.LISTED), 3)

    def test_nonsense_cache_options_refused_at_init(self):
        for opt, text in (("dns_cache_size=-1", "dns_cache_size must be 0 (no cache) to"),
                          ("dns_cache_size=2000000", "not 2000000"),
                          ("dns_cache_max_ttl=0", "dns_cache_max_ttl must be 1 to"),
                          ("dns_cache_negative_ttl=-5", "dns_cache_negative_ttl must be 0")):
            res, p = run_files(self.dns, ["plain.eml"], opts=["dnsbl={%s}" % ZEN, opt],
                               tmp=self.tmp)
            self.assertEqual(p.returncode, 2, opt)
            self.assertIn(text, p.stderr)


class HistoryAndRateTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="smf-rep-")
        for i in range(8):
            with open(os.path.join(cls.tmp, "m%d.eml" % i), "w") as f:
                f.write("From: a@example.net\nSubject: n%d\n\nText.\n" % i)
            # What a connection check (MAIL FROM, RCPT TO) hands the stage: no message yet.
            open(os.path.join(cls.tmp, "check%d.eml" % i), "w").close()
        cls.dns = DnsServer(RECORDS).start()

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def scan(self, data, *args, opts=(), fixture="m0.eml"):
        res, p = run(self.dns, *args, tmp=self.tmp, opts=opts, data_dir=data, fixture=fixture)
        self.assertEqual(p.returncode, 0, p.stderr)
        return symbols(res)

    def test_spam_history_of_address_and_network(self):
        """History grows from final verdicts (verdict(), ABI 1.2): three rejected
        messages make the address, its network and its domain suspect."""
        data = os.path.join(self.tmp, "hist-spam")
        opts = ["history_min_count=2.5"]
        for _ in range(3):
            s = self.scan(data, "--ip", "192.0.3.99", "--from", "x@spamco.test",
                          "--final", "reject", opts=opts)
            self.assertNotIn("REP_HISTORY_IP", s)
        s = self.scan(data, "--ip", "192.0.3.99", "--from", "x@spamco.test", opts=opts)
        self.assertAlmostEqual(s["REP_HISTORY_IP"]["score"], 2)
        self.assertIn("192.0.3.99: ham 0.0 spam 3.0", s["REP_HISTORY_IP"]["detail"])
        self.assertAlmostEqual(s["REP_HISTORY_DOMAIN"]["score"], 1)
        # A neighbour in the same /24 inherits the network's history, not the address's.
        s = self.scan(data, "--ip", "192.0.3.100", "--from", "y@other.test", opts=opts)
        self.assertNotIn("REP_HISTORY_IP", s)
        self.assertGreater(s["REP_HISTORY_NET"]["score"], 0)
        self.assertIn("192.0.3.0/24", s["REP_HISTORY_NET"]["detail"])

    def test_history_counts_a_message_once_whatever_its_recipient_domains(self):
        """The engine scans a message once per recipient domain and tells each scan's
        final verdict in turn (same request id, same thread); one smf-modtest run over
        the same file three times does the same. The message counts once; the next,
        another request, counts again."""
        data = os.path.join(self.tmp, "hist-domains")
        m0, m1 = os.path.join(self.tmp, "m0.eml"), os.path.join(self.tmp, "m1.eml")
        cmd = [ARGS.modtest, "-m", ARGS.module, "-o", 'dns_server="%s"' % self.dns.address,
               "--data-dir", data, "--ip", "203.0.113.7", "--final", "reject", m0, m0, m0, m1]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        s = self.scan(data, "--ip", "203.0.113.7", opts=["history_min_count=0.5"])
        self.assertIn("203.0.113.7: ham 0.0 spam 2.0", s["REP_HISTORY_IP"]["detail"])

    def test_ham_history_and_decay(self):
        data = os.path.join(self.tmp, "hist-ham")
        opts = ["history_min_count=2.5"]
        for _ in range(3):
            self.scan(data, "--ip", "198.51.100.5", "--client-name", "mx.test",
                      "--final", "accept", opts=opts)
        s = self.scan(data, "--ip", "198.51.100.5", "--client-name", "mx.test", opts=opts)
        self.assertAlmostEqual(s["REP_HISTORY_IP"]["score"], -2)
        # With a half-life of 3.6 ms, 0.3 s later the counts have decayed below the minimum.
        time.sleep(0.3)
        s = self.scan(data, "--ip", "198.51.100.5", "--client-name", "mx.test",
                      opts=["history_min_count=2.5", "history_half_life_hours=0.000001"])
        self.assertNotIn("REP_HISTORY_IP", s)

    def test_virus_and_uncertain_verdicts(self):
        """A virus verdict counts as virus; marked or deferred mail counts for nothing;
        without a final verdict (a scan alone) nothing is recorded."""
        data = os.path.join(self.tmp, "hist-virus")
        opts = ["history_min_count=0.5"]
        self.scan(data, "--ip", "192.0.3.77", "--final", "quarantine", "--final-virus", "X",
                  opts=opts)
        for action in ("add_header", "tempfail"):
            self.scan(data, "--ip", "192.0.3.77", "--final", action, opts=opts)
        self.scan(data, "--ip", "192.0.3.77", opts=opts)
        s = self.scan(data, "--ip", "192.0.3.77", opts=opts)
        self.assertIn("192.0.3.77: ham 0.0 spam 0.0 virus 1.0", s["REP_HISTORY_IP"]["detail"])

    def sweep_store(self, data):
        """A store with stale and live records of every kind, in key order."""
        now = time.time() * 1000
        hour = int(now // HOUR_MS)
        self.scan(data, "--ip", "")  # Creates the store; no verdict, so no sweep.
        records = {
            b"h\tdom\tgone.test": history(0, 0.5, 0, now - 3 * HALF_LIFE_MS),  # 0.06 left
            b"h\tip\t198.51.100.1": history(0, 500, 0, now - 20 * HALF_LIFE_MS),
            b"h\tip\t198.51.100.2": history(0, 5, 0, now),
            b"h\tip\tbad": b"junk",  # Not a record: it reads as nothing.
            b"h\tnet\t198.51.100.0/24": history(1, 0, 0, now - 3 * HALF_LIFE_MS),  # 0.125 left
            b"r\tsender\told@ours.test": rate(hour - 5, 3),
            b"r\tuser\tfresh": rate(hour, 2),
            b"r\tuser\tlasthour": rate(hour - 1, 2),
            b"x\tforeign": b"not the sweep's",
        }
        load(data, records)
        return records

    def test_sweep_deletes_stale_records_only(self):
        """A final verdict runs a step of the sweep: history decayed below
        history_forget_count (0.1), records that are not records and rate counts
        whose hours left the sliding window go; the rest stays."""
        data = os.path.join(self.tmp, "sweep-all")
        records = self.sweep_store(data)
        self.scan(data, "--ip", "", "--final", "tempfail")
        gone = {b"h\tdom\tgone.test", b"h\tip\t198.51.100.1", b"h\tip\tbad",
                b"r\tsender\told@ours.test"}
        left = dump(data)
        self.assertEqual(set(left) - {b"s\tcursor"}, set(records) - gone)
        self.assertEqual(left[b"s\tcursor"], b"", "a walk that reached the end starts again")

    def test_sweep_resumes_from_its_cursor(self):
        """A step examines sweep_keys keys and saves where it stopped; the next
        step, in another process, goes on from there."""
        data = os.path.join(self.tmp, "sweep-steps")
        self.sweep_store(data)
        self.scan(data, "--ip", "", "--final", "tempfail", opts=["sweep_keys=2"])
        left = dump(data)
        self.assertNotIn(b"h\tdom\tgone.test", left)
        self.assertNotIn(b"h\tip\t198.51.100.1", left)
        self.assertIn(b"h\tip\tbad", left, "the step examined more than sweep_keys keys")
        self.assertEqual(left[b"s\tcursor"], b"h\tip\t198.51.100.1")
        self.scan(data, "--ip", "", "--final", "tempfail", opts=["sweep_keys=2"])
        left = dump(data)
        self.assertNotIn(b"h\tip\tbad", left)
        self.assertIn(b"r\tsender\told@ours.test", left)
        self.assertEqual(left[b"s\tcursor"], b"h\tip\tbad")
        # sweep_keys = 0 keeps every record.
        self.scan(data, "--ip", "", "--final", "tempfail", opts=["sweep_keys=0"])
        self.assertIn(b"r\tsender\told@ours.test", dump(data))

    def test_sweep_steps_over_a_key_longer_than_modules_write(self):
        """A key longer than the 255 bytes a module may write (another tool's,
        which LMDB takes up to 511) is no record of the module's: the walk goes
        past it, and the records after it are still swept."""
        data = os.path.join(self.tmp, "sweep-long")
        records = self.sweep_store(data)
        long_key = b"h\tip\tbig" + b"x" * 300
        load(data, {long_key: b"junk"})
        self.scan(data, "--ip", "", "--final", "tempfail")
        left = dump(data)
        self.assertIn(long_key, left)
        self.assertNotIn(b"r\tsender\told@ours.test", left, "the walk stopped at the long key")
        self.assertEqual(set(left) - {b"s\tcursor", long_key},
                         set(records) - {b"h\tdom\tgone.test", b"h\tip\t198.51.100.1",
                                         b"h\tip\tbad", b"r\tsender\told@ours.test"})
        self.assertEqual(left[b"s\tcursor"], b"")

    def test_sweep_writes_once_per_step(self):
        """A step's deletions and its cursor are written in one transaction, not one
        each: every other writer waits for each commit."""
        data = os.path.join(self.tmp, "sweep-txn")
        records = self.sweep_store(data)
        before = last_txn(data)
        self.scan(data, "--ip", "", "--final", "tempfail")
        left = dump(data)
        self.assertEqual(len(records) - (len(left) - 1), 4, "the step deleted the stale records")
        # One for the step; smf-modtest's opening of the store may add one.
        self.assertLessEqual(last_txn(data) - before, 2)

    def test_records_stamped_ahead_are_stamped_now(self):
        """A record stamped later than now (written while the clock ran fast, or by
        another host) counts as stamped now: the sweep stamps it now, so that it decays,
        or leaves its window, from now on instead of standing until that time."""
        data = os.path.join(self.tmp, "sweep-ahead")
        now = time.time() * 1000
        self.scan(data, "--ip", "")
        load(data, {b"h\tip\t198.51.100.9": history(0, 1, 0, now + 3650 * 24 * HOUR_MS),
                    b"r\tuser\tahead": rate(int(now // HOUR_MS) + 2, 2)})
        self.scan(data, "--ip", "", "--final", "tempfail")
        left = dump(data)
        hour_after = int(time.time() * 1000 // HOUR_MS)
        ham, spam, virus, at = struct.unpack("=3dq", left[b"h\tip\t198.51.100.9"])
        self.assertEqual((ham, spam, virus), (0, 1, 0), "a record ahead is not decayed")
        self.assertLessEqual(at, time.time() * 1000, "the history record is still stamped ahead")
        hour, cur_msgs, cur_rcpts, _, _, _ = struct.unpack("=q4IQ", left[b"r\tuser\tahead"])
        self.assertLessEqual(hour, hour_after, "the rate record is still stamped ahead")
        self.assertEqual((cur_msgs, cur_rcpts), (2, 2), "its counts are this hour's")
        # Stamped now, the history record decays from now: with a half-life of 3.6 ms,
        # the next step finds it stale.
        time.sleep(0.2)
        self.scan(data, "--ip", "", "--final", "tempfail",
                  opts=["history_half_life_hours=0.000001"])
        self.assertNotIn(b"h\tip\t198.51.100.9", dump(data))

    def test_sweep_goes_on_after_the_clock_is_set_back(self):
        """A step is due a second after the last one by the wall clock; a clock
        set back (two hours here) must not stop the sweep until it catches up."""
        faketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
        if not os.path.exists(faketime):
            self.skipTest("faketime is not installed (scripts/setup installs it)")
        data = os.path.join(self.tmp, "sweep-clock")
        self.sweep_store(data)
        clock = os.path.join(self.tmp, "sweep-clock.faketime")
        with open(clock, "w") as f:
            f.write("+7200\n")
        env = dict(os.environ, LD_PRELOAD=faketime, FAKETIME_TIMESTAMP_FILE=clock,
                   FAKETIME_NO_CACHE="1", FAKETIME_DONT_FAKE_MONOTONIC="1",
                   ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
        cmd = [ARGS.modtest, "-m", ARGS.module, "-o", 'dns_server="%s"' % self.dns.address,
               "-o", "sweep_keys=1", "--data-dir", data, "--ip", "", "--final", "tempfail",
               "--pause", "6000", os.path.join(self.tmp, "m0.eml"), os.path.join(self.tmp, "m1.eml")]
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
        try:
            # The first step, two hours ahead, examines the first key.
            deadline = time.monotonic() + 30
            while b"h\tdom\tgone.test" in dump(data) and time.monotonic() < deadline:
                time.sleep(0.1)
            with open(clock, "w") as f:
                f.write("+0\n")
            _, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        left = dump(data)
        self.assertNotIn(b"h\tip\t198.51.100.1", left, "no step ran after the clock went back")
        self.assertEqual(left[b"s\tcursor"], b"h\tip\t198.51.100.1")

    def test_our_own_domains_keep_no_history(self):
        """Anyone can claim one of local_domains as sender: its mail builds no history
        and a record of ours kept from before scores nothing. Mail an operator learns
        from the site's mailboxes (smfctl learn, which knows no client address) builds
        none either, since every record is kept per client address or network."""
        base = os.path.join(self.tmp, "learn-own")
        mail = os.path.join(base, "mail")
        os.makedirs(mail)
        for i, sender in enumerate(["boss@ours.test", "it@Mail.Ours.test", "x@partner.test"]):
            with open(os.path.join(mail, "m%d.eml" % i), "w") as f:
                f.write("From: %s\nTo: a@ours.test\nSubject: s%d\n\nText %d.\n" % (sender, i, i))
        config = os.path.join(base, "smfd.conf")
        with open(config, "w") as f:
            f.write('listen = "ipc://%s/scan.sock"\ndata_dir = "%s/data"\n'
                    'quarantine_dir = "%s/quarantine"\nmodule_dir = "%s"\n'
                    'modules = {reputation}\nreputation {\n  local_domains = {"ours.test"}\n}\n'
                    'policy default {\n  inbound {\n    stages = {reputation}\n  }\n}\n'
                    % (base, base, base, os.path.dirname(os.path.abspath(ARGS.module))))
        p = subprocess.run([ARGS.smfctl, "-c", config, "learn", "--ham", mail],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        data = os.path.join(base, "data")
        self.assertEqual([k for k in dump(data) if k.startswith(b"h\t")], [])
        # Final verdicts from a client: a stranger's domain gets a record, ours none.
        opts = ['local_domains={"ours.test"}']
        for sender in ("x@partner.test", "boss@ours.test", "it@Mail.Ours.test"):
            self.scan(data, "--ip", "203.0.113.9", "--from", sender, "--final", "accept",
                      opts=opts)
        keys = {k for k in dump(data) if k.startswith(b"h\tdom\t")}
        self.assertEqual(keys, {b"h\tdom\tpartner.test from 203.0.0.0/16"})
        # A stranger claiming our domain gets nothing from a record kept before.
        ours = b"h\tdom\tours.test from 203.0.0.0/16"
        load(data, {ours: history(20, 0, 0, time.time() * 1000)})
        s = self.scan(data, "--ip", "203.0.113.9", "--from", "boss@ours.test", opts=opts)
        self.assertNotIn("REP_HISTORY_DOMAIN", s)
        # Nor does a final verdict add to it.
        self.scan(data, "--ip", "203.0.113.9", "--from", "boss@ours.test", "--final", "accept",
                  opts=opts)
        self.assertEqual(struct.unpack("=3dq", dump(data)[ours])[0], 20)

    def test_domain_history_is_kept_per_network(self):
        """A sender domain's history is the domain as seen from one /16 (IPv4) or /48
        (IPv6) of clients: spam forging a well-liked domain from elsewhere neither
        borrows its good name nor spoils it."""
        data = os.path.join(self.tmp, "hist-forged")
        opts = ["history_min_count=2.5"]
        for i in range(3):
            self.scan(data, "--ip", "198.18.7.%d" % (10 + i), "--from", "x@bank.test",
                      "--final", "accept", opts=opts)
            self.scan(data, "--ip", "2001:db8:1:2::%d" % (10 + i), "--from", "y@bank.test",
                      "--final", "accept", opts=opts)
        # The bank's own networks: its good name.
        s = self.scan(data, "--ip", "198.18.200.1", "--from", "z@bank.test", opts=opts)
        self.assertAlmostEqual(s["REP_HISTORY_DOMAIN"]["score"], -1)
        self.assertIn("bank.test from 198.18.0.0/16: ham 3.0", s["REP_HISTORY_DOMAIN"]["detail"])
        s = self.scan(data, "--ip", "2001:db8:1:ffff::1", "--from", "z@bank.test", opts=opts)
        self.assertIn("bank.test from 2001:db8:1::/48: ham 3.0", s["REP_HISTORY_DOMAIN"]["detail"])
        # A forger elsewhere gets none of it, and its spam does not count against the bank.
        for _ in range(3):
            s = self.scan(data, "--ip", "203.0.113.66", "--from", "x@bank.test",
                          "--final", "reject", opts=opts)
            self.assertNotIn("REP_HISTORY_DOMAIN", s)
        s = self.scan(data, "--ip", "198.18.9.9", "--from", "x@bank.test", opts=opts)
        self.assertAlmostEqual(s["REP_HISTORY_DOMAIN"]["score"], -1)

    def test_message_rate_limit(self):
        data = os.path.join(self.tmp, "rate-msgs")
        opts = ["rate_messages_per_hour=3", "rate_limit_score=7"]
        args = ["--direction", "outbound", "--auth-user", "alice", "--from", "alice@ours.test"]
        for i in range(3):
            self.assertNotIn("REP_RATE_LIMIT", self.scan(data, *args, opts=opts, fixture="m%d.eml" % i))
        s = self.scan(data, *args, opts=opts, fixture="m3.eml")
        self.assertEqual(s["REP_RATE_LIMIT"]["score"], 7)
        self.assertIn("alice", s["REP_RATE_LIMIT"]["detail"])
        # Another user with another sender has a count of its own.
        s = self.scan(data, "--direction", "outbound", "--auth-user", "bob", "--from", "bob@ours.test",
                      opts=opts, fixture="m4.eml")
        self.assertNotIn("REP_RATE_LIMIT", s)

    def test_sender_count_ignores_the_case_of_the_address(self):
        # Without an authenticated user the sender is the only count: writing the address
        # in another case must not start a count of its own.
        data = os.path.join(self.tmp, "rate-case")
        opts = ["rate_messages_per_hour=2"]
        for i, sender in enumerate(("gina@ours.test", "Gina@Ours.test", "GINA@OURS.TEST")):
            s = self.scan(data, "--direction", "outbound", "--from", sender, opts=opts,
                          fixture="m%d.eml" % i)
        self.assertIn("sender gina@ours.test: 3 messages in the last hour, limit 2",
                      s["REP_RATE_LIMIT"]["detail"])

    def test_user_count_ignores_the_case_of_the_login(self):
        # Login back ends mostly take "Hank" for "hank": each case of the name, with a
        # sender of its own, must not start a count of its own.
        data = os.path.join(self.tmp, "rate-user-case")
        opts = ["rate_messages_per_hour=2"]
        for i, user in enumerate(("hank", "Hank", "HANK")):
            s = self.scan(data, "--direction", "outbound", "--auth-user", user,
                          "--from", "h%d@ours.test" % i, opts=opts, fixture="m%d.eml" % i)
        self.assertIn("user hank: 3 messages in the last hour, limit 2",
                      s["REP_RATE_LIMIT"]["detail"])

    def test_null_sender_counts_per_client_address(self):
        # Bounces and auto-replies (MAIL FROM:<>) have no sender to count by: they count
        # as the null sender of their client address, or, with none known, as one.
        data = os.path.join(self.tmp, "rate-null")
        opts = ["rate_messages_per_hour=2"]
        for i in range(3):
            s = self.scan(data, "--direction", "outbound", "--from", "", "--ip", "10.0.0.5",
                          opts=opts, fixture="m%d.eml" % i)
        self.assertIn("sender <> from 10.0.0.5: 3 messages in the last hour, limit 2",
                      s["REP_RATE_LIMIT"]["detail"])
        # Another client's bounces count apart; a NAT64 address is its IPv4 client's.
        s = self.scan(data, "--direction", "outbound", "--from", "", "--ip", "10.0.0.6",
                      opts=opts, fixture="m3.eml")
        self.assertNotIn("REP_RATE_LIMIT", s)
        s = self.scan(data, "--direction", "outbound", "--from", "", "--ip", "64:ff9b::a00:5",
                      opts=opts, fixture="m4.eml")
        self.assertIn("sender <> from 10.0.0.5: 4 messages", s["REP_RATE_LIMIT"]["detail"])
        for i in (5, 6, 7):
            s = self.scan(data, "--direction", "outbound", "--from", "", "--ip", "",
                          opts=opts, fixture="m%d.eml" % i)
        self.assertIn("sender <>: 3 messages", s["REP_RATE_LIMIT"]["detail"])

    def test_names_too_long_for_a_key_still_count(self):
        # A sender address or user name longer than a key takes counts under its start
        # and a hash of the whole: names that differ only past the start count apart.
        data = os.path.join(self.tmp, "rate-long")
        opts = ["rate_messages_per_hour=2"]
        long_sender = "s" * 300 + "@ours.test"
        for i in range(3):
            s = self.scan(data, "--direction", "outbound", "--from", long_sender, opts=opts,
                          fixture="m%d.eml" % i)
        self.assertIn("3 messages in the last hour, limit 2", s["REP_RATE_LIMIT"]["detail"])
        s = self.scan(data, "--direction", "outbound", "--from", "s" * 300 + "@Ours.test.net",
                      opts=opts, fixture="m3.eml")
        self.assertNotIn("REP_RATE_LIMIT", s)
        for i in range(3):
            s = self.scan(data, "--direction", "outbound", "--auth-user", "U" * 400,
                          "--from", "u%d@ours.test" % i, opts=opts, fixture="m%d.eml" % (4 + i))
        self.assertIn("user " + "u" * 400 + ": 3 messages", s["REP_RATE_LIMIT"]["detail"])
        keys = [k for k in dump(data) if k.startswith(b"r\t")]
        self.assertEqual(len(keys), 3 + 3, keys)  # Two long senders, a long user, 3 short senders.
        self.assertTrue(all(len(k) <= 255 for k in keys))

    def test_recipient_rate_limit_and_one_message_per_request(self):
        data = os.path.join(self.tmp, "rate-rcpts")
        opts = ["rate_messages_per_hour=1", "rate_recipients_per_hour=5"]
        rcpts = ["--rcpt", "a@x.test", "--rcpt", "b@x.test", "--rcpt", "c@x.test"]
        args = ["--direction", "outbound", "--from", "carol@ours.test"] + rcpts
        self.assertNotIn("REP_RATE_LIMIT", self.scan(data, *args, opts=opts, fixture="m5.eml"))
        # The same request scanned again (another recipient domain) is not a second message,
        # but its recipients count: 6 > 5.
        s = self.scan(data, *args, opts=opts, fixture="m5.eml")
        self.assertIn("recipients", s["REP_RATE_LIMIT"]["detail"])

    def test_connection_checks_count_nothing(self):
        data = os.path.join(self.tmp, "rate-checks")
        opts = ["rate_messages_per_hour=2", "rate_recipients_per_hour=10"]
        args = ["--direction", "outbound", "--auth-user", "dave", "--from", "dave@ours.test"]
        # The checks at MAIL FROM and each RCPT TO of two messages: none of them counts.
        for i in range(6):
            s = self.scan(data, "--connect", *args, opts=opts, fixture="check%d.eml" % i)
            self.assertNotIn("REP_RATE_LIMIT", s)
        for i in (6, 7):
            self.assertNotIn("REP_RATE_LIMIT", self.scan(data, *args, opts=opts, fixture="m%d.eml" % i))
        # At the limit, the next check already says one more message would pass it.
        s = self.scan(data, "--connect", *args, opts=opts, fixture="check6.eml")
        self.assertIn("3 messages in the last hour, limit 2", s["REP_RATE_LIMIT"]["detail"])

    @contextlib.contextmanager
    def faked_time(self, offset):
        """smf-modtest runs started inside see the wall clock moved by offset (libfaketime)."""
        lib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
        if not os.path.exists(lib):
            self.skipTest("faketime is not installed (scripts/setup installs it)")
        saved = dict(os.environ)
        os.environ.update({"LD_PRELOAD": lib, "FAKETIME": offset,
                           "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                           "ASAN_OPTIONS": saved.get("ASAN_OPTIONS", "") +
                           ":verify_asan_link_order=0"})
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def rate_scans(self, data, user, fixtures):
        """Outbound scans by one user, limit 2 messages an hour; the last scan's symbols."""
        args = ["--direction", "outbound", "--auth-user", user, "--from", user + "@ours.test"]
        for f in fixtures:
            s = self.scan(data, *args, opts=["rate_messages_per_hour=2"], fixture=f)
        return s

    def test_a_clock_stepped_back_keeps_the_counts(self):
        data = os.path.join(self.tmp, "rate-clock")
        self.assertNotIn("REP_RATE_LIMIT", self.rate_scans(data, "erin", ["m0.eml", "m1.eml"]))
        with self.faked_time("-2h"):
            s = self.rate_scans(data, "erin", ["m2.eml"])
        self.assertIn("3 messages in the last hour, limit 2", s["REP_RATE_LIMIT"]["detail"])

    def test_counts_stamped_hours_ahead_start_again(self):
        # A clock that ran five hours fast, then was set right: its counts start again
        # rather than stand until that hour comes.
        data = os.path.join(self.tmp, "rate-ahead")
        with self.faked_time("+5h"):
            self.rate_scans(data, "fay", ["m0.eml", "m1.eml"])
        self.assertNotIn("REP_RATE_LIMIT", self.rate_scans(data, "fay", ["m2.eml"]))

    def test_a_count_read_before_the_hour_keeps_the_next_hours(self):
        """A worker that read the time just before the hour turned counts after another
        worker already counted into the new hour, and the sweep runs then too: the record
        stays in the new hour, or the next count there would take the new hour's counts
        for the last hour's and drop the last hour's altogether."""
        data = os.path.join(self.tmp, "rate-boundary")
        # An hour of tomorrow's, in UTC, as libfaketime reads a date under TZ=UTC.
        hour = int(time.time() * 1000 // HOUR_MS) + 24

        def at(h, seconds):
            return "@" + time.strftime("%Y-%m-%d %H:%M:%S",
                                       time.gmtime(h * 3600 + seconds))

        self.scan(data, "--ip", "")
        # As left by the other worker: this hour's 2 messages now the last hour's, and
        # 2 counted into the next hour.
        load(data, {b"r\tuser\tgwen": struct.pack("=q4IQ", hour + 1, 2, 2, 2, 2, 1)})
        args = ["--direction", "outbound", "--auth-user", "gwen", "--from", "gwen@ours.test",
                "--final", "accept"]
        opts = ["rate_messages_per_hour=100"]
        with self.faked_time(at(hour, 3600 - 2)):
            os.environ["TZ"] = "UTC"
            self.scan(data, *args, opts=opts, fixture="m0.eml")
        got = struct.unpack("=q4IQ", dump(data)[b"r\tuser\tgwen"])
        self.assertEqual(got[:5], (hour + 1, 3, 3, 2, 2), got)
        with self.faked_time(at(hour + 1, 30)):
            os.environ["TZ"] = "UTC"
            self.scan(data, *args, opts=opts, fixture="m1.eml")
        got = struct.unpack("=q4IQ", dump(data)[b"r\tuser\tgwen"])
        self.assertEqual(got[:5], (hour + 1, 4, 4, 2, 2), got)

    def test_inbound_is_not_rate_limited(self):
        data = os.path.join(self.tmp, "rate-in")
        for i in range(3):
            s = self.scan(data, "--ip", "127.0.0.1", opts=["rate_messages_per_hour=1"],
                          fixture="m%d.eml" % i)
            self.assertNotIn("REP_RATE_LIMIT", s)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--modtest", required=True)
    ap.add_argument("--module", required=True)
    ap.add_argument("--smfctl", required=True)
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
