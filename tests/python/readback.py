"""Independent read-back of trailhound's Parquet findings with pyarrow.

Usage: readback.py FINDINGS_DIR EXPECTED_JSON
EXPECTED_JSON maps uid -> {"rule_id", "actor_key", "event_count"} (the newest version of
each finding as trailhound published it). Exits non-zero with a message on any mismatch.
"""
import json
import sys

import pyarrow.dataset as ds
import pyarrow.compute as pc

REQUIRED = {
    "uid": "string", "rule_id": "string", "title": "string", "severity": "string",
    "actor_key": "string", "actor_arn": "string", "identity_class": "string", "account": "string",
    "regions": "list<item: string>", "first_event_time": "timestamp[ms, tz=UTC]",
    "last_event_time": "timestamp[ms, tz=UTC]", "event_count": "uint64",
    "attack_technique_ids": "list<item: string>", "evidence_event_ids": "list<item: string>",
    "summary": "string", "ocsf_json": "string",
}


def main():
    root, expected_path = sys.argv[1], sys.argv[2]
    expected = json.load(open(expected_path))
    dataset = ds.dataset(root, format="parquet", partitioning="hive")
    schema = dataset.schema
    for name, typ in REQUIRED.items():
        if name not in schema.names:
            sys.exit(f"missing column {name}")
        if str(schema.field(name).type) != typ:
            sys.exit(f"column {name} has type {schema.field(name).type}, expected {typ}")
    for part in ("dt", "hour"):
        if part not in schema.names:
            sys.exit(f"hive partition column {part} not discovered")
    table = dataset.to_table()
    # Newest revision per uid, computed here independently of trailhound's view.
    newest = {}
    for row in table.select(["uid", "revision", "rule_id", "actor_key", "event_count", "ocsf_json", "dt"]).to_pylist():
        cur = newest.get(row["uid"])
        if cur is None or row["revision"] > cur["revision"]:
            newest[row["uid"]] = row
    if set(newest) != set(expected):
        sys.exit(f"uids differ: only in parquet {sorted(set(newest) - set(expected))[:5]}, only expected {sorted(set(expected) - set(newest))[:5]}")
    for uid, exp in expected.items():
        got = newest[uid]
        for k in ("rule_id", "actor_key", "event_count"):
            if got[k] != exp[k]:
                sys.exit(f"{uid}: {k} = {got[k]!r}, expected {exp[k]!r}")
        ocsf = json.loads(got["ocsf_json"])
        if ocsf["class_uid"] != 2004 or ocsf["finding_info"]["uid"] != uid:
            sys.exit(f"{uid}: ocsf_json is not the Detection Finding of this uid")
    print(f"pyarrow read {table.num_rows} rows, {len(newest)} findings, partitions {sorted(set(pc.unique(table['dt']).to_pylist()))}")


if __name__ == "__main__":
    main()
