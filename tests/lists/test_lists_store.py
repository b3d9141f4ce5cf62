#!/usr/bin/python3
"""`smfctl list` writes the lists module's store; smf-modtest with the same
data directory sees every change: scopes, types, CIDR, authenticated sender
entries, recipients that disagree, import and export, refusals."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ARGS = None

AUTH_OK = ("Authentication-Results: mx.ours.test; spf=pass smtp.mailfrom=boss@partner.test\n")
AUTH_DKIM = ("Authentication-Results: mx.ours.test; spf=fail smtp.mailfrom=partner.test;\n"
             " dkim=pass header.d=partner.test header.s=sel\n")
AUTH_FOREIGN = ("Authentication-Results: evil.test; spf=pass smtp.mailfrom=boss@partner.test\n")
# OpenDKIM writes a comment with a ';' in it; the result after it still counts.
AUTH_COMMENT = ("Authentication-Results: mx.ours.test;\n"
                " dkim=pass (2048-bit key; unprotected) header.d=partner.test header.s=sel\n")


class StoreTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="smf-lists-")
        self.data = os.path.join(self.tmp, "data")
        self.conf = os.path.join(self.tmp, "smfd.conf")
        with open(self.conf, "w") as f:
            f.write('data_dir = "%s"\nmodule_dir = "%s"\nmodules = {lists}\n'
                    'policy default { inbound { stages = {lists} } }\n'
                    % (self.data, os.path.dirname(ARGS.module)))
        for name, head in (("plain", ""), ("auth", AUTH_OK), ("dkim", AUTH_DKIM),
                           ("foreign", AUTH_FOREIGN), ("comment", AUTH_COMMENT)):
            with open(os.path.join(self.tmp, name + ".eml"), "w") as f:
                f.write(head + "From: boss@partner.test\nSubject: hi\n\nText.\n")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def ctl(self, *args, rc=0, stdin=None):
        p = subprocess.run([ARGS.smfctl, "-c", self.conf, "list"] + list(args), input=stdin,
                           capture_output=True, text=True, errors="replace", timeout=60)
        self.assertEqual(p.returncode, rc, p.stdout + p.stderr)
        return p

    def scan(self, *args, fixture="plain", opts=(), head=None):
        """head: the message's header instead of the fixture's (a From field, say)."""
        if head is not None:
            fixture = "head"
            with open(os.path.join(self.tmp, "head.eml"), "w") as f:
                f.write(head + "Subject: hi\n\nText.\n")
        cmd = [ARGS.modtest, "-m", ARGS.module, "--data-dir", self.data]
        for o in opts:
            cmd += ["-o", o]
        cmd += list(args) + [os.path.join(self.tmp, fixture + ".eml")]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        res = json.loads(p.stdout.splitlines()[0])
        res["names"] = {s["name"]: s for s in res["symbols"]}
        return res

    def test_ip_cidr_live_add_and_delete(self):
        self.assertIsNone(self.scan("--ip", "203.0.113.9")["verdict"])
        self.ctl("add", "--type", "ip", "--action", "block", "203.0.113.0/24", "2001:db8::/32")
        res = self.scan("--ip", "203.0.113.9")
        self.assertEqual(res["verdict"], "block")
        self.assertIn("global: block ip 203.0.113.0/24", res["names"]["LIST_BLOCK"]["detail"])
        self.assertEqual(self.scan("--ip", "2001:db8:5::1")["verdict"], "block")
        self.assertEqual(self.scan("--ip", "::ffff:203.0.113.200")["verdict"], "block")
        self.assertIsNone(self.scan("--ip", "203.0.114.1")["verdict"])
        self.ctl("del", "--type", "ip", "203.0.113.0/24")
        self.assertIsNone(self.scan("--ip", "203.0.113.9")["verdict"])

    def test_ip_allow_needs_no_proof_even_if_stored_with_auth(self):
        self.ctl("add", "--type", "ip", "--action", "allow", "--auth", "198.51.100.77")
        self.assertEqual(self.scan("--ip", "198.51.100.77")["verdict"], "allow")

    def test_most_specific_prefix_names_the_hit_and_block_wins(self):
        self.ctl("add", "--type", "ip", "--action", "allow", "10.0.0.0/8")
        self.ctl("add", "--type", "ip", "--action", "allow", "10.1.2.0/24")
        res = self.scan("--ip", "10.1.2.3")
        self.assertIn("10.1.2.0/24", res["names"]["LIST_ALLOW"]["detail"])
        self.ctl("add", "--type", "ip", "--action", "block", "10.1.2.3")
        self.assertEqual(self.scan("--ip", "10.1.2.3")["verdict"], "block")
        self.assertEqual(self.scan("--ip", "10.1.2.4")["verdict"], "allow")

    def test_sender_allow_needs_authentication_by_default(self):
        self.ctl("add", "--type", "sender", "--action", "allow", "Boss@Partner.test")
        opt = ["trusted_authserv_id=mx.ours.test"]
        res = self.scan("--from", "boss@partner.test", opts=opt)
        self.assertIsNone(res["verdict"])
        self.assertIn("LIST_ALLOW_UNAUTH", res["names"])
        self.assertEqual(self.scan("--from", "boss@partner.test", fixture="auth", opts=opt)["verdict"], "allow")
        self.assertEqual(self.scan("--from", "boss@partner.test", fixture="dkim", opts=opt)["verdict"], "allow")
        self.assertEqual(self.scan("--from", "boss@partner.test", fixture="comment", opts=opt)["verdict"],
                         "allow")
        # A header from another verifier, or no trusted verifier configured, proves nothing.
        self.assertIsNone(self.scan("--from", "boss@partner.test", fixture="foreign", opts=opt)["verdict"])
        self.assertIsNone(self.scan("--from", "boss@partner.test", fixture="auth")["verdict"])
        # SPF passed for partner.test says nothing about another sender domain.
        self.ctl("add", "--type", "sender", "--action", "allow", "x@other.test")
        self.assertIsNone(self.scan("--from", "x@other.test", fixture="auth", opts=opt)["verdict"])

    def test_dkim_proves_a_sender_entry_only_through_the_from_field(self):
        """DKIM signs the From field, not the envelope: a provider's signature on its
        user's own mail proves no other user of the provider as envelope sender."""
        self.ctl("add", "--type", "sender", "--action", "allow", "boss@partner.test")
        self.ctl("add", "--type", "domain", "--action", "allow", "friend.test")
        dkim = "auth.results=spf=fail smtp.mailfrom=boss@partner.test; dkim=pass header.d=partner.test"
        for head in ("From: Boss <Boss@Partner.test>\n", "From: boss@partner.test (Boss)\n",
                     "From: =?utf-8?q?J=C3=B6rg_Boss?=\n <boss@partner.test>\n",
                     'From: "Boss, the" <boss@partner.test>\n'):
            self.assertEqual(self.scan("--from", "boss@partner.test", "--note", dkim,
                                       head=head)["verdict"], "allow", head)
        for head in ("From: mallory@partner.test\n",
                     'From: "boss@partner.test" <mallory@partner.test>\n',
                     "From: boss@partner.test <mallory@partner.test>\n",
                     "From: <boss@partner.test> mallory@partner.test\n",
                     "From: boss@partner.test, mallory@partner.test\n",
                     "From: boss@partner.test\nFrom: mallory@partner.test\n",
                     "From: team: boss@partner.test;\n", "Subject: no From\n",
                     "From: =?utf-8?q?boss=40partner.test?=\n",
                     "From: =?utf-8?q?boss=40partner.test?= <mallory@partner.test>\n",
                     "From: boss@partner.test\nfrom : mallory@partner.test\n"):
            res = self.scan("--from", "boss@partner.test", "--note", dkim, head=head)
            self.assertIsNone(res["verdict"], head)
            self.assertIn("LIST_ALLOW_UNAUTH", res["names"], head)
        # SPF checks the envelope sender's domain itself: From does not matter.
        spf = "auth.results=spf=pass smtp.mailfrom=boss@partner.test"
        self.assertEqual(self.scan("--from", "boss@partner.test", "--note", spf,
                                   head="From: mallory@partner.test\n")["verdict"], "allow")
        # A domain entry is proven by the domain's signature, whoever the From names.
        dkim = "auth.results=dkim=pass header.d=friend.test"
        self.assertEqual(self.scan("--from", "x@friend.test", "--note", dkim,
                                   head="From: y@friend.test\n")["verdict"], "allow")

    def test_a_header_in_the_auth_stages_own_authserv_id_is_not_trusted(self):
        """When the auth stage of this scan writes under the trusted authserv-id, a
        header already in the message under that name is the sender's, not proof."""
        self.ctl("add", "--type", "sender", "--action", "allow", "boss@partner.test")
        opt = ["trusted_authserv_id=mx.ours.test"]
        res = self.scan("--from", "boss@partner.test", "--note", "auth.authserv_id=MX.ours.test",
                        fixture="auth", opts=opt)
        self.assertIsNone(res["verdict"], res)
        self.assertIn("LIST_ALLOW_UNAUTH", res["names"])
        # An auth stage writing under another name leaves the MTA's header trusted.
        res = self.scan("--from", "boss@partner.test", "--note", "auth.authserv_id=smf",
                        fixture="auth", opts=opt)
        self.assertEqual(res["verdict"], "allow", res)

    def test_auth_stage_note_proves_the_sender(self):
        """The auth stage of the same scan leaves its results as a note; no header and
        no trusted_authserv_id are needed then."""
        self.ctl("add", "--type", "sender", "--action", "allow", "ceo@partner2.test")
        spf = "auth.results=spf=pass smtp.mailfrom=ceo@partner2.test; dkim=none"
        self.assertEqual(self.scan("--from", "ceo@partner2.test", "--note", spf)["verdict"],
                         "allow")
        dkim = "auth.results=spf=fail smtp.mailfrom=ceo@partner2.test; dkim=pass header.d=partner2.test"
        self.assertEqual(self.scan("--from", "ceo@partner2.test", "--note", dkim,
                                   head="From: ceo@partner2.test\n")["verdict"], "allow")
        failed = "auth.results=spf=softfail smtp.mailfrom=ceo@partner2.test; dkim=fail header.d=partner2.test"
        res = self.scan("--from", "ceo@partner2.test", "--note", failed)
        self.assertIsNone(res["verdict"])
        self.assertIn("LIST_ALLOW_UNAUTH", res["names"])
        # A quoted local part cannot write a result of its own into the note.
        quoted = ('auth.results=spf=none smtp.mailfrom="x; spf=pass smtp.mailfrom="'
                  '@partner2.test; dkim=none')
        res = self.scan("--from", "ceo@partner2.test", "--note", quoted)
        self.assertIsNone(res["verdict"], res)
        self.assertIn("LIST_ALLOW_UNAUTH", res["names"])
        # Another module's note proves nothing.
        forged = "pattern.results=spf=pass smtp.mailfrom=ceo@partner2.test"
        self.assertIsNone(self.scan("--from", "ceo@partner2.test", "--note", forged)["verdict"])

    def test_noauth_sender_and_domain_suffix(self):
        self.ctl("add", "--type", "sender", "--action", "allow", "--noauth", "news@list.test")
        self.assertEqual(self.scan("--from", "news@list.test")["verdict"], "allow")
        self.ctl("add", "--type", "domain", "--action", "block", ".spam.test")
        self.assertEqual(self.scan("--from", "a@x.y.spam.test")["verdict"], "block")
        self.assertIsNone(self.scan("--from", "a@spam.test")["verdict"])
        self.assertIsNone(self.scan("--from", "a@notspam.test")["verdict"])
        # A local part too long for a list entry does not step round the domain's block.
        self.assertEqual(self.scan("--from", "a" * 300 + "@x.spam.test")["verdict"], "block")
        self.ctl("add", "--type", "helo", "--action", "block", "bad.helo.test")
        self.assertEqual(self.scan("--helo", "BAD.helo.test.")["verdict"], "block")

    def test_a_name_in_another_script_is_one_name_however_written(self):
        """A block entry for a name in another script holds for mail that writes
        the name as its A-label, in upper case, and the other way round."""
        self.ctl("import", "-", stdin="global domain block b\u00fccher.example\n"
                 "global domain block .xn--kln-sna.example\n"
                 "global sender block JOE@Z\u00dcRICH.example\n"
                 "global helo block m\u00fcnchen.example\n")
        self.assertEqual(self.ctl("show").stdout.splitlines()[1:],
                         ["global domain block .xn--kln-sna.example",
                          "global domain block xn--bcher-kva.example",
                          "global helo block xn--mnchen-3ya.example",
                          "global sender block joe@xn--zrich-kva.example"])
        for sender in ("x@xn--bcher-kva.example", "x@B\u00dcCHER.example.", "x@a.k\u00f6ln.example",
                       "x@a.XN--KLN-SNA.example", "joe@z\u00fcrich.example",
                       "joe@xn--zrich-kva.example"):
            self.assertEqual(self.scan("--from", sender)["verdict"], "block", sender)
        self.assertEqual(self.scan("--helo", "M\u00dcNCHEN.example")["verdict"], "block")
        self.assertIsNone(self.scan("--from", "x@k\u00f6ln.example")["verdict"])
        # Either spelling deletes it.
        self.ctl("del", "--type", "domain", "xn--bcher-kva.example")
        self.ctl("del", "--type", "sender", "joe@xn--zrich-kva.example")
        self.assertIsNone(self.scan("--from", "x@b\u00fccher.example")["verdict"])
        self.assertIsNone(self.scan("--from", "joe@z\u00fcrich.example")["verdict"])

    def test_full_width_letters_and_full_stops_are_the_ascii_name(self):
        """A name written in full-width letters or with an ideographic full stop is
        the ASCII name a browser or resolver reads (UTS 46), in an entry and in mail."""
        self.ctl("add", "--type", "domain", "--action", "block",
                 "\uff53\uff50\uff41\uff4d\u3002example")
        self.assertEqual(self.ctl("show").stdout.splitlines()[1:],
                         ["global domain block spam.example"])
        for sender in ("x@spam.example", "x@spam\uff0eexample", "x@\uff33\uff30\uff21\uff2d.example"):
            self.assertEqual(self.scan("--from", sender)["verdict"], "block", sender)

    def test_proof_for_a_name_in_another_script_counts_in_either_spelling(self):
        """SPF and DKIM results prove the sender's domain whether the verifier writes
        it in UTF-8 or as its A-label (DKIM's d= is an A-label)."""
        self.ctl("add", "--type", "sender", "--action", "allow", "joe@b\u00fccher.example")
        for sender, results in (
                ("joe@b\u00fccher.example", "spf=pass smtp.mailfrom=joe@b\u00fccher.example"),
                ("joe@b\u00fccher.example", "spf=fail smtp.mailfrom=joe@b\u00fccher.example; "
                                             "dkim=pass header.d=xn--bcher-kva.example"),
                ("joe@xn--bcher-kva.example", "spf=pass smtp.mailfrom=joe@b\u00fccher.example"),
                ("joe@xn--bcher-kva.example", "spf=none; dkim=pass header.d=B\u00dcCHER.example")):
            res = self.scan("--from", sender, "--note", "auth.results=" + results,
                            head="From: %s\n" % sender)
            self.assertEqual(res["verdict"], "allow", (sender, results, res))
        # A pass for another domain still proves nothing.
        res = self.scan("--from", "joe@b\u00fccher.example",
                        "--note", "auth.results=spf=pass smtp.mailfrom=joe@xn--bcher-kvb.example")
        self.assertIsNone(res["verdict"])

    @unittest.skipUnless(shutil.which("mdb_dump") and shutil.which("mdb_load"), "needs lmdb-utils")
    def test_del_removes_an_entry_kept_in_utf8_by_an_older_store(self):
        """Entries once kept a name in another script in UTF-8; del given that
        spelling still removes such an entry."""
        self.ctl("add", "--type", "domain", "--action", "block", "xn--bcher-kva.example")
        kv = os.path.join(self.data, "kv")
        dump = subprocess.run(["mdb_dump", "-a", "-p", kv], capture_output=True, text=True,
                              check=True).stdout
        # Written the old way: the UTF-8 name in the key and in the record.
        dump = dump.replace("xn--bcher-kva.example", "b\\c3\\bccher.example")
        os.unlink(os.path.join(kv, "data.mdb"))
        os.unlink(os.path.join(kv, "lock.mdb"))
        subprocess.run(["mdb_load", kv], input=dump, text=True, check=True)
        self.assertEqual(self.ctl("show").stdout.splitlines()[1:],
                         ["global domain block b\u00fccher.example"])
        p = self.ctl("del", "--type", "domain", "b\u00fccher.example")
        self.assertIn("deleted 1", p.stdout)
        self.assertEqual(self.ctl("show").stdout.splitlines()[1:], [])

    def test_scopes(self):
        self.ctl("add", "--type", "ip", "--action", "block", "198.51.100.0/24")
        self.ctl("add", "--scope", "domain:example.com", "--type", "ip", "--action", "allow",
                 "198.51.100.7")
        self.ctl("add", "--scope", "user:vip@example.org", "--type", "ip", "--action", "allow",
                 "198.51.100.0/28")
        # The domain's own entry beats the global block, for that domain only.
        self.assertEqual(self.scan("--ip", "198.51.100.7", "--rcpt", "a@example.com")["verdict"], "allow")
        self.assertEqual(self.scan("--ip", "198.51.100.7", "--rcpt", "a@example.org")["verdict"], "block")
        # A domain scope matches the recipient domain in any case.
        self.assertEqual(self.scan("--ip", "198.51.100.7", "--rcpt", "a@EXAMPLE.Com")["verdict"], "allow")
        # A domain in another script is one domain however it is written: the engine
        # names it by its A-label, and so does the scope.
        self.ctl("add", "--scope", "domain:Bücher.example", "--type", "ip", "--action", "allow",
                 "198.51.100.7")
        for rcpt in ("a@bücher.example", "a@BÜCHER.example.", "a@xn--bcher-kva.example"):
            self.assertEqual(self.scan("--ip", "198.51.100.7", "--rcpt", rcpt)["verdict"], "allow",
                             rcpt)
        # So is a user's: the address's domain as its A-label.
        self.ctl("add", "--scope", "user:Joe@Bücher-U.example", "--type", "ip", "--action",
                 "allow", "198.51.100.9")
        for rcpt in ("joe@bücher-u.example", "JOE@BÜCHER-U.example.", "joe@xn--bcher-u-n2a.example"):
            self.assertEqual(self.scan("--ip", "198.51.100.9", "--rcpt", rcpt)["verdict"], "allow",
                             rcpt)
        # A scope whose A-label does not fit is refused, not kept cut short.
        long_name = "\u00fc" + "a" * 58 + "." + "b" * 63 + "." + "c" * 63
        self.assertIn("expected global, domain:D", self.ctl("add", "--scope", "domain:" + long_name, "--type", "ip",
                                            "--action", "allow", "198.51.100.10", rc=2).stderr)
        res = self.scan("--ip", "198.51.100.8", "--rcpt", "VIP@example.org")
        self.assertEqual(res["verdict"], "allow")
        self.assertIn("user:vip@example.org", res["names"]["LIST_ALLOW"]["detail"])
        # Two recipients of one domain who disagree: no forced verdict, a note instead.
        res = self.scan("--ip", "198.51.100.8", "--rcpt", "vip@example.org", "--rcpt", "b@example.org")
        self.assertIsNone(res["verdict"])
        self.assertEqual(res["names"]["LIST_MIXED"]["score"], 0)

    def test_a_user_scope_holds_for_the_mailbox_however_written(self):
        # A quoted local part or a source route names the same mailbox (RFC 5321),
        # which the MTA delivers to the user: the user's own block still holds.
        self.ctl("add", "--scope", "user:bob@example.com", "--type", "sender", "--action",
                 "block", "jim@annoy.test")
        for rcpt in ("bob@example.com", '"bob"@example.com', "@mx.example.com:bob@example.com"):
            self.assertEqual(self.scan("--from", "jim@annoy.test", "--rcpt", rcpt)["verdict"],
                             "block", rcpt)
        self.assertIsNone(self.scan("--from", "jim@annoy.test",
                                    "--rcpt", '"bob@example.com"@example.com')["verdict"])

    def test_an_entry_written_with_quotes_is_the_mailbox_it_quotes(self):
        # Entries are kept as the mailbox, unquoted, as mail is compared: an
        # operator who copies an address with its quotes blocks that sender.
        self.ctl("add", "--type", "sender", "--action", "block", '"Jim.Smith"@annoy.test')
        self.ctl("add", "--scope", 'user:"B\\ob"@example.com', "--type", "sender",
                 "--action", "block", "ann@annoy.test")
        self.assertEqual(self.ctl("show").stdout.splitlines()[1:],
                         ["global sender block jim.smith@annoy.test",
                          "user:bob@example.com sender block ann@annoy.test"])
        for sender in ("jim.smith@annoy.test", '"jim.smith"@annoy.test'):
            self.assertEqual(self.scan("--from", sender)["verdict"], "block", sender)
        self.assertEqual(self.scan("--from", "ann@annoy.test", "--rcpt", "bob@example.com")
                         ["verdict"], "block")
        # The options are read the same way.
        res = self.scan("--from", "jim@other.test", opts=['block_senders={"\\"jim\\"@other.test"}'])
        self.assertEqual(res["verdict"], "block")

    def test_a_users_block_holds_for_the_address_with_an_extension(self):
        # With the MTA's recipient_delimiter given, bob+news@ is delivered to bob:
        # bob's block holds there. His allow does not ("bob-smith" may be another).
        self.ctl("add", "--scope", "user:bob@example.com", "--type", "sender", "--action",
                 "block", "jim@annoy.test")
        self.ctl("add", "--scope", "user:bob@example.com", "--type", "ip", "--action",
                 "allow", "192.0.2.77")
        self.ctl("add", "--scope", "user:bob+ok@example.com", "--type", "sender", "--action",
                 "allow", "--noauth", "jim@annoy.test")
        opt = ['recipient_delimiter="+-"']
        for rcpt in ("bob+news@example.com", "bob-x@example.com", "BOB+@example.com"):
            res = self.scan("--from", "jim@annoy.test", "--rcpt", rcpt, opts=opt)
            self.assertEqual(res["verdict"], "block", rcpt)
            self.assertIn("user:bob@example.com", res["names"]["LIST_BLOCK"]["detail"])
            self.assertIsNone(self.scan("--from", "jim@annoy.test", "--rcpt", rcpt)["verdict"], rcpt)
            self.assertIsNone(self.scan("--ip", "192.0.2.77", "--rcpt", rcpt, opts=opt)["verdict"], rcpt)
        # The address's own entries come first; a delimiter first or only in the domain is none.
        self.assertEqual(self.scan("--from", "jim@annoy.test", "--rcpt", "bob+ok@example.com",
                                   opts=opt)["verdict"], "allow")
        for rcpt in ("+bob@example.com", "bob@ex-ample.com"):
            self.assertIsNone(self.scan("--from", "jim@annoy.test", "--rcpt", rcpt, opts=opt)["verdict"], rcpt)

    def test_options_still_work_beside_the_store(self):
        self.ctl("add", "--type", "ip", "--action", "allow", "192.0.2.0/24")
        res = self.scan("--ip", "192.0.2.5", opts=["block_ips={192.0.2.5}"])
        self.assertEqual(res["verdict"], "block")
        self.assertIn("block_ips: 192.0.2.5", res["names"]["LIST_BLOCK"]["detail"])
        self.assertIsNone(self.scan("--ip", "192.0.2.5", opts=["store=false"])["verdict"])

    def test_import_export_round_trip(self):
        src = os.path.join(self.tmp, "in.txt")
        with open(src, "w") as f:
            f.write("# a comment\n\nglobal ip block 203.0.113.0/25\n"
                    "domain:example.com sender allow Boss@Partner.test\n"
                    "user:bob@example.com domain allow partner.test noauth\n"
                    "global helo block .dyn.test\n")
        p = self.ctl("import", src)
        self.assertIn("added 4", p.stdout)
        out = self.ctl("export").stdout.splitlines()
        self.assertEqual(sorted(l for l in out if not l.startswith("#")), sorted([
            "domain:example.com sender allow boss@partner.test auth",
            "global helo block .dyn.test",
            "global ip block 203.0.113.0/25",
            "user:bob@example.com domain allow partner.test noauth"]))
        # Exported text imports into an empty store unchanged.
        dump = os.path.join(self.tmp, "dump.txt")
        self.ctl("export", dump)
        shutil.rmtree(self.data)
        self.ctl("import", dump)
        self.assertEqual(self.ctl("export").stdout.splitlines(), out)
        # Filters.
        shown = self.ctl("show", "--scope", "global", "--type", "ip").stdout.splitlines()
        self.assertEqual(shown[1:], ["global ip block 203.0.113.0/25"])
        # Bare values take the command's scope, type and action.
        self.ctl("import", "--scope", "domain:x.test", "--type", "ip", "--action", "block", "-",
                 stdin="192.0.2.1\n192.0.2.2\n")
        self.assertEqual(len(self.ctl("show", "--scope", "domain:x.test").stdout.splitlines()), 3)

    def test_bad_input_is_refused_and_nothing_is_written(self):
        src = os.path.join(self.tmp, "bad.txt")
        with open(src, "w") as f:
            f.write("global ip block 192.0.2.0/24\nglobal ip block 10.0.0.0/33\n")
        p = self.ctl("import", src, rc=2)
        self.assertIn(":2:", p.stderr)
        self.assertEqual(self.ctl("show").stdout.splitlines()[1:], [])
        self.ctl("add", "--type", "ip", "--action", "block", "not-an-ip", rc=2)
        self.ctl("add", "--type", "sender", "--action", "block", "no-at-sign", rc=2)
        self.ctl("add", "--type", "helo", "--action", "allow", "mx.test", rc=2)
        self.ctl("add", "--scope", "planet:mars", "--type", "ip", "--action", "block", "192.0.2.1", rc=2)
        self.ctl("add", "--type", "ip", "192.0.2.1", rc=2)
        self.ctl("frobnicate", rc=2)
        p = self.ctl("del", "--type", "ip", "192.0.2.77", rc=1)
        self.assertIn("not listed", p.stderr)
        # A line too long to read whole is refused, not cut into two entries.
        with open(src, "w") as f:
            f.write("global ip block 192.0.2.66" + " " * 3000 + "\nglobal ip block 192.0.2.67\n")
        p = self.ctl("import", src, rc=2)
        self.assertIn(":1: line longer than", p.stderr)
        self.assertEqual(self.ctl("show").stdout.splitlines()[1:], [])

    def test_command_line_values_say_what_is_wrong(self):
        """A value on the command line is a value, never an import line, and a bad
        one is named with what its type expects."""
        p = self.ctl("add", "--type", "domain", "--action", "block", "bad domain", rc=2)
        self.assertIn('"bad domain": a value cannot contain blanks', p.stderr)
        self.assertNotIn("SCOPE TYPE ACTION", p.stderr)
        # Read as a line, this would have stored a global ip allow entry.
        p = self.ctl("add", "--type", "sender", "--action", "block", "global\tip\tallow\t192.0.2.5",
                     rc=2)
        self.assertIn("cannot contain blanks", p.stderr)
        p = self.ctl("add", "--type", "ip", "--action", "block", "192.0.2", rc=2)
        self.assertIn('"192.0.2" is not a valid --type ip value: expected an IP address', p.stderr)
        p = self.ctl("del", "--type", "sender", "partner.test", rc=2)
        self.assertIn("expected an envelope sender address", p.stderr)
        self.assertEqual(self.ctl("show").stdout.splitlines()[1:], [])
        usage = self.ctl("--help").stdout
        self.assertIn("list add [--scope S] --type T --action A", usage)
        self.assertIn("list del [--scope S] --type T VALUE...", usage)

    def test_names_that_no_domain_can_have_are_refused(self):
        """Values and scopes are domain names as DNS holds them: no empty label (a
        dot left at the end), no label starting or ending with '-' or longer than
        63 bytes, no bytes that are not UTF-8. Each is refused with what is expected,
        and nothing is written; the forms of docs/lists.md all pass."""
        bad_names = ["-x..", "x..", "-x.example", "x-.example", "a.-b.example", "a" * 64 + ".test",
                     os.fsdecode(b"\xff\xfe.test"), "x/y.test"]
        for bad in bad_names:
            p = self.ctl("add", "--type", "domain", "--action", "block", "--", bad, rc=2)
            self.assertIn("expected a domain name", p.stderr, bad)
            p = self.ctl("add", "--type", "helo", "--action", "block", "--", bad, rc=2)
            self.assertIn("expected a host name", p.stderr, bad)
            p = self.ctl("add", "--type", "sender", "--action", "block", "--", "bob@" + bad, rc=2)
            self.assertIn("expected an envelope sender address", p.stderr, bad)
            p = self.ctl("add", "--scope", "domain:" + bad, "--type", "ip", "--action", "block",
                         "192.0.2.1", rc=2)
            self.assertIn("--scope domain:", p.stderr, bad)
            self.assertIn("expected global, domain:D or user:ADDR", p.stderr, bad)
        p = self.ctl("add", "--type", "sender", "--action", "block", "bo\x01b@x.test", rc=2)
        self.assertIn("expected an envelope sender address", p.stderr)
        p = self.ctl("add", "--type", "domain", "--action", "blok", "x.test", rc=2)
        self.assertIn("--action blok: expected allow or block", p.stderr)
        src = os.path.join(self.tmp, "bad.txt")
        with open(src, "w") as f:
            f.write("global domain block ok.test\nglobal domain block -x..\n")
        self.assertIn(":2: bad value", self.ctl("import", src, rc=2).stderr)
        self.assertEqual(self.ctl("show").stdout.splitlines()[1:], [])
        # What docs/lists.md shows, and names with '_', UTF-8 or an A-label, still pass.
        self.ctl("import", "-", stdin="global ip block 203.0.113.0/24\n"
                 "global helo block .dynamic.example\n"
                 "domain:example.com sender allow boss@partner.example auth\n"
                 "user:bob@example.com domain allow lists.example noauth\n"
                 "global domain block .partner.example\n"
                 "global helo block mail_1.example\n"
                 "global domain block b\u00fccher.example\n"
                 "global domain block xn--bcher-kva.example\n"
                 "global sender block first..last+tag@x-1.example.\n")
        # The UTF-8 name and its A-label are one entry.
        self.assertEqual(len(self.ctl("show").stdout.splitlines()[1:]), 8)

    def test_an_allow_entry_that_can_never_be_proven_is_warned_about(self):
        """An authenticated allow entry is stored, but without an auth stage before
        lists and without trusted_authserv_id smfctl says it will never apply."""
        p = self.ctl("add", "--type", "sender", "--action", "allow", "boss@partner.test")
        self.assertIn("added 1", p.stdout)
        self.assertIn("warning: the authenticated allow entry global sender boss@partner.test "
                      "will never apply", p.stderr)
        self.assertIn("--noauth", p.stderr)
        self.assertIn("trusted_authserv_id", p.stderr)
        p = self.ctl("import", "-", stdin="global domain allow a.test\nglobal sender allow b@a.test\n")
        self.assertIn("2 authenticated allow entries (the first: global domain a.test)", p.stderr)
        for args in (["--type", "sender", "--action", "allow", "--noauth", "news@list.test"],
                     ["--type", "domain", "--action", "block", "spam.test"],
                     ["--type", "ip", "--action", "allow", "--auth", "192.0.2.1"]):
            self.assertEqual(self.ctl("add", *args).stderr, "", args)

        # A trusted verifier's headers can prove the sender.
        with open(self.conf, "a") as f:
            f.write('lists {\n  trusted_authserv_id = "mx.ours.test"\n}\n')
        self.assertEqual(self.ctl("add", "--type", "sender", "--action", "allow",
                                  "boss@partner.test").stderr, "")

        # So can the auth stage, where it runs before lists: here for one domain only.
        with open(self.conf, "w") as f:
            f.write('data_dir = "%s"\nmodule_dir = "%s"\nmodules = {auth, lists}\n'
                    "policy default { inbound { stages = {lists, auth} }\n"
                    "                 outbound { stages = {lists, auth} } }\n"
                    'policy "example.com" { inbound { stages = {auth, lists} } }\n'
                    % (self.data, os.path.dirname(ARGS.module)))
        allow = ["--type", "domain", "--action", "allow", "partner.test"]
        self.assertEqual(self.ctl("add", *allow).stderr, "")
        self.assertEqual(self.ctl("add", "--scope", "domain:example.com", *allow).stderr, "")
        self.assertEqual(self.ctl("add", "--scope", "user:bob@example.com", *allow).stderr, "")
        p = self.ctl("add", "--scope", "domain:example.org", *allow)
        self.assertIn("will never apply", p.stderr)

    def test_export_to_a_full_disk_fails(self):
        self.ctl("add", "--type", "ip", "--action", "block", "192.0.2.9")
        with open("/dev/full", "w") as full:
            p = subprocess.run([ARGS.smfctl, "-c", self.conf, "list", "show"], stdout=full,
                               stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("standard output", p.stderr)
        self.ctl("export", "/dev/full", rc=1)

    def test_export_from_a_store_that_cannot_be_opened_leaves_no_file(self):
        """The file is made only once the store has opened: a broken store leaves
        no empty file behind, and an earlier export whole."""
        os.makedirs(os.path.join(self.data, "kv"))
        with open(os.path.join(self.data, "kv", "data.mdb"), "wb") as f:
            f.write(b"not an LMDB file" * 1024)
        out = os.path.join(self.tmp, "out.txt")
        p = self.ctl("export", out, rc=1)
        self.assertIn("cannot open the key-value store", p.stderr)
        self.assertFalse(os.path.exists(out))
        with open(out, "w") as f:
            f.write("global ip block 192.0.2.1\n")
        self.ctl("export", out, rc=1)
        with open(out) as f:
            self.assertEqual(f.read(), "global ip block 192.0.2.1\n")

    def test_replace_changes_the_action(self):
        self.ctl("add", "--type", "ip", "--action", "block", "192.0.2.9")
        p = self.ctl("add", "--type", "ip", "--action", "allow", "192.0.2.9")
        self.assertIn("replaced 1", p.stdout)
        self.assertEqual(self.scan("--ip", "192.0.2.9")["verdict"], "allow")
        self.ctl("del", "--type", "ip", "192.0.2.9")
        self.assertEqual(self.ctl("show").stdout.splitlines()[1:], [])
        self.assertIsNone(self.scan("--ip", "192.0.2.9")["verdict"])


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--modtest", required=True)
    ap.add_argument("--module", required=True)
    ap.add_argument("--smfctl", required=True)
    ARGS, rest = ap.parse_known_args()
    for k in ("modtest", "module", "smfctl"):
        setattr(ARGS, k, os.path.abspath(getattr(ARGS, k)))
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
