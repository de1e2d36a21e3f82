#!/usr/bin/python3
"""Checks EVE files against eve-format.schema.json with python3-jsonschema.

usage: check_eve.py SCHEMA --require TYPE[,TYPE...] FILE...

Prints one line per event that does not follow the format (FILE:LINE: the
key path: what is wrong), then the count of events by type. Exit status 1
if any event fails, a line is not JSON, or a required event type is absent
(a test that saw no alert cannot say alerts follow the format).
"""
import argparse
import collections
import json
import sys

import jsonschema


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("schema")
    ap.add_argument("--require", default="")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    seen = collections.Counter()
    failed = 0
    for path in args.files:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                try:
                    event = json.loads(line)
                except json.JSONDecodeError as e:
                    print(f"{path}:{n}: not JSON: {e}")
                    failed += 1
                    continue
                seen[event.get("event_type", "?")] += 1
                for err in validator.iter_errors(event):
                    where = "/".join(str(p) for p in err.absolute_path) or "(event)"
                    print(f"{path}:{n}: {where}: {err.message}")
                    failed += 1
    print("events: " + ", ".join(f"{k} {v}" for k, v in sorted(seen.items())))
    missing = [t for t in args.require.split(",") if t and seen[t] == 0]
    if missing:
        print("no event of type: " + ", ".join(missing))
    return 1 if failed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
