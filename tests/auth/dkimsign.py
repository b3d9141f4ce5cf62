"""DKIM signing for the tests (RFC 6376 relaxed and simple canonicalization),
with keys made by the openssl command: rsa-sha256 and ed25519-sha256."""
import base64
import hashlib
import os
import re
import subprocess
import time


def make_key(path, kind="rsa"):
    """Writes a private key to path; returns the p= value of its DNS record."""
    if kind == "rsa":
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", path], check=True, capture_output=True)
    else:
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", path],
                       check=True, capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    # An Ed25519 record holds the raw 32-byte key, an RSA one the whole SubjectPublicKeyInfo.
    return base64.b64encode(der[-32:] if kind == "ed25519" else der).decode()


def split_message(raw):
    m = re.search(rb"\r?\n\r?\n", raw)
    return raw[:m.start()], raw[m.end():]


def header_fields(head):
    """[(name, text with its inner line ends)], in message order."""
    fields = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1] += b"\r\n" + line
        else:
            fields.append([line.split(b":", 1)[0].strip(), line])
    return fields


def canon_header(text, relaxed):
    if not relaxed:
        return text
    name, value = text.split(b":", 1)
    value = re.sub(rb"\r\n", b"", value)
    value = re.sub(rb"[ \t]+", b" ", value).strip(b" ")
    return name.strip().lower() + b":" + value


def canon_body(body, relaxed):
    lines = re.split(rb"\r?\n", body)
    if lines and lines[-1] == b"":
        lines.pop()  # The text after the last line end is not a line.
    if relaxed:
        lines = [re.sub(rb"[ \t]+", b" ", l).rstrip(b" ") for l in lines]
    while lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        return b"" if relaxed else b"\r\n"
    return b"".join(l + b"\r\n" for l in lines)


def sign(raw, domain, selector, keyfile, kind="rsa", canon="relaxed/relaxed",
         signed=("from", "to", "subject", "date", "message-id"), extra="", length=None,
         digest="sha256", timestamp=None):
    """Returns raw with a DKIM-Signature field in front; length signs only that many bytes
    of the canonical body, with l=. digest="sha1" makes an rsa-sha1 signature; timestamp is
    the t= value (now by default)."""
    hc, bc = canon.split("/")
    head, body = split_message(raw)
    cbody = canon_body(body, bc == "relaxed")
    if length is not None:
        cbody = cbody[:length]
        extra += " l=%d;" % length
    bh = base64.b64encode(hashlib.new(digest, cbody).digest()).decode()
    sig = ("DKIM-Signature: v=1; a=%s-%s; c=%s; d=%s; s=%s;\r\n\tt=%d; h=%s;%s\r\n\tbh=%s; b="
           % (kind, digest, canon, domain, selector, int(time.time()) if timestamp is None else timestamp, ":".join(signed), extra,
              bh))
    fields = header_fields(head)
    used = set()
    data = b""
    for name in signed:
        # The last field of a name not yet used, as a verifier picks them.
        for i in range(len(fields) - 1, -1, -1):
            if i not in used and fields[i][0].lower() == name.encode():
                used.add(i)
                data += canon_header(fields[i][1], hc == "relaxed") + b"\r\n"
                break
    data += canon_header(sig.encode(), hc == "relaxed")
    b = base64.b64encode(openssl_sign(data, keyfile, kind, digest)).decode()
    folded = "\r\n\t".join(b[i:i + 64] for i in range(0, len(b), 64))
    nl = b"\r\n" if b"\r\n" in head else b"\n"
    return (sig + folded).replace("\r\n", nl.decode()).encode() + nl + raw


def openssl_sign(data, keyfile, kind, digest="sha256"):
    if kind == "rsa":
        return subprocess.run(["openssl", "dgst", "-" + digest, "-sign", keyfile], input=data,
                              check=True, capture_output=True).stdout
    # ed25519-sha256 signs the SHA-256 of the data (RFC 8463).
    tmp = keyfile + ".in"
    with open(tmp, "wb") as f:
        f.write(hashlib.sha256(data).digest())
    try:
        return subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", keyfile,
                               "-in", tmp], check=True, capture_output=True).stdout
    finally:
        os.unlink(tmp)
