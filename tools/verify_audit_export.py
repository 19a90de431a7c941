#!/usr/bin/env python3
"""Check an audit export of the Venice account portal without the portal.

    python3 verify_audit_export.py audit.jsonl --head HASH [--previous HASH]

Standard library only: copy this file next to the export and run it with any Python 3.8+.
It re-computes the hash chain of a JSON Lines export (`manage.py export_audit`, or
`/audit.jsonl`) as docs/audit-format.md specifies and checks that:

- every line is one record in its canonical form, byte for byte (ASCII JSON, keys sorted, no
  spaces, one "\\n" after it), so no byte of the file can change without this noticing;
- each record's hash is the SHA-256 of {"previous_hash": ..., "record": ...} in that form;
- each record links to the one before (the first to --previous: the last hash of the
  previous file of an incremental export, or the genesis hash, 64 zeros, for a file that
  starts at the first record), and the sequences follow on without a gap;
- the last record's hash is --head, the head hash taken from the portal (verify_audit prints
  it; /audit.jsonl sends it as X-Audit-Head-Hash) and kept apart from the file: without it a
  file cut short, or rewritten as a whole, would still chain.

Exit status 0 and one line "intact" when all hold; 1 and the first problem otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys

GENESIS_HASH = "0" * 64
FORMAT_VERSION = 1


class ExportBroken(Exception):
    pass


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _no_constants(text: str):
    raise ValueError(f"{text} is not JSON")


def verify(data: bytes, *, head: str, previous: str = GENESIS_HASH) -> tuple[int, int, str]:
    """(records, last sequence, last hash) of an intact export; raises ExportBroken."""
    if data and not data.endswith(b"\n"):
        raise ExportBroken("the file does not end with a newline: it was cut or changed")
    expected_previous = previous
    expected_sequence = None
    count = 0
    for number, raw in enumerate(data.split(b"\n")[:-1] if data else [], start=1):
        where = f"line {number}"
        try:
            text = raw.decode("ascii")
            line = json.loads(text, parse_constant=_no_constants)
        except ValueError as error:
            raise ExportBroken(f"{where}: not a JSON line in the export's form ({error})") from None
        if not isinstance(line, dict) or set(line) != {"hash", "previous_hash", "record"}:
            raise ExportBroken(f"{where}: not an export line (hash, previous_hash, record)")
        if _canonical(line) != text:
            raise ExportBroken(f"{where}: not in canonical form (a byte was changed or added)")
        record = line["record"]
        if not isinstance(record, dict) or record.get("v") != FORMAT_VERSION:
            raise ExportBroken(f"{where}: a record of an unknown version")
        sequence = record.get("sequence")
        if not isinstance(sequence, int):
            raise ExportBroken(f"{where}: the record has no sequence number")
        if expected_sequence is None and previous == GENESIS_HASH and sequence != 1:
            raise ExportBroken(
                f"{where}: the file starts at sequence {sequence}; give the previous file's "
                "last hash with --previous"
            )
        if expected_sequence is not None and sequence != expected_sequence:
            raise ExportBroken(
                f"{where}: sequence {sequence} follows {expected_sequence - 1}: "
                "records are missing or out of order"
            )
        if line["previous_hash"] != expected_previous:
            raise ExportBroken(f"{where} (sequence {sequence}): its link to the one before fails")
        payload = _canonical({"previous_hash": line["previous_hash"], "record": record})
        if hashlib.sha256(payload.encode("ascii")).hexdigest() != line["hash"]:
            raise ExportBroken(f"{where} (sequence {sequence}): its content does not fit its hash")
        expected_previous = line["hash"]
        expected_sequence = sequence + 1
        count += 1
    if expected_previous != head:
        raise ExportBroken(
            f"the file ends at hash {expected_previous}, not at the head {head}: "
            "records are missing at the end, or the file is not the chain the head belongs to"
        )
    return count, (expected_sequence or 1) - 1, expected_previous


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="the export (JSON Lines); - for standard input")
    parser.add_argument("--head", required=True, help="the hash the file must end at")
    parser.add_argument(
        "--previous",
        default=GENESIS_HASH,
        help="the hash the first record links to (the previous export's last hash)",
    )
    options = parser.parse_args(argv)
    if options.file == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(options.file, "rb") as handle:
            data = handle.read()
    try:
        count, last, digest = verify(data, head=options.head, previous=options.previous)
    except ExportBroken as broken:
        print(f"BROKEN: {broken}", file=sys.stderr)
        return 1
    print(f"intact: {count} records, up to sequence {last}, head {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
