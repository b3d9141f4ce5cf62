"""Harness of the end-to-end tests: a private Postfix (own config, queue and
log under a temp folder, listening on loopback high ports), an SMTP sink it
relays to, smfd and smf-milter, all started and stopped by the tests."""

import argparse
import glob
import json
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = b"SMF/1"
PATHS = {}


def parse_paths(argv):
    source = os.path.normpath(os.path.join(HERE, "..", ".."))
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--source", default=source)
    p.add_argument("--build", default=os.path.join(source, "build"))
    args, rest = p.parse_known_args(argv[1:])
    PATHS["source"] = args.source
    PATHS["build"] = args.build
    for tool in ("smfd", "smfctl", "smf-milter"):
        PATHS[tool] = os.path.join(args.build, "bin", tool)
    return [argv[0]] + rest


_GIVEN_PORTS = set()


def free_port():
    """A loopback TCP port nobody listens on right now, and not given out before: the
    ports are bound only later (Postfix's services, the milters), so two picks in a row
    could otherwise name the same port."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _GIVEN_PORTS:
            _GIVEN_PORTS.add(port)
            return port


def wait_for(what, predicate, timeout, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))


def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no %s)" % path


def require_postfix():
    """Fails (never skips) when the Postfix tools are missing."""
    if os.geteuid() != 0:
        raise AssertionError("a private Postfix instance needs root (postfix check/start)")
    missing = [t for t in ("postfix", "postconf", "postqueue", "smtp-sink")
               if shutil.which(t, path="/usr/sbin:/usr/bin:/sbin:/bin") is None]
    if missing:
        raise AssertionError("Postfix is not installed (missing %s): run scripts/setup, which "
                             "installs the postfix package" % ", ".join(missing))
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        raise AssertionError("user postfix does not exist: the postfix package is broken")


class Proc:
    """A foreground child with its output in a log file; stop() is idempotent."""

    def __init__(self, name, cmd, log_path, cwd=None):
        self.name, self.cmd, self.log_path = name, cmd, log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=cwd)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def tail(self):
        if not self.log.closed:
            self.log.flush()
        return tail(self.log_path)


class Smfd:
    """smfd on a copy of etc/ (so relative rule paths keep working), ipc:// endpoints."""

    def __init__(self, tmp, allow_senders=(), block_senders=(), max_message_size=None,
                 delivery=None, append=""):
        self.tmp = tmp
        self.max_message_size = max_message_size
        self.etc = os.path.join(tmp, "etc")
        shutil.copytree(os.path.join(PATHS["source"], "etc"), self.etc)
        self.conf = os.path.join(self.etc, "smfd.conf")
        self.listen = "ipc://%s/scan.sock" % tmp
        self.quarantine_dir = os.path.join(tmp, "quarantine")
        self._set_lists(allow_senders, block_senders)
        if delivery:
            self._edit('delivery = "[127.0.0.1]:10026"', 'delivery = "%s"' % delivery)
        if append:
            with open(self.conf, "a") as f:
                f.write(append)
        self.proc = None

    def _edit(self, old, new):
        with open(self.conf) as f:
            text = f.read()
        if old not in text:
            raise AssertionError("etc/smfd.conf has no line %r" % old)
        with open(self.conf, "w") as f:
            f.write(text.replace(old, new, 1))

    def _set_lists(self, allow, block):
        with open(self.conf) as f:
            text = f.read()
        quoted = lambda xs: ", ".join('"%s"' % x for x in xs)
        new, n = re.subn(r"(?m)^lists \{\n",
                         "lists {\n  allow_senders = {%s}\n  block_senders = {%s}\n"
                         % (quoted(allow), quoted(block)), text, count=1)
        if n != 1:
            raise AssertionError("etc/smfd.conf has no 'lists {' section to add the lists to")
        with open(self.conf, "w") as f:
            f.write(new)

    def overrides(self):
        return ["-o", "listen=" + self.listen,
                "-o", "publish=ipc://%s/events.sock" % self.tmp,
                "-o", "data_dir=%s/data" % self.tmp,
                "-o", "quarantine_dir=" + self.quarantine_dir,
                "-o", "module_dir=%s/modules" % PATHS["build"]] + (
                    ["-o", "max_message_size=%d" % self.max_message_size]
                    if self.max_message_size else [])

    def start(self, timeout=60):
        cmd = [PATHS["smfd"], "-c", self.conf] + self.overrides()
        self.proc = Proc("smfd", cmd, os.path.join(self.tmp, "smfd.log"), cwd=self.etc)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout):
        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.listen)
        try:
            deadline, n = time.time() + timeout, 0
            while time.time() < deadline:
                if not self.proc.alive():
                    raise AssertionError("smfd exited while starting:\n" + self.proc.tail())
                n += 1
                sock.send_multipart([PROTO, b"PING", b"ready-%d" % n])
                if sock.poll(250) and sock.recv_multipart()[1] == b"PONG":
                    return
            raise AssertionError("smfd did not answer PING:\n" + self.proc.tail())
        finally:
            sock.close(0)

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None

    def log_text(self):
        with open(os.path.join(self.tmp, "smfd.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def quarantine_list(self):
        """The output of `smfctl quarantine list --json` for this engine's stores: one
        JSON object per entry and line."""
        r = subprocess.run([PATHS["smfctl"], "-c", self.conf] + self.overrides() +
                           ["quarantine", "list", "--json"],
                           capture_output=True, timeout=60, cwd=self.etc)
        if r.returncode != 0:
            raise AssertionError("smfctl quarantine list failed (%d): %s"
                                 % (r.returncode, (r.stderr + r.stdout).decode(errors="replace")))
        return r.stdout.decode(errors="replace")


    def smfctl(self, *args):
        """Runs smfctl against this engine's configuration and data; its stdout."""
        r = subprocess.run([PATHS["smfctl"], "-c", self.conf] + self.overrides() + list(args),
                           capture_output=True, timeout=60, cwd=self.etc)
        if r.returncode != 0:
            raise AssertionError("smfctl %s failed (%d): %s"
                                 % (" ".join(args), r.returncode,
                                    (r.stderr + r.stdout).decode(errors="replace")))
        return r.stdout.decode(errors="replace")

    def quarantine_export(self, qid):
        """The raw message the engine stored under qid."""
        r = subprocess.run([PATHS["smfctl"], "-c", self.conf] + self.overrides() +
                           ["quarantine", "export", qid], capture_output=True, timeout=60,
                           cwd=self.etc)
        if r.returncode != 0:
            raise AssertionError("smfctl quarantine export failed: %s"
                                 % r.stderr.decode(errors="replace"))
        return r.stdout


class Milter:
    """smf-milter in the foreground on a unix socket Postfix can reach."""

    def __init__(self, tmp, name, endpoints, *extra, tcp_port=None):
        self.tcp_port = tcp_port
        self.sock = os.path.join(tmp, "%s.sock" % name)
        # What Postfix's smtpd_milters names: a unix socket path or inet:HOST:PORT.
        self.spec = "inet:127.0.0.1:%d" % tcp_port if tcp_port else self.sock
        self.log_path = os.path.join(tmp, "%s.log" % name)
        listen = "inet:%d@127.0.0.1" % tcp_port if tcp_port else "unix:" + self.sock
        cmd = [PATHS["smf-milter"], "-f", "-s", listen]
        for ep in endpoints:
            cmd += ["-e", ep]
        self.proc = Proc(name, cmd + list(extra), self.log_path)
        wait_for("%s to listen" % name, self._listening, 20)

    def _listening(self):
        if not self.proc.alive():
            raise AssertionError("smf-milter exited at start:\n" + self.proc.tail())
        if self.tcp_port:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.tcp_port)) == 0
        with socket.socket(socket.AF_UNIX) as s:
            return s.connect_ex(self.sock) == 0

    def stop(self):
        return self.proc.stop()

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


class Sink:
    """Postfix's smtp-sink, writing one file per received message."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "sink")
        os.mkdir(self.dir)
        shutil.chown(self.dir, "postfix", "postfix")
        self.port = free_port()
        cmd = ["/usr/sbin/smtp-sink", "-u", "postfix", "-d", self.dir + "/m.",
               "127.0.0.1:%d" % self.port, "64"]
        self.proc = Proc("smtp-sink", cmd, os.path.join(tmp, "sink.log"))
        wait_for("smtp-sink to listen", self._listening, 20)

    def _listening(self):
        if not self.proc.alive():
            raise AssertionError("smtp-sink exited:\n" + self.proc.tail())
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def messages(self):
        out = []
        for path in sorted(glob.glob(os.path.join(self.dir, "m.*"))):
            with open(path, "rb") as f:
                out.append(f.read().decode(errors="replace"))
        return out

    def find(self, marker):
        return [m for m in self.messages() if marker in m]

    def stop(self):
        self.proc.stop()


MASTER_CF = """\
{smtpd_services}
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.e2e.test
mydomain = e2e.test
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relayhost = [127.0.0.1]:{sink_port}
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtputf8_enable = no
smtp_tls_security_level = none
smtpd_tls_security_level = none
maillog_file = {dir}/log/maillog
maillog_file_prefixes = {dir}
message_size_limit = 20000000
biff = no
# The defaults that matter here, spelled out as docs/postfix.md recommends.
milter_protocol = 6
milter_default_action = tempfail
milter_connect_macros = j {{daemon_name}} {{daemon_addr}} v _ {{client_addr}} {{client_name}}
milter_mail_macros = i {{auth_type}} {{auth_authen}} {{auth_author}} {{mail_addr}}
milter_end_of_data_macros = i
"""


class Postfix:
    """A private Postfix instance with one smtpd port per service; services maps a
    service name to its milter (a unix socket path or inet:HOST:PORT)."""

    def __init__(self, tmp, sink_port, services):
        require_postfix()
        self.dir = os.path.join(tmp, "postfix")
        self.conf = os.path.join(self.dir, "conf")
        for d in (self.conf, os.path.join(self.dir, "log"), os.path.join(self.dir, "queue"),
                  os.path.join(self.dir, "data")):
            os.makedirs(d)
        # postfix check creates the queue's subfolders; these two it expects to exist.
        shutil.chown(os.path.join(self.dir, "data"), "postfix", "postfix")
        self.ports = {}
        lines = []
        for name, milter_sock in services.items():
            # A (None, port) service has no milter: where released mail is reinjected.
            if isinstance(milter_sock, tuple):
                port, spec = milter_sock[1], ""
            else:
                port = free_port()
                spec = milter_sock if milter_sock.startswith("inet:") else "unix:" + milter_sock
            self.ports[name] = port
            lines.append("127.0.0.1:%d inet n - n - - smtpd\n  -o smtpd_milters=%s"
                         % (port, spec))
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(dir=self.dir, sink_port=sink_port))
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(smtpd_services="\n".join(lines)))
        self.maillog = os.path.join(self.dir, "log", "maillog")
        self.started = False

    def _postfix(self, *args, timeout=60):
        # postfix reports fatal errors only to syslog unless stderr is a terminal.
        cmd = "postfix -c %s %s" % (self.conf, " ".join(args))
        return subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True,
                              timeout=timeout)

    def start(self):
        r = self._postfix("check")
        if r.returncode != 0:
            raise AssertionError("postfix check failed:\n%s" % r.stdout.decode(errors="replace"))
        r = self._postfix("start")
        self.started = True
        if r.returncode != 0:
            raise AssertionError("Postfix did not start:\n%s\n%s"
                                 % (r.stdout.decode(errors="replace"), tail(self.maillog)))
        for name, port in self.ports.items():
            wait_for("Postfix smtpd on port %d" % port, lambda: self._listening(port), 20)

    @staticmethod
    def _listening(port):
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    def stop(self):
        if self.started:
            r = self._postfix("stop")
            if r.returncode != 0:
                self._postfix("abort")
            self.started = False

    def queue(self):
        """The queued messages as postqueue -j reports them."""
        r = subprocess.run(["postqueue", "-c", self.conf, "-j"], capture_output=True, timeout=30)
        if r.returncode != 0:
            raise AssertionError("postqueue failed: %s" % r.stderr.decode(errors="replace"))
        return [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]

    def delete(self, queue_id):
        subprocess.run(["postsuper", "-c", self.conf, "-d", queue_id], capture_output=True,
                       timeout=30)

    def flush(self):
        subprocess.run(["postqueue", "-c", self.conf, "-f"], capture_output=True, timeout=30)

    def wait_queue_empty(self, timeout=30):
        wait_for("the Postfix queue to empty", lambda: not self.queue(), timeout)

    def log_text(self):
        try:
            with open(self.maillog, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


def make_message(marker, body="Hello Bob,\r\n\r\nthe meeting notes are attached below.\r\n",
                 sender="alice@example.net", to="bob@example.com", subject=None):
    return ("From: Alice Martin <%s>\r\n"
            "To: Bob Stone <%s>\r\n"
            "Subject: %s\r\n"
            "Date: %s\r\n"
            "Message-ID: <%s@mail.example.net>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "\r\n%s\r\n-- \r\n%s\r\n"
            % (sender, to, subject or "Planning notes " + marker,
               time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()), marker, body,
               marker)).encode()


class Reply:
    """The outcome of one SMTP transaction: code, text and the queue id if queued."""

    def __init__(self, code, text, stage="DATA"):
        self.code, self.text, self.stage = code, text, stage
        m = re.search(r"queued as ([0-9A-Za-z]+)", text)
        self.queue_id = m.group(1) if m else None

    def __repr__(self):
        return "%d %s" % (self.code, self.text)


def send_each(port, sender, rcpts, data, helo="mail.example.net"):
    """One SMTP transaction that goes on past refused recipients: the reply to
    each RCPT TO as {rcpt: (code, text)}, and the reply to DATA (None when no
    recipient was accepted)."""
    with smtplib.SMTP("127.0.0.1", port, local_hostname=helo, timeout=120) as s:
        s.ehlo()
        code, text = s.mail(sender)
        if code != 250:
            return {}, Reply(code, text.decode(errors="replace"), "MAIL")
        answers = {}
        for rcpt in rcpts:
            code, text = s.rcpt(rcpt)
            answers[rcpt] = (code, text.decode(errors="replace"))
        if not any(c in (250, 251) for c, _ in answers.values()):
            return answers, None
        code, text = s.data(data)
        return answers, Reply(code, text.decode(errors="replace"))


def send(port, sender, rcpts, data, helo="mail.example.net"):
    """One SMTP transaction; the reply to DATA, or to the command that failed first."""
    with smtplib.SMTP("127.0.0.1", port, local_hostname=helo, timeout=120) as s:
        s.ehlo()
        code, text = s.mail(sender)
        if code != 250:
            return Reply(code, text.decode(errors="replace"), "MAIL")
        for rcpt in rcpts:
            code, text = s.rcpt(rcpt)
            if code not in (250, 251):
                return Reply(code, text.decode(errors="replace"), "RCPT")
        code, text = s.data(data)
        return Reply(code, text.decode(errors="replace"))
