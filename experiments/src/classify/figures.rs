//! What a generative classifier measured: decisions, accuracy (with its binomial standard
//! error), confusion, per-class likelihoods, and the report of a classification run.

use gmm_models::host::log_sum_exp;
use serde::{Deserialize, Serialize};

/// What a classification run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifyReport {
    /// Run name.
    pub name: String,
    /// The per-class model (`kind` and hyper-parameters).
    pub model: String,
    /// Fraction of test digits classified correctly.
    pub accuracy: f64,
    /// Accuracy within each true class.
    pub per_class_accuracy: Vec<f64>,
    /// `confusion[true][predicted]` counts on the test set.
    pub confusion: Vec<Vec<usize>>,
    /// `log p(class)`, from the training class frequencies.
    pub log_prior: Vec<f64>,
    /// Mean test log-likelihood of each class's digits under their own class model.
    pub own_class_test_log_likelihood: Vec<f64>,
    /// Seconds to train each class model.
    pub class_seconds: Vec<f64>,
    /// EM iterations each class model ran (empty in reports written before they were kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_iterations: Vec<usize>,
    /// Wall time of all the training (parallel where `jobs` > 1), seconds.
    pub train_seconds: f64,
    /// Wall time of scoring the test set, seconds.
    pub test_seconds: f64,
    /// Class models trained at once.
    pub jobs: usize,
}

/// The decisions `argmax_c (log p(x_n | c) + log p(c))` for `[N, C]` class log-likelihoods.
pub fn decide(log_likelihood: &[f64], log_prior: &[f64]) -> Vec<usize> {
    let c = log_prior.len();
    log_likelihood
        .chunks(c)
        .map(|row| {
            (0..c)
                .max_by(|&a, &b| (row[a] + log_prior[a]).total_cmp(&(row[b] + log_prior[b])))
                .unwrap()
        })
        .collect()
}

/// What a generative classifier scores on labelled digits.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassFigures {
    /// `argmax_c log p(x_n | c) + log p(c)`.
    pub predicted: Vec<usize>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    /// Fraction correct.
    pub accuracy: f64,
    /// Fraction correct within each true class.
    pub per_class_accuracy: Vec<f64>,
    /// Mean `log p(x | c)` of each class's digits under their own class model.
    pub own_class_log_likelihood: Vec<f64>,
    /// Mean `log p(y_n | x_n)` (the conditional log-likelihood of the labels).
    pub conditional_log_likelihood: f64,
}

impl ClassFigures {
    /// From `[N, C]` class log-likelihoods, the labels and `log p(c)`.
    pub fn new(log_lik: &[f64], labels: &[u8], log_prior: &[f64]) -> Self {
        let (c, n) = (log_prior.len(), labels.len());
        let predicted = decide(log_lik, log_prior);
        let mut confusion = vec![vec![0usize; c]; c];
        for (&truth, &p) in labels.iter().zip(&predicted) {
            confusion[truth as usize][p] += 1;
        }
        let correct: usize = (0..c).map(|k| confusion[k][k]).sum();
        let per_class_accuracy = (0..c)
            .map(|k| confusion[k][k] as f64 / confusion[k].iter().sum::<usize>().max(1) as f64)
            .collect();
        let own_class_log_likelihood = (0..c)
            .map(|k| {
                let rows: Vec<usize> = (0..n).filter(|&i| labels[i] as usize == k).collect();
                rows.iter().map(|&i| log_lik[i * c + k]).sum::<f64>() / rows.len().max(1) as f64
            })
            .collect();
        let conditional_log_likelihood = (0..n)
            .map(|i| {
                let joint: Vec<f64> = (0..c).map(|k| log_lik[i * c + k] + log_prior[k]).collect();
                joint[labels[i] as usize] - log_sum_exp(&joint)
            })
            .sum::<f64>()
            / n.max(1) as f64;
        Self {
            predicted,
            confusion,
            accuracy: correct as f64 / n.max(1) as f64,
            per_class_accuracy,
            own_class_log_likelihood,
            conditional_log_likelihood,
        }
    }
}

/// The binomial standard error `√(p(1 − p)/N)` of an accuracy `p` over `N` test rows.
pub fn accuracy_standard_error(accuracy: f64, n: usize) -> f64 {
    (accuracy * (1.0 - accuracy) / n.max(1) as f64).sqrt()
}

impl std::fmt::Display for ClassifyReport {
    /// Accuracy overall and per class, the confusion matrix, and the times.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n: usize = self.confusion.iter().flatten().sum();
        let se = accuracy_standard_error(self.accuracy, n);
        writeln!(
            f,
            "{}: test accuracy {:.4} ± {se:.4} (binomial standard error over {n} digits; {})",
            self.name, self.accuracy, self.model
        )?;
        let per_class: Vec<String> = self
            .per_class_accuracy
            .iter()
            .enumerate()
            .map(|(c, a)| format!("{c}: {a:.3}"))
            .collect();
        writeln!(f, "per class: {}", per_class.join(", "))?;
        writeln!(f, "confusion (rows: true 0-9, columns: predicted 0-9):")?;
        for row in &self.confusion {
            writeln!(f, "  {}", row.iter().map(|v| format!("{v:>5}")).collect::<String>())?;
        }
        write!(
            f,
            "training {:.1} s ({} at once), testing {:.1} s",
            self.train_seconds, self.jobs, self.test_seconds
        )
    }
}
