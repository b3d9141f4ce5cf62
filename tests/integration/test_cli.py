"""smfd's command line: -t checks the configuration and says what is wrong,
-o overrides top-level settings, --help explains itself."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import smftest


def smfd(*args):
    build = smftest.PATHS["build"]
    cmd = [smftest.PATHS["smfd"], "-o", "module_dir=%s/modules" % build,
           "-o", "data_dir=/tmp"] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def default_conf():
    return os.path.join(smftest.PATHS["source"], "etc", "smfd.conf")


class CheckTest(unittest.TestCase):

    def test_valid(self):
        r = smfd("-t", "-c", default_conf())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("is valid", r.stdout)
        self.assertIn("reputation antivirus lists pattern attachment", r.stdout)

    def test_override_applies(self):
        r = smfd("-t", "-c", default_conf(), "-o", "workers=3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("3 worker(s)", r.stdout)

    def test_list_override_takes_items(self):
        # Each item of a list setting is one value, not the whole text one module name.
        r = smfd("-t", "-c", default_conf(), "-o",
                 "modules=reputation, antivirus, lists, pattern, attachment")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("5 module(s): reputation antivirus lists pattern attachment", r.stdout)
        # Quoted as in the file, with or without the braces.
        for value in ('"reputation", "antivirus", "lists", "pattern", "attachment"',
                      '{"reputation", "antivirus", "lists", "pattern", "attachment"}'):
            r = smfd("-t", "-c", default_conf(), "-o", "modules=" + value)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("5 module(s): reputation antivirus", r.stdout)

    def test_module_no_policy_runs_is_named(self):
        r = smfd("-t", "-c", default_conf(), "-o",
                 "modules=reputation, antivirus, lists, pattern, attachment, bayes")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("module bayes is loaded but no policy runs it", r.stderr)
        self.assertNotIn("module pattern is loaded but", r.stderr)

    def test_warnings_are_counted_at_the_end(self):
        # A valid configuration can still hold a mistake that only a warning shows; the
        # last line counts them, so that they are not lost above it.
        def warnings(r):
            self.assertEqual(r.returncode, 0, r.stderr)
            m = re.search(r"smfd: (\d+) warning\(s\) above", r.stdout)
            return int(m.group(1)) if m else 0
        base = warnings(smfd("-t", "-c", default_conf()))
        more = warnings(smfd("-t", "-c", default_conf(), "-o",
                             "modules=reputation, antivirus, lists, pattern, attachment, bayes"))
        self.assertEqual(more, base + 1)

    def test_unknown_override(self):
        r = smfd("-t", "-c", default_conf(), "-o", "nosuch=1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("'nosuch' is not a top-level setting", r.stderr)

    def test_error_names_file_and_line(self):
        tmp = tempfile.mkdtemp(prefix="smf-cli-")
        try:
            etc = os.path.join(tmp, "etc")
            shutil.copytree(os.path.join(smftest.PATHS["source"], "etc"), etc)
            conf = os.path.join(etc, "smfd.conf")
            with open(conf) as f:
                lines = f.read().splitlines()
            lines.insert(3, "workerz = 2")
            with open(conf, "w") as f:
                f.write("\n".join(lines) + "\n")
            r = smfd("-t", "-c", conf)
            self.assertEqual(r.returncode, 1)
            self.assertIn("%s:4:" % conf, r.stderr)
            self.assertIn("workerz", r.stderr)
            # A value of the wrong type, which libconfuse notices lines later.
            del lines[3]
            at = next(i for i, l in enumerate(lines) if l.startswith("workers ="))
            lines[at] = "workers = two"
            with open(conf, "w") as f:
                f.write("\n".join(lines) + "\n")
            r = smfd("-t", "-c", conf)
            self.assertEqual(r.returncode, 1)
            self.assertIn("%s:%d: invalid integer value for option 'workers'" % (conf, at + 1),
                          r.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to run smfd -t as another user")
    def test_stores_the_user_cannot_write(self):
        # smfd -t as nobody, with data_dir under a folder only root may enter: it would fail
        # to start, so the check says so instead of "valid".
        tmp = tempfile.mkdtemp(prefix="smf-cli-")
        try:
            os.chmod(tmp, 0o700)
            build = smftest.PATHS["build"]
            r = subprocess.run(["runuser", "-u", "nobody", "--", smftest.PATHS["smfd"], "-t",
                                "-c", default_conf(), "-o", "module_dir=%s/modules" % build,
                                "-o", "data_dir=%s/data" % tmp,
                                "-o", "quarantine_dir=/tmp"],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("data_dir %s/data cannot be written by this user" % tmp, r.stderr)
            self.assertNotIn("quarantine_dir", r.stderr)
            self.assertNotIn("is valid", r.stdout)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_missing_file(self):
        r = smfd("-t", "-c", "/nonexistent/smfd.conf")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot read configuration /nonexistent/smfd.conf", r.stderr)

    def test_help(self):
        r = subprocess.run([smftest.PATHS["smfd"], "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("usage: smfd", r.stdout)
        r = subprocess.run([smftest.PATHS["smfd"], "-x"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)



class EndpointInUseTest(unittest.TestCase):
    """A second smfd on the ipc:// endpoint of a running one refuses to start
    instead of taking the endpoint away; a socket file left by a dead process
    is no obstacle."""

    def test_second_smfd_refuses_a_live_endpoint(self):
        first = smftest.Smfd().start()
        try:
            build = smftest.PATHS["build"]
            r = subprocess.run(
                [smftest.PATHS["smfd"], "-c", default_conf(), "-o", "listen=" + first.listen,
                 "-o", "publish=ipc://%s/other-events.sock" % first.tmp,
                 "-o", "data_dir=%s/data2" % first.tmp, "-o", "quarantine_dir=%s/q2" % first.tmp,
                 "-o", "module_dir=%s/modules" % build],
                capture_output=True, text=True, timeout=60, cwd=smftest.PATHS["source"])
            self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("listens there", r.stdout + r.stderr)
            self.assertIn(first.listen, r.stdout + r.stderr)
            # The first still answers on its endpoint.
            self.assertEqual(first.wait_ready(10)["schema"], 1)
        finally:
            self.assertEqual(first.stop(), 0, first.log_tail())
            first.close()

    def test_stale_socket_file_is_taken_over(self):
        import socket
        smfd = smftest.Smfd()
        path = smfd.listen[len("ipc://"):]
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(path)
        stale.close()  # The file stays, nobody listens.
        try:
            smfd.start()
            self.assertEqual(smfd.stop(), 0, smfd.log_tail())
        finally:
            smfd.close()


if __name__ == "__main__":
    smftest.main()
