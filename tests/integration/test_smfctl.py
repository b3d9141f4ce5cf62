"""smfctl, the operator's tool: `modules` lists what the configuration loads and
says which module cannot start, with the exit status a script can test; `learn`
changes each message in one store transaction."""

import json
import os
import resource
import shutil
import struct
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


class LearnTransactionTest(unittest.TestCase):
    """A message's counts in every learning module and its registry entry change
    together or not at all. The learning test module (tcontent2) counts what it is
    taught; LEARN-FAILS in a message makes it fail after writing its count, and
    LEARN-NESTS makes it write in a batch of its own."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="smf-learn-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.conf = os.path.join(self.tmp, "smfd.conf")
        with open(self.conf, "w") as f:
            f.write('module_dir = "%s/test-modules"\ndata_dir = "%s/data"\n'
                    'quarantine_dir = "%s/q"\nmodules = {tcontent2}\n'
                    "policy default { inbound { stages = {tcontent2} } }\n"
                    % (smftest.PATHS["build"], self.tmp, self.tmp))

    def mail(self, name, body):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write("From: a@example.net\nSubject: note\n\n%s\n" % body)
        return path

    def smfctl(self, *args):
        return subprocess.run([os.path.join(smftest.PATHS["build"], "bin", "smfctl"),
                               "-c", self.conf] + list(args),
                              capture_output=True, text=True, timeout=120)

    def counts(self):
        """(spam, ham) as tcontent2 stored them, read with lmdb-utils' mdb_dump."""
        r = subprocess.run(["mdb_dump", "-s", "tcontent2", os.path.join(self.tmp, "data", "kv")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.split("HEADER=END\n", 1)[1].splitlines()
        pairs = dict(zip(lines[0:-1:2], lines[1::2]))
        value = pairs.get(" " + b"learned".hex())
        return struct.unpack("<2q", bytes.fromhex(value.strip())) if value else (0, 0)

    def test_a_failing_module_leaves_nothing_behind(self):
        good, bad = self.mail("good.eml", "hello"), self.mail("bad.eml", "hello LEARN-FAILS")
        r = self.smfctl("learn", "--ham", good)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.counts(), (0, 1))
        for _ in range(2):
            # Neither counted nor recorded: the second run fails again, not "already known".
            r = self.smfctl("learn", "--ham", bad)
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertIn("failed 1", r.stdout)
            self.assertEqual(self.counts(), (0, 1))

    def test_a_file_too_large_for_memory_is_skipped(self):
        """A file that cannot be read into memory (a multi-gigabyte mbox, here a
        sparse one under a lowered address-space limit) fails alone, named: the rest
        of the run is learned."""
        smfctl = os.path.join(smftest.PATHS["build"], "bin", "smfctl")
        ldd = subprocess.run(["ldd", smfctl], capture_output=True, text=True).stdout
        if "libasan" in ldd:
            self.skipTest("AddressSanitizer needs a large address space")
        big = os.path.join(self.tmp, "big.mbox")
        with open(big, "wb") as f:
            f.write(b"From a@example.net Mon Jan  1 00:00:00 2024\n")
            f.truncate(3 << 30)
        good = self.mail("good.eml", "hello")
        # The store maps 4 GiB of address space; 5 GiB leaves no room for the file.
        limit = 5 << 30
        r = subprocess.run([smfctl, "-c", self.conf, "learn", "--ham", big, good],
                           capture_output=True, text=True, timeout=120,
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS,
                                                                 (limit, limit)))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("%s: message 1 too large to read into memory" % big, r.stderr)
        # The counts add up to the messages read; the file that was not read
        # has none and is counted apart.
        self.assertRegex(r.stdout, r"learned 1, already known 0, moved 0, failed 0 "
                         r"\(1 messages in [0-9.]+ s\); 1 path not read\n")
        self.assertEqual(self.counts(), (0, 1))

    def test_an_mbox_is_read_a_piece_at_a_time(self):
        """A 200 MB mbox of 4 MB messages takes the memory of a few messages, not of
        the whole file, and each of its messages is learned."""
        smfctl = os.path.join(smftest.PATHS["build"], "bin", "smfctl")
        ldd = subprocess.run(["ldd", smfctl], capture_output=True, text=True).stdout
        if "libasan" in ldd:
            self.skipTest("AddressSanitizer's own memory would hide what is measured")
        big = os.path.join(self.tmp, "big.mbox")
        body = ("x" * 999 + "\n") * 4000
        with open(big, "w") as f:
            for i in range(50):
                f.write("From a@example.net Mon Jan  1 00:00:00 2024\nFrom: a@example.net\n"
                        "Subject: part %d\n\n%s\n" % (i, body))
        with open(os.path.join(self.tmp, "out"), "w+") as out:
            p = subprocess.Popen([smfctl, "-c", self.conf, "learn", "--ham", big],
                                 stdout=out, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(p.pid, 0)
            out.seek(0)
            text = out.read()
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, text)
        self.assertIn("learned 50, already known 0, moved 0, failed 0", text)
        self.assertEqual(self.counts(), (0, 50))
        # ru_maxrss is in KiB: well below the file's 200 MB.
        self.assertLess(usage.ru_maxrss, 100 << 10, text)

    def test_move_and_unlearn_with_a_module_batch(self):
        path = self.mail("nest.eml", "hello LEARN-NESTS")
        r = self.smfctl("learn", "--ham", path)
        self.assertIn("learned 1", r.stdout, r.stderr)
        self.assertEqual(self.counts(), (0, 1))
        r = self.smfctl("learn", "--spam", path)
        self.assertIn("moved 1", r.stdout, r.stderr)
        self.assertEqual(self.counts(), (1, 0))
        r = self.smfctl("unlearn", path)
        self.assertIn("unlearned 1", r.stdout, r.stderr)
        self.assertEqual(self.counts(), (0, 0))

    def test_links_inside_a_folder_are_not_followed(self):
        """smfctl runs as root, and whoever can write a folder the operator names
        could link to a file root alone may read: links inside folders are named
        and skipped, not followed, while a link named on the command line is."""
        outside = os.path.join(self.tmp, "outside")
        os.mkdir(outside)
        secret = os.path.join(outside, "secret")
        with open(secret, "w") as f:
            f.write("From: root@example.net\nSubject: secret\n\nroot only\n")
        os.chmod(secret, 0o600)
        folder = os.path.join(self.tmp, "shared")
        os.mkdir(folder)
        os.rename(self.mail("real.eml", "hello"), os.path.join(folder, "real.eml"))
        os.symlink(secret, os.path.join(folder, "planted"))
        os.symlink(outside, os.path.join(folder, "planted-dir"))
        r = self.smfctl("learn", "--ham", folder)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("learned 1, already known 0, moved 0, failed 0", r.stdout)
        for name in ("planted", "planted-dir"):
            self.assertIn("%s: a symbolic link inside a folder; skipped"
                          % os.path.join(folder, name), r.stderr)
        self.assertEqual(self.counts(), (0, 1))
        # Named on the command line, a link is the operator's choice: followed.
        r = self.smfctl("learn", "--ham", os.path.join(folder, "planted"))
        self.assertIn("learned 1", r.stdout, r.stderr)
        self.assertEqual(self.counts(), (0, 2))

    def test_fifos_and_devices_are_not_learned_as_nothing(self):
        """A FIFO or a device named on the command line (a pipe as /dev/stdin)
        is refused as a usage error, nothing learned, rather than learned as no
        message with exit 0; inside a folder one is named and skipped, and the
        run neither hangs on it nor reads it."""
        fifo = os.path.join(self.tmp, "pipe")
        os.mkfifo(fifo)
        for path, kind in ((fifo, "a FIFO"), ("/dev/zero", "a character device")):
            r = self.smfctl("learn", "--ham", self.mail("also.eml", "hello"), path)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("%s: %s, not a file or folder" % (path, kind), r.stderr)
            self.assertNotIn("learned", r.stdout)
        folder = os.path.join(self.tmp, "shared")
        os.mkdir(folder)
        os.rename(self.mail("real.eml", "hello"), os.path.join(folder, "real.eml"))
        os.mkfifo(os.path.join(folder, "pipe"))
        r = self.smfctl("learn", "--ham", folder)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("learned 1, already known 0, moved 0, failed 0", r.stdout)
        self.assertIn("%s: a FIFO inside a folder; skipped" % os.path.join(folder, "pipe"),
                      r.stderr)
        self.assertEqual(self.counts(), (0, 1))

    def test_a_deep_folder_tree_is_walked_within_few_descriptors(self):
        """The walk keeps no folder open while it walks the ones below: a tree
        deeper than the descriptors a process may hold is learned whole."""
        path = os.path.join(self.tmp, "deep")
        for _ in range(100):
            path = os.path.join(path, "d")
        os.makedirs(path)
        os.rename(self.mail("deep.eml", "hello"), os.path.join(path, "deep.eml"))
        r = subprocess.run([os.path.join(smftest.PATHS["build"], "bin", "smfctl"), "-c", self.conf,
                            "learn", "--ham", os.path.join(self.tmp, "deep")],
                           capture_output=True, text=True, timeout=120,
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("learned 1, already known 0, moved 0, failed 0", r.stdout)


    def test_a_folder_listed_in_part_fails(self):
        """A folder whose listing fails partway (readdir() fails, as on a failing
        disk: a shim makes it so) is named and counted as failed, none of it
        learned, rather than learned in part without a word."""
        top = os.path.join(self.tmp, "mail")
        for sub, count in (("broken", 3), ("fine", 1)):
            os.makedirs(os.path.join(top, sub))
            for i in range(count):
                os.rename(self.mail("m.eml", "hello %s %d" % (sub, i)),
                          os.path.join(top, sub, "%d.eml" % i))
        shim = os.path.join(smftest.PATHS["build"], "test-shims", "readdir_fails.so")
        # A sanitizer build wants its runtime first; the shim only wraps readdir().
        env = dict(os.environ, LD_PRELOAD=shim, SMF_READDIR_FAILS="/mail/broken",
                   ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
        r = subprocess.run([os.path.join(smftest.PATHS["build"], "bin", "smfctl"), "-c", self.conf,
                            "learn", "--ham", top], capture_output=True, text=True, timeout=120,
                           env=env)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("%s: %s; skipped" % (os.path.join(top, "broken"), os.strerror(5)),
                      r.stderr)
        self.assertIn("learned 1, already known 0, moved 0, failed 0 (1 messages in", r.stdout)
        self.assertIn("; 1 path not read\n", r.stdout)
        self.assertEqual(self.counts(), (0, 1))

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
        self.assertEqual(mods["antivirus"]["abi"], "1.6")

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

    def test_every_command_has_help(self):
        """--help prints the command's usage and exits 0, wherever it comes, without
        reading the configuration (here a file that does not exist)."""
        missing = os.path.join(tempfile.gettempdir(), "smf-no-such-dir", "smfd.conf")
        for args in (["modules"], ["list"], ["list", "add"], ["list", "del", "--type", "ip"],
                     ["quarantine"], ["quarantine", "purge"], ["learn"], ["learn", "--spam"],
                     ["unlearn"], ["keygen"], ["stats"], ["domains"], ["domains", "a.example"]):
            for flag in ("--help", "-h"):
                r = smfctl(*args, flag, config=missing)
                self.assertEqual((r.returncode, r.stderr), (0, ""), args + [flag])
                self.assertTrue(r.stdout.startswith("usage: smfctl "), args + [flag])
                self.assertIn("smfctl %s " % args[0], r.stdout, args + [flag])
        # After "--", --help is a file to learn from, not a request for help.
        r = smfctl("learn", "--spam", "--", "--help", config=missing)
        self.assertEqual(r.returncode, 2, r.stdout)


class DomainsTest(unittest.TestCase):
    """`smfctl domains`: the policy each domain gets, resolved as smfd resolves it."""

    def test_every_policy(self):
        r = smfctl("domains")
        self.assertEqual(r.returncode, 0, r.stderr)
        blocks = r.stdout.strip().split("\n\n")
        self.assertEqual([b.split("\n")[0] for b in blocks],
                         ["default (every domain without a policy of its own)", "example.com"])
        self.assertIn("stages reputation > antivirus > lists > pattern > attachment", blocks[0])
        # example.com changes one setting of the default's, and only that one is marked.
        self.assertIn("add_header 5, quarantine 10, reject* 40", blocks[1])
        self.assertEqual(blocks[1].count("*"), 1, blocks[1])
        self.assertNotIn("*", blocks[0])

    def test_named_domains_as_json(self):
        r = smfctl("domains", "Example.COM.", "other.example", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        got = json.loads(r.stdout)
        self.assertEqual([(p["domain"], p["policy"]) for p in got],
                         [("example.com", "example.com"), ("other.example", "default")])
        self.assertEqual(got[0]["inbound"]["reject_score"], 40)
        self.assertEqual(got[1]["inbound"]["reject_score"], 0)
        self.assertEqual(got[0]["outbound"]["virus_action"], "reject")
        self.assertEqual(got[1]["inbound"]["stages"][1], "antivirus")
        r = smfctl("domains", "other.example")
        self.assertTrue(r.stdout.startswith("other.example: the default policy"), r.stdout)

    def test_a_domain_not_utf8_is_listed_as_json(self):
        """A name given in another encoding than UTF-8 is listed with each such byte as
        \\xHH, as everywhere else, rather than left out of the JSON without a word."""
        r = smfctl("domains", b"b\xfc.example", "other.example", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        got = json.loads(r.stdout)
        self.assertEqual([(p["domain"], p["policy"]) for p in got],
                         [("b\\xfc.example", "default"), ("other.example", "default")])

    def test_unknown_option(self):
        r = smfctl("domains", "--jsn")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown option '--jsn'", r.stderr)
        self.assertIn("usage: smfctl domains", r.stderr)


class QuarantineAccessTest(unittest.TestCase):
    """Run as a user who may not read the stores, `smfctl quarantine` says which
    store or folder it could not read and fails, rather than report an empty
    quarantine. It needs root to give the stores away; other users skip it."""

    def setUp(self):
        if os.geteuid() != 0 or shutil.which("runuser") is None:
            self.skipTest("needs root and runuser to run smfctl as nobody")
        self.tmp = tempfile.mkdtemp(prefix="smf-qaccess-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        os.chmod(self.tmp, 0o755)
        self.q = os.path.join(self.tmp, "q")
        # The folder is nobody's; one domain's store in it stays root's alone.
        locked = os.path.join(self.q, "locked.example")
        os.makedirs(locked)
        with open(os.path.join(locked, "data.mdb"), "wb") as f:
            f.write(b"\0" * 65536)
        os.chmod(locked, 0o700)
        os.chown(self.q, 65534, 65534)

    def as_nobody(self, *args):
        build = smftest.PATHS["build"]
        cmd = ["runuser", "-u", "nobody", "--", os.path.join(build, "bin", "smfctl"),
               "-c", os.path.join(smftest.PATHS["source"], "etc", "smfd.conf"),
               "-o", "module_dir=%s/modules" % build, "-o", "data_dir=%s/data" % self.tmp,
               "-o", "quarantine_dir=%s" % self.q, "quarantine"] + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def test_an_unreadable_store_is_named(self):
        for args in (["list"], ["list", "--domain", "locked.example"],
                     ["purge", "--older-than", "30"], ["show", "someid"]):
            r = self.as_nobody(*args)
            self.assertEqual(r.returncode, 1, "%s: %s" % (args, r.stdout + r.stderr))
            self.assertIn(os.path.join(self.q, "locked.example") + ": Permission denied",
                          r.stderr, args)

    def test_an_unreadable_quarantine_folder_is_named(self):
        os.chown(self.q, 0, 0)
        os.chmod(self.q, 0o700)
        for args in (["list"], ["purge", "--older-than", "30"], ["show", "someid"]):
            r = self.as_nobody(*args)
            self.assertEqual(r.returncode, 1, "%s: %s" % (args, r.stdout + r.stderr))
            self.assertIn("cannot read the quarantine folder %s: Permission denied" % self.q,
                          r.stderr, args)


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
        self.assertIn("queue     0 being scanned, 0 waiting for a worker", r.stdout)
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
