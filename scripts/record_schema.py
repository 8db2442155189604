"""Validates records against docs/record.schema.json the way a producer would.

Reads lines `<role> <hex bytes>` (role: prediction or label) on stdin and writes one
line per record: `valid`, or `invalid <why>`. Validity is the schema (JSON Schema
2020-12, jsonschema's Draft202012Validator) plus the rules the schema's description
lists because JSON Schema cannot state them. tests/record_schema.rs compares the
answers with driftd's decoder.
"""

import datetime
import json
import sys
from pathlib import Path

import jsonschema

SCHEMA = json.loads((Path(__file__).parent.parent / "docs" / "record.schema.json").read_text())
VALIDATORS = {
    role: jsonschema.Draft202012Validator({"$ref": f"#/$defs/{role}", "$defs": SCHEMA["$defs"]})
    for role in ("prediction", "label")
}
MAX_DEPTH = 127
MAX_NAME_BYTES = 256
MAX_CATEGORY_BYTES = 1024
MAX_EPOCH_MS = 253_402_300_799_999


class Refused(Exception):
    pass


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        # Marked, and refused only where driftd reads keys: the top level, `features`.
        return DuplicateKeys(pairs)
    return dict(pairs)


class DuplicateKeys(dict):
    def __init__(self, pairs):
        super().__init__(pairs)


def finite_float(text):
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise Refused(f"{text} is not finite as a 64-bit float")
    return value


def finite_int(text):
    value = int(text)
    if abs(value) >= 2**1024:
        raise Refused(f"{text[:20]}… is not finite as a 64-bit float")
    return value


def not_json(token):
    raise Refused(f"{token} is not JSON")


def depth(value):
    """Levels of arrays and objects in `value` (0 for a scalar)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, level = stack.pop()
        if isinstance(v, (dict, list)):
            level += 1
            deepest = max(deepest, level)
            stack.extend((c, level) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def byte_limits(record, role):
    """Rule 4: names ≤ 256 bytes, categories ≤ 1024 bytes of UTF-8."""
    def name(v, what):
        if isinstance(v, str) and len(v.encode()) > MAX_NAME_BYTES:
            raise Refused(f"{what} is longer than {MAX_NAME_BYTES} bytes")

    def category(v, what):
        if isinstance(v, str) and len(v.encode()) > MAX_CATEGORY_BYTES:
            raise Refused(f"{what} is longer than {MAX_CATEGORY_BYTES} bytes")

    for field in ("model", "model_version", "id"):
        name(record.get(field), field)
    for key, v in (record.get("features") or {}).items():
        name(key, "a feature name")
        category(v, key)
    for key, v in (record.get("segment") or {}).items():
        name(key, "a segment key")
        name(v, key)
    p = record.get("prediction")
    category(p, "prediction")
    if isinstance(p, dict):
        category(p.get("class"), "prediction.class")
    if role == "label":
        category(record.get("label"), "label")


def in_range(ts):
    """Rule 5 for a text timestamp that the schema's pattern accepted."""
    if not isinstance(ts, str):
        return
    text = ts.upper().replace(" ", "T")
    # Python reads at most 6 fraction digits and no leap second; neither moves the
    # instant across the range's ends.
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + "." + rest[:digits][:6].ljust(6, "0") + rest[digits:]
    text = text.replace(":60", ":59")
    instant = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    # In microseconds since 1970, without datetime arithmetic past year 9999.
    local = instant.replace(tzinfo=None) - datetime.datetime(1970, 1, 1)
    micros = (local - instant.utcoffset()) // datetime.timedelta(microseconds=1)
    if not 0 <= micros < (MAX_EPOCH_MS + 1) * 1000:
        raise Refused("ts is outside 1970..9999")


def check(role, raw):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Refused(f"not UTF-8: {e}")
    try:
        record = json.loads(
            text,
            object_pairs_hook=no_duplicates,
            parse_float=finite_float,
            parse_int=finite_int,
            parse_constant=not_json,
        )
    except (ValueError, RecursionError) as e:
        raise Refused(f"not JSON: {e}")
    if isinstance(record, DuplicateKeys):
        raise Refused("a key repeats at the top level")
    if isinstance(record, dict):
        if isinstance(record.get("features"), DuplicateKeys):
            raise Refused("a key repeats in features")
        for key, v in record.items():
            if key != "features" and depth(v) >= MAX_DEPTH:
                raise Refused(f"{key} nests deeper than {MAX_DEPTH} levels")
    error = jsonschema.exceptions.best_match(VALIDATORS[role].iter_errors(record))
    if error is not None:
        raise Refused(f"schema: {error.message[:200]}")
    byte_limits(record, role)
    in_range(record.get("ts"))


def main():
    out = sys.stdout
    for line in sys.stdin:
        role, _, hexed = line.rstrip("\n").partition(" ")
        try:
            check(role, bytes.fromhex(hexed))
            out.write("valid\n")
        except Refused as e:
            out.write(f"invalid {str(e).splitlines()[0] if str(e) else ''}\n")
    out.flush()


if __name__ == "__main__":
    sys.setrecursionlimit(10_000)
    main()
