"""smfctl, the operator's tool: `modules` lists what the configuration loads and
says which module cannot start, with the exit status a script can test."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

import smftest


def smfctl(*args, config=None):
    src, build = smftest.PATHS["source"], smftest.PATHS["build"]
    cmd = [os.path.join(build, "bin", "smfctl"),
           "-c", config or os.path.join(src, "etc", "smfd.conf"),
           "-o", "module_dir=%s/modules" % build, "-o", "data_dir=/tmp"] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


class ModulesTest(unittest.TestCase):

    def test_default_config(self):
        r = smfctl("modules", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        mods = {m["name"]: m for m in json.loads(r.stdout)}
        self.assertEqual(list(mods), ["reputation", "antivirus", "lists", "pattern", "attachment"])
        self.assertFalse(mods["antivirus"]["overridable"])
        self.assertEqual(mods["antivirus"]["kind"], "antivirus")
        self.assertTrue(all(m["ok"] and m["enabled"] for m in mods.values()))
        self.assertTrue(all(m["overridable"] for n, m in mods.items() if n != "antivirus"))
        self.assertEqual(mods["antivirus"]["abi"], "1.3")

    def test_table(self):
        r = smfctl("modules")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith("MODULE"))
        av = [l for l in lines if l.startswith("antivirus")][0]
        self.assertIn("no (antivirus)", av)

    def test_antivirus_without_signatures(self):
        tmp = tempfile.mkdtemp(prefix="smf-ctl-")
        try:
            etc = os.path.join(tmp, "etc")
            shutil.copytree(os.path.join(smftest.PATHS["source"], "etc"), etc)
            conf = os.path.join(etc, "smfd.conf")
            with open(conf) as f:
                text = f.read()
            text = text.replace('database_dir = "/var/lib/clamav"',
                                'database_dir = "%s/empty"' % tmp)
            text = text.replace('signature_files = {"signatures/smf-test.ndb", '
                                '"signatures/smf-test.hdb"}', 'signature_files = {}')
            os.mkdir(os.path.join(tmp, "empty"))
            with open(conf, "w") as f:
                f.write(text)
            r = smfctl("modules", "--json", config=conf)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            mods = {m["name"]: m for m in json.loads(r.stdout)}
            self.assertFalse(mods["antivirus"]["ok"])
            self.assertIn("signature", mods["antivirus"]["status"])
            self.assertTrue(mods["pattern"]["ok"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_usage(self):
        r = smfctl("nosuch")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command 'nosuch'", r.stderr)
        r = smfctl("--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("modules [--json]", r.stdout)


class StatsTest(unittest.TestCase):
    """`smfctl stats` asks the running engine what it has done."""

    def setUp(self):
        self.smfd = smftest.Smfd().start()

    def tearDown(self):
        self.smfd.close()

    def test_counts_match_what_was_scanned(self):
        r = self.smfd.smfc("--json", "--rcpt", "u@example.com",
                           os.path.join(smftest.FIXTURES, "clean.eml"),
                           os.path.join(smftest.FIXTURES, "gtube.eml"))
        self.assertEqual(r.returncode, 0, r.stderr)
        actions = [json.loads(l)["action"] for l in r.stdout.splitlines()]
        build = smftest.PATHS["build"]
        cmd = [os.path.join(build, "bin", "smfctl"), "-c",
               os.path.join(smftest.PATHS["source"], "etc", "smfd.conf"),
               "-o", "listen=" + self.smfd.listen, "-o", "module_dir=%s/modules" % build]
        r = subprocess.run(cmd + ["stats", "--json"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        st = json.loads(r.stdout)
        self.assertEqual(st["messages"], 2)
        for a in set(actions):
            self.assertEqual(st["actions"][a], actions.count(a))
        stages = {s["module"]: s for s in st["stages"]}
        self.assertEqual(stages["antivirus"]["clean"], 2)
        self.assertGreaterEqual(stages["pattern"]["detected"], 1)
        r = subprocess.run(cmd + ["stats"], capture_output=True, text=True, timeout=60)
        self.assertIn("messages  2:", r.stdout)
        self.assertIn("no problem reported", r.stdout)

    def test_engine_down(self):
        self.smfd.stop()
        build = smftest.PATHS["build"]
        r = subprocess.run([os.path.join(build, "bin", "smfctl"), "-c",
                            os.path.join(smftest.PATHS["source"], "etc", "smfd.conf"),
                            "-o", "listen=" + self.smfd.listen,
                            "-o", "module_dir=%s/modules" % build, "stats"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is smfd running?", r.stderr)


if __name__ == "__main__":
    smftest.main()
