#!/usr/bin/env python3
"""The fairness oracle of tests/decisions.rs: fairlearn's metrics on the rows of a JSON
file {"y_true": [...], "y_pred": [...], "group": [...]}, printed as JSON: the four
gaps driftd reports and, per group, the rates of fairlearn's MetricFrame.

    fairlearn_oracle.py rows.json
"""
import json
import sys

import numpy as np
from fairlearn import metrics as fm
from sklearn.metrics import accuracy_score


def main(path):
    rows = json.load(open(path))
    y = np.array(rows["y_true"], dtype=int)
    p = np.array(rows["y_pred"], dtype=int)
    g = np.array(rows["group"])
    out = {
        "demographic_parity_difference": fm.demographic_parity_difference(y, p, sensitive_features=g),
        "demographic_parity_ratio": fm.demographic_parity_ratio(y, p, sensitive_features=g),
        "equal_opportunity_difference": fm.equal_opportunity_difference(y, p, sensitive_features=g),
        "equalized_odds_difference": fm.equalized_odds_difference(y, p, sensitive_features=g),
    }
    frame = fm.MetricFrame(
        metrics={
            "selection_rate": fm.selection_rate,
            "true_positive_rate": fm.true_positive_rate,
            "false_positive_rate": fm.false_positive_rate,
            "false_negative_rate": fm.false_negative_rate,
            "accuracy": accuracy_score,
            "count": fm.count,
        },
        y_true=y,
        y_pred=p,
        sensitive_features=g,
    )
    out["groups"] = {
        str(group): {k: float(v) for k, v in row.items()}
        for group, row in frame.by_group.to_dict(orient="index").items()
    }
    json.dump({k: (float(v) if not isinstance(v, dict) else v) for k, v in out.items()}, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1])
