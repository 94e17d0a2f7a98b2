//! Cross-validation splits. The spatial ones are the default because neighbouring pixels
//! look alike: a random split puts near-copies of each test pixel in training and reports
//! an accuracy the map will not have. Groups (polygons) stay in one fold; points are
//! grouped into square blocks of the UTM grid. `GroupKFold` and `StratifiedGroupKFold`
//! (without shuffling) follow scikit-learn's algorithms exactly; shuffled splits draw from
//! [`Rng`] and keep scikit-learn's invariants.

use std::collections::BTreeMap;

use serde::Serialize;
use tessera_core::Crs;

use crate::data::{Target, TrainingSet};
use crate::rng::Rng;
use crate::{Result, usage};

/// How to split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Cv {
    /// Groups when the table has them, else blocks of 1 km when it has coordinates, else
    /// random folds.
    Auto,
    /// Random (stratified for classes) folds: optimistic beside a spatial split.
    Random,
    /// Rows of a group (polygon) in one fold (stratified for classes).
    Group,
    /// Square blocks of this many metres on the UTM grid as groups.
    Blocks(f64),
    /// One fold: the rows inside this lon/lat box are the test set.
    Bbox([f64; 4]),
    /// No cross-validation.
    None,
}

impl Cv {
    /// Parses `auto`, `random`, `group`, `blocks:1000`, `bbox:W,S,E,N`, `none`.
    pub fn parse(s: &str) -> Result<Cv> {
        let t = s.trim().to_ascii_lowercase();
        let bad = || {
            usage(format!(
                "--cv '{s}': use auto, random, group, blocks:METRES, bbox:W,S,E,N or none"
            ))
        };
        Ok(match t.as_str() {
            "auto" => Cv::Auto,
            "random" | "kfold" => Cv::Random,
            "group" | "groups" => Cv::Group,
            "none" => Cv::None,
            "blocks" => Cv::Blocks(1000.0),
            _ => {
                if let Some(m) = t.strip_prefix("blocks:") {
                    let v: f64 = m.parse().map_err(|_| bad())?;
                    if !(v.is_finite() && v > 0.0) {
                        return Err(bad());
                    }
                    Cv::Blocks(v)
                } else if let Some(b) = t.strip_prefix("bbox:") {
                    let v: Vec<f64> = b
                        .split(',')
                        .map(|p| p.trim().parse::<f64>())
                        .collect::<std::result::Result<_, _>>()
                        .map_err(|_| bad())?;
                    if v.len() != 4 || v[0] >= v[2] || v[1] >= v[3] {
                        return Err(bad());
                    }
                    Cv::Bbox([v[0], v[1], v[2], v[3]])
                } else {
                    return Err(bad());
                }
            }
        })
    }

    /// A short description for reports.
    pub fn describe(&self) -> String {
        match self {
            Cv::Auto => "auto".into(),
            Cv::Random => "random folds".into(),
            Cv::Group => "grouped by polygon".into(),
            Cv::Blocks(m) => format!("spatial blocks of {} m", fmt_m(*m)),
            Cv::Bbox(b) => format!("test box {},{},{},{}", b[0], b[1], b[2], b[3]),
            Cv::None => "none".into(),
        }
    }
}

fn fmt_m(m: f64) -> String {
    if m.fract() == 0.0 {
        format!("{}", m as i64)
    } else {
        format!("{m}")
    }
}

/// Test rows per fold (the training rows of a fold are all the others).
#[derive(Debug, Clone, PartialEq)]
pub struct Folds {
    /// The split used (`Auto` resolved).
    pub cv: Cv,
    /// Test indices per fold, ascending.
    pub test: Vec<Vec<usize>>,
    /// Each row's fold (`usize::MAX`: in no test fold, e.g. outside a test box).
    pub fold_of: Vec<usize>,
}

impl Folds {
    fn from_assignment(cv: Cv, fold_of: Vec<usize>, k: usize) -> Folds {
        let mut test = vec![Vec::new(); k];
        for (i, &f) in fold_of.iter().enumerate() {
            if f < k {
                test[f].push(i);
            }
        }
        Folds { cv, test, fold_of }
    }

    /// The training rows of fold `f`.
    pub fn train(&self, f: usize) -> Vec<usize> {
        let k = self.test.len();
        self.fold_of
            .iter()
            .enumerate()
            .filter(|(_, g)| **g != f && (k > 1 || **g == usize::MAX))
            .map(|(i, _)| i)
            .collect()
    }
}

/// Dense indices of sorted unique values (NumPy's `unique(return_inverse=True)`).
fn unique_inverse(v: &[u64]) -> (usize, Vec<usize>) {
    let mut u: Vec<u64> = v.to_vec();
    u.sort_unstable();
    u.dedup();
    let inv = v
        .iter()
        .map(|x| u.binary_search(x).expect("present"))
        .collect();
    (u.len(), inv)
}

/// scikit-learn's `GroupKFold(n_splits=k)` (no shuffling): the largest groups first, each
/// to the fold with the fewest rows so far.
pub fn group_kfold(groups: &[u64], k: usize) -> Result<Vec<usize>> {
    let (ng, inv) = unique_inverse(groups);
    if k > ng {
        return Err(usage(format!(
            "{k} folds but only {ng} groups: use fewer folds (--folds) or smaller blocks"
        )));
    }
    let mut sizes = vec![0u64; ng];
    for &g in &inv {
        sizes[g] += 1;
    }
    // argsort(kind="stable")[::-1]: descending size, ties by descending group index.
    let mut order: Vec<usize> = (0..ng).collect();
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(b.cmp(&a)));
    let mut per_fold = vec![0u64; k];
    let mut g2f = vec![0usize; ng];
    for g in order {
        let lightest = argmin_first(&per_fold);
        per_fold[lightest] += sizes[g];
        g2f[g] = lightest;
    }
    Ok(inv.iter().map(|&g| g2f[g]).collect())
}

fn argmin_first(v: &[u64]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x < v[best] {
            best = i;
        }
    }
    best
}

fn isclose(a: f64, b: f64) -> bool {
    if a == b {
        return true;
    }
    if !a.is_finite() || !b.is_finite() {
        return false;
    }
    (a - b).abs() <= 1e-8 + 1e-5 * b.abs()
}

/// scikit-learn's `StratifiedGroupKFold(n_splits=k)`: groups in decreasing order of the
/// spread of their class counts (after a shuffle when `rng` is given), each to the fold that
/// keeps the per-class fold shares most even (ties: the fold with fewer rows).
pub fn stratified_group_kfold(
    y: &[u32],
    n_classes: usize,
    groups: &[u64],
    k: usize,
    rng: Option<&mut Rng>,
) -> Result<Vec<usize>> {
    let (ng, mut inv) = unique_inverse(groups);
    if k > ng {
        return Err(usage(format!(
            "{k} folds but only {ng} groups: use fewer folds (--folds) or smaller blocks"
        )));
    }
    let mut y_cnt = vec![0f64; n_classes];
    for &c in y {
        y_cnt[c as usize] += 1.0;
    }
    // Only the classes present (np.unique over y).
    let present: Vec<usize> = (0..n_classes).filter(|&c| y_cnt[c] > 0.0).collect();
    let pc = present.len();
    let pos: BTreeMap<usize, usize> = present.iter().enumerate().map(|(i, &c)| (c, i)).collect();
    let mut per_group = vec![vec![0f64; pc]; ng];
    for (&c, &g) in y.iter().zip(&inv) {
        per_group[g][pos[&(c as usize)]] += 1.0;
    }
    if let Some(rng) = rng {
        let mut perm: Vec<usize> = (0..ng).collect();
        rng.shuffle(&mut perm);
        let shuffled: Vec<Vec<f64>> = perm.iter().map(|&p| per_group[p].clone()).collect();
        let mut inv_perm = vec![0usize; ng];
        for (i, &p) in perm.iter().enumerate() {
            inv_perm[p] = i;
        }
        per_group = shuffled;
        for g in inv.iter_mut() {
            *g = inv_perm[*g];
        }
    }
    let cnt: Vec<f64> = present.iter().map(|&c| y_cnt[c]).collect();
    let std = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
    };
    let spread: Vec<f64> = per_group.iter().map(|g| -std(g)).collect();
    let mut order: Vec<usize> = (0..ng).collect();
    order.sort_by(|&a, &b| spread[a].total_cmp(&spread[b]));
    let mut per_fold = vec![vec![0f64; pc]; k];
    let mut g2f = vec![0usize; ng];
    for g in order {
        let gy = &per_group[g];
        let (mut best, mut min_eval, mut min_samples) = (0usize, f64::INFINITY, f64::INFINITY);
        for i in 0..k {
            for c in 0..pc {
                per_fold[i][c] += gy[c];
            }
            let mut sum = 0.0;
            for c in 0..pc {
                let col: Vec<f64> = (0..k).map(|f| per_fold[f][c] / cnt[c]).collect();
                sum += std(&col);
            }
            for c in 0..pc {
                per_fold[i][c] -= gy[c];
            }
            let eval = sum / pc as f64;
            let samples: f64 = per_fold[i].iter().sum();
            if eval < min_eval || (isclose(eval, min_eval) && samples < min_samples) {
                min_eval = eval;
                min_samples = samples;
                best = i;
            }
        }
        for c in 0..pc {
            per_fold[best][c] += gy[c];
        }
        g2f[g] = best;
    }
    Ok(inv.iter().map(|&g| g2f[g]).collect())
}

/// Random folds: stratified for classes (each class dealt round the folds after a
/// shuffle, so fold class counts differ by at most one), plain for values.
pub fn random_kfold(target: &Target, n: usize, k: usize, rng: &mut Rng) -> Vec<usize> {
    let mut fold = vec![0usize; n];
    match target {
        Target::Class(y, t) => {
            let mut next = 0usize;
            for c in 0..t.len() {
                let mut idx: Vec<usize> = (0..n).filter(|&i| y[i] as usize == c).collect();
                rng.shuffle(&mut idx);
                for i in idx {
                    fold[i] = next % k;
                    next += 1;
                }
            }
        }
        Target::Value(_) => {
            let mut idx: Vec<usize> = (0..n).collect();
            rng.shuffle(&mut idx);
            for (j, i) in idx.into_iter().enumerate() {
                fold[i] = j % k;
            }
        }
    }
    fold
}

/// Block ids of points: (UTM zone, floor(x / size), floor(y / size)) on each point's own
/// zone, as dense ids.
pub fn block_ids(lon: &[f64], lat: &[f64], size: f64) -> Vec<u64> {
    let mut map: BTreeMap<(u32, i64, i64), u64> = BTreeMap::new();
    let keys: Vec<(u32, i64, i64)> = lon
        .iter()
        .zip(lat)
        .map(|(&x, &y)| {
            let crs = Crs::utm_for(x, y);
            let (e, nn) = crs.forward(x, y);
            (
                crs.epsg().unwrap_or(0),
                (e / size).floor() as i64,
                (nn / size).floor() as i64,
            )
        })
        .collect();
    for k in &keys {
        let next = map.len() as u64;
        map.entry(*k).or_insert(next);
    }
    keys.iter().map(|k| map[k]).collect()
}

/// The folds of `set` for `cv` with `k` folds.
pub fn folds(set: &TrainingSet, cv: &Cv, k: usize, seed: u64) -> Result<Folds> {
    let mut rng = Rng::stream(seed, 0x5117);
    let cv = match cv {
        Cv::Auto => {
            if set.groups.is_some() {
                Cv::Group
            } else if set.lon.is_some() && set.lat.is_some() {
                Cv::Blocks(1000.0)
            } else {
                Cv::Random
            }
        }
        c => c.clone(),
    };
    if k < 2 && !matches!(cv, Cv::Bbox(_) | Cv::None) {
        return Err(usage(format!(
            "--folds {k}: cross-validation needs at least 2"
        )));
    }
    let grouped = |groups: &[u64], rng: &mut Rng| -> Result<Vec<usize>> {
        match &set.target {
            Target::Class(y, t) => stratified_group_kfold(y, t.len(), groups, k, Some(rng)),
            Target::Value(_) => group_kfold(groups, k),
        }
    };
    let fold_of = match &cv {
        Cv::None => return Ok(Folds::from_assignment(cv, vec![usize::MAX; set.n], 0)),
        Cv::Random => random_kfold(&set.target, set.n, k, &mut rng),
        Cv::Group => {
            let g = set.groups.as_ref().ok_or_else(|| {
                usage("--cv group needs a group column (group, polygon_id or --group-field)")
            })?;
            grouped(g, &mut rng)?
        }
        Cv::Blocks(size) => {
            let (Some(lon), Some(lat)) = (&set.lon, &set.lat) else {
                return Err(usage("--cv blocks needs lon and lat columns"));
            };
            if lon.iter().chain(lat).any(|v| !v.is_finite()) {
                return Err(usage("--cv blocks: some rows have no lon/lat"));
            }
            grouped(&block_ids(lon, lat, *size), &mut rng)?
        }
        Cv::Bbox(b) => {
            let (Some(lon), Some(lat)) = (&set.lon, &set.lat) else {
                return Err(usage("--cv bbox needs lon and lat columns"));
            };
            let inside: Vec<usize> = lon
                .iter()
                .zip(lat)
                .map(|(&x, &y)| {
                    if x >= b[0] && x <= b[2] && y >= b[1] && y <= b[3] {
                        0
                    } else {
                        usize::MAX
                    }
                })
                .collect();
            let nt = inside.iter().filter(|&&f| f == 0).count();
            if nt == 0 || nt == set.n {
                return Err(usage(format!(
                    "--cv bbox: {nt} of {} rows inside the box; it must hold some but not all",
                    set.n
                )));
            }
            return Ok(Folds::from_assignment(cv, inside, 1));
        }
        Cv::Auto => unreachable!("resolved above"),
    };
    Ok(Folds::from_assignment(cv, fold_of, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_kfold_by_hand() {
        // Groups 7 (4 rows), 3 (2), 5 (1): the largest first to fold 0, then 1, then 1.
        let g = [7, 7, 3, 7, 5, 3, 7];
        assert_eq!(group_kfold(&g, 2).unwrap(), [0, 0, 1, 0, 1, 1, 0]);
        assert!(
            group_kfold(&g, 4)
                .unwrap_err()
                .to_string()
                .contains("3 groups")
        );
    }

    #[test]
    fn random_folds_are_stratified() {
        let t = crate::ClassTable::from_labels(["a", "b"]).unwrap();
        let y: Vec<u32> = (0..103).map(|i| u32::from(i % 3 == 0)).collect();
        let f = random_kfold(&Target::Class(y.clone(), t), 103, 5, &mut Rng::new(1));
        for c in 0..2 {
            let counts: Vec<usize> = (0..5)
                .map(|k| (0..103).filter(|&i| f[i] == k && y[i] == c).count())
                .collect();
            let (mn, mx) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            assert!(mx - mn <= 1, "{counts:?}");
        }
    }

    #[test]
    fn parses() {
        assert_eq!(Cv::parse("blocks:500").unwrap(), Cv::Blocks(500.0));
        assert!(matches!(Cv::parse("bbox:1,2,3,4").unwrap(), Cv::Bbox(_)));
        assert!(Cv::parse("blocks:-1").is_err());
        assert!(Cv::parse("sideways").is_err());
    }
}
