#!/usr/bin/env python3
"""Writes the seed corpora in corpus/ (run once; the output is committed).

Seeds are hand-built DNS messages covering what the targets must handle:
plain and EDNS queries, cookies, compression, every rejection path, and
responses with DNSSEC records, referrals and negative answers.
"""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def header(id_, flags, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", id_, flags, qd, an, ns, ar)


def question(qname, qtype, qclass=1):
    return name(qname) + struct.pack("!HH", qtype, qclass)


def opt(payload=1232, do=False, version=0, options=b""):
    return b"\x00" + struct.pack("!HHBBHH", 41, payload, 0, version, 0x8000 if do else 0, len(options)) + options


def rr(owner, rtype, rdata, ttl=3600, rclass=1):
    o = owner if isinstance(owner, bytes) else name(owner)
    return o + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def write(target, label, data):
    path = os.path.join(HERE, "corpus", target, label + "-" + hashlib.sha1(data).hexdigest()[:12])
    with open(path, "wb") as f:
        f.write(data)


cookie = struct.pack("!HH", 10, 8) + b"\x01" * 8
full_cookie = struct.pack("!HH", 10, 24) + b"\x01" * 8 + b"\x02" * 16
queries = {
    "plain": header(0x1234, 0x0100) + question("www.example.com", 1),
    "mixed-case": header(7, 0x0100) + question("WwW.ExAmPlE.CoM", 28),
    "root-dnskey-do": header(8, 0x0100, ar=1) + question(".", 48) + opt(do=True),
    "edns-cookie": header(9, 0x0120, ar=1) + question("mail.example.org", 15) + opt(options=cookie),
    "edns-full-cookie": header(10, 0x0110, ar=1) + question("a.b.c.d.e", 16) + opt(4096, True, 0, full_cookie),
    "edns-v1": header(11, 0x0100, ar=1) + question("x.test", 1) + opt(version=1),
    "two-opt": header(12, 0x0100, ar=2) + question("x.test", 1) + opt() + opt(),
    "notify": header(13, 0x2000) + question("example.com", 6),
    "response": header(14, 0x8180) + question("example.com", 1),
    "qdcount-0": header(15, 0x0100, qd=0),
    "qdcount-2": header(16, 0x0100, qd=2) + question("a", 1) + question("b", 1),
    "axfr": header(17, 0x0000) + question("example.com", 252),
    "compressed-question": header(18, 0x0100) + b"\xc0\x02" + struct.pack("!HH", 1, 1),
    "pointer-loop": header(19, 0x0100) + b"\xc0\x0c" + struct.pack("!HH", 1, 1),
    "trailing": header(20, 0x0100) + question("t.test", 1) + b"\x00\x00",
    "truncated": (header(21, 0x0100) + question("cut.test", 1))[:-2],
    "short": b"\x12\x34\x01",
    "bad-option": header(22, 0x0100, ar=1) + question("o.test", 1) + opt(options=b"\x00\x0a\x00\x10\x01"),
    "long-name": header(23, 0x0100) + question(".".join(["a" * 63] * 3 + ["b" * 61]), 1),
    "answer-section-in-query": header(24, 0x0100, an=1) + question("q.test", 1) + rr("q.test", 1, b"\x7f\x00\x00\x01"),
}
for label, data in queries.items():
    write("query_view", label, data)

# Responses for the round-trip target.
q = question("www.example.com", 1)
ptr = b"\xc0\x0c"
rrsig = struct.pack("!HBBIIIH", 1, 13, 3, 3600, 1700000000, 1690000000, 12345) + name("example.com") + b"\xaa" * 64
dnskey = struct.pack("!HBB", 257, 3, 13) + b"\x55" * 64
ds = struct.pack("!HBB", 12345, 13, 2) + b"\x66" * 32
soa = name("ns1.example.com") + name("hostmaster.example.com") + struct.pack("!IIIII", 1, 7200, 3600, 1209600, 300)
nsec = name("zzz.example.com") + b"\x00\x06\x40\x01\x00\x00\x00\x03"
nsec3 = struct.pack("!BBHB", 1, 0, 10, 4) + b"\xab\xcd\xef\x01" + b"\x14" + b"\x11" * 20 + b"\x00\x01\x40"
responses = {
    "answer-a": header(1, 0x8180, an=1) + q + rr(ptr, 1, b"\xc0\x00\x02\x01"),
    "answer-a-rrsig": header(2, 0x81a0, an=2, ar=1) + q + rr(ptr, 1, b"\xc0\x00\x02\x01") + rr(ptr, 46, rrsig) + opt(do=True),
    "cname-chain": header(3, 0x8180, an=2) + q + rr(ptr, 5, name("alias.example.net")) + rr("alias.example.net", 1, b"\x0a\x00\x00\x01"),
    "referral-glue-ds": header(4, 0x8000, ns=3, ar=2) + question("www.example.com", 1)
        + rr("example.com", 2, name("ns1.example.com")) + rr("example.com", 43, ds) + rr("example.com", 46, rrsig)
        + rr("ns1.example.com", 1, b"\xc0\x00\x02\x35") + opt(),
    "nxdomain-nsec": header(5, 0x8183, ns=3) + question("nope.example.com", 1)
        + rr("example.com", 6, soa) + rr("example.com", 47, nsec) + rr("example.com", 46, rrsig),
    "nodata-nsec3": header(6, 0x8180, ns=2) + question("example.com", 28)
        + rr("example.com", 6, soa) + rr("2vptu5timamqttgl4luu9kg21e0aor3s.example.com", 50, nsec3),
    "dnskey-set": header(7, 0x8580, an=2, ar=1) + question("example.com", 48)
        + rr(ptr, 48, dnskey) + rr(ptr, 46, rrsig) + opt(4096, True),
    "mx-txt": header(8, 0x8180, an=2) + question("example.com", 15)
        + rr(ptr, 15, b"\x00\x0a" + name("Mail.Example.COM")) + rr(ptr, 16, b"\x05hello\x05world"),
    "dname-unknown": header(9, 0x8180, an=2) + question("x.example.com", 1)
        + rr("example.com", 39, name("Example.NET")) + rr("example.com", 65280, b"\x01\x02\x03"),
    "large-txt": header(10, 0x8180, an=10) + question("big.example", 16)
        + b"".join(rr(b"\xc0\x0c", 16, bytes([200]) + bytes([65 + i]) * 200) for i in range(10)),
    "srv-naptr": header(11, 0x8180, an=2) + question("_sip._udp.example.com", 33)
        + rr(ptr, 33, struct.pack("!HHH", 1, 2, 5060) + name("SIP.example.com"))
        + rr(ptr, 35, struct.pack("!HH", 10, 20) + b"\x01U\x07E2U+sip\x00" + name("_sip.example.com")),
}
for label, data in responses.items():
    write("message_round_trip", label, data)
# Queries are messages too.
for label, data in queries.items():
    write("message_round_trip", "query-" + label, data)
