#!/usr/bin/env bash
# End-to-end benchmark of `driftd report` against Evidently's DataDriftPreset on the
# same ROWS x 25 CSV files (default 1,000,000 rows), same machine, same run.
# Results are printed; docs/benchmarks.md records them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rows=${ROWS:-1000000}
work=${BENCH_DIR:-target/bench-report}
venv=target/evidently-venv
mkdir -p "$work"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import evidently" 2>/dev/null; then
  python3 -m venv "$venv"
  # evidently 0.7.23 imports a pandas helper that pandas 3 removed.
  "$venv/bin/pip" install -q --disable-pip-version-check evidently==0.7.23 "pandas==2.3.3"
fi
cargo build --release --quiet
if [ ! -f "$work/current.csv" ] || [ "$(wc -l < "$work/current.csv")" -ne $((rows + 1)) ]; then
  "$venv/bin/python" benches/report_vs_evidently.py gen "$work" "$rows"
fi
ls -l "$work"/*.csv

echo "== driftd report"
/usr/bin/time -f "driftd_seconds=%e driftd_max_rss_kb=%M" \
  target/release/driftd report --reference "$work/reference.csv" --current "$work/current.csv" \
  --format json > "$work/driftd.json"
echo "== evidently DataDriftPreset"
/usr/bin/time -f "evidently_process_seconds=%e evidently_max_rss_kb=%M" \
  "$venv/bin/python" benches/report_vs_evidently.py evidently "$work"
