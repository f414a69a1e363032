#!/usr/bin/env python3
"""An independent Kafka client for trailhound's tests (Python confluent-kafka, its own
bundled librdkafka): creates topics, produces generated CloudTrail the way an S3-to-Kafka
pipeline would, produces malformed messages, and reads the output topics back.

Subcommands (all take --brokers):
  create  --topic T --partitions N
  produce --topic T --events FILE [--per-message N] [--gzip-every K] [--skip N] [--limit N]
          [--heartbeat-partitions N]
          Packs each account's events (in file order) into {"Records":[...]} messages of up to N
          events keyed by the account (so one account's events share a partition); every K-th
          message is gzip-compressed; N=1 sends bare events. --skip/--limit select messages
          (to produce a stream in two halves). --heartbeat-partitions sends one benign event a
          day after the last one to each partition: a live stream keeps moving event time on.
  raw     --topic T --partition P --kind KIND   (bad_json | binary | empty | huge)
  consume --topic T [--idle S] [--min N]
          Reads the whole topic from the beginning and prints one JSON line per message:
          partition, offset, key, headers, value (parsed JSON when it is, else base64).
  offsets --topic T --group G
          Prints {"committed": {partition: offset}, "end": {partition: offset}}.
"""
import argparse
import base64
import calendar
import gzip
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def create(a):
    admin = AdminClient({"bootstrap.servers": a.brokers})
    fs = admin.create_topics([NewTopic(a.topic, num_partitions=a.partitions, replication_factor=1)])
    for _, f in fs.items():
        try:
            f.result(30)
        except Exception as e:  # an existing topic is fine
            if "TOPIC_ALREADY_EXISTS" not in str(e) and "already exists" not in str(e):
                raise


def producer(a):
    return Producer({
        "bootstrap.servers": a.brokers,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 20,
        "message.max.bytes": 16 * 1024 * 1024,
        "compression.type": "lz4",
    })


def deliver(p, errors):
    def cb(err, _msg):
        if err is not None:
            errors.append(str(err))
    return cb


def messages(path, per_message):
    """Yields (account, [event lines]): each account's events in file order, packed into
    groups of up to per_message (a group goes out when full, the rest at the end)."""
    groups, latest = {}, ""
    with open(path, "rb") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            ev = json.loads(line)
            acct = ev.get("recipientAccountId") or ev.get("userIdentity", {}).get("accountId") or "none"
            latest = max(latest, ev.get("eventTime", ""))
            group = groups.setdefault(acct, [])
            group.append(line)
            if len(group) >= per_message:
                yield acct, group
                groups[acct] = []
    messages.latest = latest
    for acct, group in groups.items():
        if group:
            yield acct, group


def produce(a):
    p = producer(a)
    errors = []
    values = []
    n = 0
    for account, group in messages(a.events, a.per_message):
        n += 1
        if n <= a.skip:
            continue
        if a.limit is not None and len(values) >= a.limit:
            break
        if a.per_message == 1:
            value = group[0]
        else:
            value = b'{"Records":[' + b",".join(group) + b"]}"
        if a.gzip_every and n % a.gzip_every == 0:
            value = gzip.compress(value, 1)
        values.append((account.encode(), value, len(group)))
    # With --rate the messages go out paced at that many events per second (a live stream);
    # without, as fast as the broker takes them (a backlog).
    started = time.monotonic()
    events = 0
    for key, value, count in values:
        if a.rate:
            wait = started + events / a.rate - time.monotonic()
            if wait > 0:
                p.poll(0)
                time.sleep(wait)
        while True:
            try:
                p.produce(a.topic, value=value, key=key, on_delivery=deliver(p, errors))
                break
            except BufferError:
                p.poll(0.05)
        events += count
        p.poll(0)
    sent = len(values)
    elapsed = time.monotonic() - started
    if a.heartbeat_partitions:
        latest = getattr(messages, "latest", "") or "2024-01-01T00:00:00Z"
        t = time.strptime(latest[:19], "%Y-%m-%dT%H:%M:%S")
        later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(calendar.timegm(t) + 86400))
        for part in range(a.heartbeat_partitions):
            ev = {
                "eventVersion": "1.08", "eventTime": later, "eventSource": "sts.amazonaws.com",
                "eventName": "GetCallerIdentity", "awsRegion": "us-east-1", "sourceIPAddress": "10.9.9.9",
                "userAgent": "heartbeat", "eventID": str(uuid.UUID(int=part + 1)), "readOnly": True,
                "eventType": "AwsApiCall", "recipientAccountId": "000000000000",
                "userIdentity": {"type": "AssumedRole", "principalId": "AROAHEARTBEAT:hb",
                                 "arn": "arn:aws:sts::000000000000:assumed-role/heartbeat/hb",
                                 "accountId": "000000000000", "accessKeyId": "ASIAHEARTBEAT%04d" % part},
            }
            p.produce(a.topic, value=json.dumps(ev).encode(), partition=part, on_delivery=deliver(p, errors))
    left = p.flush(60)
    if left or errors:
        sys.exit(f"produce failed: {left} undelivered, errors {errors[:3]}")
    print(json.dumps({"messages": sent, "events": events, "seconds": round(elapsed, 3)}))


def raw(a):
    p = producer(a)
    errors = []
    if a.kind == "bad_json":
        value = b'{"eventVersion": "1.08", "eventTime": '
    elif a.kind == "binary":
        value = bytes(range(256)) * 4
    elif a.kind == "empty":
        value = b""
    elif a.kind == "huge":
        # A 5 MB event, gzip-compressed as S3-to-Kafka connectors forward delivery files (tansu
        # does not serve messages over about 4 MB, and real brokers cap messages at 1 MB).
        pad = "x" * (5 * 1024 * 1024)
        value = gzip.compress(json.dumps({"eventVersion": "1.08", "eventTime": "2024-01-01T00:00:00Z",
                            "eventSource": "s3.amazonaws.com", "eventName": "PutObject",
                            "requestParameters": {"pad": pad}}).encode())
    else:
        sys.exit(f"unknown kind {a.kind}")
    p.produce(a.topic, value=value, partition=a.partition, key=a.kind.encode(), on_delivery=deliver(p, errors))
    left = p.flush(60)
    if left or errors:
        sys.exit(f"produce failed: {left} undelivered, errors {errors[:3]}")


def consume(a):
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
    deadline = time.time() + a.timeout
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            if seen >= a.min and time.time() - last >= a.idle:
                break
            continue
        if m.error():
            continue
        last = time.time()
        seen += 1
        v = m.value() or b""
        try:
            value = json.loads(v)
        except Exception:
            value = {"base64": base64.b64encode(v).decode()}
        headers = {k: (h.decode(errors="replace") if h is not None else None) for k, h in (m.headers() or [])}
        unzipped = len(gzip.decompress(v)) if v[:2] == b"\x1f\x8b" else len(v)
        print(json.dumps({"partition": m.partition(), "offset": m.offset(), "unzipped_size": unzipped,
                          "key": (m.key() or b"").decode(errors="replace"), "headers": headers,
                          "value": value, "size": len(v)}))
    c.close()


def offsets(a):
    c = Consumer({"bootstrap.servers": a.brokers, "group.id": a.group, "enable.auto.commit": False})
    md = c.list_topics(a.topic, timeout=30)
    parts = [TopicPartition(a.topic, p) for p in md.topics[a.topic].partitions]
    committed = {tp.partition: tp.offset for tp in c.committed(parts, timeout=30)}
    end = {tp.partition: c.get_watermark_offsets(tp, timeout=30)[1] for tp in parts}
    c.close()
    print(json.dumps({"committed": committed, "end": end}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("create"); s.add_argument("--topic", required=True); s.add_argument("--partitions", type=int, default=1)
    s = sub.add_parser("produce"); s.add_argument("--topic", required=True); s.add_argument("--events", required=True)
    s.add_argument("--per-message", type=int, default=50); s.add_argument("--gzip-every", type=int, default=0)
    s.add_argument("--skip", type=int, default=0); s.add_argument("--limit", type=int, default=None)
    s.add_argument("--heartbeat-partitions", type=int, default=0)
    s.add_argument("--rate", type=float, default=0.0, help="events per second (0: as fast as possible)")
    s = sub.add_parser("raw"); s.add_argument("--topic", required=True); s.add_argument("--partition", type=int, default=0)
    s.add_argument("--kind", required=True)
    s = sub.add_parser("consume"); s.add_argument("--topic", required=True); s.add_argument("--idle", type=float, default=3.0)
    s.add_argument("--min", type=int, default=0); s.add_argument("--timeout", type=float, default=300.0)
    s = sub.add_parser("offsets"); s.add_argument("--topic", required=True); s.add_argument("--group", required=True)
    a = ap.parse_args()
    {"create": create, "produce": produce, "raw": raw, "consume": consume, "offsets": offsets}[a.cmd](a)


if __name__ == "__main__":
    main()
