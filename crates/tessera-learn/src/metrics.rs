//! Scores as scikit-learn defines them (`sklearn.metrics`, `zero_division=0`): the
//! confusion matrix, overall and balanced accuracy, per-class precision (user's accuracy),
//! recall (producer's accuracy), F1 and IoU, macro and weighted averages, Cohen's kappa;
//! R², RMSE, MAE and bias for values. Averages run over the classes present in the truth
//! or the predictions (scikit-learn's `unique_labels`), never over absent classes.

use serde::Serialize;

/// Classification scores.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClassScores {
    /// Rows = truth, columns = prediction, over all classes of the table.
    pub confusion: Vec<Vec<u64>>,
    /// Samples scored.
    pub n: u64,
    /// Overall accuracy.
    pub accuracy: f64,
    /// Mean recall over the classes in the truth.
    pub balanced_accuracy: f64,
    /// Unweighted mean F1 over the present classes.
    pub macro_f1: f64,
    /// Support-weighted mean F1.
    pub weighted_f1: f64,
    /// Unweighted mean precision.
    pub macro_precision: f64,
    /// Unweighted mean recall.
    pub macro_recall: f64,
    /// Mean IoU over the present classes.
    pub mean_iou: f64,
    /// Cohen's kappa.
    pub kappa: f64,
    /// Per class of the table (absent classes are all zero).
    pub per_class: Vec<PerClass>,
}

/// One class's scores.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PerClass {
    /// Truth count.
    pub support: u64,
    /// Predicted count.
    pub predicted: u64,
    /// Precision (user's accuracy).
    pub precision: f64,
    /// Recall (producer's accuracy).
    pub recall: f64,
    /// F1.
    pub f1: f64,
    /// Intersection over union (Jaccard).
    pub iou: f64,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

/// Scores of `pred` against `truth` (class indices below `n_classes`).
pub fn classification(truth: &[u32], pred: &[u32], n_classes: usize) -> ClassScores {
    let c = n_classes;
    let mut cm = vec![vec![0u64; c]; c];
    for (&t, &p) in truth.iter().zip(pred) {
        cm[t as usize][p as usize] += 1;
    }
    from_confusion(cm)
}

/// Scores from a confusion matrix (rows = truth).
pub fn from_confusion(cm: Vec<Vec<u64>>) -> ClassScores {
    let c = cm.len();
    let row: Vec<u64> = cm.iter().map(|r| r.iter().sum()).collect();
    let col: Vec<u64> = (0..c).map(|j| cm.iter().map(|r| r[j]).sum()).collect();
    let n: u64 = row.iter().sum();
    let present: Vec<usize> = (0..c).filter(|&i| row[i] > 0 || col[i] > 0).collect();
    let mut per_class = Vec::with_capacity(c);
    for i in 0..c {
        let tp = cm[i][i] as f64;
        let fp = col[i] as f64 - tp;
        let fnn = row[i] as f64 - tp;
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, tp + fnn);
        // sklearn's F-beta with beta = 1: 2 tp / (2 tp + fn + fp), 0 when undefined.
        let f1 = ratio(2.0 * tp, 2.0 * tp + fnn + fp);
        let iou = ratio(tp, tp + fp + fnn);
        per_class.push(PerClass {
            support: row[i],
            predicted: col[i],
            precision,
            recall,
            f1,
            iou,
        });
    }
    let np = present.len() as f64;
    let mean = |f: &dyn Fn(&PerClass) -> f64| {
        if present.is_empty() {
            0.0
        } else {
            present.iter().map(|&i| f(&per_class[i])).sum::<f64>() / np
        }
    };
    let correct: u64 = (0..c).map(|i| cm[i][i]).sum();
    let in_truth: Vec<usize> = (0..c).filter(|&i| row[i] > 0).collect();
    let balanced_accuracy = if in_truth.is_empty() {
        0.0
    } else {
        in_truth.iter().map(|&i| per_class[i].recall).sum::<f64>() / in_truth.len() as f64
    };
    let weighted_f1 = ratio(
        present
            .iter()
            .map(|&i| per_class[i].f1 * row[i] as f64)
            .sum::<f64>(),
        n as f64,
    );
    // Cohen's kappa as sklearn computes it: 1 - sum(W * C) / sum(W * E) with W = 1 - I and
    // E the outer product of the marginals over the total.
    let total = n as f64;
    let (mut obs, mut exp) = (0.0, 0.0);
    for &i in &present {
        for &j in &present {
            if i != j {
                obs += cm[i][j] as f64;
                exp += row[i] as f64 * col[j] as f64 / total;
            }
        }
    }
    let kappa = if exp == 0.0 {
        f64::NAN
    } else {
        1.0 - obs / exp
    };
    ClassScores {
        n,
        accuracy: ratio(correct as f64, total),
        balanced_accuracy,
        macro_f1: mean(&|p| p.f1),
        weighted_f1,
        macro_precision: mean(&|p| p.precision),
        macro_recall: mean(&|p| p.recall),
        mean_iou: mean(&|p| p.iou),
        kappa,
        per_class,
        confusion: cm,
    }
}

/// Regression scores.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ValueScores {
    /// Samples.
    pub n: u64,
    /// Coefficient of determination (sklearn: 1 when perfect and constant truth, 0 when
    /// the truth is constant and the prediction is not).
    pub r2: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Mean of prediction minus truth.
    pub bias: f64,
    /// Pearson correlation.
    pub pearson_r: f64,
}

/// Scores of `pred` against `truth`.
pub fn regression(truth: &[f64], pred: &[f64]) -> ValueScores {
    let n = truth.len() as f64;
    let mean_t = truth.iter().sum::<f64>() / n;
    let mean_p = pred.iter().sum::<f64>() / n;
    let (mut ss_res, mut ss_tot, mut abs, mut bias, mut sxy, mut spp) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (&t, &p) in truth.iter().zip(pred) {
        ss_res += (t - p) * (t - p);
        ss_tot += (t - mean_t) * (t - mean_t);
        abs += (t - p).abs();
        bias += p - t;
        sxy += (t - mean_t) * (p - mean_p);
        spp += (p - mean_p) * (p - mean_p);
    }
    let r2 = if ss_tot == 0.0 {
        if ss_res == 0.0 { 1.0 } else { 0.0 }
    } else {
        1.0 - ss_res / ss_tot
    };
    ValueScores {
        n: truth.len() as u64,
        r2,
        rmse: (ss_res / n).sqrt(),
        mae: abs / n,
        bias: bias / n,
        pearson_r: ratio(sxy, (ss_tot * spp).sqrt()),
    }
}

/// Mean and population standard deviation.
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let s = (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt();
    (m, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_case_by_hand() {
        // truth 0 0 1 1 2, pred 0 1 1 1 0: class 0 tp 1 fp 1 fn 1; class 1 tp 2 fp 1;
        // class 2 tp 0 fn 1.
        let s = classification(&[0, 0, 1, 1, 2], &[0, 1, 1, 1, 0], 4);
        assert_eq!(s.accuracy, 0.6);
        assert!((s.per_class[0].f1 - 0.5).abs() < 1e-15);
        assert!((s.per_class[1].f1 - 0.8).abs() < 1e-15);
        assert_eq!(s.per_class[2].f1, 0.0);
        // class 3 is absent from both: not in the averages.
        assert!((s.macro_f1 - 1.3 / 3.0).abs() < 1e-15);
        assert!((s.balanced_accuracy - (0.5 + 1.0 + 0.0) / 3.0).abs() < 1e-15);
        let r = regression(&[1.0, 2.0, 3.0], &[1.0, 2.0, 4.0]);
        assert!((r.r2 - 0.5).abs() < 1e-15);
        assert!((r.mae - 1.0 / 3.0).abs() < 1e-15);
    }
}
