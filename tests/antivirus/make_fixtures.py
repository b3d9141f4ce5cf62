#!/usr/bin/python3
"""Writes the antivirus module's .eml fixtures and their expected results.

Usage: make_fixtures.py OUTDIR [TESTFILES_DIR]

Every fixture is built here, at test time: the EICAR test string is put
together from pieces so that no file in the repository carries it. Next to
the fixtures goes expected.json, one entry per fixture: the option group it
runs under, the statuses allowed, and the virus name prefix, symbol and
unscannable reason that must appear.
"""

import base64
import binascii
import io
import json
import os
import quopri
import random
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib

# The standard anti-virus test string, in two halves.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-" + b"TEST-FILE!$H+H*"
EICAR_NAME = "SMF.Test.EICAR"
CLAM_NAME = "SMF.Test.ClamAV-Test-File"
TESTFILES = "/usr/share/clamav-testfiles"


# ------------------------------------------------------------------ MIME

def b64_lines(data, width=76):
    text = base64.b64encode(data).decode()
    return [text[i:i + width] for i in range(0, len(text), width)] or [""]


def top_headers(subject, ctype=None, extra=(), msgid=None):
    lines = [
        "Return-Path: <sender@example.org>",
        "From: Sender <sender@example.org>",
        "To: User <user@example.net>",
        "Subject: " + subject,
        "Date: Mon, 02 Jun 2025 10:00:00 +0000",
        "Message-ID: <%s@fixtures.smf.test>" % (msgid or subject.replace(" ", "-")),
        "MIME-Version: 1.0",
    ]
    if ctype:
        lines.append("Content-Type: " + ctype)
    lines.extend(extra)
    return lines


def part(headers, body_lines):
    return headers + [""] + body_lines


def text_part(text, subtype="plain"):
    return part(["Content-Type: text/%s; charset=utf-8" % subtype,
                 "Content-Transfer-Encoding: 7bit"], text.split("\n"))


def b64_attachment(data, filename, ctype="application/octet-stream", lines=None):
    headers = ['Content-Type: %s; name="%s"' % (ctype, filename),
               "Content-Transfer-Encoding: base64",
               'Content-Disposition: attachment; filename="%s"' % filename]
    return part(headers, lines if lines is not None else b64_lines(data))


def multipart(parts, boundary, subtype="mixed", preamble="This is a MIME message."):
    lines = [preamble, ""] if preamble else []
    for p in parts:
        lines.append("--" + boundary)
        lines.extend(p)
    lines.append("--%s--" % boundary)
    lines.append("")
    return lines


def message(subject, body_parts=None, single=None, boundary="=_smf_b1"):
    """A whole message: either multipart/mixed of body_parts, or one part."""
    if single is not None:
        return top_headers(subject) + single
    ctype = 'multipart/mixed; boundary="%s"' % boundary
    return top_headers(subject, ctype) + [""] + multipart(body_parts, boundary)


def to_bytes(lines, crlf=False, encoding="utf-8"):
    eol = "\r\n" if crlf else "\n"
    flat = [piece for line in lines for piece in line.split("\n")]
    return (eol.join(flat) + eol).encode(encoding)


def yenc_block(data, name):
    """A yEnc block as Thunderbird reads one: "=ybegin line= size= name=", "=yend size="."""
    out = []
    for c in data:
        v = (c + 42) % 256
        out.append("=" + chr((v + 64) % 256) if v in (0, 9, 10, 13, 32, 61) else chr(v))
    lines = ["".join(out[i:i + 128]) for i in range(0, len(out), 128)]
    return (["=ybegin line=128 size=%d name=%s" % (len(data), name)] + lines +
            ["=yend size=%d" % len(data)])


def der(tag, content):
    """One DER element with a definite length."""
    n = len(content)
    if n < 0x80:
        head = bytes([tag, n])
    else:
        size = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([tag, 0x80 | len(size)]) + size
    return head + content


def signed_data(content, streamed=False):
    """A CMS SignedData (RFC 5652) carrying content in itself, the opaque form
    of an S/MIME signed message; no signer, which changes nothing for a
    reader that takes the content out. Streamed, as signers write when they
    stream, it has indefinite lengths and its content in pieces of 40 bytes."""
    oid_data = bytes.fromhex("06092a864886f70d010701")
    oid_signed = bytes.fromhex("06092a864886f70d010702")
    sha256 = der(0x30, bytes.fromhex("0609608648016503040201") + b"\x05\x00")
    if streamed:
        pieces = b"".join(der(0x04, content[i:i + 40]) for i in range(0, len(content), 40))
        octets = b"\x24\x80" + pieces + b"\0\0"
        encap = b"\x30\x80" + oid_data + b"\xa0\x80" + octets + b"\0\0" + b"\0\0"
        body = der(0x02, b"\x01") + der(0x31, sha256) + encap + der(0x31, b"")
        return b"\x30\x80" + oid_signed + b"\xa0\x80\x30\x80" + body + b"\0\0" * 3
    encap = der(0x30, oid_data + der(0xa0, der(0x04, content)))
    body = der(0x02, b"\x01") + der(0x31, sha256) + encap + der(0x31, b"")
    return der(0x30, oid_signed + der(0xa0, der(0x30, body)))


# ------------------------------------------------------------- contents

def zip_bytes(entries, compression=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2025, 6, 2, 10, 0, 0))
            info.compress_type = compression
            z.writestr(info, data)
    return buf.getvalue()


def targz_bytes(name, data):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = 1748858400
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tool_archive(workdir, name, data, command):
    """Runs an archiver on a file written to a scratch folder; returns its output."""
    scratch = os.path.join(workdir, "scratch")
    os.makedirs(scratch, exist_ok=True)
    with open(os.path.join(scratch, name), "wb") as f:
        f.write(data)
    out = os.path.join(scratch, "out.archive")
    if os.path.exists(out):
        os.unlink(out)
    subprocess.run(command(out, name), cwd=scratch, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(out, "rb") as f:
        result = f.read()
    shutil.rmtree(scratch)
    return result


def seven_zip(workdir, name, data):
    return tool_archive(workdir, name, data,
                        lambda out, n: ["7z", "a", "-t7z", "-bd", "-y", out, n])


def encrypted_zip(workdir, name, data):
    return tool_archive(workdir, name, data,
                        lambda out, n: ["zip", "-q", "-P", "fixture-secret", out, n])


def small_pdf(title):
    """A minimal, valid one-page PDF with a correct xref table."""
    stream = b"BT /F1 18 Tf 72 720 Td (" + title.encode() + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def small_png():
    """An 8x8 RGB gradient, valid PNG."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    rows = b"".join(b"\0" + b"".join(bytes((x * 32, y * 32, 128)) for x in range(8))
                    for y in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def docx():
    ct = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
          'officedocument.wordprocessingml.document.main+xml"/></Types>')
    rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/officeDocument" Target="word/document.xml"/></Relationships>')
    doc = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
           '<w:body><w:p><w:r><w:t>Quarterly minutes: nothing to report.</w:t></w:r></w:p>'
           '</w:body></w:document>')
    return zip_bytes([("[Content_Types].xml", ct), ("_rels/.rels", rels),
                      ("word/document.xml", doc)])


def xlsx():
    ct = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
          'officedocument.spreadsheetml.sheet.main+xml"/>'
          '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
          'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
    rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    wb = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
          '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
          'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
          '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
    wbrels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
              '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
              '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
              'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             '<sheetData><row r="1"><c r="A1"><v>42</v></c><c r="B1"><v>7</v></c></row>'
             '</sheetData></worksheet>')
    return zip_bytes([("[Content_Types].xml", ct), ("_rels/.rels", rels),
                      ("xl/workbook.xml", wb), ("xl/_rels/workbook.xml.rels", wbrels),
                      ("xl/worksheets/sheet1.xml", sheet)])


# ------------------------------------------------------------ fixtures

class Fixtures:
    def __init__(self, outdir):
        self.outdir = outdir
        self.expected = []

    def add(self, name, lines, status, virus=None, symbol=None, reason=None, group="default",
            crlf=False, where=None, encoding="utf-8"):
        with open(os.path.join(self.outdir, name), "wb") as f:
            f.write(to_bytes(lines, crlf, encoding))
        statuses = status if isinstance(status, list) else [status]
        self.expected.append({"file": name, "group": group, "status": statuses,
                              "virus": virus, "symbol": symbol, "unscannable": reason,
                              "where": where})

    def infected(self, name, lines, prefix=EICAR_NAME, crlf=False, where=None, encoding="utf-8"):
        self.add(name, lines, "detected", virus=prefix, symbol="AV_INFECTED", crlf=crlf,
                 where=where, encoding=encoding)

    def clean(self, name, lines, group="default", encoding="utf-8"):
        self.add(name, lines, "clean", group=group, encoding=encoding)

    def save(self):
        with open(os.path.join(self.outdir, "expected.json"), "w") as f:
            json.dump(self.expected, f, indent=1)


def greeting():
    return text_part("Hello,\n\nplease find the file attached.\n\nRegards")


def eicar_encodings(fx):
    eicar_text = EICAR.decode()
    fx.infected("eicar-plain-body.eml",
                message("eicar plain body", single=["Content-Type: text/plain",
                                                    "", eicar_text]))
    fx.infected("eicar-plain-body-crlf.eml",
                message("eicar plain body crlf", single=["Content-Type: text/plain",
                                                         "", eicar_text]), crlf=True)
    fx.infected("eicar-base64-lf.eml",
                message("eicar base64", [greeting(), b64_attachment(EICAR, "eicar.com")]))
    fx.infected("eicar-base64-crlf.eml",
                message("eicar base64 crlf", [greeting(), b64_attachment(EICAR, "eicar.com")]),
                crlf=True)
    qp = "".join("=%02X" % c if not chr(c).isalnum() else chr(c) for c in EICAR)
    qp_lines = [qp[i:i + 72] + "=" for i in range(0, len(qp), 72)]
    fx.infected("eicar-quoted-printable.eml", message("eicar qp", [greeting(), part(
        ['Content-Type: application/octet-stream; name="eicar.com"',
         "Content-Transfer-Encoding: quoted-printable",
         'Content-Disposition: attachment; filename="eicar.com"'], qp_lines)]))
    # A soft line break ended by a CR alone: Thunderbird's decoder takes "=" and
    # a CR for one, whatever follows, and saves the file whole.
    qp_cr = "=\r".join("=%02X" % c for c in EICAR)
    fx.infected("eicar-quoted-printable-cr-breaks.eml", message("eicar qp cr", [greeting(), part(
        ['Content-Type: application/octet-stream; name="eicar.com"',
         "Content-Transfer-Encoding: quoted-printable",
         'Content-Disposition: attachment; filename="eicar.com"'], [qp_cr])]))
    uu = ["begin 644 eicar.com"] + [binascii.b2a_uu(EICAR[i:i + 45]).decode().rstrip("\n")
                                    for i in range(0, len(EICAR), 45)] + ["`", "end"]
    fx.infected("eicar-uuencode-attachment.eml", message("eicar uuencode", [greeting(), part(
        ['Content-Type: application/octet-stream; name="eicar.com"',
         "Content-Transfer-Encoding: x-uuencode",
         'Content-Disposition: attachment; filename="eicar.com"'], uu)]))
    fx.infected("eicar-uuencode-in-text.eml", message("eicar uuencode inline", single=[
        "Content-Type: text/plain", "", "The file follows.", ""] + uu + ["", "Bye"]))
    # The text around an inline file is scanned too, not only the file.
    notes = ["begin 644 notes.txt"] + [binascii.b2a_uu(b"meeting at ten").decode().rstrip("\n"),
                                       "`", "end"]
    fx.infected("eicar-text-beside-uuencode.eml", message("eicar beside uuencode", single=[
        "Content-Type: text/plain", "", eicar_text, ""] + notes + ["", "Bye"]))
    fx.clean("clean-uuencode-in-text.eml", message("clean uuencode inline", single=[
        "Content-Type: text/plain", "", "The notes follow.", ""] + notes + ["", "Bye"]))
    # Thunderbird saves a yEnc block in a message without Content-Type as an
    # attachment; libclamav's mail parser does not decode yEnc at all.
    fx.infected("eicar-yenc-in-text.eml", message("eicar yenc inline", single=[
        "", "The file follows.", ""] + yenc_block(EICAR, "eicar.com") + ["", "Bye"]),
        encoding="latin-1")
    fx.infected("eicar-yenc-in-text-no-end.eml", message("eicar yenc inline no end", single=[
        "Content-Type: text/plain", "", "The file follows.", ""] +
        yenc_block(EICAR, "eicar.com")[:-1]), encoding="latin-1")
    fx.clean("clean-yenc-in-text.eml", message("clean yenc inline", single=[
        "", "The notes follow.", ""] + yenc_block(b"meeting at ten\n", "notes.txt") + ["Bye"]),
        encoding="latin-1")


def html_smuggling(fx):
    """Files an HTML part carries inside itself, which a browser writes to disk."""
    eicar64 = base64.b64encode(EICAR).decode()

    def page(uri):
        return ['<html><body><p>Your invoice is ready.</p>',
                '<a href="%s" download="x.com">Download</a>' % uri, '</body></html>']

    # libclamav's own HTML reader finds this plain form too: it guards the
    # engine's reading of it, the cases below are the ones only it finds.
    plain = page("data:application/octet-stream;base64," + eicar64)
    fx.infected("eicar-html-data-uri.eml", message("eicar html data uri", [
        greeting(), b64_attachment("\n".join(plain).encode(), "invoice.html", "text/html")]))
    # Browsers read the scheme and "base64" in any case, and character
    # references in the attribute: libclamav's HTML reader does neither.
    upper = page("DATA:Application/Octet-Stream;BASE64," + eicar64)
    fx.infected("eicar-html-data-uri-upper.eml", message("eicar html data uri upper", [
        greeting(), b64_attachment("\n".join(upper).encode(), "invoice.html", "text/html")]))
    entities = page("data:application/octet-stream;base64," + eicar64.replace("U", "&#85;"))
    fx.infected("eicar-html-body-data-uri-entities.eml", message(
        "eicar html body data uri entities",
        single=["Content-Type: text/html; charset=utf-8", ""] + entities))
    # A script decodes the string with atob() and saves it as a Blob.
    payload = base64.b64encode(EICAR + b" " * 900).decode()
    script = ['<html><body><script>',
              'var d = "%s" +' % payload[:600], '  "%s";' % payload[600:],
              'var b = new Blob([Uint8Array.from(atob(d), c => c.charCodeAt(0))]);',
              'var a = document.createElement("a");',
              'a.href = URL.createObjectURL(b); a.download = "x.com"; a.click();',
              '</script></body></html>']
    fx.infected("eicar-html-script.eml", message("eicar html script", [
        greeting(), b64_attachment("\n".join(script).encode(), "invoice.htm", "text/html")]))
    # The bare test file is 92 characters of base64, a string far shorter
    # than a script's payload usually is; the page decodes it with atob().
    short = ['<html><body><script>',
             'var d = "%s";' % eicar64,
             'var b = new Blob([Uint8Array.from(atob(d), c => c.charCodeAt(0))]);',
             'navigator.msSaveOrOpenBlob(b, "x.com");',
             '</script></body></html>']
    fx.infected("eicar-html-script-short.eml", message("eicar html script short", [
        greeting(), b64_attachment("\n".join(short).encode(), "invoice.htm", "text/html")]))


def eicar_containers(fx, workdir):
    fx.infected("eicar-zip.eml", message("eicar zip", [
        greeting(), b64_attachment(zip_bytes([("eicar.com", EICAR)]), "eicar.zip",
                                   "application/zip")]))
    inner = zip_bytes([("eicar.com", EICAR)])
    for level in (2, 3):
        inner = zip_bytes([("level%d.zip" % (level - 1), inner)])
    fx.infected("eicar-zip-in-zip-in-zip.eml", message("eicar nested zip", [
        greeting(), b64_attachment(inner, "nested.zip", "application/zip")]), crlf=True)
    fx.infected("eicar-targz.eml", message("eicar tar.gz", [
        greeting(), b64_attachment(targz_bytes("eicar.com", EICAR), "eicar.tar.gz",
                                   "application/gzip")]))
    fx.infected("eicar-7z.eml", message("eicar 7z", [
        greeting(), b64_attachment(seven_zip(workdir, "eicar.com", EICAR), "eicar.7z",
                                   "application/x-7z-compressed")]))
    inner_msg = message("the original", [greeting(), b64_attachment(EICAR, "eicar.com")],
                        boundary="=_smf_inner")
    fx.infected("eicar-forwarded-rfc822.eml", message("Fwd: the original", [
        text_part("Forwarding this."),
        part(["Content-Type: message/rfc822", "Content-Disposition: inline"], inner_msg)]))
    nested = b64_attachment(EICAR, "deep.com")
    for level in range(22, 0, -1):
        boundary = "=_smf_level_%02d" % level
        nested = ['Content-Type: multipart/mixed; boundary="%s"' % boundary, ""] + \
            multipart([nested], boundary, preamble=None)
    fx.infected("eicar-deep-nesting-22.eml", message("eicar 22 levels deep", [
        greeting(), nested]))


def eicar_odd_parts(fx):
    eicar_text = EICAR.decode()
    html = "<html><body><p>Dear user,</p><p>%s</p></body></html>" % eicar_text.replace(
        "&", "&amp;")
    fx.infected("eicar-in-html.eml", message("eicar html", [
        text_part("Dear user,"), text_part(html, "html")], boundary="=_smf_alt"))
    fx.infected("eicar-wrong-content-type.eml", message("eicar as jpeg", [greeting(), part(
        ['Content-Type: image/jpeg; name="holiday.jpg"', "Content-Transfer-Encoding: base64",
         'Content-Disposition: attachment; filename="holiday.jpg"'], b64_lines(EICAR))]))
    fx.infected("eicar-missing-content-type.eml", message("eicar no content-type", [
        greeting(), part(["Content-Transfer-Encoding: base64",
                          'Content-Disposition: attachment; filename="invoice.com"'],
                         b64_lines(EICAR))]))
    fx.infected("eicar-rfc2231-name.eml", message("eicar rfc2231", [greeting(), part(
        ["Content-Type: application/octet-stream;\n name*=UTF-8''%C3%BCbersicht%20eicar.com",
         "Content-Transfer-Encoding: base64",
         "Content-Disposition: attachment;\n filename*0*=UTF-8''%C3%BCbersicht%20;\n"
         " filename*1=eicar.com"], b64_lines(EICAR))]))
    word = "=?UTF-8?B?%s?=" % base64.b64encode("Rechnung-für-Sie.com".encode()).decode()
    fx.infected("eicar-rfc2047-name.eml", message("eicar rfc2047", [greeting(), part(
        ['Content-Type: application/octet-stream; name="%s"' % word,
         "Content-Transfer-Encoding: base64",
         'Content-Disposition: attachment; filename="%s"' % word], b64_lines(EICAR))]))
    # Of two Content-Transfer-Encoding fields Thunderbird reads the first and
    # GMime (and the clients built on it) the last: a base64 body after a
    # quoted-printable field is the file to one of them.
    fx.infected("eicar-two-transfer-encodings.eml", message("eicar two encodings", [
        greeting(), part(['Content-Type: application/octet-stream; name="eicar.com"',
                          "Content-Transfer-Encoding: quoted-printable",
                          "Content-Transfer-Encoding: base64",
                          'Content-Disposition: attachment; filename="eicar.com"'],
                         b64_lines(EICAR))]))
    # Thunderbird decodes a part sent "x-yencode"; GMime knows no such encoding.
    fx.infected("eicar-yenc-transfer-encoding.eml", message("eicar x-yencode", [greeting(), part(
        ['Content-Type: application/octet-stream; name="eicar.com"',
         "Content-Transfer-Encoding: x-yencode",
         'Content-Disposition: attachment; filename="eicar.com"'],
        yenc_block(EICAR, "eicar.com"))]), encoding="latin-1")
    text = base64.b64encode(EICAR).decode()
    fx.infected("eicar-base64-short-lines.eml", message("eicar base64 short lines", [
        greeting(), b64_attachment(EICAR, "eicar.com",
                                   lines=[text[i:i + 4] for i in range(0, len(text), 4)])]))
    chunks = [base64.b64encode(EICAR[i:i + 10]).decode() for i in range(0, len(EICAR), 10)]
    # Decoders differ on padding inside the data (GMime stops at the first
    # one): whatever ours does, the result must never be clean.
    fx.add("eicar-base64-inner-padding.eml", message("eicar base64 inner padding", [
        greeting(), b64_attachment(EICAR, "eicar.com", lines=chunks)]),
        ["detected", "unscannable"])
    fx.infected("eicar-base64-whitespace.eml", message("eicar base64 whitespace", [
        greeting(), b64_attachment(EICAR, "eicar.com",
                                   lines=[" " + l + " \t" for l in b64_lines(EICAR, 20)])]),
                crlf=True)
    # Mail clients skip characters outside the base64 alphabet: a '!' and a
    # line of dashes must not hide the file.
    stray = "%s!%s" % (text[:16], text[16:])
    fx.infected("eicar-base64-stray-characters.eml", message("eicar base64 stray characters", [
        greeting(), b64_attachment(EICAR, "eicar.com",
                                   lines=[stray[:50], "-----", stray[50:]])]))
    # A '=' is not skipped by clients: Thunderbird reads "QU=D" as a quantum
    # and saves the file after it whole. Skipping the '=' would shift the
    # file; it must come out detected or unscannable, never clean.
    fx.add("eicar-base64-stray-equals.eml", message("eicar base64 stray equals", [
        greeting(), b64_attachment(EICAR, "eicar.com", lines=[
            "QU=D" + text[:60], text[60:]])]), ["detected", "unscannable"])
    # Text after the padding is a footer to GMime, which stops there, but
    # Thunderbird decodes on to the end of the body: a file in short lines
    # (or lines with blanks) after "QUI=" and before a "-- " line is what it
    # saves, and must be found.
    fx.infected("eicar-base64-after-padding.eml", message("eicar base64 after padding", [
        greeting(), b64_attachment(EICAR, "eicar.com", lines=[
            "QUI="] + [text[i:i + 36] for i in range(0, len(text), 36)] + ["-- "])]))
    fx.infected("eicar-base64-after-padding-blanks.eml", message("eicar after padding blanks", [
        greeting(), b64_attachment(EICAR, "eicar.com", lines=[
            "QUI="] + [" ".join(text[i:i + 60][j:j + 4] for j in range(0, 60, 4))
                       for i in range(0, len(text), 60)] + ["-- ", "sent from a phone"])]))


def eicar_signed(fx):
    """S/MIME signed in the opaque form: the signed MIME entity is inside the
    DER, where no scanner looks, and clients that read S/MIME show it."""
    inner = to_bytes(["Content-Type: multipart/mixed; boundary=\"=_smf_signed\"", ""] +
                     multipart([greeting(), b64_attachment(EICAR, "eicar.com")],
                               "=_smf_signed", preamble=None), crlf=True)
    smime = ['Content-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"',
             "Content-Transfer-Encoding: base64",
             'Content-Disposition: attachment; filename="smime.p7m"', ""]
    fx.infected("eicar-smime-opaque-signed.eml", message("eicar smime signed", single=[
        smime[0].replace("application/", "application/x-")] + smime[1:] +
        b64_lines(signed_data(inner))))
    fx.infected("eicar-smime-opaque-signed-streamed.eml", message(
        "eicar smime signed streamed", single=smime + b64_lines(signed_data(inner, True))))
    # A signed file (report.pdf.p7m, as Italian certified mail sends them): the
    # signer's tool saves the file inside; here it comes in pieces.
    fx.infected("eicar-p7m-signed-file.eml", message("eicar p7m file", [
        greeting(), b64_attachment(signed_data(EICAR, True), "eicar.com.p7m")]))
    notes = to_bytes(["Content-Type: text/plain; charset=utf-8", "", "Lunch at noon?"],
                     crlf=True)
    fx.clean("clean-smime-opaque-signed.eml", message("clean smime signed", single=smime +
                                                      b64_lines(signed_data(notes, True))))


def eicar_outside_parts(fx):
    """Content in a multipart's preamble or epilogue, which no part holds and mail clients do
    not show: the antivirus stage scans the raw message only when the parts do not cover it,
    so the parser makes each non-blank one a part of its own."""
    eicar_text = EICAR.decode()
    boundary = "=_smf_out"
    ctype = 'multipart/mixed; boundary="%s"' % boundary
    fx.infected("eicar-in-epilogue.eml", top_headers("eicar epilogue", ctype) + [""] +
                multipart([greeting()], boundary) + [eicar_text])
    fx.infected("eicar-in-preamble.eml", top_headers("eicar preamble", ctype) + [""] +
                multipart([greeting()], boundary, preamble=eicar_text))
    # A whole attachment after the closing boundary: a part to a reader that reads on, so
    # the message is flagged and libclamav's mail parser reads it whole.
    fx.infected("eicar-part-after-close.eml", top_headers("eicar after close", ctype) + [""] +
                multipart([greeting()], boundary) +
                ["--" + boundary] + b64_attachment(EICAR, "eicar.com") + ["--%s--" % boundary])
    fx.clean("clean-preamble-epilogue.eml", top_headers("lunch notes", ctype) + [""] +
             multipart([greeting()], boundary,
                       preamble="This is a multi-part message in MIME format.") +
             ["-- ", "The lunch list: https://lists.example/lunch"])


def eicar_in_headers(fx):
    """The test string in a header field, which no part holds: whole-message scanners find it
    there, so the header block is scanned too, raw and with encoded words decoded."""
    eicar_text = EICAR.decode()
    body = ["Content-Type: text/plain; charset=utf-8", "", "Lunch at noon?"]

    def headers(subject, extra=()):
        return top_headers(subject, extra=extra, msgid="header-%d" % len(fx.expected))

    fx.infected("eicar-header-subject.eml", headers(eicar_text) + body, where="header Subject")
    word_b = "=?us-ascii?B?%s?=" % base64.b64encode(EICAR).decode()
    fx.infected("eicar-header-subject-b-word.eml", headers(word_b) + body,
                where="header Subject")
    word_q = "=?us-ascii?Q?%s?=" % "".join(
        chr(c) if chr(c).isalnum() else "=%02X" % c for c in EICAR)
    fx.infected("eicar-header-subject-q-word.eml", headers(word_q) + body,
                where="header Subject")
    fx.infected("eicar-header-x-field.eml",
                headers("tracking", ["X-Tracking-Note: " + eicar_text]) + body,
                where="header X-Tracking-Note")
    # A forwarded message's own header fields are neither the top-level block nor a part.
    forwarded = top_headers(eicar_text, msgid="header-inner") + body
    fx.infected("eicar-header-of-forwarded-message.eml", message("Fwd: lunch", [
        text_part("Forwarding this."),
        part(["Content-Type: message/rfc822", "Content-Disposition: inline"], forwarded)]),
        where="raw message")
    fx.clean("clean-header-eicar-word.eml",
             headers("EICAR test results", ["X-Note: EICAR-STANDARD-ANTIVIRUS-TEST-FILE"]) + body)


def clamav_testfiles(fx, testfiles):
    for name in sorted(os.listdir(testfiles)):
        with open(os.path.join(testfiles, name), "rb") as f:
            data = f.read()
        lines = message("sample " + name, [greeting(), b64_attachment(data, name)])
        if name == "clam_cache_emax.tgz":
            # clam.exe sits 17 archive levels deep: one more than the default
            # max_recursion, so it must come out unscannable, never clean...
            fx.add("testfile-%s.eml" % name, lines, "unscannable", symbol="AV_UNSCANNABLE",
                   reason="MaxRecursion")
            # ...and detected once max_recursion follows ClamAV's default of 17.
            fx.add("recursion17-%s.eml" % name, lines, "detected", virus=CLAM_NAME,
                   symbol="AV_INFECTED", group="recursion17")
            continue
        fx.infected("testfile-%s.eml" % name, lines, prefix=CLAM_NAME)


def clean_mail(fx):
    fx.clean("clean-plain.eml", message("lunch", single=[
        "Content-Type: text/plain; charset=utf-8", "", "Lunch at noon?"]))
    # A stray character in a base64 text part is noise, not an unscannable part.
    hello = base64.b64encode(b"Lunch at noon? The usual place.\n").decode()
    fx.clean("clean-base64-text-stray.eml", message("lunch stray", single=[
        "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64", "",
        hello[:12] + "!" + hello[12:]]))
    fx.clean("clean-html.eml", message("newsletter", [
        text_part("Our news."), text_part("<html><body><p>Our <b>news</b>.</p></body></html>",
                                          "html")]))
    png = base64.b64encode(small_png()).decode()
    fx.clean("clean-html-inline-images.eml", message("newsletter images", [
        text_part("Our news."), text_part(
            '<html><body><img src="data:image/png;base64,%s" alt="logo">'
            '<p>Our <b>news</b>.</p><img src="data:image/png;base64,%s"></body></html>'
            % (png, png), "html")]))
    fx.clean("clean-pdf.eml", message("report pdf", [
        greeting(), b64_attachment(small_pdf("Quarterly report"), "report.pdf",
                                   "application/pdf")]))
    fx.clean("clean-png.eml", message("picture", [
        greeting(), b64_attachment(small_png(), "chart.png", "image/png")]))
    fx.clean("clean-docx.eml", message("minutes docx", [greeting(), b64_attachment(
        docx(), "minutes.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document")]))
    fx.clean("clean-xlsx.eml", message("figures xlsx", [greeting(), b64_attachment(
        xlsx(), "figures.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")]))
    csv = "id,name,amount\n1,Alice,10.50\n2,Bob,7.25\n".encode()
    fx.clean("clean-csv.eml", message("figures csv", [
        greeting(), b64_attachment(csv, "figures.csv", "text/csv")]))
    pdfs = zip_bytes([("report-%d.pdf" % i, small_pdf("Report %d" % i)) for i in range(3)])
    fx.clean("clean-zip-of-pdfs.eml", message("reports zip", [
        greeting(), b64_attachment(pdfs, "reports.zip", "application/zip")]))


def unscannable_mail(fx, workdir):
    for name, data in (("encrypted-zip-benign.eml", b"just a shopping list\n"),
                       ("encrypted-zip-eicar.eml", EICAR)):
        fx.add(name, message(name[:-4], [greeting(), b64_attachment(
            encrypted_zip(workdir, "inside.txt", data), "secret.zip", "application/zip")]),
            "unscannable", symbol="AV_ENCRYPTED", reason="encrypted archive")
    bomb = zip_bytes([("zeros.bin", bytes(5 * 1024 * 1024))])
    hiding = zip_bytes([("zeros.bin", bytes(5 * 1024 * 1024)), ("eicar.com", EICAR)])
    big = random.Random(20250602).randbytes(3 * 1024 * 1024 // 2)
    bomb_lines = message("zip bomb", [greeting(), b64_attachment(bomb, "bomb.zip",
                                                                 "application/zip")])
    hiding_lines = message("zip bomb hiding eicar", [greeting(), b64_attachment(
        hiding, "bomb.zip", "application/zip")])
    big_lines = message("big part", [greeting(), b64_attachment(big, "big.bin")])
    # Under max_scan_size=1 and max_file_size=1 (megabytes) none may pass as clean...
    fx.add("limits-zip-bomb.eml", bomb_lines, "unscannable", symbol="AV_UNSCANNABLE",
           reason="limit", group="limits")
    fx.add("limits-zip-bomb-hiding-eicar.eml", hiding_lines, ["unscannable", "detected"],
           group="limits")
    fx.add("limits-big-part.eml", big_lines, "unscannable", symbol="AV_UNSCANNABLE",
           group="limits")
    # ...while under the default limits the same messages are clean or infected.
    fx.clean("control-zip-bomb.eml", bomb_lines)
    fx.infected("control-zip-bomb-hiding-eicar.eml", hiding_lines)
    fx.clean("control-big-part.eml", big_lines)
    # libclamav cuts a zip member short at max_file_size without an alert. Under
    # max_file_size=1 (megabyte) alone, a member larger than that with EICAR at
    # its end must not pass as clean, nor when the same archive comes again
    # (libclamav's clean-file cache).
    tail = zip_bytes([("padded.com", bytes(3 * 1024 * 1024) + EICAR)])
    for name in ("limits-zip-member-cut-short.eml", "limits-zip-member-cut-short-again.eml"):
        fx.add(name, message(name[:-4], [greeting(), b64_attachment(tail, "padded.zip",
                                                                     "application/zip")]),
               "unscannable", symbol="AV_UNSCANNABLE", reason="MaxFileSize", group="filesize")
    # The same under the default max_file_size: 51 MB of zeros make a small mail.
    tail = zip_bytes([("padded.com", bytes(51 * 1024 * 1024) + EICAR)])
    fx.add("zip-member-over-max-file-size.eml", message("zip member over max_file_size", [
        greeting(), b64_attachment(tail, "padded.zip", "application/zip")]),
        "unscannable", symbol="AV_UNSCANNABLE", reason="MaxFileSize")


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: make_fixtures.py OUTDIR [TESTFILES_DIR]")
    outdir = sys.argv[1]
    testfiles = sys.argv[2] if len(sys.argv) == 3 else TESTFILES
    os.makedirs(outdir, exist_ok=True)
    fx = Fixtures(outdir)
    eicar_encodings(fx)
    eicar_containers(fx, outdir)
    html_smuggling(fx)
    eicar_odd_parts(fx)
    eicar_outside_parts(fx)
    eicar_signed(fx)
    eicar_in_headers(fx)
    if os.path.isdir(testfiles):
        clamav_testfiles(fx, testfiles)
    clean_mail(fx)
    unscannable_mail(fx, outdir)
    fx.save()
    print("%d fixtures in %s" % (len(fx.expected), outdir))


if __name__ == "__main__":
    main()
