#!/usr/bin/env python3
"""Produces hand-made messages for trailhound's Kafka fault tests (Python confluent-kafka, an
independent client).

    send.py --brokers B --topic T --spec FILE
    send.py --brokers B --topic T --read MIN

--read prints every message of the topic (once MIN arrived and none came for 3 s) as JSON lines
like kafka_tool.py's consume; a value that starts like gzip and does not decompress (a corrupt
gzip that was dead-lettered as it came) has "unzipped_size": null instead of stopping the read.

FILE holds one JSON object per line, one message each, produced in order:
  partition    the partition (required)
  key          the key (default none)
  and one value:
  text         the value, UTF-8
  event        a JSON object, serialised; with "event_time" ("2024-01-01T00:00:00Z"), or
               "after" (an eventTime) and "days_after" / "minutes_after", its eventTime is
               replaced
  pad_event    {"bytes": N}: a CloudTrail-shaped event padded to N bytes
  gzip_zeros   N: N zero bytes gzip-compressed (a decompression bomb)
  corrupt_gzip a text whose gzip stream is corrupted in the middle
Prints {"sent": count}.
"""
import argparse
import base64
import calendar
import gzip
import json
import sys
import time
import uuid
import zlib

from confluent_kafka import Consumer, Producer


def bomb(n):
    c = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    chunk = b"\0" * (1 << 20)
    parts = []
    left = n
    while left > 0:
        parts.append(c.compress(chunk[: min(left, len(chunk))]))
        left -= len(chunk)
    parts.append(c.flush())
    return b"".join(parts)


def value(spec):
    if "text" in spec:
        return spec["text"].encode()
    if "event" in spec:
        ev = dict(spec["event"])
        if "event_time" in spec:
            ev["eventTime"] = spec["event_time"]
        elif "days_after" in spec or "minutes_after" in spec:
            t = calendar.timegm(time.strptime(spec["after"][:19], "%Y-%m-%dT%H:%M:%S"))
            t += 86400 * spec.get("days_after", 0) + 60 * spec.get("minutes_after", 0)
            ev["eventTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
        return json.dumps(ev).encode()
    if "pad_event" in spec:
        ev = {"eventVersion": "1.08", "eventTime": "2024-01-01T00:00:00Z", "eventSource": "s3.amazonaws.com",
              "eventName": "PutObject", "requestParameters": {"pad": ""}}
        base = len(json.dumps(ev))
        ev["requestParameters"]["pad"] = "x" * max(0, spec["pad_event"]["bytes"] - base)
        return json.dumps(ev).encode()
    if "gzip_zeros" in spec:
        return bomb(spec["gzip_zeros"])
    if "corrupt_gzip" in spec:
        z = bytearray(gzip.compress(spec["corrupt_gzip"].encode()))
        mid = len(z) // 2
        for i in range(mid, min(mid + 8, len(z) - 8)):
            z[i] ^= 0xFF
        return bytes(z)
    sys.exit(f"no value in {spec}")


def unzipped_size(v):
    if v[:2] != b"\x1f\x8b":
        return len(v)
    try:
        return len(gzip.decompress(v))
    except (OSError, EOFError, zlib.error):
        return None


def read(a):
    c = Consumer({
        "bootstrap.servers": a.brokers,
        "group.id": "reader-" + uuid.uuid4().hex,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "fetch.max.bytes": 64 * 1024 * 1024,
        "max.partition.fetch.bytes": 64 * 1024 * 1024,
    })
    c.subscribe([a.topic])
    seen, last = 0, time.time()
    deadline = time.time() + 300
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            if seen >= a.read and time.time() - last >= 3:
                break
            continue
        if m.error():
            continue
        last = time.time()
        seen += 1
        v = m.value() or b""
        try:
            value = json.loads(v)
        except ValueError:
            value = {"base64": base64.b64encode(v).decode()}
        headers = {k: (h.decode(errors="replace") if h is not None else None) for k, h in (m.headers() or [])}
        print(json.dumps({"partition": m.partition(), "offset": m.offset(), "unzipped_size": unzipped_size(v),
                          "key": (m.key() or b"").decode(errors="replace"), "headers": headers,
                          "value": value, "size": len(v)}))
    c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--spec")
    ap.add_argument("--read", type=int)
    a = ap.parse_args()
    if a.read is not None:
        read(a)
        return
    if a.spec is None:
        sys.exit("--spec or --read")
    p = Producer({"bootstrap.servers": a.brokers, "acks": "all", "enable.idempotence": True,
                  "message.max.bytes": 16 * 1024 * 1024})
    errors = []

    def cb(err, _msg):
        if err is not None:
            errors.append(str(err))

    n = 0
    with open(a.spec) as f:
        for line in f:
            if not line.strip():
                continue
            spec = json.loads(line)
            key = spec.get("key")
            p.produce(a.topic, value=value(spec), key=key.encode() if key else None,
                      partition=spec["partition"], on_delivery=cb)
            n += 1
            # One at a time: the messages of a partition keep the spec's order.
            p.flush(60)
    left = p.flush(60)
    if left or errors:
        sys.exit(f"send failed: {left} undelivered, errors {errors[:3]}")
    print(json.dumps({"sent": n}))


if __name__ == "__main__":
    main()
