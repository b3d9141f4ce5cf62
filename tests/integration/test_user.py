"""smfd with `user` set: started as root it binds its endpoints, gives its
directories and sockets to the user, switches to that user for good, and
still scans, quarantines and reloads. An unknown user is refused by
`smfd -t`, and smfd started as some other user refuses to go on. The tests
that start smfd as root are skipped when not run as root."""

import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import smftest
from smftest import envelope, fixture, recv_reply, scan_frames
from test_quarantine import SmtpSink

USER = "nobody"
# A second account every Debian system has, for a change of `user`.
OTHER_USER = "daemon"
UNKNOWN_USER = "smf-no-such-user"

needs_root = unittest.skipUnless(
    os.geteuid() == 0, "smfd can switch to another user only when started as root")
smfctl_needs_root = unittest.skipUnless(
    os.geteuid() == 0, "not run as root: smfctl switches to `user` only when run as root, and "
    "planting links for it and checking its files need root too")


def credentials(pid):
    """For each thread of a process: its real, effective, saved and file-system
    uids and gids, and its permitted and effective capabilities."""
    out = {}
    for tid in sorted(os.listdir("/proc/%d/task" % pid)):
        creds = {}
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key in ("Uid", "Gid"):
                        creds[key] = [int(v) for v in value.split()]
                    elif key in ("CapPrm", "CapEff"):
                        creds[key] = int(value, 16)
        except FileNotFoundError:
            continue  # The thread ended meanwhile.
        out[tid] = creds
    return out


def reachable(tmp):
    """The test's folder is private to root; the user must reach what is in it."""
    os.chmod(tmp, 0o755)


def copy_etc(append=""):
    """A copy of etc/ the user can read, with text appended to smfd.conf."""
    tmp = tempfile.mkdtemp(prefix="smf-uetc-")
    reachable(tmp)
    etc = os.path.join(tmp, "etc")
    shutil.copytree(os.path.join(smftest.PATHS["source"], "etc"), etc)
    conf = os.path.join(etc, "smfd.conf")
    with open(conf, "a") as f:
        f.write(append)
    return tmp, conf


def owners(top):
    """Every path under top (top included) whose owner is not the user."""
    uid = pwd.getpwnam(USER).pw_uid
    wrong = []
    for d, dirs, files in os.walk(top):
        for p in [d] + [os.path.join(d, n) for n in files]:
            st = os.lstat(p)
            if st.st_uid != uid:
                wrong.append("%s (uid %d)" % (p, st.st_uid))
    return wrong


def wait_log(smfd, text, timeout=30):
    deadline = time.time() + timeout
    while text not in smfd.log_tail(200) and time.time() < deadline:
        time.sleep(0.1)
    return text in smfd.log_tail(200)


def free_low_port():
    """A loopback TCP port below 1024 that nothing listens on."""
    for port in range(1000, 900, -1):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise unittest.SkipTest("no free TCP port below 1024 on loopback")


class UserTest(unittest.TestCase):
    """One smfd per test, each in its own folder."""

    def setUp(self):
        self.user = pwd.getpwnam(USER)
        self.smfd = None
        self.etc = None

    def tearDown(self):
        if self.smfd is not None:
            self.smfd.close()
        if self.etc is not None:
            shutil.rmtree(self.etc, ignore_errors=True)

    def start(self, *overrides, config=None, listen=None):
        self.smfd = smftest.Smfd(*overrides, config=config)
        reachable(self.smfd.tmp)
        if listen is not None:
            self.smfd.listen = listen
        return self.smfd.start()

    def scan(self, body, rid, **env):
        sock = self.smfd.dealer()
        try:
            sock.send_multipart(scan_frames(rid, envelope(**env), body))
            cmd, got, reply = recv_reply(sock, 30000)
        finally:
            sock.close(0)
        self.assertEqual((cmd, got), ("VERDICT", rid), reply)
        return reply

    def generation(self):
        sock = self.smfd.dealer()
        try:
            sock.send_multipart([smftest.PROTO, b"PING", b"gen"])
            cmd, _, body = recv_reply(sock)
        finally:
            sock.close(0)
        self.assertEqual(cmd, "PONG")
        return body["generation"]

    def assert_runs_as_user(self):
        """Every thread, the ZeroMQ ones started before the switch included."""
        want = {"Uid": [self.user.pw_uid] * 4, "Gid": [self.user.pw_gid] * 4,
                "CapPrm": 0, "CapEff": 0}
        threads = credentials(self.smfd.proc.pid)
        self.assertGreater(len(threads), 1)
        for tid, creds in threads.items():
            self.assertEqual(creds, want, "thread %s" % tid)

    def quarantine_listing(self, domain):
        """`smfctl quarantine list` run as the user, as the documentation advises."""
        src, build = smftest.PATHS["source"], smftest.PATHS["build"]
        cmd = [os.path.join(build, "bin", "smfctl"),
               "-c", os.path.join(src, "etc", "smfd.conf"),
               "-o", "module_dir=%s/modules" % build,
               "-o", "data_dir=%s/data" % self.smfd.tmp,
               "-o", "quarantine_dir=%s/q" % self.smfd.tmp,
               "quarantine", "list", "--json", "--domain", domain]
        r = subprocess.run(cmd, capture_output=True, timeout=120, cwd=src,
                           user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return [json.loads(line) for line in r.stdout.decode().splitlines()]

    @needs_root
    def test_runs_scans_and_quarantines_as_user(self):
        self.start("user=" + USER)
        self.assert_runs_as_user()
        self.assertIn("running as user %s (uid %d, gid %d)"
                      % (USER, self.user.pw_uid, self.user.pw_gid), self.smfd.log_tail(200))

        self.assertEqual(self.scan(fixture("clean.eml"), b"u-clean")["action"], "accept")
        reply = self.scan(fixture("gtube.eml"), b"u-gtube", recipients=["bob@held.example"])
        self.assertEqual(reply["action"], "quarantine", reply)
        qid = reply["quarantine_id"]
        self.assertIsNotNone(qid, reply)

        tmp = self.smfd.tmp
        self.assertTrue(os.path.exists(os.path.join(tmp, "q", "held.example", "data.mdb")))
        self.assertTrue(os.path.exists(os.path.join(tmp, "data", "kv", "data.mdb")))
        self.assertEqual(owners(os.path.join(tmp, "data")), [])
        self.assertEqual(owners(os.path.join(tmp, "q")), [])
        for name in ("scan.sock", "events.sock"):
            st = os.lstat(os.path.join(tmp, name))
            self.assertTrue(stat.S_ISSOCK(st.st_mode))
            self.assertEqual((st.st_uid, st.st_gid), (self.user.pw_uid, self.user.pw_gid))
            self.assertEqual(st.st_mode & 0o060, 0o060, "the group cannot connect to " + name)

        rows = self.quarantine_listing("held.example")
        self.assertEqual([r["id"] for r in rows], [qid])
        self.assertEqual(self.smfd.stop(), 0, self.smfd.log_tail())

    @needs_root
    def test_takes_over_files_of_a_run_as_root(self):
        self.start()
        reply = self.scan(fixture("gtube.eml"), b"r-gtube", recipients=["bob@held.example"])
        self.assertEqual(reply["action"], "quarantine", reply)
        self.assertEqual(self.smfd.stop(), 0, self.smfd.log_tail())
        tmp = self.smfd.tmp
        self.assertNotEqual(owners(os.path.join(tmp, "q")), [], "a run as root left no files")
        # A link the user could have planted must not give it a file of root's.
        victim = os.path.join(tmp, "victim")
        with open(victim, "w") as f:
            f.write("root's\n")
        os.symlink(victim, os.path.join(tmp, "data", "planted"))

        self.smfd.overrides.append("user=" + USER)
        self.smfd.log.close()
        self.smfd.start()
        self.assert_runs_as_user()
        self.assertIn("owned by root to user %s" % USER, self.smfd.log_tail(200))
        self.assertEqual(os.stat(victim).st_uid, 0, "smfd followed a symbolic link as root")
        os.unlink(os.path.join(tmp, "data", "planted"))
        self.assertEqual(owners(os.path.join(tmp, "data")), [])
        self.assertEqual(owners(os.path.join(tmp, "q")), [])
        reply = self.scan(fixture("gtube.eml"), b"u-gtube", recipients=["bob@held.example"])
        self.assertEqual(reply["action"], "quarantine", reply)
        self.assertEqual(len(self.quarantine_listing("held.example")), 2)
        self.assertEqual(self.smfd.stop(), 0, self.smfd.log_tail())

    def smfctl(self, tmp, *args, as_user=False, config=None, env=None):
        """smfctl on the folders under tmp with `user` set, as root or as the user."""
        src, build = smftest.PATHS["source"], smftest.PATHS["build"]
        cmd = [os.path.join(build, "bin", "smfctl"),
               "-c", config or os.path.join(src, "etc", "smfd.conf"),
               "-o", "module_dir=%s/modules" % build, "-o", "user=" + USER,
               "-o", "data_dir=%s/data" % tmp, "-o", "quarantine_dir=%s/q" % tmp] + list(args)
        ids = dict(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[]) if as_user else {}
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=src, env=env,
                              **ids)

    @smfctl_needs_root
    def test_smfctl_as_root_leaves_the_stores_to_the_user(self):
        """smfctl run as root works on the stores as the user, so that what it
        creates there is the user's and smfd (and smfctl) running as the user can
        still open it; the files the operator names are still read and written as
        root."""
        tmp = tempfile.mkdtemp(prefix="smf-uctl-")
        self.addCleanup(shutil.rmtree, tmp, True)
        reachable(tmp)
        # The operator's own files, which only root may read or write.
        private = os.path.join(tmp, "private")
        os.mkdir(private, 0o700)
        mail = os.path.join(private, "gtube.eml")
        shutil.copy(os.path.join(smftest.FIXTURES, "gtube.eml"), mail)
        os.chmod(mail, 0o600)
        imported = os.path.join(private, "lists.txt")
        with open(imported, "w") as f:
            f.write("global sender block importer@bad.example\n")
        os.chmod(imported, 0o600)

        r = self.smfctl(tmp, "learn", "--spam", mail)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("learned 1", r.stdout)
        r = self.smfctl(tmp, "list", "add", "--scope", "global", "--type", "sender",
                        "--action", "block", "spammer@bad.example")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.smfctl(tmp, "list", "import", imported)
        self.assertEqual(r.returncode, 0, r.stderr)
        exported = os.path.join(private, "export.txt")
        r = self.smfctl(tmp, "list", "export", exported)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(exported) as f:
            text = f.read()
        self.assertIn("spammer@bad.example", text)
        self.assertIn("importer@bad.example", text)
        self.assertEqual(os.stat(exported).st_uid, 0)
        self.assertNotEqual(os.listdir(os.path.join(tmp, "data")), [])
        self.assertEqual(owners(os.path.join(tmp, "data")), [])
        # The user can go on where root left off: the store and the learners' lock.
        r = self.smfctl(tmp, "learn", "--ham", os.path.join(smftest.FIXTURES, "clean.eml"),
                        as_user=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.smfctl(tmp, "list", "show", as_user=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("spammer@bad.example", r.stdout)

    @smfctl_needs_root
    def test_smfctl_export_makes_its_file_only_once_the_store_opened(self):
        """smfctl run as root opens the store as the user: a store the user cannot
        open fails the export before its file is made, so none is left behind;
        once the user can open it, the file is still made as root, where only
        root may write."""
        tmp = tempfile.mkdtemp(prefix="smf-uctl-")
        self.addCleanup(shutil.rmtree, tmp, True)
        reachable(tmp)
        private = os.path.join(tmp, "private")
        os.mkdir(private, 0o700)
        exported = os.path.join(private, "export.txt")
        # Another account's store, which root could open but the user cannot.
        kv = os.path.join(tmp, "data", "kv")
        os.makedirs(kv, 0o700)
        other = pwd.getpwnam(OTHER_USER)
        os.chown(kv, other.pw_uid, other.pw_gid)
        r = self.smfctl(tmp, "list", "export", exported)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("cannot open the key-value store", r.stderr)
        self.assertEqual(os.listdir(private), [])
        os.chown(kv, self.user.pw_uid, self.user.pw_gid)
        r = self.smfctl(tmp, "list", "export", exported)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.stat(exported).st_uid, 0)
        self.assertEqual(owners(os.path.join(tmp, "data")), [])

    @smfctl_needs_root
    def test_smfctl_opens_no_store_while_root_can_be_taken_back(self):
        """The store's files are the user's, and LMDB trusts what it reads from
        them: whoever took over smfd could rewrite them while smfctl reads them.
        So smfctl opens a store only once it cannot become root again, an export
        too (whose check that the store opens comes before its file is made)."""
        tmp = tempfile.mkdtemp(prefix="smf-uctl-")
        self.addCleanup(shutil.rmtree, tmp, True)
        reachable(tmp)
        exported = os.path.join(tmp, "export.txt")
        shim = os.path.join(smftest.PATHS["build"], "test-shims", "store_opens_as_user.so")
        # A sanitizer build wants its runtime first; the shim only wraps open().
        env = dict(os.environ, LD_PRELOAD=shim,
                   ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
        for args in (["list", "add", "--type", "ip", "--action", "block", "192.0.2.7"],
                     ["list", "export", exported], ["list", "show"]):
            r = self.smfctl(tmp, *args, env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("store_opens_as_user", r.stderr)
        with open(exported) as f:
            self.assertIn("192.0.2.7", f.read())
        self.assertEqual(os.stat(exported).st_uid, 0)

    @smfctl_needs_root
    def test_smfctl_refusals_name_smfctl(self):
        """The hand-over code smfctl shares with smfd names the program that
        refuses, so that an operator running smfctl is not told about smfd."""
        tmp = tempfile.mkdtemp(prefix="smf-uctl-")
        self.addCleanup(shutil.rmtree, tmp, True)
        reachable(tmp)
        # The user's folder, with a link where the operator pointed data_dir.
        theirs = os.path.join(tmp, "theirs")
        os.mkdir(theirs)
        os.chown(theirs, self.user.pw_uid, self.user.pw_gid)
        os.mkdir(os.path.join(tmp, "elsewhere"))
        os.symlink(os.path.join(tmp, "elsewhere"), os.path.join(theirs, "data"))
        r = self.smfctl(tmp, "-o", "data_dir=%s/data" % theirs, "list", "show")
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("smfctl does not follow it while it is root", r.stderr)
        self.assertNotIn("smfd", r.stderr)

    @smfctl_needs_root
    def test_smfctl_as_root_follows_no_link_of_the_user(self):
        """Whoever takes over smfd owns quarantine_dir and data_dir and may plant
        links there: smfctl run as root must not write where they point."""
        sink = SmtpSink()
        self.addCleanup(sink.close)
        self.etc, conf = copy_etc('\nuser = "%s"\npolicy "held.example" {\n'
                                  '  delivery = "[127.0.0.1]:%d"\n}\n' % (USER, sink.port))
        self.start(config=conf)
        reply = self.scan(fixture("gtube.eml"), b"l-gtube", recipients=["bob@held.example"])
        self.assertEqual(reply["action"], "quarantine", reply)
        qid = reply["quarantine_id"]
        self.assertEqual(self.smfd.stop(), 0, self.smfd.log_tail())

        tmp = self.smfd.tmp
        q, kv = os.path.join(tmp, "q"), os.path.join(tmp, "data", "kv")
        victims = {}
        for name in ("victim-q.txt", "victim-kv.txt"):
            victims[name] = os.path.join(tmp, name)
            with open(victims[name], "w") as f:
                f.write("root's own file\n")
        created = os.path.join(tmp, "created-by-root")
        # What the user could do: a store whose lock file is a link to a file of
        # root's, a link where the release lock goes, a link for the learners' lock.
        planted = os.path.join(q, "victim.test")
        os.mkdir(planted)
        shutil.copy(os.path.join(q, "held.example", "data.mdb"), planted)
        os.symlink(victims["victim-q.txt"], os.path.join(planted, "lock.mdb"))
        os.symlink(created, os.path.join(q, ".release.lock"))
        os.unlink(os.path.join(kv, "lock.mdb"))
        os.symlink(victims["victim-kv.txt"], os.path.join(kv, "lock.mdb"))
        for d, dirs, files in os.walk(tmp):
            for n in dirs + files:
                os.lchown(os.path.join(d, n), self.user.pw_uid, self.user.pw_gid)
        for v in victims.values():
            os.chown(v, 0, 0)

        def ctl(*args):
            return self.smfctl(tmp, *args, config=conf)

        def untouched():
            for name, path in victims.items():
                with open(path, "rb") as f:
                    self.assertEqual(f.read(), b"root's own file\n", "%s was written" % name)
                self.assertEqual(os.stat(path).st_uid, 0)
            self.assertFalse(os.path.lexists(created), "smfctl created a file through a link")

        r = ctl("quarantine", "list")
        untouched()
        self.assertIn(qid, r.stdout)
        self.assertIn("victim.test", r.stderr)
        self.assertEqual(r.returncode, 1, r.stdout)
        r = ctl("quarantine", "release", qid, "--domain", "held.example")
        untouched()
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(".release.lock", r.stderr)
        self.assertEqual(sink.messages, [])
        for args in (("list", "show"),
                     ("learn", "--spam", os.path.join(smftest.FIXTURES, "gtube.eml"))):
            r = ctl(*args)
            untouched()
            self.assertNotEqual(r.returncode, 0, r.stdout)

        # Without the links smfctl works as ever, and what it creates is the user's.
        shutil.rmtree(planted)
        os.unlink(os.path.join(q, ".release.lock"))
        os.unlink(os.path.join(kv, "lock.mdb"))
        r = ctl("quarantine", "release", qid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(sink.messages), 1)
        self.assertEqual(sink.messages[0]["rcpt"], ["bob@held.example"])
        r = ctl("learn", "--spam", os.path.join(smftest.FIXTURES, "gtube.eml"))
        self.assertEqual(r.returncode, 0, r.stderr)
        r = ctl("list", "show")
        self.assertEqual(r.returncode, 0, r.stderr)
        untouched()
        self.assertEqual(owners(q), [])
        self.assertEqual(owners(os.path.join(tmp, "data")), [])

    @smfctl_needs_root
    def test_release_lock_and_journal_not_opened_through_a_link(self):
        """Even as the user, smfctl opens .release.lock and the event journal
        only where they are, never where a link there points."""
        self.start("user=" + USER)
        reply = self.scan(fixture("gtube.eml"), b"j-gtube", recipients=["bob@held.example"])
        self.assertEqual(reply["action"], "quarantine", reply)
        qid = reply["quarantine_id"]
        self.assertEqual(self.smfd.stop(), 0, self.smfd.log_tail())
        tmp = self.smfd.tmp
        q = os.path.join(tmp, "q")
        elsewhere = os.path.join(tmp, "elsewhere")
        os.mkdir(elsewhere)
        os.mkdir(os.path.join(elsewhere, "events"))
        shutil.rmtree(os.path.join(q, ".events"), ignore_errors=True)
        os.symlink(os.path.join(elsewhere, "events"), os.path.join(q, ".events"))
        os.symlink(os.path.join(elsewhere, "lock"), os.path.join(q, ".release.lock"))
        for d, dirs, files in os.walk(tmp):
            for n in dirs + files:
                os.lchown(os.path.join(d, n), self.user.pw_uid, self.user.pw_gid)

        r = self.smfctl(tmp, "quarantine", "release", qid, as_user=True)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(".release.lock: Too many levels of symbolic links", r.stderr)
        r = self.smfctl(tmp, "quarantine", "delete", qid, as_user=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(os.listdir(elsewhere)), ["events"])
        self.assertEqual(os.listdir(os.path.join(elsewhere, "events")), [],
                         "the journal was opened through a link")

    @needs_root
    def test_reload_after_the_switch(self):
        self.etc, conf = copy_etc('\nuser = "%s"\n' % USER)
        self.start(config=conf)
        self.assert_runs_as_user()
        gen = self.generation()
        self.smfd.signal(signal.SIGHUP)
        self.assertTrue(wait_log(self.smfd, "generation %d is current" % (gen + 1)),
                        self.smfd.log_tail())
        self.assertEqual(self.generation(), gen + 1)
        self.assertNotEqual(self.scan(fixture("gtube.eml"), b"h-1")["action"], "accept")

        # A changed user takes effect only at restart; the reload itself goes through.
        with open(conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace('user = "%s"' % USER, 'user = "%s"' % OTHER_USER))
        self.smfd.signal(signal.SIGHUP)
        self.assertTrue(wait_log(self.smfd, "generation %d is current" % (gen + 2)),
                        self.smfd.log_tail())
        self.assertIn("user changes only at restart", self.smfd.log_tail(200))
        self.assert_runs_as_user()
        self.assertNotEqual(self.scan(fixture("gtube.eml"), b"h-2")["action"], "accept")
        self.assertIsNone(self.smfd.proc.poll(), "smfd died:\n" + self.smfd.log_tail())
        self.assertEqual(self.smfd.stop(), 0, self.smfd.log_tail())

    @needs_root
    def test_privileged_port_bound_before_the_switch(self):
        port = free_low_port()
        self.start("user=" + USER, listen="tcp://127.0.0.1:%d" % port)
        self.assert_runs_as_user()
        self.assertEqual(self.scan(fixture("clean.eml"), b"p-clean")["action"], "accept")
        self.assertEqual(self.smfd.stop(), 0, self.smfd.log_tail())


class UmaskTest(unittest.TestCase):
    """Whatever umask smfd is started with, its socket files are not for users
    outside its group: under umask 0 any local user could otherwise submit mail
    or read the verdict events."""

    def test_sockets_closed_to_others_under_umask_0(self):
        smfd = smftest.Smfd(umask=0)
        self.addCleanup(smfd.close)
        # A socket directory smfd makes itself.
        smfd.listen = "ipc://%s/run/scan.sock" % smfd.tmp
        smfd.start()
        for path in (os.path.join(smfd.tmp, "run", "scan.sock"),
                     os.path.join(smfd.tmp, "events.sock")):
            st = os.lstat(path)
            self.assertTrue(stat.S_ISSOCK(st.st_mode), path)
            self.assertEqual(st.st_mode & 0o007, 0, "%s is %o" % (path, stat.S_IMODE(st.st_mode)))
        self.assertEqual(smfd.stop(), 0, smfd.log_tail())


class RefusalTest(unittest.TestCase):
    """What needs no root: the checks that refuse a setting smfd cannot honour."""

    def smfd(self, *args, **kw):
        build = smftest.PATHS["build"]
        cmd = [smftest.PATHS["smfd"], "-c",
               os.path.join(smftest.PATHS["source"], "etc", "smfd.conf"),
               "-o", "module_dir=%s/modules" % build, "-o", "data_dir=/tmp"] + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)

    def test_unknown_user_refused_by_check(self):
        r = self.smfd("-t", "-o", "user=" + UNKNOWN_USER)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn('user = "%s": no such user' % UNKNOWN_USER, r.stderr)

    def test_root_refused_as_user(self):
        r = self.smfd("-t", "-o", "user=root")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn('user = "root"', r.stderr)

    def test_started_as_another_user_refused(self):
        # As root, smfd is started as USER; otherwise as whoever runs the test.
        kw = {}
        if os.geteuid() == 0:
            me = pwd.getpwnam(USER)
            kw = {"user": me.pw_uid, "group": me.pw_gid, "extra_groups": []}
        else:
            me = pwd.getpwuid(os.geteuid())
        want = OTHER_USER if me.pw_name == USER else USER
        r = self.smfd("-o", "user=" + want, **kw)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn('user = "%s" needs smfd to start as root; it runs as %s'
                      % (want, me.pw_name), r.stderr)


if __name__ == "__main__":
    smftest.main()
