#!/usr/bin/env python3
"""Reads driftd's JSON log on stdin and prints the notable events for people:
alert transitions, e-mails delivered, retraining events, deployment verdicts, warnings
and errors.
With --alerts, reads GET /api/v1/alerts instead and prints one line per alert; with
--alertmanager, Alertmanager's GET /api/v2/alerts (what driftd pushed there); with
--cluster NAME, an instance's GET /api/v1/cluster. --name NAME prefixes log events."""
import json
import sys


def log_events(name="driftd"):
    for line in sys.stdin:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        f = e.get("fields", {})
        msg = f.get("message", "")
        if msg == "alert state changed":
            if f.get("severity") == "info":
                continue  # informational rules: see /api/v1/alerts
            where = f.get("model", "")
            if f.get("feature"):
                where += "/" + f["feature"]
            detail = ""
            if isinstance(f.get("value"), (int, float)) and f.get("to") != "inactive":
                detail = f" (value {f['value']:.3g}, threshold {f['threshold']:.3g})"
            print(f"{name}: alert {f.get('alertname')} on {where}: {f.get('from')} -> {f.get('to')}{detail}",
                  flush=True)
        elif msg == "alert e-mail sent":
            print(f"{name}: e-mail delivered: {f.get('subject')}", flush=True)
        elif msg == "retraining event produced":
            print(f"{name}: retraining event for {f.get('model')} produced to {f.get('topic')}"
                  f" (id {f.get('id')})", flush=True)
        elif msg == "state restored from the changelog":
            print(f"{name}: took over partitions {f.get('partitions')}: {f.get('records')} state records "
                  f"restored from the changelog in {f.get('took')}", flush=True)
        elif msg == "deployment verdict event produced":
            print(f"{name}: deployment verdict of {f.get('model')} produced to {f.get('topic')}"
                  f" (id {f.get('id')})", flush=True)
        elif msg == "deployment verdict reached":
            print(f"{name}: deployment {f.get('deployment')} of {f.get('model')}: {f.get('verdict')}",
                  flush=True)
        elif msg == "retraining request suppressed by the cooldown":
            print(f"{name}: retraining request for {f.get('model')} suppressed by the cooldown", flush=True)
        elif e.get("level") in ("ERROR", "WARN"):
            print(f"{name}: {e.get('level')}: {msg} {f.get('error', '')}", flush=True)


def alerts():
    for a in json.load(sys.stdin)["alerts"]:
        print(f"  {a['state']:8} {a['labels']['alertname']:24} {a['summary']}")


def alertmanager():
    for a in json.load(sys.stdin):
        labels, notes = a["labels"], a["annotations"]
        print(f"  {a['status']['state']:10} {labels.get('alertname', ''):24} {notes.get('summary', '')}")
        if notes.get("runbook_url"):
            print(f"  {'':10} {'':24} runbook: {notes['runbook_url']}")


def cluster(name):
    c = json.load(sys.stdin)
    print(f"  {name}: partitions {c['owned_partitions']}, models {', '.join(c['owned_models']) or '-'}")


if __name__ == "__main__":
    if "--alerts" in sys.argv:
        alerts()
    elif "--alertmanager" in sys.argv:
        alertmanager()
    elif "--cluster" in sys.argv:
        cluster(sys.argv[sys.argv.index("--cluster") + 1])
    else:
        log_events(sys.argv[sys.argv.index("--name") + 1] if "--name" in sys.argv else "driftd")
