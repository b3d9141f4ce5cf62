"""`cmake --install` lays out a working engine: installed under a prefix, smfd
checks the installed configuration (which names the installed modules) as
valid, the systemd units name the installed programs, a site's smfd.conf
survives a second install, DESTDIR stages a /usr install, and the installed
documents' links to one another lead to installed files."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import smftest


def install(prefix, destdir=None):
    env = dict(os.environ)
    if destdir is not None:
        env["DESTDIR"] = destdir
    r = subprocess.run(["cmake", "--install", smftest.PATHS["build"], "--prefix", prefix],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


class InstallTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="smf-install-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_prefix_install_runs(self):
        prefix = os.path.join(self.tmp, "opt")
        install(prefix)
        conf = os.path.join(prefix, "etc", "smf", "smfd.conf")
        with open(conf) as f:
            self.assertIn('module_dir = "%s/lib/smf/modules"' % prefix, f.read())
        for path in ("sbin/smfd", "sbin/smfctl", "sbin/smf-milter", "bin/smfc",
                     "bin/smf-modtest", "include/smf/module.h", "lib/smf/modules/bayes.so",
                     "etc/smf/rules/default.rules", "share/pkgconfig/smf-module.pc"):
            self.assertTrue(os.path.exists(os.path.join(prefix, path)), path)
        data = os.path.join(self.tmp, "data")
        r = subprocess.run([os.path.join(prefix, "sbin", "smfd"), "-t", "-c", conf,
                            "-o", "data_dir=" + data, "-o", "quarantine_dir=%s/q" % data],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("reputation antivirus lists pattern attachment", r.stdout)
        with open(os.path.join(prefix, "lib", "systemd", "system", "smfd.service")) as f:
            unit = f.read()
        self.assertIn("ExecStart=%s/sbin/smfd -c %s" % (prefix, conf), unit)

    def test_installed_documents_link_installed_files(self):
        prefix = os.path.join(self.tmp, "opt")
        install(prefix)
        docdir = os.path.join(prefix, "share", "doc", "securemailflow")
        checked = 0
        for folder, _, names in os.walk(docdir):
            for name in (n for n in names if n.endswith(".md")):
                with open(os.path.join(folder, name)) as f:
                    text = f.read()
                for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
                    if re.match(r"[a-z]+:", link):
                        continue
                    target = os.path.normpath(os.path.join(folder, link))
                    self.assertTrue(os.path.exists(target), "%s links %s" % (name, link))
                    checked += 1
        self.assertTrue(os.path.exists(os.path.join(docdir, "modules", "bayes", "README.md")))
        self.assertGreater(checked, 10)

    def test_site_configuration_is_kept(self):
        prefix = os.path.join(self.tmp, "opt")
        install(prefix)
        conf = os.path.join(prefix, "etc", "smf", "smfd.conf")
        with open(conf, "a") as f:
            f.write("# the site's own change\n")
        out = install(prefix)
        self.assertIn("Kept: %s" % conf, out)
        with open(conf) as f:
            self.assertIn("the site's own change", f.read())
        with open(conf + ".dist") as f:
            self.assertNotIn("the site's own change", f.read())

    def test_staged_usr_install(self):
        stage = os.path.join(self.tmp, "stage")
        install("/usr", destdir=stage)
        with open(os.path.join(stage, "etc", "smf", "smfd.conf")) as f:
            self.assertIn('module_dir = "/usr/lib/smf/modules"', f.read())
        self.assertTrue(os.path.exists(os.path.join(stage, "usr", "sbin", "smfd")))
        self.assertTrue(os.path.exists(os.path.join(stage, "etc", "smf", "rules",
                                                    "default.rules")))
        with open(os.path.join(stage, "usr", "lib", "systemd", "system", "smfd.service")) as f:
            self.assertIn("ExecStart=/usr/sbin/smfd -c /etc/smf/smfd.conf", f.read())


if __name__ == "__main__":
    smftest.main()
