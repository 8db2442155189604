#!/usr/bin/env python3
"""Golden answers from scipy/numpy for driftd's statistical contracts (docs/statistics.md).

    golden.py generate DIR     write datasets and scipy's answers into DIR
    golden.py sklearn PAIRS    scikit-learn's metrics for joined (score, label) pairs
                               (JSON: {"binary": [[s, y]...], "regression": [[p, y]...]})
    golden.py verify REPORT    recompute PSI and JS with numpy from the edges and
                               categories a `driftd report --format json` printed,
                               on the datasets named in REPORT's sidecar; exit 1 on
                               any difference above 1e-12

The datasets are made here, from fixed seeds, so every run checks the same cases.
Run by scripts/test.sh (which installs numpy and scipy into a virtualenv).
"""
import json
import os
import sys

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon


def kstwo_grid():
    ns = [10, 11, 25, 50, 99, 100, 139, 140, 141, 200, 500, 1000, 5000, 10_000,
          50_000, 99_999, 100_000, 100_001, 500_000, 1_000_000, 1_000_001,
          3_000_000, 10_000_000]
    rows = []
    for n in ns:
        xs = set()
        xs.update(np.linspace(0.0, 1.0, 41).tolist())
        xs.update((np.geomspace(0.05, 40.0, 60) / np.sqrt(n)).tolist())
        xs.update([0.5 / n, 0.75 / n, 1.0 / n, 1.5 / n, 2.0 / n, 1 - 1.0 / n,
                   1 - 0.5 / n, 0.5, 0.4999, 0.5001])
        for x in sorted(xs):
            if 0.0 <= x <= 1.0:
                rows.append([n, x, float(stats.kstwo.sf(x, n))])
    return rows


def chi2_cases(rng):
    cases = []
    for k in [2, 3, 5, 10, 30, 101]:
        for scale in [5, 100, 10_000, 1_000_000]:
            ref = rng.integers(0, scale, size=k)
            cur = ref + rng.integers(0, max(1, scale // 3), size=k)
            if rng.random() < 0.5:
                cur = rng.permutation(cur)
            ref[0] += 1
            cur[-1] += 1
            if k > 3:
                ref[1] = 0  # a column missing on one side
                cur[2] = 0
            table = np.array([ref, cur])
            keep = table.sum(axis=0) > 0
            res = stats.chi2_contingency(table[:, keep], correction=False)
            cases.append({"reference": ref.tolist(), "current": cur.tolist(),
                          "statistic": float(res[0]), "pvalue": float(res[1]),
                          "dof": int(res[2])})
    return cases


def write_csv(path, columns):
    names = list(columns)
    n = len(columns[names[0]])
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        for i in range(n):
            cells = []
            for name in names:
                v = columns[name][i]
                if v is None or (isinstance(v, float) and np.isnan(v)):
                    cells.append("")
                elif isinstance(v, (float, np.floating)):
                    cells.append(repr(float(v)))
                else:
                    cells.append(str(v))
            f.write(",".join(cells) + "\n")


def datasets(rng, out):
    """Pairs of files and scipy's two-sample answers per feature."""
    cases = []
    for name, n, m, shift in [("small", 40, 30, 0.5), ("medium", 5_000, 4_000, 0.05),
                              ("large", 200_000, 150_000, 0.01), ("same", 20_000, 20_000, 0.0)]:
        ref = {
            "normal": rng.normal(0, 1, n),
            "lognormal": rng.lognormal(3, 1, n),
            "uniform_big": rng.uniform(-1e12, 1e12, n),
            "counts": rng.poisson(3, n).astype(float),
            "dice": rng.integers(1, 7, n).astype(float),
            "plan": rng.choice(["basic", "plus", "gold", "team"], n, p=[.5, .3, .15, .05]),
        }
        cur = {
            "normal": rng.normal(shift, 1 + shift, m),
            "lognormal": rng.lognormal(3 + shift, 1, m),
            "uniform_big": rng.uniform(-1e12, 1e12 * (1 + shift), m),
            "counts": rng.poisson(3 + 10 * shift, m).astype(float),
            "dice": rng.integers(1, 7 + (1 if shift else 0), m).astype(float),
            "plan": rng.choice(["basic", "plus", "gold", "team", "enterprise"], m,
                               p=[.45, .3, .15, .05, .05] if shift else [.5, .3, .15, .05, 0]),
        }
        # Missing values: absent cells, never part of a distribution.
        for col in ("normal", "lognormal"):
            for d in (ref, cur):
                d[col] = d[col].astype(object)
                idx = rng.choice(len(d[col]), size=len(d[col]) // 50, replace=False)
                d[col][idx] = None
        ref_path = os.path.join(out, f"{name}_reference.csv")
        cur_path = os.path.join(out, f"{name}_current.csv")
        write_csv(ref_path, ref)
        write_csv(cur_path, cur)
        features = {}
        for col in ref:
            r = np.array([v for v in ref[col] if v is not None])
            c = np.array([v for v in cur[col] if v is not None])
            if col == "plan":
                cats = sorted(set(r))
                rc = [int((r == k).sum()) for k in cats] + [int((~np.isin(r, cats)).sum())]
                cc = [int((c == k).sum()) for k in cats] + [int((~np.isin(c, cats)).sum())]
                table = np.array([rc, cc])
                keep = table.sum(axis=0) > 0
                res = stats.chi2_contingency(table[:, keep], correction=False)
                features[col] = {"kind": "categorical", "chi2_statistic": float(res[0]),
                                 "chi2_pvalue": float(res[1])}
            else:
                r = r.astype(float)
                c = c.astype(float)
                ks = stats.ks_2samp(r, c, method="asymp")
                discrete = len(np.unique(r)) < 1000
                features[col] = {"kind": "numeric", "ks_statistic": float(ks.statistic),
                                 "ks_pvalue": float(ks.pvalue), "discrete": bool(discrete),
                                 "n": int(len(r)), "m": int(len(c))}
        cases.append({"name": name, "reference": ref_path, "current": cur_path,
                      "features": features})
    return cases


def generate(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261128)
    golden = {"kstwo": kstwo_grid(), "chi2": chi2_cases(rng), "datasets": datasets(rng, out)}
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(golden, f)
    print(f"golden: {len(golden['kstwo'])} kstwo points, {len(golden['chi2'])} chi2 tables, "
          f"{len(golden['datasets'])} dataset pairs in {out}")


def read_columns(path):
    import csv
    with open(path) as f:
        rows = list(csv.reader(f))
    header = rows[0]
    return {h: [r[i] for r in rows[1:]] for i, h in enumerate(header)}


def verify(report_path, reference_csv, current_csv):
    report = json.load(open(report_path))
    ref = read_columns(reference_csv)
    cur = read_columns(current_csv)
    worst = 0.0
    failures = []
    for feat in report["features"]:
        name = feat["name"]
        if feat.get("psi") is None:
            continue
        eps = feat["psi_epsilon"]
        if feat["kind"] == "numeric":
            r = np.array([float(v) for v in ref[name] if v != ""])
            c = np.array([float(v) for v in cur[name] if v != ""])
            r, c = r[~np.isnan(r)], c[~np.isnan(c)]
            edges = np.array(feat["psi_edges"], dtype=float)
            k = len(edges) + 1
            rp = np.bincount(np.searchsorted(edges, r, side="right"), minlength=k) / len(r)
            cp = np.bincount(np.searchsorted(edges, c, side="right"), minlength=k) / len(c)
        else:
            cats = feat["categories"]
            r = np.array([v for v in ref[name] if v != ""])
            c = np.array([v for v in cur[name] if v != ""])
            rp = np.array([(r == k).sum() for k in cats] + [(~np.isin(r, cats)).sum()]) / len(r)
            cp = np.array([(c == k).sum() for k in cats] + [(~np.isin(c, cats)).sum()]) / len(c)
        psi = float(np.sum((np.maximum(cp, eps) - np.maximum(rp, eps)) *
                           np.log(np.maximum(cp, eps) / np.maximum(rp, eps))))
        js = float(jensenshannon(rp, cp, base=2))
        for stat, want in (("psi", psi), ("js_distance", js)):
            diff = abs(feat[stat] - want)
            worst = max(worst, diff)
            if diff > 1e-12:
                failures.append(f"{name}.{stat}: driftd {feat[stat]!r}, numpy {want!r}")
    print(f"verify: {len(report['features'])} features, worst |difference| {worst:.3g}")
    for f in failures:
        print("MISMATCH", f)
    return 1 if failures else 0


def sklearn_metrics(path):
    from sklearn import metrics as m
    pairs = json.load(open(path))
    out = {}
    if pairs.get("binary"):
        s = np.array([p[0] for p in pairs["binary"]], dtype=float)
        y = np.array([p[1] for p in pairs["binary"]], dtype=int)
        pred = (s >= pairs.get("threshold", 0.5)).astype(int)
        out["binary"] = {
            "accuracy": m.accuracy_score(y, pred), "precision": m.precision_score(y, pred),
            "recall": m.recall_score(y, pred), "f1": m.f1_score(y, pred),
            "auc": m.roc_auc_score(y, s), "log_loss": m.log_loss(y, s, labels=[0, 1]),
        }
    if pairs.get("classification"):
        y = [v[1] for v in pairs["classification"]]
        p = [v[0] for v in pairs["classification"]]
        out["classification"] = {
            "accuracy": m.accuracy_score(y, p), "macro_f1": m.f1_score(y, p, average="macro"),
        }
    if pairs.get("regression"):
        p = np.array([v[0] for v in pairs["regression"]], dtype=float)
        y = np.array([v[1] for v in pairs["regression"]], dtype=float)
        out["regression"] = {
            "mae": m.mean_absolute_error(y, p), "mse": m.mean_squared_error(y, p),
            "rmse": float(np.sqrt(m.mean_squared_error(y, p))),
            "mape": m.mean_absolute_percentage_error(y, p), "mean_error": float(np.mean(p - y)),
        }
    print(json.dumps({k: {kk: float(vv) for kk, vv in v.items()} for k, v in out.items()}))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "generate":
        generate(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "sklearn":
        sklearn_metrics(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "verify":
        sys.exit(verify(sys.argv[2], sys.argv[3], sys.argv[4]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
