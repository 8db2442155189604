//! Micro-benchmarks of the statistics core (results in docs/benchmarks.md):
//! binning one value, adding one row of 25 features, a full 25-feature report, the
//! report's charts as SVG and one e-mail chart as PNG.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use driftd::base::rng::SplitMix;
use driftd::chart::{png, svg, Distribution};
use driftd::dataset::{Cell, Columns};
use driftd::reference::{CurrentCounts, ProfileBuilder, ProfileSettings};
use driftd::report::feature_drift;
use driftd::report::ReportSettings;
use driftd::stats::histogram::{bin_of, NumericBins};

const NUMERIC: usize = 20;
const CATEGORICAL: usize = 5;
const PLANS: [&str; 6] = ["basic", "plus", "gold", "team", "enterprise", "trial"];

fn row<'a>(rng: &mut SplitMix, shift: f64) -> Vec<Cell<'a>> {
    let mut cells = Vec::with_capacity(NUMERIC + CATEGORICAL);
    for j in 0..NUMERIC {
        cells.push(Cell::Number(rng.normal() * (j + 1) as f64 + shift));
    }
    for _ in 0..CATEGORICAL {
        cells.push(Cell::Text(PLANS[(rng.next_u64() % 6) as usize]));
    }
    cells
}

fn names() -> Vec<String> {
    (0..NUMERIC)
        .map(|j| format!("num_{j}"))
        .chain((0..CATEGORICAL).map(|j| format!("cat_{j}")))
        .collect()
}

fn options() -> ProfileSettings {
    ProfileSettings {
        resolution: 1000,
        psi_bins: 10,
        max_categories: 100,
        kinds: Default::default(),
    }
}

fn benches(c: &mut Criterion) {
    let mut rng = SplitMix::new(1);
    let mut sorted: Vec<f64> = (0..100_000).map(|_| rng.normal()).collect();
    sorted.sort_by(f64::total_cmp);
    let bins = NumericBins::from_sorted(&sorted, 1000, 10);
    let probes: Vec<f64> = (0..1024).map(|_| rng.normal()).collect();
    let mut i = 0usize;
    c.bench_function("bin one value (R=1000)", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(bins.fine_bin(black_box(probes[i])))
        })
    });
    // The plain binary search that the guide table replaced, for comparison.
    c.bench_function("bin one value (R=1000), binary search", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(bin_of(&bins.fine_edges, black_box(probes[i])))
        })
    });

    let names = names();
    let columns = Columns::from_names(&names);
    let mut builder = ProfileBuilder::default();
    for _ in 0..100_000 {
        builder.add_row(&row(&mut rng, 0.0), names.len());
    }
    let (_, profile) = builder.finish(&names, &options());
    let rows: Vec<Vec<Cell>> = (0..1024).map(|_| row(&mut rng, 0.3)).collect();
    let mut counts = CurrentCounts::new(&profile);
    let mut k = 0usize;
    c.bench_function("add one row of 25 features", |b| {
        b.iter(|| {
            k = (k + 1) & 1023;
            counts.add_row(&columns, black_box(&rows[k]));
        })
    });

    let settings = ReportSettings::default();
    c.bench_function("full report of 25 features", |b| {
        b.iter(|| {
            let drift: Vec<_> = profile
                .iter()
                .zip(&counts.features)
                .map(|(f, c)| feature_drift(f, c, counts.rows, true, 1e-4, &settings))
                .collect();
            black_box(drift)
        })
    });
    // The HTML report's pictures of the same 25 features, and one e-mail chart.
    let distributions: Vec<Distribution> = profile
        .iter()
        .zip(&counts.features)
        .map(|(f, c)| Distribution::of(f, c))
        .collect();
    c.bench_function("distributions + SVG charts of 25 features", |b| {
        b.iter(|| {
            let svgs: usize = profile
                .iter()
                .zip(&counts.features)
                .map(|(f, c)| match Distribution::of(f, c) {
                    Distribution::Numeric { psi, fine } => {
                        svg::histogram(&fine, "x").0.len() + svg::grouped_bars(&psi, "x").0.len()
                    }
                    Distribution::Categorical(bars) => svg::category_bars(&bars, "x").0.len(),
                })
                .sum();
            black_box(svgs)
        })
    });
    let Distribution::Numeric { fine, .. } = &distributions[0] else {
        unreachable!("the first feature is numeric")
    };
    let doc = svg::standalone(&svg::histogram(fine, "x0: reference and current"));
    c.bench_function("one e-mail chart to PNG (histogram, 64 colours)", |b| {
        b.iter(|| black_box(png::render(&doc, 1.0).map(|p| p.len())))
    });
}

criterion_group!(stats, benches);
criterion_main!(stats);
