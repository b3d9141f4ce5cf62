"""The bayes module inside a real smfd: what `smfctl learn` teaches a running
engine shows in its next verdicts, without a reload. Uses the integration
tests' harness (tests/integration/smftest.py) and python3-zmq."""
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import fixtures  # noqa: E402
import smftest  # noqa: E402

CONFIG = """
modules = {bayes}
bayes {
  min_learned = 10
}
policy default {
  inbound {
    stages = {bayes}
    add_header_score = 5
    quarantine_score = 10
  }
}
"""


class EngineCase(unittest.TestCase):
    """A private smfd on TEXT, with fixtures to learn and scan."""
    TEXT = CONFIG

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="smf-bayes-engine-")
        self.config = os.path.join(self.dir, "smfd.conf")
        with open(self.config, "w") as f:
            f.write(self.TEXT)
        self.mail = fixtures.write_all(os.path.join(self.dir, "mail"))
        self.smfd = smftest.Smfd(config=self.config)
        self.smfd.start()

    def tearDown(self):
        try:
            self.assertEqual(self.smfd.stop(), 0, self.smfd.log_tail())
        finally:
            self.smfd.close()
            subprocess.run(["rm", "-rf", self.dir])

    def records(self):
        p = subprocess.run(["mdb_dump", "-s", "bayes", os.path.join(self.smfd.tmp, "data", "kv")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = [l.strip() for l in p.stdout.split("HEADER=END\n", 1)[1].splitlines()
                 if l.startswith(" ")]
        return {bytes.fromhex(lines[i]): bytes.fromhex(lines[i + 1])
                for i in range(0, len(lines) - 1, 2)}

    def load_bayes(self, records):
        """Writes {key bytes: value bytes} into the bayes namespace (over what is there)."""
        text = "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n" + "".join(
            " %s\n %s\n" % (k.hex(), v.hex()) for k, v in records.items()) + "DATA=END\n"
        p = subprocess.run(["mdb_load", "-s", "bayes", os.path.join(self.smfd.tmp, "data", "kv")],
                           input=text, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)

    def fitted(self):
        return int.from_bytes(self.records().get(b"totals", bytes(32))[24:32], "little")

    def totals(self):
        """(spam, ham) messages the bayes store counts."""
        raw = self.records().get(b"totals", bytes(32))
        return int.from_bytes(raw[0:8], "little"), int.from_bytes(raw[8:16], "little")

    def verdict(self, path):
        p = self.smfd.smfc("--json", "--rcpt", "user@example.com", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def smfctl(self, *args):
        build = smftest.PATHS["build"]
        cmd = [os.path.join(build, "bin", "smfctl"), "-c", self.config,
               "-o", "module_dir=%s/modules" % build, "-o", "data_dir=%s/data" % self.smfd.tmp]
        p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def learn(self, klass, path):
        self.smfctl("learn", "--" + klass, path)

    def registry_entry(self, path):
        """The learning registry's JSON for the message in `path`, or None."""
        with open(path, "rb") as f:
            key = fixtures.message_key(f.read()).hex()
        p = subprocess.run(["mdb_dump", "-s", ".learned",
                            os.path.join(self.smfd.tmp, "data", "kv")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = [l.strip() for l in p.stdout.split("HEADER=END\n", 1)[1].splitlines()
                 if l.startswith(" ")]
        found = {lines[i]: lines[i + 1] for i in range(0, len(lines) - 1, 2)}.get(key)
        return json.loads(bytes.fromhex(found)) if found is not None else None



class LiveLearning(EngineCase):
    def test_running_engine_sees_what_was_learned(self):
        before = self.verdict(self.mail["test_spam"])
        self.assertEqual(before["symbols"], [])
        self.assertEqual(before["action"], "accept")
        self.learn("spam", self.mail["spam"])
        self.learn("ham", self.mail["ham"])
        spam = self.verdict(self.mail["test_spam"])
        syms = {s["name"]: s for s in spam["symbols"]}
        self.assertEqual(list(syms), ["BAYES_SPAM"])
        self.assertEqual(syms["BAYES_SPAM"]["module"], "bayes")
        # The reply (and the quarantine's copy of it) says which tokens did it.
        self.assertRegex(syms["BAYES_SPAM"]["detail"],
                         r'; spam: [a-z:-]+ "[^"]+" \+[0-9.]+, [a-z:-]+ "[^"]+" \+[0-9.]+, ')
        # A confident classifier quarantines on its own: 12 or more from p = 0.99.
        self.assertGreaterEqual(spam["score"], 12.0)
        self.assertEqual(spam["action"], "quarantine")
        ham = self.verdict(self.mail["test_ham"])
        self.assertEqual([s["name"] for s in ham["symbols"]], ["BAYES_HAM"])
        self.assertEqual(ham["action"], "accept")



class AutolearnRefit(EngineCase):
    """smfd refits the logistic model itself over what it autolearned."""
    TEXT = "autolearn = true\nautolearn_refit_interval = 1\n" + CONFIG

    def test_a_refit_that_failed_is_tried_again(self):
        self.learn("spam", self.mail["spam"])
        self.learn("ham", self.mail["ham"])
        self.assertEqual(self.fitted(), 60)
        # A learned set that does not read fails the next refit, as a store
        # error would.
        slot0 = b"set" + bytes(4)
        kept = self.records()[slot0]
        self.load_bayes({slot0: b"bad"})
        other = fixtures.files(fixtures.write_all(os.path.join(self.dir, "other"), seed=7)["ham"])
        self.assertEqual(self.verdict(other[0])["action"], "accept")
        self.assertEqual(self.totals(), (30, 31))
        deadline = time.time() + 20
        while time.time() < deadline and "refit after autolearning failed" not in \
                self.smfd.log_tail():
            time.sleep(0.5)
        self.assertIn("refit after autolearning failed", self.smfd.log_tail())
        # Mended, it refits at a next tick with nothing more autolearned.
        self.load_bayes({slot0: kept})
        deadline = time.time() + 20
        while time.time() < deadline and self.fitted() != 61:
            time.sleep(0.5)
        self.assertEqual(self.fitted(), 61, self.smfd.log_tail())

    def test_the_same_message_at_once_is_taught_once(self):
        self.learn("spam", self.mail["spam"])
        self.learn("ham", self.mail["ham"])
        other = fixtures.write_all(os.path.join(self.dir, "other"), seed=7)
        ham = fixtures.files(other["ham"])[0]
        # Both workers take copies of one message at the same time; the
        # registry check and the teaching must not interleave.
        p = self.smfd.smfc("-j", "16", "--rcpt", "user@example.com", *([ham] * 40))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.totals(), (30, 31), self.smfd.log_tail())
        self.assertEqual(self.smfd.log_tail(100000).count("autolearned as ham"), 1)

    def test_a_message_an_operator_unlearned_is_not_autolearned_again(self):
        self.learn("spam", self.mail["spam"])
        self.learn("ham", self.mail["ham"])
        other = fixtures.files(fixtures.write_all(os.path.join(self.dir, "other"), seed=7)["ham"])
        self.learn("ham", other[0])
        self.assertEqual(self.totals(), (30, 31))
        self.assertIn("unlearned 1,", self.smfctl("unlearn", "--by", "alice", other[0]).stdout)
        self.assertEqual(self.totals(), (30, 30))
        entry = self.registry_entry(other[0])
        self.assertEqual((entry["unlearned"], entry["by"], entry["source"]),
                         ("ham", "alice", other[0]))
        self.assertNotIn("class", entry)
        # A later copy through smfd is accepted, and not taught again...
        self.assertEqual(self.verdict(other[0])["action"], "accept")
        self.assertEqual(self.totals(), (30, 30), self.smfd.log_tail())
        # ...while a message nobody decided on is.
        self.assertEqual(self.verdict(other[1])["action"], "accept")
        self.assertEqual(self.totals(), (30, 31))
        # An operator may still teach it by hand, which replaces the note.
        self.learn("spam", other[0])
        self.assertEqual(self.totals(), (31, 31))
        entry = self.registry_entry(other[0])
        self.assertEqual(entry["class"], "spam")
        self.assertNotIn("unlearned", entry)

    def test_the_delivered_copy_of_an_autolearned_message_moves_it(self):
        """smfd autolearns a message as ham in flight; the copy a user later reports
        from the mailbox carries the fields delivery and smfd added (Received,
        Delivered-To, X-SMF-Status...): taught as spam, it moves the message."""
        self.learn("spam", self.mail["spam"])
        self.learn("ham", self.mail["ham"])
        other = fixtures.files(fixtures.write_all(os.path.join(self.dir, "other"), seed=7)["ham"])
        self.assertEqual(self.verdict(other[0])["action"], "accept")
        self.assertEqual(self.totals(), (30, 31), self.smfd.log_tail())
        with open(other[0], "rb") as f:
            raw = f.read()
        delivered = os.path.join(self.dir, "delivered.eml")
        with open(delivered, "wb") as f:
            f.write(b"Return-Path: <sender@example.org>\nDelivered-To: user@example.com\n"
                    b"Received: from mx.example.com by mail.example.com with LMTP\n"
                    b"X-SMF-Status: clean, score=0.00\n" + raw)
        out = self.smfctl("learn", "--spam", delivered).stdout
        self.assertIn("learned 0, already known 0, moved 1,", out)
        self.assertEqual(self.totals(), (31, 30))

    def test_no_autolearning_while_smfctl_learns(self):
        self.learn("spam", self.mail["spam"])
        self.learn("ham", self.mail["ham"])
        other = fixtures.files(fixtures.write_all(os.path.join(self.dir, "other"), seed=7)["ham"])
        lock = os.open(os.path.join(self.smfd.tmp, "data", "kv", "learn.lock"),
                       os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.assertEqual(self.verdict(other[0])["action"], "accept")
            self.assertEqual(self.totals(), (30, 30))
            self.assertIn("autolearning paused: smfctl is learning", self.smfd.log_tail())
        finally:
            os.close(lock)
        self.assertEqual(self.verdict(other[1])["action"], "accept")
        self.assertEqual(self.totals(), (30, 31))

    def test_autolearned_mail_is_refitted_by_smfd(self):
        self.learn("spam", self.mail["spam"])
        self.learn("ham", self.mail["ham"])
        self.assertEqual(self.fitted(), 60)
        other = fixtures.write_all(os.path.join(self.dir, "other"), seed=7)
        hams = fixtures.files(other["ham"])[:4]
        for path in hams:
            v = self.verdict(path)
            self.assertEqual(v["action"], "accept", v)
        # Every tick (2 s) smfd looks; with an interval of 1 s it refits at the next one.
        deadline = time.time() + 20
        while time.time() < deadline and self.fitted() != 64:
            time.sleep(0.5)
        self.assertEqual(self.fitted(), 64, self.smfd.log_tail())
        log = self.smfd.log_tail()
        self.assertIn("autolearned as ham", log)
        self.assertRegex(log, r"bayes.*refitted in [0-9.]+ s, 4 message\(s\) autolearned")
        # Nothing new learned: no second refit.
        time.sleep(3)
        self.assertEqual(self.smfd.log_tail().count("autolearned since the last refit"), 1)


class AutolearnWithoutLogistic(EngineCase):
    """With logistic = false there is no model to refit: smfd must not claim one."""
    TEXT = ("autolearn = true\nautolearn_refit_interval = 1\n" +
            CONFIG.replace("min_learned = 10", "min_learned = 10\n  logistic = false"))

    def test_autolearned_mail_is_not_said_refitted(self):
        self.learn("spam", self.mail["spam"])
        self.learn("ham", self.mail["ham"])
        other = fixtures.write_all(os.path.join(self.dir, "other"), seed=7)
        for path in fixtures.files(other["ham"])[:4]:
            self.assertEqual(self.verdict(path)["action"], "accept")
        self.assertEqual(self.totals(), (30, 34))
        # Two ticks of the main loop (2 s each) go by without a refit.
        time.sleep(5)
        log = self.smfd.log_tail(100000)
        self.assertIn("autolearned as ham", log)
        self.assertNotIn("refitted", log)


if __name__ == "__main__":
    argv = smftest.parse_paths(sys.argv)
    unittest.main(argv=argv, verbosity=2)
