"""Tests of the bayes module and of smfctl learn/unlearn.

Each test makes its own data folder, learns synthetic fixtures (two
vocabularies, written by fixtures.py) with smfctl, and scans with
smf-modtest sharing that data folder. The store itself is read back with
mdb_dump (lmdb-utils). Standard library only.
"""
import argparse
import base64
import fcntl
import hashlib
import json
import math
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

import fixtures

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lmdbrecords import dump, load  # noqa: E402

PATHS = {}


def parse_paths():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smfctl", required=True)
    ap.add_argument("--modtest", required=True)
    ap.add_argument("--module", required=True, help="path of bayes.so")
    args, rest = ap.parse_known_args()
    PATHS.update({k: os.path.abspath(v) for k, v in vars(args).items()})
    return [sys.argv[0]] + rest


CONFIG = """
listen = "ipc://{tmp}/scan.sock"
publish = "ipc://{tmp}/events.sock"
data_dir = "{tmp}/data"
quarantine_dir = "{tmp}/quarantine"
module_dir = "{modules}"
modules = {{{modules_list}}}
{sections}
policy default {{
  inbound {{
    stages = {{{modules_list}}}
  }}
  outbound {{
    stages = {{{modules_list}}}
  }}
}}
"""


class BayesCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="smf-bayes-")
        self.data = os.path.join(self.tmp, "data")
        self.mail = fixtures.write_all(os.path.join(self.tmp, "mail"))
        self.config = self.write_config("bayes")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_config(self, modules, name="smfd.conf"):
        path = os.path.join(self.tmp, name)
        sections = "bayes {\n  min_learned = 10\n}" if "bayes" in modules else ""
        with open(path, "w") as f:
            f.write(CONFIG.format(tmp=self.tmp, modules=os.path.dirname(PATHS["module"]),
                                  modules_list=modules, sections=sections))
        return path

    def smfctl(self, *args, config=None, rc=0):
        p = subprocess.run([PATHS["smfctl"], "-c", config or self.config] + list(args),
                           capture_output=True, text=True, errors="replace", timeout=120)
        self.assertEqual(p.returncode, rc, "smfctl %s: %s%s" % (args, p.stdout, p.stderr))
        return p

    def learn(self, klass, *paths, by=None):
        args = ["learn", "--" + klass] + (["--by", by] if by else []) + list(paths)
        return summary(self.smfctl(*args).stdout)

    def unlearn(self, *paths):
        return summary(self.smfctl("unlearn", *paths).stdout)

    def symbols(self, path, rcpt=None, **opts):
        """The symbols smf-modtest reports for one file with the bayes module, as
        {name: symbol}; options default to min_learned = 10."""
        cmd = [PATHS["modtest"], "-m", PATHS["module"], "--data-dir", self.data]
        if rcpt is not None:
            cmd += ["--rcpt", rcpt]
        for k, v in dict({"min_learned": 10}, **opts).items():
            cmd += ["-o", "%s=%s" % (k, v)]
        p = subprocess.run(cmd + [path], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        res = json.loads(p.stdout)
        self.assertEqual(res["error"], None)
        return {s["name"]: s for s in res["symbols"]}

    def scan(self, path, **opts):
        """The bayes symbols for one file: {name: (score, p)}."""
        return {n: (s["score"], float(re.search(r"p=([0-9.]+)", s["detail"]).group(1)))
                for n, s in self.symbols(path, **opts).items()}

    def totals(self):
        """(spam, ham) messages the store counts, read with mdb_dump."""
        rec = dump(os.path.join(self.data, "kv"), "bayes")
        raw = rec.get(b"totals")
        self.assertIsNotNone(raw, "no totals record")
        return (int.from_bytes(raw[0:8], "little"), int.from_bytes(raw[8:16], "little"))

    def version(self):
        """The store's version counter (totals record, bytes 16-24)."""
        raw = dump(os.path.join(self.data, "kv"), "bayes")[b"totals"]
        return int.from_bytes(raw[16:24], "little")

    def registry_entry(self, path):
        """The registry's JSON for the message in `path`, or None."""
        with open(path, "rb") as f:
            key = fixtures.message_key(f.read())
        value = dump(os.path.join(self.data, "kv"), ".learned").get(key)
        return json.loads(value) if value is not None else None

    def learn_one(self, name, raw):
        """Learns one message (text or bytes) as ham; the store's token records after it."""
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(raw.encode() if isinstance(raw, str) else raw)
        self.learn("ham", path)
        return tokens(dump(os.path.join(self.data, "kv"), "bayes"))

    def assert_tokens(self, rec, has=(), lacks=()):
        """Each (prefix, text) of has is among the learned token records, none of lacks is;
        a failure names the token rather than printing every record."""
        missing = [t for t in has if token_hash(*t) not in rec]
        present = [t for t in lacks if token_hash(*t) in rec]
        self.assertEqual((missing, present), ([], []), "(tokens missing, tokens learned)")

    def learn_fixtures(self):
        got = self.learn("spam", self.mail["spam"])
        self.assertEqual(got, {"learned": 30, "already known": 0, "moved": 0, "failed": 0})
        got = self.learn("ham", self.mail["ham"], by="tester")
        self.assertEqual(got, {"learned": 30, "already known": 0, "moved": 0, "failed": 0})


def expected(p, score, full, slope, max_log_odds=6):
    """The score the module gives at p (as reported, rounded), by its documented curve."""
    def lo(x):
        v = math.log10(x / (1 - x)) if 0 < x < 1 else (max_log_odds if x >= 1 else -max_log_odds)
        return max(-max_log_odds, min(max_log_odds, v))
    v = score + slope * (lo(p) - lo(full))
    return min(v, 0) if score < 0 else max(v, 0)


def summary(out):
    """{"learned": 3, "already known": 0, ...} from smfctl's summary line."""
    line = [l for l in out.splitlines() if l.startswith(("learned ", "unlearned "))][-1]
    line = line.split(" (")[0]
    return {k: int(v) for k, v in (item.rsplit(" ", 1) for item in line.split(", "))}


def fitted(records):
    """How many messages the last fit read, from the totals record."""
    return int.from_bytes(records[b"totals"][24:32], "little")


def tokens(records):
    """The token records (8-byte keys): {key: (spam, ham, weight)}."""
    out = {}
    for k, v in records.items():
        if len(k) == 8:
            w = struct.unpack("<f", v[8:12])[0] if len(v) == 12 else 0.0
            out[k] = (int.from_bytes(v[0:4], "little"), int.from_bytes(v[4:8], "little"), w)
    return out


def learned_sets(records):
    """The logistic model's learned sets: {(class, token count, tokens bytes)}, slot-free."""
    return {(int.from_bytes(v[8:12], "little"), n, v[16:16 + 8 * n])
            for n, v in ((int.from_bytes(v[12:16], "little"), v) for k, v in records.items()
                         if len(k) == 7 and k.startswith(b"set"))}


def set_counts(records):
    """How many learned spam and ham messages each set stands for: {tokens bytes: (spam, ham)}
    (a record of the first versions, without the counts, is one message of its class)."""
    out = {}
    for k, v in records.items():
        if len(k) == 7 and k.startswith(b"set"):
            n = int.from_bytes(v[12:16], "little")
            if len(v) == 16 + 8 * n:
                c = int.from_bytes(v[8:12], "little")
                out[v[16:16 + 8 * n]] = (int(c == 1), int(c == 2))
            else:
                out[v[16:16 + 8 * n]] = struct.unpack("<II", v[16 + 8 * n:])
    return out


def token_hash(prefix, text):
    """The module's hash of a token (tokens.c: FNV-1a of the prefix, a separator
    and the lower-cased text, then an avalanche), as its 8-byte record key."""
    mask = (1 << 64) - 1
    h = 0xcbf29ce484222325
    def fnv(h, data):
        for c in data:
            c = c + 32 if 65 <= c <= 90 else c
            h = ((h ^ c) * 0x100000001b3) & mask
        return h
    h = fnv(h, prefix.encode())
    h = ((h ^ 0x1f) * 0x100000001b3) & mask
    h = fnv(h, text.encode())
    for mul in (0xff51afd7ed558ccd, 0xc4ceb9fe1a85ec53):
        h ^= h >> 33
        h = (h * mul) & mask
    h ^= h >> 33
    return (h or 1).to_bytes(8, "little")


def column_sums(records):
    """Sums of the spam and of the ham counts over every token record."""
    t = tokens(records).values()
    return sum(c[0] for c in t), sum(c[1] for c in t)


class TestScoring(BayesCase):
    def test_untrained_model_adds_no_symbol(self):
        self.assertEqual(self.scan(self.mail["test_spam"]), {})
        self.assertEqual(self.scan(self.mail["test_ham"]), {})

    def test_below_min_learned_adds_no_symbol(self):
        self.learn("spam", self.mail["spam"])
        self.learn("ham", *fixtures.files(self.mail["ham"])[:9])
        self.assertEqual(self.totals(), (30, 9))
        self.assertEqual(self.scan(self.mail["test_spam"]), {})
        # The same store scores once the threshold is within reach.
        self.assertIn("BAYES_SPAM", self.scan(self.mail["test_spam"], min_learned=9))

    def test_learned_model_tells_spam_from_ham(self):
        self.learn_fixtures()
        self.assertEqual(self.totals(), (30, 30))
        spam = self.scan(self.mail["test_spam"])
        self.assertEqual(list(spam), ["BAYES_SPAM"])
        self.assertGreater(spam["BAYES_SPAM"][1], 0.99)
        # spam_score (12) at p = 0.99, 5 more per tenfold rise of the odds, up to 10^6 to 1.
        self.assertAlmostEqual(spam["BAYES_SPAM"][0], expected(spam["BAYES_SPAM"][1], 12, 0.99, 5),
                               delta=0.25)
        self.assertTrue(12 <= spam["BAYES_SPAM"][0] <= 12 + 5 * (6 - math.log10(99)), spam)
        ham = self.scan(self.mail["test_ham"])
        self.assertEqual(list(ham), ["BAYES_HAM"])
        self.assertLess(ham["BAYES_HAM"][1], 0.01)
        self.assertAlmostEqual(ham["BAYES_HAM"][0], expected(ham["BAYES_HAM"][1], -4, 0.01, 2),
                               delta=0.25)
        self.assertTrue(-4 - 2 * (6 - math.log10(99)) <= ham["BAYES_HAM"][0] <= -4, ham)

    def test_scores_follow_options(self):
        self.learn_fixtures()
        # A slope of 0 gives the flat score.
        spam = self.scan(self.mail["test_spam"], spam_score=8.5, spam_slope=0)
        self.assertAlmostEqual(spam["BAYES_SPAM"][0], 8.5)
        ham = self.scan(self.mail["test_ham"], ham_score=-1.5, ham_slope=0)
        self.assertAlmostEqual(ham["BAYES_HAM"][0], -1.5)

    def test_score_grows_with_the_odds_up_to_max_log_odds(self):
        self.learn_fixtures()
        # Both fixtures are scored with odds beyond 1000 to one, so a limit of 10^3 holds.
        spam = self.scan(self.mail["test_spam"], max_log_odds=3)
        self.assertGreater(spam["BAYES_SPAM"][1], 0.999)
        self.assertAlmostEqual(spam["BAYES_SPAM"][0], 12 + 5 * (3 - math.log10(99)), places=3)
        ham = self.scan(self.mail["test_ham"], max_log_odds=3, ham_slope=1.5)
        self.assertLess(ham["BAYES_HAM"][1], 0.001)
        self.assertAlmostEqual(ham["BAYES_HAM"][0], -4 - 1.5 * (3 - math.log10(99)), places=3)
        # Odds beyond the limit count as the limit: spam_full at 10^4 to one reads as 10^3.
        capped = self.scan(self.mail["test_spam"], spam_full=0.9999, max_log_odds=3)
        self.assertAlmostEqual(capped["BAYES_SPAM"][0], 12)

    def test_mixed_message_stays_neutral(self):
        self.learn_fixtures()
        got = self.scan(self.mail["test_mixed"])
        self.assertEqual(list(got), ["BAYES_UNSURE"])
        self.assertEqual(got["BAYES_UNSURE"][0], 0)
        self.assertTrue(0.1 < got["BAYES_UNSURE"][1] < 0.9, got)

    def test_detail_names_the_tokens_that_pulled_most(self):
        self.learn_fixtures()
        for path, symbol, side, sign, vocab in (
                (self.mail["test_spam"], "BAYES_SPAM", "spam", "+", fixtures.SPAM_WORDS),
                (self.mail["test_ham"], "BAYES_HAM", "ham", "-", fixtures.HAM_WORDS)):
            detail = self.symbols(path)[symbol]["detail"]
            m = re.search(r"; %s: (.*)$" % side, detail)
            self.assertIsNotNone(m, detail)
            clues = re.findall(r'([a-z:-]+) "([^"]*)" \%s([0-9.]+)(?:, |$)' % sign, m.group(1))
            self.assertEqual(len(clues), 3, detail)
            with open(path) as f:
                text = f.read().lower()
            for source, name, pull in clues:
                # Each named token is in the message, and a word of the body is one of
                # the vocabulary its class was learned from.
                self.assertIn(name.lower(), text, detail)
                if source == "body":
                    self.assertIn(name.lower(), vocab, detail)
            pulls = [float(c[2]) for c in clues]
            self.assertEqual(pulls, sorted(pulls, reverse=True), detail)
            self.assertGreater(pulls[-1], 0, detail)
        # explain = 0 leaves the detail as it was, and an unsure verdict names nothing.
        detail = self.symbols(self.mail["test_spam"], explain=0)["BAYES_SPAM"]["detail"]
        self.assertNotIn(";", detail)
        self.assertNotIn(";", self.symbols(self.mail["test_mixed"])["BAYES_UNSURE"]["detail"])

    def test_bad_options_refused(self):
        for opt, word in (("spam_threshold=0.3", "spam_threshold"), ("spam_slope=-1", "slope"),
                          ("max_log_odds=0", "max_log_odds"), ("fit_runs=0", "fit_runs"),
                          ("explain=6", "explain"), ("min_strength=-0.1", "min_strength"),
                          ("min_strength=0.6", "min_strength")) + tuple(
                              # NaN fails every comparison, so a check written as "below
                              # the lowest or above the highest" would let it through.
                              ("%s=%s" % (name, v), name)
                              for name in ("word_weight", "strength", "fit_rate", "max_log_odds",
                                           "spam_score", "spam_slope", "ham_score", "ham_slope")
                              for v in ("nan", "inf", "-inf")):
            p = subprocess.run([PATHS["modtest"], "-m", PATHS["module"], "-o", opt,
                                self.mail["test_spam"]], capture_output=True, text=True)
            self.assertEqual(p.returncode, 2, opt)
            self.assertIn(word, p.stderr)


class TestCrowding(BayesCase):
    """A message cannot push its own words out of max_tokens with features of
    its form: header names, links and MIME parts each have a budget, and part
    of max_tokens is kept for the words of the text."""

    def hostile(self, name, make):
        """test_spam rewritten by make(headers, body), scanned after learning."""
        with open(self.mail["test_spam"]) as f:
            head, body = f.read().split("\n\n", 1)
        path = fixtures.write(os.path.join(self.tmp, name), make(head, body))
        return self.scan(path)

    def assert_spam(self, got):
        """Scored as spam, and nearly as sure as of the message as it was."""
        plain = self.scan(self.mail["test_spam"])["BAYES_SPAM"]
        self.assertEqual(list(got), ["BAYES_SPAM"])
        self.assertGreater(got["BAYES_SPAM"][0], plain[0] - 1, (got, plain))

    def test_many_header_names_leave_the_words(self):
        self.learn_fixtures()
        self.assert_spam(self.hostile("headers.eml", lambda head, body: "".join(
            "X-Track-%04d: 1\n" % i for i in range(3000)) + head + "\n\n" + body))

    def test_a_long_link_leaves_the_words(self):
        self.learn_fixtures()
        link = "http://deals.biz/" + "/".join("w%04d" % i for i in range(3000))
        self.assert_spam(self.hostile("link.eml", lambda head, body:
                                      head + "\n\n" + body + "\n" + link + "\n"))

    def test_many_parts_leave_the_words(self):
        self.learn_fixtures()

        def make(head, body):
            head = head.replace("Content-Type: text/plain; charset=us-ascii",
                                "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b")
            parts = ["Content-Type: text/plain; charset=us-ascii\n\n" + body]
            parts += ["Content-Type: application/octet-stream; name=\"doc%04d.bin\"\n"
                      "Content-Disposition: attachment; filename=\"a%04d b%04d c%04d.e%04d\"\n\nx\n"
                      % ((i,) * 5) for i in range(998)]
            return head + "\n\n" + "".join("--b\n" + p for p in parts) + "--b--\n"
        self.assert_spam(self.hostile("parts.eml", make))


class TestLearning(BayesCase):
    def test_learning_twice_counts_once(self):
        self.learn_fixtures()
        before = self.scan(self.mail["test_ham"])
        got = self.learn("ham", self.mail["ham"])
        self.assertEqual(got, {"learned": 0, "already known": 30, "moved": 0, "failed": 0})
        self.assertEqual(self.totals(), (30, 30))
        self.assertEqual(self.scan(self.mail["test_ham"]), before)

    def test_moving_a_message_between_classes(self):
        self.learn_fixtures()
        before = dump(os.path.join(self.data, "kv"), "bayes")
        moved = fixtures.files(self.mail["ham"])[:3]
        self.assertEqual(self.learn("spam", *moved)["moved"], 3)
        self.assertEqual(self.totals(), (33, 27))
        self.assertEqual(self.registry_entry(moved[0])["class"], "spam")
        after = dump(os.path.join(self.data, "kv"), "bayes")
        # Every token of the moved mail leaves the ham column for the spam column.
        spam0, ham0 = column_sums(before)
        spam1, ham1 = column_sums(after)
        self.assertGreater(spam1, spam0)
        self.assertEqual(spam1 - spam0, ham0 - ham1)
        # Moving back restores every count and learned set exactly (the
        # weights are refitted over the sets in another order).
        self.assertEqual(self.learn("ham", *moved)["moved"], 3)
        self.assertEqual(self.totals(), (30, 30))
        restored = dump(os.path.join(self.data, "kv"), "bayes")
        counts = lambda r: {k: v[:2] for k, v in tokens(r).items()}
        self.assertEqual(counts(restored), counts(before))
        self.assertEqual(learned_sets(restored), learned_sets(before))

    def test_unlearn(self):
        self.learn_fixtures()
        some = fixtures.files(self.mail["spam"])[:5]
        self.assertEqual(self.unlearn(*some), {"unlearned": 5, "not known": 0, "failed": 0})
        self.assertEqual(self.totals(), (25, 30))
        # The registry keeps a note that an operator unlearned it (for autolearn).
        entry = self.registry_entry(some[0])
        self.assertEqual(entry["unlearned"], "spam")
        self.assertNotIn("class", entry)
        self.assertEqual(self.unlearn(*some), {"unlearned": 0, "not known": 5, "failed": 0})
        self.assertEqual(self.totals(), (25, 30))
        # Forgetting everything leaves no token and no set behind, only
        # the zeroed totals and counters.
        self.unlearn(self.mail["spam"], self.mail["ham"])
        self.assertEqual(self.totals(), (0, 0))
        left = dump(os.path.join(self.data, "kv"), "bayes")
        self.assertEqual(sorted(left), [b"sets", b"totals"])
        self.assertEqual(fitted(left), 0)
        self.assertEqual(left[b"sets"], bytes(8))
        self.assertEqual(self.scan(self.mail["test_spam"]), {})

    def test_envelope_sender_counts_and_fields_after_the_mta_do_not(self):
        """What a mailbox copy has and the MTA never sees is not learned: the
        envelope sender (here a bare Return-Path address) stands in for it."""
        rec = self.learn_one(
            "delivered.eml",
            "Return-Path: bounce@envelope.example\n"
            "Delivered-To: user@example.com\nX-Keywords: NonJunk\nStatus: RO\n"
            "Delivery-Date: Mon, 01 Jan 2024 00:00:00 +0000\n"
            "From: Someone <someone@header.example>\nTo: user@example.com\n"
            "Subject: quarterly figures\n\nThe figures are attached as promised.\n")
        self.assert_tokens(
            rec, has=[("env:from", "envelope.example"), ("h:from", "header.example"),
                      ("hn", "subject")],
            lacks=[("hn", name) for name in ("return-path", "delivered-to", "x-keywords",
                                             "status", "delivery-date")]
            + [("h:return-path", "envelope.example")])

    def test_fields_a_mailing_list_writes_are_no_tokens(self):
        """A list writes the same fields into the spam it relays as into its
        ham: they are not learned. The poster's own fields and words are."""
        rec = self.learn_one(
            "list.eml",
            "From: Poster <poster@sender.example>\nTo: users@lists.example\n"
            "Sender: users-admin@lists.example\nErrors-To: users-admin@lists.example\n"
            "Precedence: bulk\nList-Id: Users of example <users.lists.example>\n"
            "List-Unsubscribe: <mailto:users-request@lists.example>\n"
            "X-BeenThere: users@lists.example\nX-Mailman-Version: 2.0.11\n"
            "Subject: quarterly figures\n\nThe figures are attached as promised.\n")
        self.assert_tokens(
            rec, has=[("hn", "subject"), ("h:from", "sender.example"),
                      ("h:subject", "quarterly"), ("", "promised")],
            lacks=[("hn", name) for name in ("sender", "errors-to", "precedence", "list-id",
                                             "list-unsubscribe", "x-beenthere",
                                             "x-mailman-version")]
            + [("h:sender", "lists.example"), ("h:precedence", "bulk"),
               ("h:list-id", "users.lists.example")])

    def test_parts_the_engine_derives_are_not_the_structure(self):
        """A preamble, an epilogue and an image carried in HTML become parts
        for the scanners, but the sender wrote two parts: the part tokens and
        counts say so."""
        rec = self.learn_one(
            "derived.eml",
            "From: Someone <someone@header.example>\nTo: user@example.com\n"
            "Subject: photos\nMIME-Version: 1.0\n"
            "Content-Type: multipart/mixed; boundary=\"b\"\n\n"
            "This is a multi-part message in MIME format.\n\n"
            "--b\nContent-Type: text/html\n\n"
            "<p>The photo<img src=\"data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==\"></p>\n"
            "--b--\nAn epilogue no reader shows.\n")
        self.assert_tokens(
            rec, has=[("mp", "multipart/mixed"), ("part", "text/html"), ("parts", "2")],
            lacks=[("part", "text/plain"), ("part", "image/png"), ("parts", "3-5")])

    def test_link_hosts_of_other_scripts_and_ipv6(self):
        """A link host of another script is learned as its A-label, with a token
        that says so; an IPv6 literal is an address, as an IPv4 one is."""
        rec = self.learn_one(
            "links.eml",
            ("From: someone@example.net\nTo: user@example.com\nSubject: account\n"
             "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
             "Content-Transfer-Encoding: 8bit\n\n"
             "Log in at https://secure.\u0430pple.example/login or http://[2001:DB8::1]:8080/x\n"
             ).encode())
        self.assert_tokens(
            rec, has=[("url", "secure.xn--pple-43d.example"), ("urld", "xn--pple-43d.example"),
                      ("url", "idn"), ("url", "ip"), ("urlp", "login")],
            lacks=[("url", "[2001"), ("urlp", "db8")])

    def test_words_of_every_script(self):
        """Chinese, Japanese and Thai, written without spaces, count as pairs of
        neighbouring characters; a long Cyrillic word is a word, not too long;
        curly quotes, no-break spaces and CJK punctuation separate words as
        spaces do."""
        body = ("\u6211\u4eec\u63d0\u4f9b\u514d\u8d39\u670d\u52a1\u3002"
                "\u4fe1\n\u0438\u043d\u0444\u043e\u0440\u043c\u0430\u0446\u0438\u043e"
                "\u043d\u043d\u044b\u0439 \u201cbargain\u201d\nshipping\u00a0included, don\u2019t wait\n"
                "\u0e2a\u0e34\u0e19\u0e04\u0e49\u0e32\n")
        subject = "=?UTF-8?B?%s?=" % base64.b64encode("\u65e5\u672c\u8a9e".encode()).decode()
        rec = self.learn_one(
            "scripts.eml",
            ("From: someone@example.net\nTo: user@example.com\nSubject: %s\n"
             "MIME-Version: 1.0\nContent-Type: text/plain; charset=gb18030\n"
             "Content-Transfer-Encoding: base64\n\n" % subject).encode()
            + base64.encodebytes(body.encode("gb18030")))

        def has(prefix, text):
            return token_hash(prefix, text) in rec
        han = "\u6211\u4eec\u63d0\u4f9b\u514d\u8d39\u670d\u52a1"
        for i in range(len(han) - 1):
            self.assertTrue(has("", han[i:i + 2]), han[i:i + 2])
        self.assertFalse(has("", han), han)
        # The full stop ends the run: no pair across it, the lone character alone.
        self.assertFalse(has("", "\u52a1\u3002"), "\u52a1\u3002")
        self.assertTrue(has("", "\u4fe1"), "\u4fe1")
        self.assertTrue(has("h:subject", "\u65e5\u672c"), "\u65e5\u672c")
        self.assertTrue(has("h:subject", "\u672c\u8a9e"), "\u672c\u8a9e")
        word = "\u0438\u043d\u0444\u043e\u0440\u043c\u0430\u0446\u0438\u043e\u043d\u043d\u044b\u0439"
        self.assertTrue(has("", word), word)
        for w in ("bargain", "shipping", "included"):
            self.assertTrue(has("", w), w)
        thai = "\u0e2a\u0e34\u0e19\u0e04\u0e49\u0e32"
        self.assertTrue(has("", thai[:2]) and has("", thai[-2:]), thai)
        # The typographic apostrophe is the same token as the typewriter one.
        self.assertTrue(has("", "don't"), "don't")

    def test_words_as_the_reader_sees_them(self):
        """A zero-width space, word joiner or soft hyphen inside a word is dropped, not a
        break; full-width letters and digits are ASCII; a Cyrillic or Greek letter drawn
        like a Latin one is that letter inside a word of ASCII letters. Such a disguised
        word adds word:disguised; text that only looks foreign does not."""
        def learn(name, body, subject="hello"):
            return self.learn_one(
                name, ("From: someone@example.net\nTo: user@example.com\nSubject: %s\n"
                       "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
                       "Content-Transfer-Encoding: 8bit\n\n%s\n" % (subject, body)).encode())
        rec = learn("disguised.eml",
                    "vi\u200bagra ca\u00adsh fr\u2060ee of\ufeffter \uff42\uff55\uff59 \uff10\uff19"
                    " pr\u0456ce \u0440aypal \u03bfrder",
                    subject="l\u043ean\u200bs")
        self.assert_tokens(
            rec,
            has=[("", w) for w in ("viagra", "cash", "free", "ofter", "buy", "09", "price",
                                   "paypal", "order")]
            + [("h:subject", "loans"), ("word", "disguised")],
            lacks=[("", w) for w in ("vi", "agra", "ca\u00adsh", "fr", "ee", "of\ufeffter",
                                     "\uff42\uff55\uff59", "pr\u0456ce", "\u0440aypal")])
        shutil.rmtree(self.data)
        # Cyrillic and Greek words of their own, full-width letters, an invisible
        # character at a word's edge, and a zero-width space between Thai words are
        # the text of their language: folded where a reader sees the same, no disguise.
        rec = learn("plain.eml",
                    "\u043c\u0438\u0440 \u03ba\u03b1\u03bb\u03bf \uff46\uff52\uff45\uff45"
                    " \u200bword\u200b \u0e2a\u0e34\u200b\u0e19\u0e04"
                    " \u0440\u043e\u0441\uff01go")
        # A full-width "!" parts words as "!" does: the Russian word before it is
        # no part of the Latin one after it.
        self.assert_tokens(
            rec,
            has=[("", "\u043c\u0438\u0440"), ("", "\u03ba\u03b1\u03bb\u03bf"),
                 ("", "free"), ("", "word"), ("", "\u0440\u043e\u0441"), ("", "go")],
            lacks=[("word", "disguised"), ("", "poc")])
        shutil.rmtree(self.data)
        # Letters in another style (mathematical bold, double-struck with a letterlike
        # symbol, circled, squared, small capitals, monospace digits) are the plain
        # letters a reader reads; a style is no disguise of a Latin word.
        rec = learn("styled.eml",
                    "\U0001d401\U0001d42e\U0001d432 \u2119\U0001d552\U0001d56a\u2119\U0001d552"
                    "\U0001d55d \u24e5\u24d8\u24d0\u24d6\u24e1\u24d0 \U0001f131\U0001f144\U0001f148"
                    " \ua730\u0280\u1d07\u1d07 \U0001d7f6\U0001d7fd",
                    subject="\U0001d5e2\U0001d5f3\U0001d5f3\U0001d5f2\U0001d5ff")
        self.assert_tokens(
            rec,
            has=[("", w) for w in ("buy", "paypal", "viagra", "free", "07")]
            + [("h:subject", "offer")],
            lacks=[("word", "disguised"), ("", "\U0001d401\U0001d42e\U0001d432")])
        shutil.rmtree(self.data)
        # A styled letter is a Latin one: with Cyrillic letters drawn like Latin ones
        # beside it ("\ua730\u0280" small capitals, "\u0435\u0435" Cyrillic), the word is a
        # Latin word in disguise, not Cyrillic text.
        rec = learn("styled-mixed.eml", "\ua730\u0280\u0435\u0435 offer")
        self.assert_tokens(rec, has=[("", "free"), ("word", "disguised")])

    def test_received_names_hosts_and_networks_not_mailboxes(self):
        """The sender's end of the Received chain gives host names and /24
        networks; the recipient's address in "for <...>" is the same for all of
        a mailbox's mail, so it is no token."""
        rec = self.learn_one(
            "received.eml",
            "Received: from relay.sender.example (relay.sender.example [192.0.2.77])\n"
            "\tby mx.example.com (Postfix) with ESMTP id 3F2A1\n"
            "\tfor <user@example.com>; Mon, 1 Jan 2024 00:00:00 +0000\n"
            "From: someone@sender.example\nTo: user@example.com\n"
            "Subject: figures\n\nThe figures, as promised.\n")
        self.assert_tokens(
            rec, has=[("rcvd", "relay.sender.example"), ("rcvd", "mx.example.com"),
                      ("rcvd", "192.0.2")],
            lacks=[("rcvd", "192.0.2.77"), ("rcvd", "user@example.com")])

    def test_unlearn_all_forgets_what_was_learned_and_keeps_the_lists(self):
        config = self.write_config("lists, reputation, bayes", name="with-lists.conf")
        self.smfctl("list", "add", "--scope", "global", "--type", "sender", "--action", "block",
                    "bad@example.net", config=config)
        self.smfctl("learn", "--spam", self.mail["spam"], config=config)
        self.smfctl("learn", "--ham", self.mail["ham"], config=config)
        # The reputation stage's history, which smfd's verdicts build (a file names no
        # client to keep it for), shares the store.
        load(os.path.join(self.data, "kv"), "reputation",
             {b"h\tip\t192.0.2.1": struct.pack("=3dq", 0.0, 5.0, 0.0, 1)})
        history = dump(os.path.join(self.data, "kv"), "reputation")
        self.assertTrue(history)
        self.assertIn("BAYES_SPAM", self.symbols(self.mail["test_spam"]))
        version = self.version()
        out = self.smfctl("unlearn", "--all", config=config).stdout
        self.assertIn("forgot bayes: ", out)
        self.assertRegex(out, r"forgot the registry of learned messages: 60 records")
        self.assertEqual(dump(os.path.join(self.data, "kv"), "bayes"), {})
        self.assertEqual(dump(os.path.join(self.data, "kv"), ".learned"), {})
        self.assertNotIn("forgot reputation", out)
        self.assertEqual(dump(os.path.join(self.data, "kv"), "reputation"), history)
        # Untrained again: silent, and the same mail is new to it.
        self.assertEqual(self.symbols(self.mail["test_spam"]), {})
        self.assertEqual(self.learn("spam", self.mail["spam"])["learned"], 30)
        # A scan cache keyed on the old store's version must never match the new one's.
        self.assertGreater(self.version(), version)
        self.assertIn("bad@example.net", self.smfctl("list", "show", config=config).stdout)
        self.smfctl("unlearn", "--all", self.mail["spam"], rc=2)

    def test_provenance_is_recorded(self):
        self.learn_fixtures()
        path = fixtures.files(self.mail["ham"])[4]
        entry = self.registry_entry(path)
        self.assertEqual(entry["class"], "ham")
        self.assertEqual(entry["by"], "tester")
        self.assertEqual(entry["source"], path)
        self.assertEqual(entry["modules"], ["bayes"])
        self.assertRegex(entry["at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def test_an_unlearned_message_is_noted_and_can_be_learned_again(self):
        self.learn_fixtures()
        path = fixtures.files(self.mail["spam"])[2]
        self.assertEqual(self.smfctl("unlearn", "--by", "bob", path).stdout.count("unlearned 1,"),
                         1)
        entry = self.registry_entry(path)
        self.assertEqual(entry["unlearned"], "spam")
        self.assertEqual(entry["by"], "bob")
        self.assertEqual(entry["source"], path)
        self.assertRegex(entry["at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertNotIn("modules", entry)
        # Learning it again by hand is a new learn (nothing to undo first),
        # and its entry is an ordinary one again.
        self.assertEqual(self.learn("ham", path, by="carol"),
                         {"learned": 1, "already known": 0, "moved": 0, "failed": 0})
        self.assertEqual(self.totals(), (29, 31))
        entry = self.registry_entry(path)
        self.assertEqual((entry["class"], entry["by"]), ("ham", "carol"))
        self.assertNotIn("unlearned", entry)
        self.assertEqual(self.learn("ham", path)["already known"], 1)
        # unlearn --all forgets the notes too: it starts afresh.
        self.unlearn(path)
        self.assertEqual(self.registry_entry(path)["unlearned"], "ham")
        self.smfctl("unlearn", "--all")
        self.assertEqual(dump(os.path.join(self.data, "kv"), ".learned"), {})

    def test_a_file_name_not_in_utf8_is_learned_once(self):
        """A file name in another encoding than UTF-8 (Latin-1 here) cannot go into
        the registry's JSON as it is: each such byte is kept as \\xHH, and the message is
        learned once, not counted again at every run."""
        path = os.path.join(self.tmp, os.fsdecode(b"r\xe9sum\xe9.eml"))
        with open(path, "w") as f:
            f.write("From: a@example.org\nSubject: minutes\n\nThe minutes are attached.\n")
        self.assertEqual(self.learn("ham", path),
                         {"learned": 1, "already known": 0, "moved": 0, "failed": 0})
        self.assertEqual(self.learn("ham", path),
                         {"learned": 0, "already known": 1, "moved": 0, "failed": 0})
        self.assertEqual(self.totals(), (0, 1))
        self.assertTrue(self.registry_entry(path)["source"].endswith("r\\xe9sum\\xe9.eml"))

    def test_mbox_is_split_into_messages(self):
        got = self.learn("spam", self.mail["mbox"])
        self.assertEqual(got["learned"], 3)
        self.assertEqual(self.totals(), (3, 0))
        # The same messages as single files are already known.
        self.assertEqual(self.learn("spam", *fixtures.files(self.mail["spam"])[:3])["already known"], 3)

    def test_mbox_written_with_a_blank_line_after_each_message(self):
        """Mail clients and delivery agents end every message of an mbox with a
        blank line, the last one too: it is not part of the message, so the
        last message is the same as its file and is not counted twice."""
        spams = fixtures.files(self.mail["spam"])[:3]
        msgs = []
        for path in spams:
            with open(path) as f:
                msgs.append(f.read())
        mbox = fixtures.write(os.path.join(self.tmp, "written.mbox"), "".join(
            "From sender@example.net Mon Jan  1 00:00:00 2024\n" + m + "\n" for m in msgs))
        self.assertEqual(self.learn("spam", mbox)["learned"], 3)
        self.assertEqual(self.learn("spam", *spams)["already known"], 3)
        self.assertEqual(self.totals(), (3, 0))

    def test_a_copy_delivered_elsewhere_is_the_same_message(self):
        """The copy delivered to a mailbox has the fields the MTA, the filters and the
        mailbox added, CRLF line ends, other blanks in its fields and no line break at
        its end: it is the message learned before, moved, not learned a second time."""
        path = fixtures.files(self.mail["ham"])[0]
        with open(path, "rb") as f:
            head, body = f.read().split(b"\n\n", 1)
        copy = (b"Return-Path: <dave@example.org>\nDelivered-To: user@example.com\n"
                b"Received: from mx.example.com (mx [192.0.2.1])\n\tby host; Mon, 1 Jan 2024\n"
                b"X-SMF-Status: clean, score=-1.00\nAuthentication-Results: mx; spf=pass\n"
                + head.replace(b"Subject: ", b"Subject:\t ") + b"\nStatus: RO\nX-UID: 7\n\n"
                + body.rstrip(b"\n")).replace(b"\n", b"\r\n")
        delivered = os.path.join(self.tmp, "delivered.eml")
        with open(delivered, "wb") as f:
            f.write(copy)
        self.assertEqual(self.learn("ham", path)["learned"], 1)
        self.assertEqual(self.learn("spam", delivered),
                         {"learned": 0, "already known": 0, "moved": 1, "failed": 0})
        self.assertEqual(self.totals(), (1, 0))
        self.assertEqual(self.registry_entry(path)["class"], "spam")
        # Another word in the body or the subject is another message.
        other = os.path.join(self.tmp, "other.eml")
        for a, b in ((b"regards", b"cheers"), (b"Subject: ", b"Subject: Re: ")):
            with open(other, "wb") as f:
                f.write(head.replace(b"Subject: ", b"Subject: Re: ") if b"Subject" in a else head)
                f.write(b"\n\n" + body.replace(a, b, 1))
            self.assertEqual(self.learn("spam", other)["learned"], 1)
        self.assertEqual(self.totals(), (3, 0))

    def test_smfd_own_verdict_field_is_no_token(self):
        """The X-SMF-Status field smfd writes into the mail it passes is its own earlier
        verdict, not a token: the delivered copy has the tokens of the copy smfd scanned,
        so moving the message by that copy moves its learned set too."""
        path = fixtures.files(self.mail["ham"])[0]
        with open(path, "rb") as f:
            raw = f.read()
        delivered = os.path.join(self.tmp, "delivered.eml")
        with open(delivered, "wb") as f:
            f.write(b"X-SMF-Status: clean, score=-1.00\n" + raw)
        self.learn("ham", path)
        self.assertEqual(self.learn("spam", delivered)["moved"], 1)
        records = dump(os.path.join(self.data, "kv"), "bayes")
        self.assertEqual(list(set_counts(records).values()), [(1, 0)])
        self.assertNotIn(token_hash("hn", "x-smf-status"), records)

    def test_an_entry_of_the_first_versions_is_found(self):
        """A registry entry written under the hash of the whole message (CRLF read as
        LF), as the first versions keyed it, still counts: the message is not learned a
        second time, and its entry moves to the message's key."""
        path = fixtures.files(self.mail["spam"])[0]
        self.learn("spam", path)
        with open(path, "rb") as f:
            raw = f.read()
        kv = os.path.join(self.data, "kv")
        entry = dump(kv, ".learned")[fixtures.message_key(raw)]
        # The store made again, with the entry under the key of the first versions.
        names = subprocess.run(["mdb_dump", "-l", kv], capture_output=True, text=True,
                               check=True).stdout.split()
        dbs = {n: dump(kv, n) for n in names}
        dbs[".learned"] = {hashlib.sha256(raw.replace(b"\r\n", b"\n")).digest(): entry}
        for name in ("data.mdb", "lock.mdb"):
            os.remove(os.path.join(kv, name))
        for n, records in dbs.items():
            load(kv, n, records)
        self.assertEqual(self.learn("spam", path)["already known"], 1)
        self.assertEqual(dump(kv, ".learned"), {fixtures.message_key(raw): entry})
        self.assertEqual(self.learn("ham", path)["moved"], 1)
        self.assertEqual(self.totals(), (0, 1))

    def test_a_maildir_tmp_folder_is_not_learned(self):
        """A Maildir's tmp holds mail still being delivered, perhaps in part: learning
        the Maildir reads cur and new only. A folder called tmp elsewhere is read."""
        maildir = os.path.join(self.tmp, "Maildir")
        spams = fixtures.files(self.mail["spam"])
        for i, sub in enumerate(("cur", "new", "tmp", os.path.join("other", "tmp"))):
            os.makedirs(os.path.join(maildir, sub))
            shutil.copy(spams[i], os.path.join(maildir, sub, "%d.host" % i))
        with open(os.path.join(maildir, "tmp", "partial.host"), "w") as f:
            f.write("From: a@example.net\nSubject: half")
        got = self.learn("spam", maildir)
        self.assertEqual((got["learned"], got["failed"]), (3, 0))
        self.assertIsNone(self.registry_entry(spams[2]))
        self.assertEqual(self.totals(), (3, 0))

    def smfctl_on_terminal(self, *args):
        """(exit status, what it wrote on stderr) of smfctl run with its stderr on a
        terminal, where the progress line is shown."""
        import pty
        master, slave = pty.openpty()
        p = subprocess.Popen([PATHS["smfctl"], "-c", self.config] + list(args),
                             stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        p.communicate(timeout=60)
        os.close(master)
        return p.returncode, out.decode()

    def test_progress_counts_the_messages_of_an_mbox(self):
        """On a terminal the progress line counts the messages of an mbox as they are
        learned, not only once the whole file is done."""
        rc, out = self.smfctl_on_terminal("learn", "--spam", self.mail["mbox"])
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"learn: 0/1 files, [1-3] messages")

    def test_errors_start_a_line_of_their_own_below_the_progress(self):
        """A message about one file, written while the progress line is shown, starts
        on a line of its own instead of running on after the count."""
        folder = os.path.join(self.tmp, "mixed")
        os.mkdir(folder)
        for i, path in enumerate(fixtures.files(self.mail["spam"])[:3]):
            shutil.copy(path, os.path.join(folder, "a%d.eml" % i))
        fixtures.write(os.path.join(folder, "b-index"), "3 V1700000000 N2\n")
        rc, text = self.smfctl_on_terminal("learn", "--spam", folder)
        self.assertEqual(rc, 1, text)
        at = text.index("smfctl: " + os.path.join(folder, "b-index") + ": not a mail message")
        self.assertRegex(text[:at], r"learn: [1-3]/4 files")
        self.assertTrue(text[:at].endswith(("\r\033[K", "\n")), repr(text[:at][-40:]))

    def test_links_inside_a_folder_are_skipped(self):
        """Links inside a folder, dangling, leading back up or elsewhere, are named
        and skipped, not followed: the rest of the folder is learned, each message
        once, and nothing fails."""
        spam = self.mail["spam"]
        os.symlink(os.path.join(self.tmp, "nowhere"), os.path.join(spam, "dangling"))
        os.symlink("..", os.path.join(self.mail["spam"], "up"))
        os.mkdir(os.path.join(spam, "sub"))
        os.symlink("../..", os.path.join(spam, "sub", "loop"))
        p = self.smfctl("learn", "--spam", spam)
        for link in ("dangling", "up", os.path.join("sub", "loop")):
            self.assertIn(os.path.join(spam, link) + ": a symbolic link inside a folder; skipped",
                          p.stderr)
        got = summary(p.stdout)
        self.assertEqual((got["learned"], got["failed"], got["moved"]), (30, 0, 0))
        self.assertEqual(self.totals(), (30, 0))

    def test_files_that_are_not_mail_are_not_learned(self):
        """An empty file, a binary one, a mail client's index and an empty message
        of an mbox count as no message of either class: each is named and failed."""
        odd = os.path.join(self.tmp, "odd")
        os.mkdir(odd)
        fixtures.write(os.path.join(odd, "empty"), "")
        fixtures.write(os.path.join(odd, "dovecot-uidlist"), "3 V1700000000 N2\n1 :1.eml\n")
        with open(os.path.join(odd, "index.bin"), "wb") as f:
            f.write(bytes(range(256)) * 4)
        fixtures.write(os.path.join(odd, "one.mbox"), "From x\nFrom y\n"
                       + open(fixtures.files(self.mail["ham"])[0]).read())
        p = self.smfctl("learn", "--ham", odd, rc=1)
        self.assertEqual(summary(p.stdout), {"learned": 1, "already known": 0, "moved": 0,
                                             "failed": 4})
        self.assertIn("empty: not a mail message", p.stderr)
        self.assertIn("one.mbox:1: not a mail message", p.stderr)
        self.assertEqual(self.totals(), (0, 1))

    def test_learners_take_turns(self):
        self.learn("spam", fixtures.files(self.mail["spam"])[0])
        with open(os.path.join(self.data, "kv", "learn.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            proc = subprocess.Popen([PATHS["smfctl"], "-c", self.config, "learn", "--ham",
                                     self.mail["ham"]], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            with self.assertRaises(subprocess.TimeoutExpired):
                proc.wait(1.5)
            self.assertEqual(self.totals(), (1, 0))
            fcntl.flock(lock, fcntl.LOCK_UN)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("waiting for another learner", err)
        self.assertEqual(summary(out)["learned"], 30)

    def test_usage_errors(self):
        self.smfctl("learn", self.mail["spam"], rc=2)
        self.smfctl("learn", "--spam", "--ham", self.mail["spam"], rc=2)
        self.smfctl("learn", "--spam", rc=2)
        err = self.smfctl("learn", "--spam", os.path.join(self.tmp, "nowhere"), rc=2).stderr
        self.assertIn("nowhere", err)
        self.assertFalse(os.path.exists(os.path.join(self.data, "kv")))

    def test_config_without_learning_module(self):
        other = self.write_config("attachment", name="other.conf")
        err = self.smfctl("learn", "--spam", self.mail["spam"], config=other, rc=2).stderr
        self.assertIn("no enabled module learns", err)

    def test_without_a_classifier_the_run_says_so(self):
        """With only the reputation stage, which keeps no history of mail that names no
        client, the summary's count must not read as a trained classifier, and --refit
        says why it did nothing."""
        other = self.write_config("reputation", name="other.conf")
        p = self.smfctl("learn", "--spam", self.mail["spam"], config=other)
        self.assertRegex(p.stdout, r"^learned [1-9]")
        self.assertIn("note: no classifier (such as bayes) is enabled in `modules`: these are "
                      "recorded, and no spam score changes", p.stderr)
        p = self.smfctl("learn", "--refit", config=other)
        self.assertIn("nothing to refit: no enabled module fits a model", p.stdout)
        # With the classifier enabled, neither is said.
        p = self.smfctl("learn", "--ham", self.mail["ham"])
        self.assertNotIn("no classifier", p.stderr)
        self.assertRegex(self.smfctl("learn", "--refit").stdout, r"^refitted bayes in")

    def test_domain_without_per_domain_is_warned_about(self):
        """per_domain = false (the default): --domain teaches the site-wide model,
        and smfctl says so instead of claiming a refit for the domain."""
        p = self.smfctl("learn", "--spam", "--domain", "example.org", self.mail["spam"])
        self.assertIn("warning: --domain example.org has no effect on scoring: bayes has "
                      "per_domain = false, so it teaches its site-wide model", p.stderr)
        self.assertIn("refitted bayes (its site-wide model: per_domain = false)", p.stdout)
        self.assertNotIn("for example.org", p.stdout)
        p = self.smfctl("learn", "--refit", "--domain", "example.org")
        self.assertIn("so it refits its site-wide model", p.stderr)

    def test_domain_without_per_domain_fits_the_one_model_once(self):
        """Mail learned site-wide, then for a domain: with per_domain = false both are
        the site-wide model, which the run fits once, not once for each."""
        self.learn("spam", self.mail["spam"])
        p = self.smfctl("learn", "--spam", "--domain", "example.org", self.mail["spam"])
        self.assertEqual(summary(p.stdout)["moved"], 30)
        self.assertEqual(p.stdout.count("refitted bayes"), 1, p.stdout)

    def test_a_damaged_registry_entry_is_not_taken_for_never_taught(self):
        path = fixtures.files(self.mail["spam"])[0]
        self.learn("spam", path)
        with open(path, "rb") as f:
            key = fixtures.message_key(f.read())
        load(os.path.join(self.data, "kv"), ".learned", {key: b"not json"})
        p = self.smfctl("learn", "--spam", path, rc=1)
        self.assertIn("its entry in the learning registry is damaged", p.stderr)
        # Not counted a second time.
        self.assertEqual(self.totals(), (1, 0))

    def test_a_run_that_wrote_nothing_refits_nothing(self):
        """Messages the classifier failed left the models as they were: the run
        says they failed and does not refit on their account."""
        self.learn("spam", fixtures.files(self.mail["spam"])[0])
        load(os.path.join(self.data, "kv"), "bayes", {b"totals": b"short"})
        p = self.smfctl("learn", "--ham", *fixtures.files(self.mail["ham"])[:3], rc=1)
        self.assertEqual(summary(p.stdout)["failed"], 3)
        self.assertNotIn("refit", p.stdout + p.stderr)

    def test_unlearn_after_per_domain_was_switched_undoes_the_learn(self):
        # Taught with --domain while per_domain was off: the site-wide model took it.
        spam = fixtures.files(self.mail["spam"])[:4]
        self.smfctl("learn", "--spam", "--domain", "example.org", *spam)
        self.assertEqual(self.totals(), (4, 0))
        with open(self.config) as f:
            text = f.read()
        with open(self.config, "w") as f:
            f.write(text.replace("min_learned = 10", "min_learned = 10\n  per_domain = true"))
        # Unlearning must take the messages out of the model that has them.
        self.smfctl("unlearn", *spam)
        self.assertEqual(self.totals(), (0, 0))



class TestLogistic(BayesCase):
    """The logistic model: sets kept by learn, weights written by the refit."""

    def records(self):
        return dump(os.path.join(self.data, "kv"), "bayes")

    def test_learning_keeps_sets_and_refits(self):
        out = self.smfctl("learn", "--spam", self.mail["spam"]).stdout
        self.assertRegex(out, r"refitted bayes in [0-9.]+ s")
        self.learn("ham", self.mail["ham"])
        rec = self.records()
        self.assertEqual(int.from_bytes(rec[b"sets"], "little"), 60)
        self.assertEqual(fitted(rec), 60)
        sets = learned_sets(rec)
        self.assertEqual(sorted(k for k, _, _ in sets), [1] * 30 + [2] * 30)
        self.assertEqual(sum(1 for k in rec if k.startswith(b"sid")), 60)
        # Every set holds its token count of tokens, each with a token record.
        t = tokens(rec)
        for _, n, raw in sets:
            self.assertEqual(len(raw), 8 * n)
            self.assertTrue(all(raw[i:i + 8] in t for i in range(0, len(raw), 8)))
        # Tokens seen only in spam lean to spam, those only in ham to ham.
        spam_only = [w for s_, h, w in t.values() if s_ > 5 and h == 0]
        ham_only = [w for s_, h, w in t.values() if h > 5 and s_ == 0]
        self.assertTrue(spam_only and ham_only)
        self.assertGreater(sum(spam_only) / len(spam_only), 0.01)
        self.assertLess(sum(ham_only) / len(ham_only), -0.01)

    def test_refit_is_deterministic_and_nothing_learned_means_no_refit(self):
        self.learn_fixtures()
        before = tokens(self.records())
        out = self.smfctl("learn", "--refit").stdout
        self.assertRegex(out, r"^refitted bayes in [0-9.]+ s$")
        self.assertEqual(tokens(self.records()), before)
        # A run that changes nothing fits nothing.
        out = self.smfctl("learn", "--ham", self.mail["ham"]).stdout
        self.assertNotIn("refitted", out)

    def test_runs_change_the_weights_and_each_setting_is_repeatable(self):
        self.learn_fixtures()
        four = tokens(self.records())
        with open(self.config) as f:
            text = f.read()
        with open(self.config, "w") as f:
            f.write(text.replace("min_learned = 10", "min_learned = 10\n  fit_runs = 1"))
        self.smfctl("learn", "--refit")
        one = tokens(self.records())
        # The counts stay; the weights of a single order are not the mean of four.
        self.assertEqual({k: c[:2] for k, c in one.items()}, {k: c[:2] for k, c in four.items()})
        changed = sum(1 for k in one if abs(one[k][2] - four[k][2]) > 1e-6)
        self.assertGreater(changed, len(one) // 2)
        with open(self.config, "w") as f:
            f.write(text)
        self.smfctl("learn", "--refit")
        self.assertEqual(tokens(self.records()), four)

    def test_unlearn_drops_sets_and_refits(self):
        self.learn_fixtures()
        some = fixtures.files(self.mail["spam"])[:5]
        out = self.smfctl("unlearn", *some).stdout
        self.assertIn("refitted bayes", out)
        rec = self.records()
        self.assertEqual(int.from_bytes(rec[b"sets"], "little"), 55)
        self.assertEqual(fitted(rec), 55)
        self.assertEqual(sorted(k for k, _, _ in learned_sets(rec)), [1] * 25 + [2] * 30)
        # Slots stay dense: 0 .. 54, each found again through its sid record.
        slots = sorted(int.from_bytes(k[3:], "little") for k in rec
                       if len(k) == 7 and k.startswith(b"set"))
        self.assertEqual(slots, list(range(55)))
        sids = sorted(int.from_bytes(v, "little") for k, v in rec.items() if k.startswith(b"sid"))
        self.assertEqual(sids, slots)

    def copies(self):
        """Two messages with the same tokens (only the Message-ID's local part
        differs, and only its domain is a token), neither of them learned."""
        with open(fixtures.files(self.mail["spam"])[0]) as f:
            text = f.read()
        one = fixtures.write(os.path.join(self.tmp, "copy1.eml"), text)
        two = fixtures.write(os.path.join(self.tmp, "copy2.eml"),
                             re.sub(r"Message-ID: <[0-9]+@", "Message-ID: <copy2@", text))
        return one, two

    def test_messages_with_the_same_tokens_each_count(self):
        """Two learned messages with the same tokens share one set, which
        counts each of them in its class: the fit reads both, and the set
        stays until neither is learned."""
        self.learn("spam", *fixtures.files(self.mail["spam"])[1:])
        self.learn("ham", self.mail["ham"])
        one, two = self.copies()
        self.learn("spam", one)
        self.learn("ham", two)
        rec = self.records()
        self.assertEqual(int.from_bytes(rec[b"sets"], "little"), 60)
        self.assertEqual(fitted(rec), 61)
        self.assertIn((1, 1), set_counts(rec).values())
        # Either one unlearned, the other's set stays, in its class.
        self.unlearn(two)
        rec = self.records()
        self.assertEqual(fitted(rec), 60)
        self.assertIn((1, 0), set_counts(rec).values())
        self.assertEqual(int.from_bytes(rec[b"sets"], "little"), 60)
        self.learn("spam", two)
        self.assertIn((2, 0), set_counts(self.records()).values())
        self.unlearn(one)
        self.unlearn(two)
        rec = self.records()
        self.assertEqual(int.from_bytes(rec[b"sets"], "little"), 59)
        self.assertEqual(fitted(rec), 59)
        self.assertNotIn((0, 0), set_counts(rec).values())

    def test_sets_of_the_first_versions_still_read(self):
        """A set record without counts (written before they were kept) is one
        message of its class: the fit reads it, and learning a message with the
        same tokens counts on from it."""
        one, two = self.copies()
        self.learn("spam", *fixtures.files(self.mail["spam"])[1:])
        self.learn("ham", self.mail["ham"])
        self.learn("spam", one)
        kv = os.path.join(self.data, "kv")
        rec = self.records()
        old = {k: v[:16 + 8 * int.from_bytes(v[12:16], "little")] for k, v in rec.items()
               if len(k) == 7 and k.startswith(b"set")}
        load(kv, "bayes", old)
        self.assertEqual(learned_sets(self.records()), learned_sets(rec))
        out = self.smfctl("learn", "--refit").stdout
        self.assertIn("refitted bayes", out)
        self.assertEqual(fitted(self.records()), 60)
        self.assertEqual(tokens(self.records()), tokens(rec))
        self.learn("ham", two)
        self.assertIn((1, 1), set_counts(self.records()).values())
        self.assertEqual(fitted(self.records()), 61)

    def test_each_batch_of_weights_changes_the_version(self):
        """A refit writes the weights in batches of 16,384 token records; each
        batch changes the version the scan caches are valid for, so that a
        refit that fails after its first batch leaves no cache serving the
        weights it replaced."""
        self.learn_fixtures()
        many = [fixtures.write(os.path.join(self.tmp, "many-%d.eml" % i),
                               "From: a@example.org\nSubject: words\n\n%s\n"
                               % " ".join("zq%d" % (i * 3000 + k) for k in range(2900)))
                for i in range(7)]
        self.learn("ham", *many)
        count = len(tokens(self.records()))
        self.assertGreater(count, 16384)
        before = self.version()
        self.smfctl("learn", "--refit")
        # One change per batch, and one for the totals of the finished fit.
        self.assertEqual(self.version() - before, (count + 16383) // 16384 + 1)

    def test_weights_that_are_not_numbers_read_as_none(self):
        """A store whose weights are NaN or infinite (as a fit with a NaN step
        once wrote) still scores by what is sound in it, and a refit of a young
        domain's corrections over it stores finite weights."""
        self.learn_fixtures()
        kv = os.path.join(self.data, "kv")
        rec = self.records()
        bad = [struct.pack("<f", x) for x in (math.nan, math.inf, -math.inf)]
        load(kv, "bayes", {k: v[:8] + bad[i % 3] for i, (k, v) in enumerate(rec.items())
                           if len(k) == 8 and len(v) == 12})
        self.assertFalse(any(math.isfinite(w) for _, _, w in tokens(self.records()).values()))
        spam = self.symbols(self.mail["test_spam"])
        self.assertEqual(list(spam), ["BAYES_SPAM"])
        # Every weight reads as none: the word statistics alone decide.
        self.assertRegex(spam["BAYES_SPAM"]["detail"], r"^p=[0-9.]+ \(words [0-9.]+, weights 0\.500\)")
        self.assertTrue(math.isfinite(spam["BAYES_SPAM"]["score"]))
        ham = self.scan(self.mail["test_ham"])
        self.assertEqual(list(ham), ["BAYES_HAM"])
        # A domain's corrections start from the global weights.
        with open(self.config) as f:
            text = f.read()
        with open(self.config, "w") as f:
            f.write(text.replace("min_learned = 10", "min_learned = 10\n  per_domain = true"))
        self.smfctl("learn", "--ham", "--domain", "example.org",
                    *fixtures.files(self.mail["spam"])[:3])
        domain = [struct.unpack("<f", v[8:12])[0] for k, v in self.records().items()
                  if k.startswith(b"@") and len(k) == 17 and len(v) == 12]
        self.assertTrue(domain)
        self.assertTrue(all(math.isfinite(w) for w in domain), domain[:5])

    def test_weights_alone_tell_spam_from_ham(self):
        self.learn_fixtures()
        spam = self.scan(self.mail["test_spam"], word_weight=0)
        ham = self.scan(self.mail["test_ham"], word_weight=0)
        self.assertGreater(spam["BAYES_SPAM"][1], 0.9)
        self.assertLess(ham["BAYES_HAM"][1], 0.1)

    def test_detail_names_both_models_and_logistic_can_be_off(self):
        self.learn_fixtures()
        detail = self.scan_detail(self.mail["test_spam"])
        self.assertRegex(detail, r"^p=[0-9.]+ \(words [0-9.]+, weights [0-9.]+\); spam: ")
        words = float(re.search(r"words ([0-9.]+)", detail).group(1))
        # Without the logistic model, p is the word statistics' probability.
        off = self.scan(self.mail["test_spam"], logistic="false")
        self.assertAlmostEqual(off["BAYES_SPAM"][1], words, places=3)
        detail = self.scan_detail(self.mail["test_spam"], logistic="false")
        self.assertNotIn("weights", detail)
        # The tokens named are then the strongest clues of the word statistics.
        self.assertRegex(detail, r'^p=[0-9.]+; spam: body "[a-z]+" \+[0-9.]+, ')

    def test_with_logistic_off_nothing_is_said_to_be_refitted(self):
        """logistic = false: there is no fitted model, so neither a learn run nor
        --refit may report a refit."""
        with open(self.config) as f:
            text = f.read()
        with open(self.config, "w") as f:
            f.write(text.replace("min_learned = 10", "min_learned = 10\n  logistic = false"))
        p = self.smfctl("learn", "--spam", self.mail["spam"])
        self.assertNotIn("refitted", p.stdout)
        p = self.smfctl("learn", "--refit")
        self.assertEqual(p.stdout, "nothing to refit: logistic = false in bayes; the word "
                                   "statistics learn at once\n")

    def test_refit_usage_errors(self):
        self.smfctl("learn", "--refit", "--spam", rc=2)
        self.smfctl("learn", "--refit", self.mail["spam"], rc=2)

    def scan_detail(self, path, **opts):
        return list(self.symbols(path, **opts).values())[0]["detail"]


class TestPerDomain(BayesCase):
    """per_domain: a model per recipient domain, taught with --domain, with
    the global model as the fallback."""

    def setUp(self):
        super().setUp()
        # A second, different set of mail for the domain's own model.
        self.other = fixtures.write_all(os.path.join(self.tmp, "other"), seed=7)

    def write_config(self, modules, name="smfd.conf"):
        path = super().write_config(modules, name)
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("min_learned = 10", "min_learned = 10\n  per_domain = true"))
        return path

    def scan_for(self, rcpt, path, **opts):
        """{name: detail} for one file scanned under rcpt's domain, per_domain on."""
        syms = self.symbols(path, rcpt=rcpt, **dict({"per_domain": "true"}, **opts))
        return {n: s["detail"] for n, s in syms.items()}

    def learn_domain(self, klass, folder, domain="example.org"):
        return self.smfctl("learn", "--" + klass, "--domain", domain, folder).stdout

    def test_domain_model_scores_its_domain_and_global_the_rest(self):
        self.learn_fixtures()
        # example.org's users call the spam vocabulary ham and the ham vocabulary spam.
        out = self.learn_domain("ham", self.other["spam"])
        self.assertIn("refitted bayes for example.org", out)
        self.learn_domain("spam", self.other["ham"])
        org = self.scan_for("user@example.org", self.mail["test_spam"])
        self.assertIn("BAYES_HAM", org)
        self.assertIn("domain model", org["BAYES_HAM"])
        other = self.scan_for("user@example.net", self.mail["test_spam"])
        self.assertIn("BAYES_SPAM", other)
        self.assertNotIn("domain model", other["BAYES_SPAM"])
        # Without per_domain the same store is read as one global model.
        flat = self.scan_for("user@example.org", self.mail["test_spam"], per_domain="false")
        self.assertIn("BAYES_SPAM", flat)
        # The domain's mail went to its model only: the global totals did not move.
        self.assertEqual(self.totals(), (30, 30))

    def test_a_domain_in_another_script_has_one_model(self):
        """Taught for Bücher.example, the model scores mail for the domain however
        its recipients write it: the engine names it by its A-label, and so does
        --domain."""
        self.learn_fixtures()
        self.learn_domain("ham", self.other["spam"], domain="B\u00fccher.example.")
        self.learn_domain("spam", self.other["ham"], domain="B\u00fccher.example.")
        for rcpt in ("user@b\u00fccher.example", "user@xn--bcher-kva.example"):
            got = self.scan_for(rcpt, self.mail["test_spam"])
            self.assertIn("BAYES_HAM", got, rcpt)
            self.assertIn("domain model", got["BAYES_HAM"], rcpt)

    def test_domain_model_below_min_learned_falls_back_to_global(self):
        self.learn_fixtures()
        self.smfctl("learn", "--ham", "--domain", "example.org",
                    *fixtures.files(self.other["spam"])[:5])
        got = self.scan_for("user@example.org", self.mail["test_spam"])
        self.assertIn("BAYES_SPAM", got)
        self.assertNotIn("domain model", got["BAYES_SPAM"])

    def newsletters(self, count):
        """Issues of a newsletter in the spam vocabulary: the same sender and
        template (with words the global model never saw) each time, a few
        words of news in between."""
        rng = random.Random(11)
        own = ["gazette", "weekly", "bulletin", "edition", "columnist"]
        template = [rng.choice(fixtures.SPAM_WORDS + own) for _ in range(60)]
        out = []
        for i in range(count):
            body = template[:30] + rng.sample(fixtures.SPAM_WORDS, 10) + template[30:]
            path = os.path.join(self.tmp, "news-%d.eml" % i)
            fixtures.write(path, "From: The Gazette <editor@gazette.example>\n"
                           "To: user@example.org\nSubject: gazette weekly edition %d\n"
                           "Message-ID: <%d@gazette.example>\n\n%s\n"
                           % (i, 1000 + i, " ".join(body)))
            out.append(path)
        return out

    def test_young_domain_model_corrects_the_global_one(self):
        self.learn_fixtures()
        news = self.newsletters(4)
        before = self.scan_for("user@example.org", news[3])
        self.assertIn("BAYES_SPAM", before)
        p_before = float(re.search(r"p=([0-9.]+)", before["BAYES_SPAM"]).group(1))
        # example.org says the newsletter is wanted: three issues, far below min_learned.
        out = self.smfctl("learn", "--ham", "--domain", "example.org", *news[:3]).stdout
        self.assertIn("refitted bayes for example.org", out)
        self.assertEqual(self.totals(), (30, 30))
        rec = dump(os.path.join(self.data, "kv"), "bayes")
        domain_totals = [v for k, v in rec.items() if k.startswith(b"@") and k.endswith(b"totals")]
        self.assertEqual(len(domain_totals), 1)
        self.assertEqual(int.from_bytes(domain_totals[0][32:40], "little"), 1, "residual fit")
        org = self.scan_for("user@example.org", news[3])
        detail = list(org.values())[0]
        self.assertIn("domain blend", detail)
        p_after = float(re.search(r"p=([0-9.]+)", detail).group(1))
        self.assertLess(p_after, 0.5, org)
        self.assertLess(p_after, p_before)
        # Other domains, and example.org's spam that is not the newsletter, are as before.
        self.assertEqual(self.scan_for("user@example.net", news[3]), before)
        spam = self.scan_for("user@example.org", self.mail["test_spam"])
        self.assertIn("BAYES_SPAM", spam)
        self.assertIn("domain blend", spam["BAYES_SPAM"])
        # A site-wide learn refits the corrections against the new global model.
        before = self.domain_weights()
        self.smfctl("learn", "--ham", self.other["ham"])
        after = self.domain_weights()
        self.assertEqual(set(after), set(before))
        self.assertNotEqual(after, before)

    def domain_weights(self):
        """{key: weight} of the domain models' token records."""
        rec = dump(os.path.join(self.data, "kv"), "bayes")
        return {k: struct.unpack("<f", v[8:12])[0] for k, v in rec.items()
                if k.startswith(b"@") and len(k) == 17 and len(v) == 12}

    def test_a_message_belongs_to_one_model(self):
        one = fixtures.files(self.other["spam"])[0]
        self.smfctl("learn", "--spam", "--domain", "Example.ORG.", one)
        entry = self.registry_entry(one)
        self.assertEqual(entry["domain"], "example.org")
        # The same message and class for the same domain is known...
        self.assertEqual(summary(self.learn_domain("spam", one))["already known"], 1)
        # ...site-wide it moves out of the domain's model into the global one.
        self.assertEqual(self.learn("spam", one)["moved"], 1)
        self.assertNotIn("domain", self.registry_entry(one))
        self.assertEqual(self.totals(), (1, 0))
        # Unlearning needs no domain: the registry knows where it went.
        self.learn_domain("ham", one)
        self.assertEqual(self.totals(), (0, 0))
        out = self.smfctl("unlearn", one).stdout
        self.assertEqual(summary(out)["unlearned"], 1)
        self.assertIn("refitted bayes for example.org", out)

    def test_refit_of_one_domain_and_bad_domain(self):
        self.learn_domain("spam", self.other["spam"])
        p = self.smfctl("learn", "--refit", "--domain", "example.org")
        self.assertRegex(p.stdout, r"^refitted bayes for example.org in [0-9.]+ s$")
        self.assertEqual(p.stderr, "")
        err = self.smfctl("learn", "--spam", "--domain", "a b", self.other["spam"], rc=2).stderr
        self.assertIn("expected a domain name", err)

    def test_a_domain_that_is_no_domain_name_is_refused_before_learning(self):
        """The registry keeps the domain as JSON text: one that is not UTF-8 was
        dropped from the entry after its model had learned the message, so that
        unlearning it undid the learn in the wrong model."""
        one = fixtures.files(self.other["spam"])[0]
        for bad in (os.fsdecode(b"\xffoo.example"), "-x.example", "a..b", ".example", "a/b", "a:b"):
            err = self.smfctl("learn", "--spam", "--domain", bad, one, rc=2).stderr
            self.assertIn("expected a domain name", err, bad)
            self.assertIn("nothing was learned", err, bad)
        self.assertFalse(os.path.exists(os.path.join(self.data, "kv")))
        # A name in UTF-8 is one, and so is the quarantine's folder for invalid ones.
        self.learn_domain("spam", one, domain="B\u00fccher.example")
        self.assertEqual(self.registry_entry(one)["domain"], "xn--bcher-kva.example")
        self.learn_domain("spam", one, domain="_invalid_")
        self.assertEqual(self.registry_entry(one)["domain"], "_invalid_")


if __name__ == "__main__":
    argv = parse_paths()
    unittest.main(argv=argv, verbosity=2)
