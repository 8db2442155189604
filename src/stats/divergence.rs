//! Jensen–Shannon distance and the binned Wasserstein distance.

/// `scipy.spatial.distance.jensenshannon(p, q, base=2)`: both are normalised to sum
/// to 1 first. In [0, 1]. `None` when either sums to zero.
pub fn js_distance(p: &[f64], q: &[f64]) -> Option<f64> {
    let sp: f64 = p.iter().sum();
    let sq: f64 = q.iter().sum();
    if sp <= 0.0 || sq <= 0.0 {
        return None;
    }
    let rel_entr = |x: f64, y: f64| {
        if x > 0.0 && y > 0.0 {
            x * (x / y).ln()
        } else {
            0.0 // x = 0 contributes nothing; y = 0 implies x = 0 here (y is a mean)
        }
    };
    let (mut left, mut right) = (0.0, 0.0);
    for (a, b) in p.iter().zip(q) {
        let (a, b) = (a / sp, b / sq);
        let mid = (a + b) / 2.0;
        left += rel_entr(a, mid);
        right += rel_entr(b, mid);
    }
    let js = ((left + right) / 2.0 / std::f64::consts::LN_2).max(0.0);
    Some(js.sqrt().min(1.0))
}

/// Wasserstein-1 distance between two distributions known only as counts over the
/// same bins with finite inner `edges` (bin i = `[edges[i−1], edges[i])`), and the
/// outer bins bounded by `lo` and `hi` (the smallest and largest finite value seen on
/// either side).
///
/// Within each bin the two CDFs are integrated by the trapezoid rule between their
/// values at the bin's ends. Both CDFs are monotone inside a bin, so the error there
/// is at most width·(r_i + c_i), and overall
/// |W − Ŵ| ≤ Σ_i width_i·(r_i + c_i) ≤ 2·max_i width_i.
/// Values at ±∞ are outside every finite bin and add nothing.
pub(crate) fn wasserstein_binned(
    edges: &[f64],
    reference: &[u64],
    current: &[u64],
    lo: f64,
    hi: f64,
) -> Option<f64> {
    let n: u64 = reference.iter().sum();
    let m: u64 = current.iter().sum();
    if n == 0 || m == 0 || reference.len() != edges.len() + 1 || current.len() != reference.len() {
        return None;
    }
    // Boundaries of every bin: lo, e1, …, eK, hi (clamped so widths are ≥ 0).
    let mut bounds = Vec::with_capacity(edges.len() + 2);
    bounds.push(lo.min(edges.first().copied().unwrap_or(lo)));
    bounds.extend_from_slice(edges);
    bounds.push(hi.max(edges.last().copied().unwrap_or(hi)));
    let (mut fr, mut fc) = (0.0f64, 0.0f64);
    let mut w = 0.0;
    for i in 0..reference.len() {
        let width = bounds[i + 1] - bounds[i];
        let d0 = (fr - fc).abs();
        fr += reference[i] as f64 / n as f64;
        fc += current[i] as f64 / m as f64;
        let d1 = (fr - fc).abs();
        if width.is_finite() && width > 0.0 {
            w += width * (d0 + d1) / 2.0;
        }
    }
    Some(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_known_values() {
        assert_eq!(js_distance(&[1.0, 0.0], &[1.0, 0.0]), Some(0.0));
        assert!((js_distance(&[1.0, 0.0], &[0.0, 1.0]).unwrap() - 1.0).abs() < 1e-15);
        // scipy: jensenshannon([0.5, 0.5], [0.9, 0.1], base=2)
        let v = js_distance(&[0.5, 0.5], &[0.9, 0.1]).unwrap();
        assert!((v - 0.3831358798599423).abs() < 1e-15, "{v}");
        assert!(js_distance(&[0.0], &[1.0]).is_none());
    }

    #[test]
    fn wasserstein_of_a_shift() {
        // Reference uniform on [0,1), current uniform on [1,2): W = 1.
        let edges: Vec<f64> = (1..20).map(|i| i as f64 / 10.0).collect();
        let mut r = vec![0u64; 20];
        let mut c = vec![0u64; 20];
        for i in 0..10 {
            r[i] = 100;
            c[i + 10] = 100;
        }
        let w = wasserstein_binned(&edges, &r, &c, 0.0, 2.0).unwrap();
        assert!((w - 1.0).abs() <= 0.1 + 1e-12, "{w}");
    }
}
