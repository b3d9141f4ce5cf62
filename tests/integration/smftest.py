"""Shared code for the integration tests: start a private smfd on ipc://
endpoints in a temporary folder, speak the SMF/1 protocol, stop it again."""

import argparse
import faulthandler
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lmdbrecords import dump as mdb_dump, load as mdb_load  # noqa: E402,F401

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
PROTO = b"SMF/1"

# Filled from the command line by main(); defaults suit a run by hand from the source tree.
PATHS = {}


def parse_paths(argv):
    source = os.path.normpath(os.path.join(HERE, "..", ".."))
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--source", default=source)
    p.add_argument("--build", default=os.path.join(source, "build"))
    p.add_argument("--smfd")
    p.add_argument("--smfc")
    args, rest = p.parse_known_args(argv[1:])
    PATHS["source"] = args.source
    PATHS["build"] = args.build
    PATHS["smfd"] = args.smfd or os.path.join(args.build, "bin", "smfd")
    PATHS["smfc"] = args.smfc or os.path.join(args.build, "bin", "smfc")
    return [argv[0]] + rest


def main(hang_report_s=240):
    """Runs the tests; a run still going after hang_report_s seconds prints
    where every thread is, so that a test ctest kills at its timeout (300 s)
    leaves a trace of where it hung."""
    argv = parse_paths(sys.argv)
    faulthandler.dump_traceback_later(hang_report_s, exit=False)
    unittest.main(argv=argv, verbosity=2)


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def envelope(**fields):
    env = {"client_ip": "192.0.2.10", "helo": "mail.example.net",
           "sender": "alice@example.net", "recipients": ["user@example.com"]}
    env.update(fields)
    return json.dumps(env).encode()


def copy_etc(edits=(), append=""):
    """A temporary copy of etc/ with smfd.conf edited; returns (tmpdir, conf)."""
    tmp = tempfile.mkdtemp(prefix="smf-etc-")
    etc = os.path.join(tmp, "etc")
    shutil.copytree(os.path.join(PATHS["source"], "etc"), etc)
    conf = os.path.join(etc, "smfd.conf")
    with open(conf) as f:
        text = f.read()
    for old, new in edits:
        if old not in text:
            raise AssertionError("smfd.conf has no %r to edit" % old)
        text = text.replace(old, new, 1)
    with open(conf, "w") as f:
        f.write(text + append)
    return tmp, conf


def silent_dns_etc(timeout_ms):
    """A copy of etc/ whose reputation stage checks reverse DNS at a server that never
    answers (a UDP socket of the caller's), so that a scan of a message from an untrusted
    client takes timeout_ms. Returns (socket, tmpdir, conf); close the socket when done."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    tmp, conf = copy_etc(edits=[(
        "reputation {\n",
        'reputation {\n  fcrdns = true\n  dns_server = "127.0.0.1:%d"\n'
        "  dns_timeout_ms = %d\n  dns_tries = 1\n" % (silent.getsockname()[1], timeout_ms))])
    return silent, tmp, conf


def free_port6():
    """A TCP port free on the IPv6 loopback, or None with the reason when this machine
    has no ::1 to bind (IPv6 disabled)."""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            return s.getsockname()[1], None
    except OSError as e:
        return None, "this machine has no IPv6 loopback address ::1 (%s)" % e


def now_ms():
    return int(time.time() * 1000)


def fd_limit(n, mask=None):
    """A preexec_fn for subprocess: the child may open descriptors below n only
    (as under `ulimit -Hn n`: smfd raises its soft limit to the hard one; n may also be
    (soft, hard)), and starts with umask mask; None when both are None."""
    if n is None and mask is None:
        return None

    def preexec():
        if n is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, n if isinstance(n, tuple) else (n, n))
        if mask is not None:
            os.umask(mask)
    return preexec


class Smfd:
    """A real smfd with its own endpoints, data and quarantine in a temp folder."""

    def __init__(self, *overrides, config=None, nofile=None, umask=None):
        self.tmp = tempfile.mkdtemp(prefix="smf-it-")
        self.config = config
        self.nofile = nofile  # RLIMIT_NOFILE of smfd, as `ulimit -n`; None: inherited
        self.umask = umask  # The umask smfd starts with; None: inherited
        self.listen = "ipc://%s/scan.sock" % self.tmp
        self.publish = "ipc://%s/events.sock" % self.tmp
        self.log_path = os.path.join(self.tmp, "smfd.log")
        self.overrides = list(overrides)
        self.proc = None
        self.stopping = False
        self.ctx = zmq.Context()

    def start(self, ready_timeout=60.0):
        src, build = PATHS["source"], PATHS["build"]
        cmd = [PATHS["smfd"], "-c", self.config or os.path.join(src, "etc", "smfd.conf"),
               "-o", "listen=" + self.listen,
               "-o", "publish=" + self.publish,
               "-o", "data_dir=%s/data" % self.tmp,
               "-o", "quarantine_dir=%s/q" % self.tmp,
               "-o", "module_dir=%s/modules" % build]
        for ov in self.overrides:
            cmd += ["-o", ov]
        self.log = open(self.log_path, "wb")
        # The config names rule and signature files relative to the source tree.
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=src,
                                     preexec_fn=fd_limit(self.nofile, self.umask))
        self.pong = self.wait_ready(ready_timeout)
        return self

    def wait_ready(self, timeout):
        """PINGs until the engine answers; fails early if smfd exits."""
        sock = self.dealer()
        deadline = time.time() + timeout
        n = answered = 0
        try:
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError("smfd exited with %s while starting:\n%s"
                                         % (self.proc.returncode, self.log_tail()))
                n += 1
                rid = b"ready-%d" % n
                sock.send_multipart([PROTO, b"PING", rid])
                if sock.poll(250):
                    frames = sock.recv_multipart()
                    answered += 1
                    if frames[1] == b"PONG":
                        self._drain_pings(sock, n - answered, deadline)
                        return json.loads(frames[3])
            raise AssertionError("smfd did not answer PING within %.0f s:\n%s"
                                 % (timeout, self.log_tail()))
        finally:
            sock.close(0)

    def _drain_pings(self, sock, left, deadline):
        """Waits for the answers to the PINGs sent while smfd was starting: left in its
        queue, they would take a worker or a place in the backlog (and be counted as
        refused) during the test that follows."""
        while left > 0 and time.time() < deadline and sock.poll(1000):
            sock.recv_multipart()
            left -= 1

    def socket(self, kind):
        """A socket with no linger, that can reach an IPv6 endpoint."""
        sock = self.ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.IPV6, 1 if "[" in self.listen + self.publish else 0)
        return sock

    def dealer(self):
        sock = self.socket(zmq.DEALER)
        sock.connect(self.listen)
        return sock

    def req(self):
        sock = self.socket(zmq.REQ)
        sock.connect(self.listen)
        return sock

    def sub(self, *topics):
        sock = self.socket(zmq.SUB)
        for t in topics:
            sock.setsockopt(zmq.SUBSCRIBE, t.encode())
        sock.connect(self.publish)
        return sock

    def signal(self, sig):
        self.proc.send_signal(sig)
        self.stopping = self.stopping or sig in (signal.SIGTERM, signal.SIGINT)

    def stop(self, timeout=30.0):
        """SIGTERM (unless a test sent one: a second stops smfd at once) and wait;
        returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None and not self.stopping:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("smfd did not exit within %.0f s of SIGTERM:\n%s"
                                 % (timeout, self.log_tail()))

    def close(self):
        try:
            if self.proc and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        finally:
            self.ctx.destroy(0)
            if getattr(self, "log", None):
                self.log.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return "(no log)"

    def smfc(self, *args, timeout=120):
        """Runs smfc against this engine; returns the CompletedProcess."""
        cmd = [PATHS["smfc"], "-e", self.listen] + list(args)
        return subprocess.run(cmd, capture_output=True, timeout=timeout)


def recv_reply(sock, timeout_ms=30000):
    """One reply as (command, request id, JSON body); fails on silence."""
    if not sock.poll(timeout_ms):
        raise AssertionError("no reply within %d ms" % timeout_ms)
    frames = sock.recv_multipart()
    if len(frames) != 4 or frames[0] != PROTO:
        raise AssertionError("malformed reply: %r" % frames[:4])
    return frames[1].decode(), frames[2], json.loads(frames[3])


def scan_frames(rid, env, body):
    return [PROTO, b"SCAN", rid, env, body]


class SmfdTestCase(unittest.TestCase):
    """One smfd for all tests of a class; its log is shown when a test fails."""

    overrides = ()

    @classmethod
    def setUpClass(cls):
        cls.smfd = Smfd(*cls.overrides)
        try:
            cls.smfd.start()
        except Exception:
            cls.smfd.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            status = cls.smfd.stop()
            if status != 0:
                raise AssertionError("smfd exited %s after SIGTERM:\n%s"
                                     % (status, cls.smfd.log_tail()))
        finally:
            cls.smfd.close()

    def setUp(self):
        self.sock = self.smfd.dealer()

    def tearDown(self):
        self.sock.close(0)

    def scan(self, env, body, rid=b"t-1", timeout_ms=30000):
        self.sock.send_multipart(scan_frames(rid, env, body))
        cmd, got, reply = recv_reply(self.sock, timeout_ms)
        self.assertEqual(got, rid)
        return cmd, reply
