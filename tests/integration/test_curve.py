"""CURVE on a TCP endpoint: a front end whose key is on curve_clients_file gets
answers; one with another key, or without CURVE, gets nothing; smfc speaks it."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import unittest

import zmq

import smftest
from smftest import envelope, fixture, scan_frames


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(prefix):
    build = smftest.PATHS["build"]
    r = subprocess.run([os.path.join(build, "bin", "smfctl"), "keygen", prefix],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    def key(path):
        for line in open(path):
            if not line.startswith("# ") and len(line.strip()) == 40:
                return line.strip()
    return key(prefix + ".pub"), key(prefix + ".key")


class CurveTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="smf-curve-")
        cls.server_pub, _ = keygen(os.path.join(cls.tmp, "server"))
        cls.client_pub, cls.client_sec = keygen(os.path.join(cls.tmp, "client"))
        cls.other_pub, cls.other_sec = keygen(os.path.join(cls.tmp, "other"))
        with open(os.path.join(cls.tmp, "clients"), "w") as f:
            f.write("# front ends allowed to scan\n%s   # the test client\n" % cls.client_pub)
        cls.port = free_port()
        cls.smfd = smftest.Smfd("listen=tcp://127.0.0.1:%d" % cls.port,
                                "curve_secret_key_file=%s/server.key" % cls.tmp,
                                "curve_clients_file=%s/clients" % cls.tmp)
        cls.smfd.listen = "tcp://127.0.0.1:%d" % cls.port
        # wait_ready speaks plain ZeroMQ, which CURVE refuses: start without it.
        cls.smfd.wait_ready = lambda timeout: None
        cls.smfd.start()
        cls.ctx = zmq.Context()

    @classmethod
    def tearDownClass(cls):
        cls.ctx.destroy(0)
        cls.smfd.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def client(self, pub=None, sec=None):
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        if pub:
            s.curve_serverkey = self.server_pub.encode()
            s.curve_publickey = pub.encode()
            s.curve_secretkey = sec.encode()
        s.connect("tcp://127.0.0.1:%d" % self.port)
        return s

    def ping(self, sock, wait_ms):
        sock.send_multipart([smftest.PROTO, b"PING", b"p"])
        if not sock.poll(wait_ms):
            return None
        return sock.recv_multipart()

    def test_allowed_client_is_answered(self):
        s = self.client(self.client_pub, self.client_sec)
        reply = None
        for _ in range(40):  # the engine may still be starting
            reply = self.ping(s, 500)
            if reply:
                break
        self.assertIsNotNone(reply, self.smfd.log_tail())
        self.assertEqual(reply[1], b"PONG")
        s.send_multipart(scan_frames(b"s1", envelope(), fixture("clean.eml")))
        # Late answers to the retried PINGs may come first.
        frames = [b"", b"", b""]
        while frames[2] != b"s1":
            self.assertTrue(s.poll(30000), "no verdict over CURVE")
            frames = s.recv_multipart()
        self.assertEqual(frames[1], b"VERDICT")
        s.close()

    def test_unknown_key_is_refused(self):
        self.test_allowed_client_is_answered()  # the engine is up
        s = self.client(self.other_pub, self.other_sec)
        self.assertIsNone(self.ping(s, 1500))
        s.close()
        self.assertIn("is not in curve_clients_file", self.smfd.log_tail())

    def test_plain_client_gets_nothing(self):
        self.test_allowed_client_is_answered()
        s = self.client()
        self.assertIsNone(self.ping(s, 1500))
        s.close()

    def test_smfc_with_keys(self):
        self.test_allowed_client_is_answered()
        smfc = smftest.PATHS["smfc"]
        r = subprocess.run([smfc, "-e", "tcp://127.0.0.1:%d" % self.port, "--json",
                            "--curve-server", os.path.join(self.tmp, "server.pub"),
                            "--curve-key", os.path.join(self.tmp, "client.key"),
                            "--rcpt", "u@example.com",
                            os.path.join(smftest.FIXTURES, "clean.eml")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["action"], "accept")
        r = subprocess.run([smfc, "-e", "tcp://127.0.0.1:%d" % self.port, "--timeout", "1500",
                            "--curve-server", os.path.join(self.tmp, "server.pub"),
                            "--curve-key", os.path.join(self.tmp, "other.key"),
                            "--rcpt", "u@example.com",
                            os.path.join(smftest.FIXTURES, "clean.eml")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)


    def test_smfctl_stats_over_curve(self):
        self.test_allowed_client_is_answered()
        build = smftest.PATHS["build"]
        cmd = [os.path.join(build, "bin", "smfctl"), "-c",
               os.path.join(smftest.PATHS["source"], "etc", "smfd.conf"),
               "-o", "module_dir=%s/modules" % build,
               "-o", "listen=tcp://127.0.0.1:%d" % self.port,
               "-o", "curve_secret_key_file=%s/server.key" % self.tmp,
               "-o", "curve_clients_file=%s/clients" % self.tmp, "stats", "--json"]
        r = subprocess.run(cmd + ["--curve-key", os.path.join(self.tmp, "client.key")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreaterEqual(json.loads(r.stdout)["messages"], 1)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--curve-key", r.stderr)


class CurveConfigTest(unittest.TestCase):

    def test_half_configured_is_refused(self):
        r = subprocess.run([smftest.PATHS["smfd"], "-t", "-c",
                            os.path.join(smftest.PATHS["source"], "etc", "smfd.conf"),
                            "-o", "module_dir=%s/modules" % smftest.PATHS["build"],
                            "-o", "curve_secret_key_file=/nonexistent.key"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("CURVE needs both", r.stderr)


if __name__ == "__main__":
    smftest.main()
