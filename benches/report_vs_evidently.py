#!/usr/bin/env python3
"""End-to-end: `driftd report` against Evidently's DataDriftPreset on the same files.

    report_vs_evidently.py gen DIR ROWS     write DIR/reference.csv, DIR/current.csv
                                             (ROWS x 25: 20 numeric, 5 categorical)
    report_vs_evidently.py evidently DIR    time pandas.read_csv + DataDriftPreset

Driven by scripts/bench-report.sh, which also times driftd; results go to
docs/benchmarks.md.
"""
import sys
import time

import numpy as np
import pandas as pd


def gen(out, rows):
    rng = np.random.default_rng(7)
    plans = np.array(["basic", "plus", "gold", "team", "enterprise", "trial"])
    for name, shift in (("reference", 0.0), ("current", 0.1)):
        cols = {}
        for j in range(20):
            cols[f"num_{j}"] = np.round(rng.normal(shift * (j % 3), 1 + j, rows), 4)
        for j in range(5):
            p = np.array([6, 5, 4, 3, 2, 1], dtype=float) + shift * j * 10 * np.arange(6)
            cols[f"cat_{j}"] = plans[rng.choice(6, rows, p=p / p.sum())]
        pd.DataFrame(cols).to_csv(f"{out}/{name}.csv", index=False)
        print(f"wrote {out}/{name}.csv", file=sys.stderr)


def evidently(out):
    from evidently import Report
    from evidently.presets import DataDriftPreset

    t0 = time.perf_counter()
    ref = pd.read_csv(f"{out}/reference.csv")
    cur = pd.read_csv(f"{out}/current.csv")
    t1 = time.perf_counter()
    result = Report([DataDriftPreset()]).run(cur, ref)
    result.dict()  # materialise every metric
    t2 = time.perf_counter()
    print(f"evidently_read_seconds={t1 - t0:.2f}")
    print(f"evidently_drift_seconds={t2 - t1:.2f}")
    print(f"evidently_total_seconds={t2 - t0:.2f}")


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "evidently":
        evidently(sys.argv[2])
