//! `gmmzoo select`: the number of components by BIC, AIC and test log-likelihood. The config's
//! one layer is trained once per K (each a run folder of its own, `k<K>/`), and the figures go
//! to `selection.json` and `selection.svg`.

use gmm_training::folder::{create_dir, write_json};
use gmm_training::metrics::Metrics;
use gmm_training::pictures::{Plot, line_svg};
use gmm_training::{ConfigError, RunConfig, RunOptions, TrainError, fsio, train_run};
use serde::{Deserialize, Serialize};

/// One K's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Components configured.
    pub n_components: usize,
    /// Components alive after training.
    pub alive: usize,
    /// Free parameters of the density.
    pub n_parameters: usize,
    /// Mean train log-likelihood, nats/sample.
    pub train_nats: f64,
    /// Mean test log-likelihood, nats/sample.
    pub test_nats: f64,
    /// Its standard error over the test rows, nats.
    #[serde(default)]
    pub test_standard_error: f64,
    /// `−2 log L + p ln N` on the training data.
    pub bic: f64,
    /// `−2 log L + 2p` on the training data.
    pub aic: f64,
    /// Wall time of the run, seconds.
    pub seconds: f64,
}

/// What `select` found: every candidate, and the K each criterion picks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// The config's name.
    pub name: String,
    /// One entry per K, in the order asked.
    pub candidates: Vec<Candidate>,
    /// K with the lowest BIC.
    pub best_bic: usize,
    /// K with the lowest AIC.
    pub best_aic: usize,
    /// K with the highest test log-likelihood.
    pub best_test: usize,
}

/// Trains the config's single layer with each K of `ks` into `opts.out_dir/k<K>/`, and writes
/// `selection.json` and `selection.svg` into `opts.out_dir`.
pub fn select_run(
    config: &RunConfig,
    ks: &[usize],
    opts: &RunOptions,
) -> Result<Selection, TrainError> {
    let bad = |key: &str, reason: &str| TrainError::Config {
        path: config.name.clone().into(),
        error: ConfigError::new(key, reason),
    };
    let Some(model) = &config.model else {
        return Err(bad("layers", "select takes a single-layer config ([model] and [em])"));
    };
    if ks.is_empty() || ks.contains(&0) {
        return Err(bad("--components", "give one or more K of at least 1, e.g. 1,2,4,8"));
    }
    create_dir(&opts.out_dir)?;
    let mut candidates = Vec::with_capacity(ks.len());
    for &k in ks {
        let mut run = config.clone();
        let mut layer = model.clone();
        layer.set_n_components(k);
        if layer.n_components() != k {
            return Err(bad(
                "model.kind",
                &format!(
                    "a {} layer's number of components follows from its other keys; select \
                     varies n_components, which it does not have",
                    layer.kind()
                ),
            ));
        }
        (run.model, run.name) = (Some(layer), format!("{}_k{k}", config.name));
        run.validate()
            .map_err(|error| TrainError::Config { path: run.name.clone().into(), error })?;
        let out_dir = opts.out_dir.join(format!("k{k}"));
        opts.progress.log(&format!("K = {k}: training into {}", out_dir.display()));
        let outcome = train_run(&run, &RunOptions { out_dir, ..opts.clone() })?;
        candidates.push(candidate(k, &outcome.metrics[0], outcome.total_seconds)?);
    }
    let pick = |score: fn(&Candidate) -> f64| {
        let best = candidates.iter().min_by(|a, b| score(a).total_cmp(&score(b)));
        best.map_or(0, |c| c.n_components)
    };
    let selection = Selection {
        name: config.name.clone(),
        best_bic: pick(|c| c.bic),
        best_aic: pick(|c| c.aic),
        best_test: pick(|c| -c.test_nats),
        candidates,
    };
    write_json(&opts.out_dir.join("selection.json"), &selection)?;
    fsio::write_atomic(&opts.out_dir.join("selection.svg"), selection_svg(&selection).as_bytes())?;
    Ok(selection)
}

fn candidate(k: usize, m: &Metrics, seconds: f64) -> Result<Candidate, TrainError> {
    let (Some(p), Some(criteria)) = (m.n_parameters, m.criteria) else {
        return Err(TrainError::Failed(format!("the K = {k} run recorded no criteria")));
    };
    Ok(Candidate {
        n_components: k,
        alive: m.n_components,
        n_parameters: p,
        train_nats: m.train.nats_per_sample,
        test_nats: m.test.nats_per_sample,
        test_standard_error: m.test.standard_error.unwrap_or(f64::NAN),
        bic: criteria.bic,
        aic: criteria.aic,
        seconds,
    })
}

/// Two plots, one above the other: BIC and AIC against K, and the test log-likelihood.
fn selection_svg(s: &Selection) -> String {
    let ks: Vec<String> = s.candidates.iter().map(|c| c.n_components.to_string()).collect();
    let column = |f: fn(&Candidate) -> f64| s.candidates.iter().map(f).collect::<Vec<f64>>();
    let (bic, aic, test) = (column(|c| c.bic), column(|c| c.aic), column(|c| c.test_nats));
    let title = format!("{}: BIC (best K = {}), AIC (best K = {})", s.name, s.best_bic, s.best_aic);
    let criteria = Plot { title: &title, x_label: "components K", y_label: "criterion (nats)" };
    let title = format!("{}: test log-likelihood (best K = {})", s.name, s.best_test);
    let held_out = Plot {
        title: &title,
        x_label: "components K",
        y_label: "test log-likelihood (nats/sample)",
    };
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"800\">\n{}{}</svg>\n",
        line_svg(&criteria, &ks, &[("BIC", bic.as_slice()), ("AIC", aic.as_slice())], 0.0),
        line_svg(&held_out, &ks, &[("test", test.as_slice())], 400.0),
    )
}

impl std::fmt::Display for Selection {
    /// A table of the candidates, then the K each criterion picks.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:>6} {:>6} {:>10} {:>12} {:>21} {:>16} {:>16}",
            "K", "alive", "params", "train nats", "test nats ± s.e.", "BIC", "AIC"
        )?;
        for c in &self.candidates {
            let test = format!("{:.4} ± {:.4}", c.test_nats, c.test_standard_error);
            writeln!(
                f,
                "{:>6} {:>6} {:>10} {:>12.4} {test:>21} {:>16.1} {:>16.1}",
                c.n_components, c.alive, c.n_parameters, c.train_nats, c.bic, c.aic
            )?;
        }
        write!(
            f,
            "{}: best K by BIC {}, by AIC {}, by test log-likelihood {}",
            self.name, self.best_bic, self.best_aic, self.best_test
        )
    }
}
