"""Where a driftd run's CPU went, by category, from `perf report --no-children
--sort dso,symbol --stdio` on stdin (self time per symbol). Used by
scripts/bench-e2e.sh with BENCH_PERF=1; the categories are the ones of issue #23
(decode / bin / state / Kafka / checkpoint / evaluation), plus allocation and the rest.
"""
import re
import sys

# First match wins; patterns are searched in "dso symbol".
CATEGORIES = [
    ("kafka (librdkafka, rdkafka)", r"librdkafka|rd_kafka|rdkafka::|\[kernel|libz|lz4|snappy|zstd"),
    ("store / checkpoint (redb, postcard)", r"redb::|postcard::|driftd::store"),
    ("evaluation (windows, statistics)", r"driftd::(evaluate|report|stats|rules|alerting)|statrs"),
    ("decode (JSON, fields)", r"serde_json|driftd::event|driftd::ingest::Decoder|simd|sonic"),
    ("bin (profiles, histograms)", r"driftd::(reference|stats::histogram)|histogram"),
    ("state (windows, joins, maps)", r"driftd::(window|state|join|ingest)|hashbrown|BTree|btree|hash"),
    ("allocation, copies, compares", r"mi_|mimalloc|malloc|free|memcpy|memmove|memset|memcmp|alloc::|realloc"),
]

totals = {name: 0.0 for name, _ in CATEGORIES}
other = 0.0
top_other = []
for line in sys.stdin:
    m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[[.kH]\]\s+(.*)", line)
    if not m:
        continue
    pct, dso, sym = float(m.group(1)), m.group(2), m.group(3).strip()
    text = f"{dso} {sym}"
    for name, pattern in CATEGORIES:
        if re.search(pattern, text, re.IGNORECASE):
            totals[name] += pct
            break
    else:
        other += pct
        top_other.append((pct, text))
print("perf: share of driftd's CPU samples by category")
for name, _ in CATEGORIES:
    print(f"perf:   {name:40} {totals[name]:5.1f} %")
print(f"perf:   {'other':40} {other:5.1f} %")
for pct, text in sorted(top_other, reverse=True)[:8]:
    print(f"perf:     other: {pct:4.1f} %  {text[:100]}")
