"""The bayes module inside a real smfd: what `smfctl learn` teaches a running
engine shows in its next verdicts, without a reload. Uses the integration
tests' harness (tests/integration/smftest.py) and python3-zmq."""
import json
import os
import subprocess
import sys
import tempfile
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


class LiveLearning(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="smf-bayes-engine-")
        self.config = os.path.join(self.dir, "smfd.conf")
        with open(self.config, "w") as f:
            f.write(CONFIG)
        self.mail = fixtures.write_all(os.path.join(self.dir, "mail"))
        self.smfd = smftest.Smfd(config=self.config)
        self.smfd.start()

    def tearDown(self):
        try:
            self.assertEqual(self.smfd.stop(), 0, self.smfd.log_tail())
        finally:
            self.smfd.close()
            subprocess.run(["rm", "-rf", self.dir])

    def verdict(self, path):
        p = self.smfd.smfc("--json", "--rcpt", "user@example.com", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def learn(self, klass, path):
        build = smftest.PATHS["build"]
        cmd = [os.path.join(build, "bin", "smfctl"), "-c", self.config,
               "-o", "module_dir=%s/modules" % build, "-o", "data_dir=%s/data" % self.smfd.tmp,
               "learn", "--" + klass, path]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)

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
        # A confident classifier quarantines on its own: 12 or more from p = 0.99.
        self.assertGreaterEqual(spam["score"], 12.0)
        self.assertEqual(spam["action"], "quarantine")
        ham = self.verdict(self.mail["test_ham"])
        self.assertEqual([s["name"] for s in ham["symbols"]], ["BAYES_HAM"])
        self.assertEqual(ham["action"], "accept")


if __name__ == "__main__":
    argv = smftest.parse_paths(sys.argv)
    unittest.main(argv=argv, verbosity=2)
