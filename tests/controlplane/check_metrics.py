#!/usr/bin/python3
"""Checks a Prometheus text exposition read from stdin, with the Prometheus
project's own parser (python3-prometheus-client) and the format's rules the
parser lets pass: every family has HELP and TYPE before its samples, names
and label names follow the conventions, counters end in _total, no series
twice. Prints the samples as JSON lines [name, labels, value]; exits 1 with
the problems otherwise."""
import json
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

text = sys.stdin.read()
problems = []
helps, types = {}, {}
for n, line in enumerate(text.splitlines(), 1):
    if line.startswith("# HELP "):
        name, _, doc = line[7:].partition(" ")
        if name in helps:
            problems.append(f"line {n}: HELP of {name} twice")
        if not doc.strip():
            problems.append(f"line {n}: {name} has an empty HELP")
        helps[name] = doc
    elif line.startswith("# TYPE "):
        name, _, kind = line[7:].partition(" ")
        if name not in helps:
            problems.append(f"line {n}: TYPE of {name} before its HELP")
        if kind not in ("counter", "gauge"):
            problems.append(f"line {n}: {name} is a {kind}")
        if kind == "counter" and not name.endswith("_total"):
            problems.append(f"line {n}: counter {name} does not end in _total")
        types[name] = kind
    elif line.startswith("#") or not line.strip():
        problems.append(f"line {n}: unexpected line {line!r}")
    else:
        name = re.split(r"[{ ]", line, 1)[0]
        if name not in types:
            problems.append(f"line {n}: sample of {name} without HELP and TYPE before it")

seen = set()
samples = []
try:
    for family in text_string_to_metric_families(text):
        if family.type not in ("counter", "gauge"):
            problems.append(f"{family.name}: parsed as {family.type}")
        for s in family.samples:
            if not NAME.match(s.name):
                problems.append(f"{s.name}: not a metric name")
            for label in s.labels:
                if not LABEL.match(label) or label.startswith("__"):
                    problems.append(f"{s.name}: label {label!r}")
            key = (s.name, tuple(sorted(s.labels.items())))
            if key in seen:
                problems.append(f"{s.name}{s.labels}: twice")
            seen.add(key)
            samples.append([s.name, s.labels, s.value])
except ValueError as e:
    problems.append(f"the parser refuses it: {e}")

if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
for s in samples:
    print(json.dumps(s))
