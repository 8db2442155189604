#!/usr/bin/env bash
# End-to-end benchmark of `driftd report` against Evidently's DataDriftPreset on the
# same ROWS x 25 CSV files (default 1,000,000 rows), same machine, same run.
# Results are printed; docs/benchmarks.md records them. SKIP_EVIDENTLY=1 measures
# driftd alone (JSON against HTML).
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
# The HTML page against JSON: the same report plus the charts and the page. Three
# runs each, alternating, so both see the same page cache and machine load.
echo "== driftd report: html against json (3 runs each)"
for i in 1 2 3; do
  for format in json html; do
    /usr/bin/time -f "${format}_seconds=%e ${format}_max_rss_kb=%M" \
      target/release/driftd report --reference "$work/reference.csv" --current "$work/current.csv" \
      --format "$format" --output "$work/driftd.$format" 2>&1 | tee -a "$work/formats.txt"
  done
done
ls -l "$work/driftd.html"
python3 - "$work/formats.txt" <<'PY'
import re, statistics, sys
text = open(sys.argv[1]).read()
med = {f: statistics.median(float(x) for x in re.findall(f"{f}_seconds=([0-9.]+)", text)[-3:])
       for f in ("json", "html")}
print(f"json_median_seconds={med['json']:.2f} html_median_seconds={med['html']:.2f} "
      f"html_over_json={med['html'] / med['json']:.3f}")
PY
rm -f "$work/formats.txt"
[ "${SKIP_EVIDENTLY:-0}" = 1 ] && exit 0

echo "== evidently DataDriftPreset"
/usr/bin/time -f "evidently_process_seconds=%e evidently_max_rss_kb=%M" \
  "$venv/bin/python" benches/report_vs_evidently.py evidently "$work"
