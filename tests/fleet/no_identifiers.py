#!/usr/bin/python3
"""Whether anything a fleet's etcd holds carries an identifier of a capture.

    no_identifiers.py CAPTURE ETCD_DUMP_JSON

CAPTURE: a pcap whose payloads carry PRC resident ID numbers; they are
found here independently of ftzgate's scanner: 18 characters (17 digits and
a digit or X) between non-alphanumerics, whose GB 11643-1999 check digit
holds. ETCD_DUMP_JSON: `etcdctl get --prefix "" -w json`. Every key and
value is decoded, and every string inside a JSON value both as it is and
base64-decoded (configurations are stored base64 inside JSON).

Prints "identifiers N, found in etcd M" and the found ones masked; exit 0
when N > 0 and M == 0, 1 otherwise.
"""
import base64
import binascii
import json
import re
import sys

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"


def valid(candidate):
    total = sum(int(d) * w for d, w in zip(candidate[:17], WEIGHTS))
    return CHECK[total % 11] == candidate[17]


def identifiers(capture):
    data = open(capture, "rb").read()
    found = set()
    for m in re.finditer(rb"(?<![0-9A-Za-z])([0-9]{17}[0-9X])(?![0-9A-Za-z])", data):
        s = m.group(1).decode()
        if valid(s):
            found.add(s)
    return found


def texts(dump):
    out = []

    def walk(x):
        if isinstance(x, str):
            out.append(x.encode())
            try:
                out.append(base64.b64decode(x, validate=True))
            except (binascii.Error, ValueError):
                pass
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(k)
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    for kv in json.load(open(dump)).get("kvs", []):
        key = base64.b64decode(kv["key"])
        value = base64.b64decode(kv.get("value", ""))
        out += [key, value]
        try:
            walk(json.loads(value))
        except (ValueError, UnicodeDecodeError):
            pass
    return b"\n".join(out)


ids = identifiers(sys.argv[1])
blob = texts(sys.argv[2])
hits = sorted(i for i in ids if i.encode() in blob)
print(f"identifiers {len(ids)}, found in etcd {len(hits)}")
for h in hits:
    print(h[:6] + "********" + h[-4:])
sys.exit(0 if ids and not hits else 1)
