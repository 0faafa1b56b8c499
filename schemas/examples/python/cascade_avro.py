#!/usr/bin/env python3
"""Avro single-object encoding for cascade records, from Python (the `avro` package).

Library use (e.g. with any Kafka client):

    history = load_history("schemas/src/main/resources/cascade/schemas/history")
    value = encode(latest(history, "CascadeRequest"), {...})        # produce to 'requests'
    response = decode(history, "CascadeResponse", message.value())  # read from 'responses'

Command line (binary on stdin/stdout):

    cascade_avro.py HISTORY request REQUEST_ID PROMPT > request.bin
    cascade_avro.py HISTORY decode TYPE < record.bin     # prints the record as JSON
    cascade_avro.py HISTORY decode TYPE FILE...          # one JSON line per file

Wire format: C3 01, the 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema's
parsing canonical form, then the Avro binary body. Tested against the Java serde by
schemas/src/test/java/dev/cascade/schemas/serde/PythonClientTest.java.
"""
import io
import json
import os
import struct
import sys
import time

import avro.io
import avro.schema

MAGIC = b"\xc3\x01"
_EMPTY = 0xC15D213AA4D7A795
_TABLE = []
for _i in range(256):
    _fp = _i
    for _ in range(8):
        _fp = (_fp >> 1) ^ (_EMPTY & -(_fp & 1))
    _TABLE.append(_fp)


def fingerprint(schema):
    """CRC-64-AVRO of the schema's parsing canonical form, as an unsigned 64-bit int."""
    fp = _EMPTY
    for byte in schema.canonical_form.encode("utf-8"):
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def load_history(root):
    """{type name: [schema v1, v2, ...]} from HISTORY/<Type>/v<N>.avsc."""
    history = {}
    for name in sorted(os.listdir(root)):
        versions, n = [], 1
        while os.path.exists(os.path.join(root, name, f"v{n}.avsc")):
            with open(os.path.join(root, name, f"v{n}.avsc"), encoding="utf-8") as f:
                versions.append(avro.schema.parse(f.read()))
            n += 1
        history[name] = versions
    return history


def latest(history, type_name):
    return history[type_name][-1]


def encode(schema, datum):
    out = io.BytesIO()
    out.write(MAGIC)
    out.write(struct.pack("<Q", fingerprint(schema)))
    avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(out))
    return out.getvalue()


def decode(history, type_name, data, reader=None):
    """Reads a record written with any known version of type_name, resolved to `reader`."""
    if data[:2] != MAGIC:
        raise ValueError(f"bad magic: {data[:2].hex(' ')}")
    if len(data) < 10:
        raise ValueError(f"truncated: {len(data)} bytes")
    (seen,) = struct.unpack("<Q", data[2:10])
    writers = {fingerprint(s): s for s in history[type_name]}
    if seen not in writers:
        raise ValueError(f"unknown fingerprint 0x{seen:016X} for {type_name}")
    reader = reader or latest(history, type_name)
    datum_reader = avro.io.DatumReader(writers[seen], reader)
    return datum_reader.read(avro.io.BinaryDecoder(io.BytesIO(data[10:])))


def _inputs(paths):
    if not paths:
        yield sys.stdin.buffer.read()
    for path in paths:
        with open(path, "rb") as f:
            yield f.read()


def main(argv):
    history = load_history(argv[1])
    if argv[2] == "request":
        record = {
            "request_id": argv[3],
            "prompt": argv[4],
            "max_new_tokens": 0,
            "reference": None,
            "metadata": {"client": "python"},
            "bypass_cache": False,
            "reply_to": None,
            "created_at_ms": int(time.time() * 1000),
            "messages": [],
        }
        sys.stdout.buffer.write(encode(latest(history, "CascadeRequest"), record))
    elif argv[2] == "decode":
        for data in _inputs(argv[4:]):
            record = decode(history, argv[3], data)
            print(json.dumps(record, default=lambda b: b.hex(), sort_keys=True))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
