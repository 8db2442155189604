//! χ² test of homogeneity for reference vs current counts over the same categories:
//! `scipy.stats.chi2_contingency(table, correction=False)` on the 2×K table, with
//! columns where both counts are zero dropped.

use statrs::distribution::{ChiSquared, ContinuousCDF};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chi2Test {
    pub statistic: f64,
    pub pvalue: f64,
    pub dof: usize,
}

/// `None` when either row is empty (scipy raises: an expected frequency is zero).
pub fn chi2_contingency(reference: &[u64], current: &[u64]) -> Option<Chi2Test> {
    let cols: Vec<(f64, f64)> = reference
        .iter()
        .zip(current)
        .filter(|(r, c)| **r + **c > 0)
        .map(|(&r, &c)| (r as f64, c as f64))
        .collect();
    let n: f64 = cols.iter().map(|c| c.0).sum();
    let m: f64 = cols.iter().map(|c| c.1).sum();
    if n == 0.0 || m == 0.0 {
        return None;
    }
    let dof = cols.len().saturating_sub(1);
    if dof == 0 {
        return Some(Chi2Test {
            statistic: 0.0,
            pvalue: 1.0,
            dof,
        });
    }
    let total = n + m;
    let mut statistic = 0.0;
    for (r, c) in &cols {
        let col = r + c;
        let er = n * col / total;
        let ec = m * col / total;
        statistic += (r - er).powi(2) / er + (c - ec).powi(2) / ec;
    }
    let pvalue = ChiSquared::new(dof as f64)
        .map(|d| d.sf(statistic))
        .unwrap_or(f64::NAN)
        .clamp(0.0, 1.0);
    Some(Chi2Test {
        statistic,
        pvalue,
        dof,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_table() {
        // scipy.stats.chi2_contingency([[10, 20, 30], [20, 20, 20]], correction=False)
        // → statistic 5.333333333333333, p 0.06948345122280154, dof 2
        let t = chi2_contingency(&[10, 20, 30], &[20, 20, 20]).unwrap();
        assert!((t.statistic - 5.333333333333333).abs() < 1e-12);
        assert!((t.pvalue - 0.06948345122280154).abs() < 1e-12);
        assert_eq!(t.dof, 2);
    }

    #[test]
    fn zero_columns_dropped_and_empty_rows_undefined() {
        let a = chi2_contingency(&[10, 0, 30], &[20, 0, 20]).unwrap();
        let b = chi2_contingency(&[10, 30], &[20, 20]).unwrap();
        assert_eq!(a, b);
        assert!(chi2_contingency(&[1, 2], &[0, 0]).is_none());
        assert_eq!(chi2_contingency(&[5, 0], &[7, 0]).unwrap().pvalue, 1.0);
    }
}
