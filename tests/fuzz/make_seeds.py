#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets into tests/fuzz/seeds/<target>/.

The seeds are committed; this script is how they were made, and makes them
again (same bytes) after a change: sample mails of the project, zips made
with zipfile, TNEF streams, DNS replies packed by hand, envelopes, mboxes and
configuration files. Each seed is a small valid input, or a known bad one
that once crashed a parser and must keep not crashing (the "regress-"
files). Standard library only.

usage: make_seeds.py [--out DIR]
       make_seeds.py --check    (exit 1 if the committed seeds differ from
                                 what this script makes; ctest fuzz_seeds_made)
"""
import argparse
import filecmp
import base64
import gzip
import io
import json
import os
import shutil
import struct
import sys
import tempfile
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# A host label of 300 characters: core/idna.c read such a label past a stack
# buffer of 256 code points before the fix of "core: a host label over 256
# characters no longer overflows the A-label reader".
LONG_LABEL_ASCII = "a" * 300
LONG_LABEL_UTF8 = "\u00e4" * 300
LONG_LABEL_TEXT = ("see http://%s.example/x and http://ok.example/\n"
                   "and http://%s.example/y\n" % (LONG_LABEL_ASCII, LONG_LABEL_UTF8))

# Written by hand: files carried in HTML in every form the reader takes (CSS
# url(), escapes, entities in a data: URI, event handlers, javascript: URLs, a
# script string with JavaScript escapes), and an SVG file with srcdoc pages
# nested to the depth read and past it.
HTML_FILES_MAIL = (
    'Subject: files carried in HTML\n'
    'MIME-Version: 1.0\n'
    'Content-Type: text/html; charset=utf-8\n'
    '\n'
    '<html><head><style>p { background: url(data:image/png;base64,iVBORw0KGgo=) }\n'
    '@import "data:text/css,p{}"; q { b: url(\\64 ata:,esc\\)) } /* url(data:,no) */</style></head>\n'
    '<body background="data:image/gif;base64,R0lGODlhAQABAAAAACw=">\n'
    '<img src="data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ==" onerror="save(atob(\'QUJD\'))">\n'
    '<a href=" da&#10;ta:application/octet-stream&semi;base&#9;64,SGVs&plus;bG8=#x" download="a.exe">a</a>\n'
    '<a href="javascript:go(atob(\'VGhpcyBpcyBhIHN0cmluZyBvZiBzaXh0eS1mb3VyIGNoYXJhY3RlcnMgb3IgbW9yZSwgc2VlPw==\'))">b</a>\n'
    '<iframe srcdoc="&lt;p&gt;x"></iframe>\n'
    '<script>/* </scriptx> */ var s = "VGhpcyBpcyBhIHN0cmluZyBvZiBzaXh0eS1mb3VyIGNoYXJhY3RlcnMgb3IgbW9yZSwgc2VlPw\\/\\x2b\\u002f" +\n'
    '  "QUJD"; new Blob([atob(s)]);</script>\n'
    '</body></html>\n'
)

# Written by hand: more of the places a page carries files in: an array of
# string pieces joined with "", a script run from a data: URI, a JSON-LD block,
# a refresh to a data: URI, a srcset of several, a two-character reference
# and a download name of blanks.
HTML_FILES_MORE_MAIL = (
    'Subject: more files carried in HTML\n'
    'MIME-Version: 1.0\n'
    'Content-Type: text/html; charset=utf-8\n'
    '\n'
    '<html><head><meta http-equiv="refresh" content="0; url=\'data:text/html,&fjlig;\'">\n'
    '<script type="application/ld+json">{"@context": "https://schema.org", "logo": "QUJD"}</script>\n'
    '<script src="data:text/javascript;base64,c2F2ZShhdG9iKCdRVUpEUlVaSCcpKTs="></script></head>\n'
    '<body><img srcset="data:image/png;base64,iVBORw0KGgo= 1x, data:,a,b (x, y), data:,c,,">\n'
    '<a href="data:,x" download=" ">x</a>\n'
    '<script>var s = ["VGhpcyBpcyBhIHN0cmluZyBvZiBzaXh0eS1m", "b3VyIGNoYXJhY3RlcnMgb3IgbW9yZSwgc2VlPw=="]'
    '.join(""); new Blob([atob(s)]);</script>\n'
    '</body></html>\n'
)

SVG_SRCDOC_MAIL = (
    'Subject: an SVG file and srcdoc pages\n'
    'MIME-Version: 1.0\n'
    'Content-Type: multipart/mixed; boundary="b"\n'
    '\n'
    'This is a multi-part message in MIME format.\n'
    '--b\n'
    'Content-Type: text/html; charset=utf-8\n'
    '\n'
    '<iframe srcdoc="<a href=&quot;data:application/octet-stream;base64,SGVsbG8=&quot; download=&quot;a.bin&quot;>x</a><iframe srcdoc=&quot;<p style=&amp;quot;background:url(data:,x)&amp;quot;>&quot;></iframe>"></iframe>\n'
    '<iframe/srcdoc=<iframe/srcdoc=<iframe/srcdoc=<a/href=data:,deep>></iframe>\n'
    '<a href="data:image/svg+xml,<svg xmlns=\'http://www.w3.org/2000/svg\'><a href=\'data:,in-svg\'/></svg>" download="x.svg">s</a>\n'
    '--b\n'
    'Content-Type: image/svg+xml; name="a.svg"\n'
    'Content-Disposition: attachment; filename="a.svg"\n'
    '\n'
    '<svg xmlns="http://www.w3.org/2000/svg"><script><![CDATA[save(new Blob([atob("VGhpcyBpcyBhIHN0cmluZyBvZiBzaXh0eS1mb3VyIGNoYXJhY3RlcnMgb3IgbW9yZSwgc2VlPw==")]));]]></script></svg>\n'
    '--b--\n'
)

def write(out, target, name, data):
    folder = os.path.join(out, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def copy_mails(out, target):
    for folder in ("etc/samples", "tests/message/fixtures"):
        src = os.path.join(ROOT, folder)
        for name in sorted(os.listdir(src)):
            if name.endswith(".eml"):
                with open(os.path.join(src, name), "rb") as f:
                    write(out, target, name, f.read())


def mail(headers, body):
    return "".join("%s: %s\r\n" % h for h in headers) + "\r\n" + body


def message_seeds(out):
    copy_mails(out, "message")
    # An S/MIME message signed in the opaque form: its parts are in the DER.
    av = av_fixtures()
    inner = (b'Content-Type: multipart/mixed; boundary="s"\r\n\r\n--s\r\n'
             b"Content-Type: text/plain\r\n\r\nSigned notes.\r\n--s\r\n"
             b'Content-Type: application/octet-stream; name="notes.bin"\r\n'
             b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--s--\r\n")
    write(out, "message", "smime-opaque-signed.eml", mail(
        [("From", "a@example.net"), ("To", "b@example.com"), ("Subject", "signed"),
         ("MIME-Version", "1.0"),
         ("Content-Type", 'application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"'),
         ("Content-Transfer-Encoding", "base64")],
        base64.encodebytes(av.signed_data(inner, True)).decode().replace("\n", "\r\n")))
    html = ('<html><body><p>Hello &amp; welcome</p><a href="http://%s.example/">x</a>'
            '<img src="https://\u00e4\u00e4.example/i.png"></body></html>' % LONG_LABEL_ASCII)
    write(out, "message", "regress-idna-long-label.eml", mail(
        [("From", "a@example.net"), ("To", "b@example.com"), ("Subject", "long label"),
         ("MIME-Version", "1.0"),
         ("Content-Type", 'multipart/alternative; boundary="b1"')],
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + LONG_LABEL_TEXT.replace("\n", "\r\n") +
        "--b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(html.encode()).decode().replace("\n", "\r\n") + "--b1--\r\n"))
    zipped = make_zip([("report.pdf.exe", b"MZ" + b"\0" * 60)])
    write(out, "message", "zip-attachment.eml", mail(
        [("From", "=?utf-8?q?J=C3=BCrgen?= <j@example.net>"), ("To", "b@example.com"),
         ("Subject", "=?utf-8?b?w4RyZ2Vy?="), ("MIME-Version", "1.0"),
         ("Content-Type", 'multipart/mixed; boundary="x"')],
        "--x\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        "--x\r\nContent-Type: application/zip\r\n"
        "Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.zip\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(zipped).decode().replace("\n", "\r\n") + "--x--\r\n"))

    # Flowed text (RFC 3676): soft breaks, delsp, quote depths, stuffing, a signature.
    write(out, "message", "format-flowed.eml", mail(
        [("From", "a@example.net"), ("To", "b@example.com"), ("Subject", "flowed"),
         ("MIME-Version", "1.0"),
         ("Content-Type", "text/plain; charset=utf-8; format=flowed; delsp=yes")],
        " From the top \r\nvi \r\nagra\r\n> quoted \r\n>> deeper \r\n> back\r\n"
        "-- \r\nsig \r\n"))
    write(out, "message", "html-files.eml", HTML_FILES_MAIL)
    write(out, "message", "svg-srcdoc.eml", SVG_SRCDOC_MAIL)
    write(out, "message", "html-files-more.eml", HTML_FILES_MORE_MAIL)

def url_seeds(out):
    write(out, "url", "plain.txt", "Visit http://Example.COM/a?b=c. Or (www.example.org/x).\n"
          "ftp://files.example.net/pub/file.txt, https://[2001:db8::1]:8443/p\n")
    write(out, "url", "idna.txt", "http://ex\u00e4mple.com/ https://xn--exmple-cua.com/\n"
          "http://ex%C3%A4mple.com/%7Euser http://\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444/\n")
    write(out, "url", "links.txt", "  http://example.com/a  \nwww.example.org\nmailto:x@example.com\n"
          "https://user:pw@example.com:8080/p?q#f\n")
    write(out, "url", "regress-idna-long-label.txt", LONG_LABEL_TEXT)
    write(out, "url", "folded-host.txt", "http://\uff50\uff41\uff59\uff50\uff41\uff4c.com/ "
          "https://\U0001d41e\U0001d42f.example/ www.a\uff0eb\u3002c\uff61d/\n")


def html_seeds(out):
    write(out, "html", "page.html",
          "<!DOCTYPE html><html><head><style>p{color:red}</style><script>var a='<b>';</script>"
          "<title>T</title></head><body><p>Caf&eacute; &amp; bar &#233;&#x20AC;&nbsp;</p>"
          "<!-- <a href='http://hidden.example/'> -->"
          "<a href=\"http://example.com/?a=1&amp;b=2\">link</a><img src='https://img.example/x.png'>"
          "<form action=http://form.example/post><input></form><br/>line<div>block</div>"
          "</body></html>")
    write(out, "html", "broken.html", "<a href=\"http://unclosed.example<p>text &#xFFFFFF; &#0; "
          "&unknown; &lt <script>never closed")
    write(out, "html", "hidden.html",
          "vi<span style=\"display:none\">x<b title='</span>'>q</b><span>z</span></span>agra "
          "<font style=\"font-size:0\">a<a href=\"http://h.example/\">b</a><i style=\"opacity:0\">c"
          "</i></font>d <span style=\"visibility:hidden\">e<div>f</div></span>g")
    write(out, "html", "hidden-class.html",
          "<style>/* c */ .h, p.k { display : none } @media (x) { .m { opacity: 0 } } .n:hover"
          "{visibility:hidden}</style>vi<span class='a H'>x<b>q</b></span>agra <p class=k>p</p>"
          "<i class=m>m</i>")
    write(out, "html", "regress-idna-long-label.html",
          '<a href="http://%s.example/">a</a> http://%s.example/\n'
          % (LONG_LABEL_ASCII, LONG_LABEL_UTF8))


def make_zip(entries, comment=b""):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries:
            z.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data,
                       compress_type=zipfile.ZIP_DEFLATED)
        z.comment = comment
    return buf.getvalue()


def zip_seeds(out, target):
    plain = make_zip([("a.txt", b"hello\n"), ("dir/b.csv", b"1,2\n")])
    write(out, target, "plain.zip", plain)
    # A Unicode Path extra field (0x7075) naming the entry differently.
    info = zipfile.ZipInfo("invoice.pdf", (2026, 1, 1, 0, 0, 0))
    upath = b"invoice.exe"
    info.extra = struct.pack("<HHBI", 0x7075, 5 + len(upath), 1,
                             zlib.crc32(b"invoice.pdf")) + upath
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(info, b"MZ", compress_type=zipfile.ZIP_STORED)
    write(out, target, "unicode-path.zip", buf.getvalue())
    # Zips one after another, and junk before a zip.
    write(out, target, "concatenated.zip", plain + make_zip([("run.exe", b"MZ")]))
    write(out, target, "preamble.zip", b"#!/bin/sh\nexit 0\n" + plain)
    write(out, target, "junk-between.zip",
          b"\0" + plain + b"\0" * 16 + make_zip([("run.exe", b"MZ")]))
    # The same whose end record gives a comment longer than the bytes after it.
    write(out, target, "preamble-bad-comment.zip",
          b"#!/bin/sh\nexit 0\n" + plain[:-2] + struct.pack("<H", 300))
    # A zip inside a zip.
    write(out, target, "nested.zip", make_zip([("inner.zip", make_zip([("x.js", b"1")]))]))
    # Local and central names differ: the local header is rewritten.
    z = bytearray(make_zip([("good.txt", b"data")]))
    z[30:38] = b"evil.exe"
    write(out, target, "name-mismatch.zip", bytes(z))


def attachment_seeds(out):
    zip_seeds(out, "attachment")
    write(out, "attachment", "file.gz", gzip.compress(b"first member\n", mtime=0)
          + gzip.compress(b"second member\n", mtime=0))
    # The OLE2 signature with nothing behind it, and an executable.
    write(out, "attachment", "ole2-head.doc", bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 504)
    write(out, "attachment", "exe.bin", b"MZ" + b"\0" * 58 + struct.pack("<I", 64) + b"PE\0\0")
    # TNEF (winmail.dat), written by the module tests' TNEF writer: attachments with names
    # in the title and the MAPI properties, a zip, an embedded message; and one cut short.
    sys.path.insert(0, os.path.join(ROOT, "tests", "modules", "fixtures"))
    import make_tnef_fixtures as t
    stream = t.tnef(t.attach("report.pdf", b"%PDF-1.4\n", "report.pdf"),
                    t.attach("files.zip", make_zip([("run.exe", b"MZ")]), "files.zip"),
                    t.embedded_message(t.tnef(t.attach("invoice.exe", b"MZ", "invoice.exe"))))
    write(out, "attachment", "winmail.dat", stream)
    write(out, "attachment", "winmail-cut.dat", stream[:len(stream) * 2 // 3])
    # 8-bit names in a Windows page and in UTF-7; a bad checksum and a property of no
    # fixed type before the long name; a 7z and a rar further in the stream.
    write(out, "attachment", "winmail-cp1251.dat",
          t.tnef(t.attach("Счет.pdf\u00a0\u00a0.exe".encode("cp1251"), b"MZ"), codepage=1251))
    write(out, "attachment", "winmail-utf7.dat", t.tnef(t.attach(b"invoice+AC4-exe", b"MZ"), codepage=65000))
    odd = t.tnef(t.attach("notes.txt", b"notes\n", extra=[
        t.prop_variable(0x6800, t.PT_UNSPECIFIED, b"\x01\x02\x03"),
        t.prop_unicode(t.PR_ATTACH_LONG_FILENAME, "notes.exe")]))
    write(out, "attachment", "winmail-odd.dat",
          odd.replace(t.attribute(t.ATTACHMENT, t.ATT_ATTACH_DATA, b"notes\n"),
                      t.attribute(t.ATTACHMENT, t.ATT_ATTACH_DATA, b"notes\n", 0x1234)))
    # A tar whose compressed stream goes on with a zip after the tar's end, and a rar behind
    # other bytes in a zip's entry named .rar.
    import make_extra_fixtures as x
    tar = x.tar_of([("notes.txt", b"notes\n")])
    write(out, "attachment", "tar-then-zip.tgz",
          gzip.compress(tar + make_zip([("run.exe", b"MZ")]), mtime=0))
    write(out, "attachment", "junk-rar.zip",
          make_zip([("inner/report.rar", b"no archive yet\n" * 8 + x.rar5_stored([("run.vbs", b"1\n")]))]))
    write(out, "attachment", "winmail-7z-rar.dat", t.tnef(t.attach("notes.txt", b"notes\n")) +
          t.attribute(t.MESSAGE, 0x00018004, x.seven_zip([("run.vbs", b"1\n")])) +
          t.attribute(t.MESSAGE, 0x00018004, x.rar5_stored([("run.vbs", b"1\n")])))


def dns_name(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"


def dns_reply(qname, qtype, answers=(), authority=(), rcode=0):
    """A reply: header, one question, then records given as (name, type, ttl, rdata);
    a name of None is a compression pointer to the question's name."""
    head = struct.pack(">HHHHHH", 0x1234, 0x8180 | rcode, 1, len(answers), len(authority), 0)
    body = dns_name(qname) + struct.pack(">HH", qtype, 1)
    for name, rtype, ttl, rdata in list(answers) + list(authority):
        owner = b"\xc0\x0c" if name is None else dns_name(name)
        body += owner + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata
    return head + body


def dns_seeds(out):
    write(out, "dnsttl", "a.bin", dns_reply("2.0.0.127.zen.example", 1,
                                             [(None, 1, 300, bytes([127, 0, 0, 2])),
                                              (None, 1, 120, bytes([127, 0, 0, 4]))]))
    txt = b"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC"
    write(out, "dnsttl", "txt.bin", dns_reply("sel._domainkey.example.com", 16,
                                               [(None, 16, 3600, bytes([len(txt)]) + txt)]))
    soa = dns_name("ns1.example.com") + dns_name("hostmaster.example.com") + struct.pack(
        ">IIIII", 2026112801, 7200, 900, 1209600, 300)
    write(out, "dnsttl", "nxdomain-soa.bin", dns_reply("nope.example.com", 1,
                                                        authority=[("example.com", 6, 900, soa)],
                                                        rcode=3))
    # A compression pointer that points at itself.
    write(out, "dnsttl", "pointer-loop.bin", struct.pack(">HHHHHH", 1, 0x8180, 1, 1, 0, 0)
          + b"\xc0\x0c" + struct.pack(">HH", 1, 1) + b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 5, 4)
          + b"\x7f\0\0\x02")
    write(out, "dnsttl", "short.bin", b"\x12\x34\x81\x80\0\x01\0\x05")


def envelope_seeds(out):
    full = {"queue_id": "4Abc1", "client_ip": "192.0.2.10", "client_name": "mail.example.net",
            "helo": "mail.example.net", "sender": "alice@example.net", "auth_user": "",
            "rcpt": ["bob@Example.COM", "<carol@example.org>"], "direction": "inbound",
            "timeout_ms": 30000}
    write(out, "envelope", "scan.json", json.dumps(full))
    write(out, "envelope", "connect.json", json.dumps({"client_ip": "2001:db8::1",
                                                        "helo": "x", "sender": ""}))
    write(out, "envelope", "bad-types.json", '{"rcpt": "bob@example.com", "timeout_ms": "soon",'
          ' "direction": 7, "sender": null}')
    write(out, "envelope", "duplicate.json", '{"rcpt": ["a@b"], "rcpt": ["c@d"]}')
    write(out, "envelope", "unicode.json", '{"rcpt": ["\\u00e4@\\u00e4.example", "\\ud800@x"],'
          ' "sender": "a\\u0000b@example.com", "deadline_ms": 1}')


def mbox_seeds(out):
    samples = os.path.join(ROOT, "etc/samples")
    parts = []
    for name in sorted(os.listdir(samples)):
        with open(os.path.join(samples, name), "rb") as f:
            parts.append(b"From sender@example.net Tue Nov 24 10:00:00 2026\n" + f.read().rstrip(b"\n")
                         + b"\n>From the start\n>>From deeper\n\n")
    write(out, "mbox", "samples.mbox", b"".join(parts))
    write(out, "mbox", "crlf-empty.mbox", b"From a\r\n\r\nFrom b\r\nbody\r\n\r\nFrom c\n")
    write(out, "mbox", "not-mbox.txt", b"Subject: no From line\n\nbody\nFrom here on\n")


def confline_seeds(out):
    with open(os.path.join(ROOT, "etc/smfd.conf"), "rb") as f:
        conf = f.read()
    # The configuration's first 60 lines, cut off inside a section.
    head = b"\n".join(conf.split(b"\n")[:60])
    write(out, "confline", "smfd-head.conf", head + b"\nmodule antivirus {\n  enabled = true\n"
          b"  workers = \"}\" # { not this one\n")
    write(out, "confline", "types.conf", b"workers = many\nmax_queued = 10\nmax_queued = 1e3\n"
          b"threshold = 'x'\nenabled = maybe\npolicy \"example.com\" {\n  /* { */ a = 1\n}\n")
    write(out, "confline", "comments.conf", b"# {\n// {\n/* {\n} */ x = \"{\\\"\" \n"
          b"option 'a' {\n")


def dkim_seeds(out):
    sig = ("v=1; a=rsa-sha256; c=relaxed/simple; d=Example.COM; s=sel;\r\n"
           "\th=from:to:subject:date; l=20; i=@mail.example.com; x=4102444800;\r\n"
           "\tbh=" + base64.b64encode(b"\x01" * 32).decode() + ";\r\n"
           "\tb=" + base64.b64encode(b"\x02" * 128).decode())
    # The public half of a 1024-bit RSA key made once with openssl for these seeds.
    key = ("v=DKIM1; k=rsa; t=y:s; h=sha256; p="
           "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDa5HGpzICEGteCi8x5doL9jzKXHt8s6JFDubMMb6jAeuXO"
           "LpLukP1dic32I9ERsflG0ZrStXVtYGBYHPAbtl719ZHlRXlNNBQlcIxCEuE4qPkcKzr1TeuP7WGkTzPfcYZY"
           "50H+57hV0L/jQ4QEH38aaqqfSt1pZ5aAAxtSFEOK+wIDAQAB")
    write(out, "dkim", "signed.eml", mail(
        [("DKIM-Signature", sig), ("X-Key-Record", key),
         ("From", '"Alice, the sender" <alice@mail.example.com>, bob@(comment)example.org'),
         ("To", "b@example.net"), ("Subject", "signed"), ("Date", "Tue, 24 Nov 2026 10:00:00 +0000")],
        "Hello  there \r\n\r\n\r\n"))
    ed = ("v=1; a=ed25519-sha256; c=simple/relaxed; d=example.com; s=ed; h=From : Subject;"
          " bh=" + base64.b64encode(b"\x03" * 32).decode() + "; b=" +
          base64.b64encode(b"\x04" * 64).decode())
    write(out, "dkim", "ed25519.eml", mail(
        [("DKIM-Signature", ed), ("X-Key-Record", "v=DKIM1; k=ed25519; p=" +
                                  base64.b64encode(b"\x05" * 32).decode()),
         ("From", "x@example.com"), ("Subject", "ed")], "body\n with  tabs\t\n"))
    write(out, "dkim", "broken.eml", "DKIM-Signature\r\nDKIM-Signature: v=1; =; b=%%%; h=\r\n"
          "From: <>\r\nFrom: \"unclosed <a@\r\n\r\n")


def spf_seeds(out):
    write(out, "spf", "mechanisms.txt",
          "ip4:192.0.2.0/24 ip6:2001:db8::/32 a:mail.%{d}/24//64 mx -ptr ~exists:%{i}.%{l}.x.%{d}"
          " include:_spf.example.com ?all redirect=%{d2}.example exp=explain.%{d}\n"
          "alice.smith+tag@example.com\nmail.example.net\n")
    write(out, "spf", "macros.txt",
          "exists:%{ir}.%{v}._spf.%{d2} a:%{l1r-}.%{o}.%{h}. exp=%{s}%%%_%-%{c}%{r}%{t}\n"
          "first.last-x@sub.example.org\nhelo.example\n")
    # A macro's digit count long enough to overflow an int: spf.c added the
    # digits up before checking them against 128 (UBSan: signed overflow).
    write(out, "spf", "regress-macro-digits.txt", "exists:%{d4444444444}.example\n")
    # Macros that expand past the 2048-byte buffer (a sender's address of a
    # thousand bytes, three times): spf_expand() went on computing buf + o
    # past the array once it was full (UBSan: index out of bounds).
    write(out, "spf", "regress-expand-past-buffer.txt", "exists:%{s}%{s}%{s}.example\n"
          + "a" * 990 + "@example.com\nmail.example.com\n")
    # Terms without a domain-spec, expanded as an empty spec: spf_expand() then
    # read its buffer without having written it (ASan: stack-buffer-overflow in
    # strlen, once fuzz_spf fills the stack first). An explanation's TXT
    # record of "" reaches it that way in a real check.
    write(out, "spf", "regress-empty-spec.txt", "mx\n")
    write(out, "spf", "bad.txt", "ip4:300.1.1.1/40 a:%{z} unknown=x =x ip6:::/129 a//0\n"
          "@\n\n")


def av_fixtures():
    """tests/antivirus/make_fixtures.py, whose name another fixture maker has."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "av_fixtures", os.path.join(ROOT, "tests/antivirus/make_fixtures.py"))
    av = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(av)
    return av


def cms_seeds(out):
    # S/MIME signed data as signers write it: definite lengths, and streamed
    # (indefinite lengths, the content in pieces); a detached signature (no
    # content) and a ContentInfo of another type.
    av = av_fixtures()
    inner = b"Content-Type: text/plain\r\n\r\nSigned notes.\r\n"
    write(out, "cms", "signed.der", av.signed_data(inner))
    write(out, "cms", "signed-streamed.der", av.signed_data(inner * 3, True))
    detached = av.signed_data(inner).replace(av.der(0xa0, av.der(0x04, inner)), b"")
    write(out, "cms", "detached.der", detached)
    # Content whose first piece is empty: nothing to copy before the buffer exists.
    write(out, "cms", "regress-empty-first-piece.der", av.signed_data(b"", True)[:-6]
          .replace(b"\x24\x80", b"\x24\x80\x04\x00", 1) + b"\0\0" * 3)
    write(out, "cms", "enveloped.der", av.der(0x30, bytes.fromhex("06092a864886f70d010703")
                                            + av.der(0xa0, av.der(0x30, b"\x02\x01\x00"))))


def answers(*lines):
    """Answer lines of tests/fuzz/fuzz_dns.h, one a line."""
    return "".join(line + "\n" for line in lines)


def spfdns_seeds(out):
    # Client, MAIL FROM, HELO, then the answers in the order check_host() asks.
    write(out, "spfdns", "include-mx.txt", "192.0.2.1\nalice@example.com\nmail.example.com\n" + answers(
        "TXT v=spf1 include:_spf.example.com mx a:%{d} ptr exists:%{i}.x.%{d} -all exp=exp.%{d}",
        "TXT v=spf1 ip4:198.51.100.0/24 ~all",
        "MX 10 mx1.example.com 20 mx2.example.com",
        "A 192.0.2.9",
        "A 192.0.2.1"))
    write(out, "spfdns", "redirect-ipv6.txt", "2001:db8::25\nbob@Example.ORG\nmx.example.org\n" + answers(
        "TXT v=spf1 redirect=_spf.%{o}",
        "TXT v=spf1 a:smtp.%{d2}//48 mx:mail.example.org/24//64 ?all",
        "AAAA 2001:db8:1::1 2001:db8::26",
        "MX 5 mx.example.org",
        "AAAA 2001:db8::25"))
    # A FAIL with an explanation that uses c, p and t: the p macro asks the
    # client's PTR names and the address of each.
    write(out, "spfdns", "explanation-ptr.txt", "192.0.2.1\nalice@example.com\nhelo\n" + answers(
        "TXT v=spf1 ptr:other.example exists:%{p}.allow.%{d} -ip4:192.0.2.1 exp=e.%{d}",
        "PTR a.example.com b.example.net",
        "A 192.0.2.1",
        "NXDOMAIN",
        "TXT you\x1f %{c} %{p} are not allowed (%{t}, %{R})"))
    # Eleven includes: the limit of ten look-ups makes it a permerror.
    chain = ["TXT v=spf1 include:i%d.example.com -all" % i for i in range(1, 12)]
    write(out, "spfdns", "lookup-limit.txt", "192.0.2.1\na@example.com\nh.example.com\n"
          + answers(*chain))
    # Three void look-ups: the limit is two.
    write(out, "spfdns", "void-lookups.txt", "192.0.2.1\na@example.com\nh.example.com\n" + answers(
        "TXT v=spf1 a:x.example.com mx:y.example.com exists:z.example.com a -all",
        "NXDOMAIN", "NODATA", "NXDOMAIN"))
    write(out, "spfdns", "timeout.txt", "192.0.2.1\na@example.com\nh.example.com\n" + answers(
        "TXT v=spf1 include:slow.example.com a:later.example.com -all", "TIMEOUT", "A 192.0.2.1"))
    # A failed PTR look-up only leaves the client without names (5.5), but
    # one that never comes back spends the time: the next look-up is past
    # the deadline.
    write(out, "spfdns", "deadline.txt", "192.0.2.1\na@example.com\nh.example.com\n" + answers(
        "TXT v=spf1 ptr a -all", "SILENT", "A 192.0.2.1"))
    write(out, "spfdns", "ipv6-explanation.txt", "2001:db8::25\nfirst.last@example.com\nh\n"
          + answers("TXT v=spf1 -ip6:2001:db8::/32 exp=why.%{d}",
                    "TXT %{c} is %{i} (%{v}, %{ir}) and %{l}@%{o} %{L-}"))
    # Two SPF records, a record of several strings, records of other types.
    write(out, "spfdns", "odd-answers.txt", "192.0.2.1\n\nhelo.example.com\n" + answers(
        "TXT google-site-verification=x\tv=sp\x1ff1 a:a.example mx:b.example include:c.example ~all",
        "CNAME target.example", "PTR not.an.address", "TXT v=spf1 -all\tv=spf1 +all"))
    # A TXT answer with a NUL and bytes that are not UTF-8 before "-all": it
    # was read past the NUL when looking for what a pass stands on.
    write(out, "spfdns", "regress-nul-before-all.txt", b"192.0.2.1\n\nhelo.example.com\n"
          b"TXT google-site-verificatihn=x\tv=s1f\x1fp a:a.example mx:\x00\x00\x7f\xfc@\xa4'0c/exam2"
          b" -all\tv=spf1 +all\n")
    # A NUL at the end of a record's first string: the second string was
    # joined right after the bytes before the NUL, "+a" and "ll" read "+all".
    write(out, "spfdns", "regress-nul-joins-strings.txt", b"192.0.2.1\nalice@example.com\nhelo\n"
          b"TXT v=spf1 +a\x00\x1fll\n")
    write(out, "spfdns", "servfail.txt", "192.0.2.1\na@example.com\nhelo.example.com\n" + answers(
        "TXT v=spf1 a:a.example ?exists:b.example -all", "REFUSED", "SERVFAIL"))


def dmarc_seeds(out):
    # From, SPF result and domain, DKIM signatures, then the answers: each
    # From domain's record first, then the organizational domains'.
    write(out, "dmarc", "org-fallback.txt", "Alice <alice@mail.example.com>, bob@example.co.uk\n"
          "pass bounce.example.com\nexample.co.uk:pass mail.example.com:fail\n" + answers(
              "NXDOMAIN",
              "TXT v=DMARC1; p=reject; sp=quarantine; pct=50; adkim=s",
              "TXT v=DMARC1; p=none; aspf=s"))
    write(out, "dmarc", "psl-rules.txt", "a@x.www.ck, b@y.z.ck, c@foo.city.kawasaki.jp, "
          "d@xn--55qx5d.cn\nsoftfail y.z.ck\nz.ck:temperror foo.city.kawasaki.jp:pass\n" + answers(
              "TXT v=DMARC1; p=quarantine", "TIMEOUT"))
    write(out, "dmarc", "bad-records.txt", "x@Example.COM\ntemperror example.com\n"
          "example.com:neutral\n" + answers(
              "TXT v=DMARC1;p=reject\tv=DMARC1; p=none",
              "TXT v=DMARC1; p=bogus; pct=200; adkim=x;;; =; " + "t" * 1100))
    # A final dot does not change the organizational domain: once the
    # relaxed alignment of "evil.com." and "victim.com." (both "com.") let
    # evil.com's SPF pass for mail From victim.com.. under victim.com's
    # reject policy.
    write(out, "dmarc", "regress-final-dot.txt", "a@victim.com..\npass evil.com.\n"
          "evil.co.uk.:pass victim.com..:fail\n" + answers("TXT v=DMARC1; p=reject"))


def reputation_seeds(out):
    # Clients and link addresses the lists are asked about are public ones
    # (192.0.3.0/24, not the documentation networks, which are never asked).
    # Client, its name as the MTA found it, HELO, MAIL FROM, message text up
    # to "--", then the answers: per zone (ip, sender, helo, URL hosts), then
    # the client's PTR and the addresses of its names.
    write(out, "reputation", "lists.txt", "198.51.101.7\nunknown\nmail.sender.example\n"
          "bob@Sender.Example\n"
          "Visit http://evil.example/x and http://203.0.114.5/ and http://[2001:db9::5]/ now\n--\n"
          + answers("A 127.0.0.2", "NXDOMAIN", "A 127.0.0.10", "NXDOMAIN", "NXDOMAIN",
                    "A 127.255.255.254", "A 127.0.1.5", "A 127.0.0.8", "NXDOMAIN"))
    write(out, "reputation", "fcrdns.txt", "2001:db9::7\nmx.sender.example\nmx.sender.example.\n"
          "<>\nhttp://user@%65vil.example:8080/ http://3221225985/ www.example.net\n"
          "http://ex\u00e4mple.com/\n--\n"
          + answers("NXDOMAIN", "NXDOMAIN", "NXDOMAIN", "NXDOMAIN", "TIMEOUT", "SERVFAIL",
                    "REFUSED", "NXDOMAIN",
                    "PTR mx.sender.example other.example mx.sender.example",
                    "AAAA 2001:db9::8 2001:db9::7", "NODATA"))
    # More PTR names than are kept, more addresses than are kept, and a
    # forward look-up that never comes back.
    names = ["n%d.example.net" % i for i in range(10)]
    write(out, "reputation", "fcrdns-many.txt", "192.0.3.50\nn0.example.net\n\n\n--\n"
          + answers("NXDOMAIN", "NXDOMAIN", "PTR " + " ".join(names),
                    "A " + " ".join("198.51.100.%d" % i for i in range(33)), "SILENT",
                    "A 192.0.3.51", "NODATA", "TIMEOUT"))
    write(out, "reputation", "helo.txt", "192.0.3.44\n\nmail.example.org\nx@y\n--\n"
          + answers("A 192.0.2.1 127.0.0.3", "A 127.0.1.2", "PTR h.example", "A 192.0.3.44"))
    write(out, "reputation", "trusted.txt", "127.0.0.1\nlocalhost\nlocalhost\na@b.example\n--\n")


def dnsreply_seeds(out):
    write(out, "dnsreply", "a.bin", dns_reply("2.0.0.127.zen.example", 1,
                                               [(None, 1, 300, bytes([127, 0, 0, 2])),
                                                (None, 1, 120, bytes([127, 0, 0, 4]))]))
    write(out, "dnsreply", "aaaa.bin", dns_reply("host.example", 28,
                                                  [(None, 28, 60, bytes(15) + b"\x01")]))
    write(out, "dnsreply", "a-many.bin", dns_reply("many.example", 1,
                                                    [(None, 1, 60, bytes([192, 0, 2, i]))
                                                     for i in range(40)]))
    mx = [(None, 15, 300, struct.pack(">H", pref) + dns_name(host))
          for pref, host in ((20, "mx2.example.com"), (10, "mx1.example.com"), (10, "b.example"))]
    write(out, "dnsreply", "mx.bin", dns_reply("example.com", 15, mx))
    write(out, "dnsreply", "ptr.bin", dns_reply("1.2.0.192.in-addr.arpa", 12,
                                                 [(None, 12, 300, dns_name("a.example.com")),
                                                  (None, 12, 300, dns_name("b.example.net"))]))
    # More PTR names than the reputation module keeps (8).
    write(out, "dnsreply", "ptr-many.bin", dns_reply("2.0.0.127.in-addr.arpa", 12,
                                                      [(None, 12, 300, dns_name("n%d.example" % i))
                                                       for i in range(10)]))
    txt = bytes([6]) + b"v=spf1" + bytes([8]) + b" -all ok" + bytes([0])
    write(out, "dnsreply", "txt-strings.bin", dns_reply("example.com", 16,
                                                         [(None, 16, 300, txt),
                                                          (None, 16, 300, b"\x03abc")]))
    write(out, "dnsreply", "cname.bin", dns_reply("alias.example", 1,
                                                   [(None, 5, 300, dns_name("target.example")),
                                                    ("target.example", 1, 300, b"\x7f\0\0\x02")]))
    write(out, "dnsreply", "pointer-loop.bin", struct.pack(">HHHHHH", 1, 0x8180, 1, 1, 0, 0)
          + b"\xc0\x0c" + struct.pack(">HH", 12, 1) + b"\xc0\x0c"
          + struct.pack(">HHIH", 12, 1, 5, 2) + b"\xc0\x0c")
    write(out, "dnsreply", "short.bin", b"\x12\x34\x81\x80\0\x01\0\x05")


def lookalike_seeds(out):
    write(out, "lookalike", "words.txt",
          "vi\u200bagra ca\u00adsh fr\u2060ee \uff56\uff49\uff41\uff47\uff52\uff41 pr\u0456ce "
          "\u0420ay\u0420al \u043c\u0438\u0440 \u03ba\u03b1\u03bb\u03bf free\u00a0money\u3000ok\n")
    write(out, "lookalike", "styled.txt",
          "\U0001d405\U0001d411\U0001d404\U0001d404 \u2119\U0001d552\U0001d56a "
          "\u24e5\u24d8\u24d0 \U0001f131\U0001f144 \ua730\u0280\u0435\u0435 "
          "\U0001d7f6\U0001d7fd \u043c\u0438\u0440\uff01b \u0e2a\u0e34\u200b\u0e19\n")
    write(out, "lookalike", "broken.bin", b"vi\xe2\x80agra \xf0\x9d\x90 \xc2 \xed\xa0\x80 "
          b"\xf4\x90\x80\x80 \xc0\xaf \xef\xbc")


def make_all(out):
    if os.path.isdir(out):
        shutil.rmtree(out)
    message_seeds(out)
    url_seeds(out)
    html_seeds(out)
    lookalike_seeds(out)
    zip_seeds(out, "zipnames")
    attachment_seeds(out)
    dns_seeds(out)
    envelope_seeds(out)
    mbox_seeds(out)
    confline_seeds(out)
    cms_seeds(out)
    dkim_seeds(out)
    spf_seeds(out)
    spfdns_seeds(out)
    dmarc_seeds(out)
    reputation_seeds(out)
    dnsreply_seeds(out)


def differences(made, kept, where=""):
    """Paths that are only in one tree or differ in bytes, relative to both."""
    cmp = filecmp.dircmp(made, kept)
    found = ["%s (only made here)" % os.path.join(where, n) for n in cmp.left_only]
    found += ["%s (committed, not made: write it here)" % os.path.join(where, n)
              for n in cmp.right_only]
    for name in cmp.common_files:
        if not filecmp.cmp(os.path.join(made, name), os.path.join(kept, name), shallow=False):
            found.append("%s (bytes differ)" % os.path.join(where, name))
    for name in cmp.common_dirs:
        found += differences(os.path.join(made, name), os.path.join(kept, name),
                             os.path.join(where, name))
    return found


def check():
    """The committed seeds are this script's output: a seed added by hand
    would be deleted the next time the seeds are made."""
    with tempfile.TemporaryDirectory() as tmp:
        made = os.path.join(tmp, "seeds")
        make_all(made)
        found = differences(made, os.path.join(HERE, "seeds"))
    for line in found:
        print("seeds: %s" % line, file=sys.stderr)
    if found:
        print("make the seeds in tests/fuzz/make_seeds.py and run it again", file=sys.stderr)
        return 1
    print("seeds: the committed seeds are all made by this script")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "seeds"))
    ap.add_argument("--check", action="store_true",
                    help="compare the committed seeds with what this script makes")
    a = ap.parse_args()
    if a.check:
        return check()
    make_all(a.out)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(a.out) for f in fs)
    print("seeds written to %s: %d bytes" % (a.out, total))
    return 0

if __name__ == "__main__":
    sys.exit(main())
