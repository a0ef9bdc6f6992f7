//! What `score` reports: each row's scores and where it came from, the CSV of them, and the
//! summary it prints (per source and overall, the mean with its standard error).

use gmm_training::em::MeanLogLikelihood;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Where a scored row came from: a file or split name, its row there, and for image tiles
/// the tile's top-left pixel.
#[derive(Debug, Clone, PartialEq)]
pub struct RowSource {
    /// The image file, array file or split.
    pub source: String,
    /// Row index within the source (tile index for an image).
    pub index: usize,
    /// `(top, left)` of an image tile.
    pub at: Option<(usize, usize)>,
}

/// One sample's scores.
#[derive(Debug, Clone, PartialEq)]
pub struct RowScore {
    /// `log p(x)` in nats.
    pub log_likelihood: f64,
    /// The MAP component.
    pub component: usize,
    /// The posterior `r_c` (empty unless asked for).
    pub responsibilities: Vec<f64>,
}

/// Per image (or file, or split): rows, mean and lowest `log p(x)`, in first-seen order.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSummary {
    /// The file or split.
    pub source: String,
    /// Rows scored.
    pub rows: usize,
    /// Mean `log p(x)`, nats.
    pub mean: f64,
    /// Lowest `log p(x)` (the most anomalous row), nats.
    pub min: f64,
}

/// What `score` prints, gathered block by block: every source's summary and the sums of the
/// rows' `log p(x)` and its square (in row order, f64).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreSummary {
    /// The run folder.
    pub run: PathBuf,
    /// The layer scored (counted from 0).
    pub layer: usize,
    /// Its components.
    pub n_components: usize,
    /// One summary per source, in first-seen order.
    pub sources: Vec<SourceSummary>,
    /// Whether the rows are image tiles.
    pub tiles: bool,
    /// The symmetries the model is averaged over (their number; 1: the model as trained).
    pub symmetries: usize,
    sum: f64,
    sum_sq: f64,
    rows: usize,
}

impl ScoreSummary {
    /// An empty summary of scores by layer `layer` (K components) of `run`.
    pub fn new(run: PathBuf, layer: usize, n_components: usize) -> Self {
        Self {
            run,
            layer,
            n_components,
            sources: Vec::new(),
            tiles: false,
            symmetries: 1,
            sum: 0.0,
            sum_sq: 0.0,
            rows: 0,
        }
    }

    /// Adds a block of rows.
    pub fn add(&mut self, sources: &[RowSource], rows: &[RowScore]) {
        for (src, row) in sources.iter().zip(rows) {
            let ll = row.log_likelihood;
            (self.sum, self.sum_sq, self.rows) =
                (self.sum + ll, self.sum_sq + ll * ll, self.rows + 1);
            self.tiles |= src.at.is_some();
            match self.sources.last_mut() {
                Some(s) if s.source == src.source => {
                    s.mean += (ll - s.mean) / (s.rows + 1) as f64;
                    s.rows += 1;
                    s.min = s.min.min(ll);
                }
                _ => self.sources.push(SourceSummary {
                    source: src.source.clone(),
                    rows: 1,
                    mean: ll,
                    min: ll,
                }),
            }
        }
    }

    /// Rows scored.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The mean `log p(x)` over every row and its standard error.
    pub fn mean(&self) -> MeanLogLikelihood {
        MeanLogLikelihood::from_sums(self.sum, self.sum_sq, self.rows)
    }
}

impl std::fmt::Display for ScoreSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let summary = self.mean();
        let error = match summary.standard_error.is_finite() {
            true => format!(" ± {:.4}", summary.standard_error),
            false => String::new(),
        };
        let averaged = match self.symmetries {
            1 => String::new(),
            n => format!(", averaged over {n} symmetries of its patches"),
        };
        writeln!(
            f,
            "{} rows scored by layer {} of {} (K = {}{averaged}): mean log p(x) {:.4}{error} \
             nats (± its standard error over the rows)",
            self.rows,
            self.layer,
            self.run.display(),
            self.n_components,
            summary.mean
        )?;
        if self.sources.len() > 1 || self.tiles {
            writeln!(f, "{:>8} {:>14} {:>14}  source", "rows", "mean log p", "min log p")?;
            for s in &self.sources {
                writeln!(f, "{:>8} {:>14.4} {:>14.4}  {}", s.rows, s.mean, s.min, s.source)?;
            }
        }
        Ok(())
    }
}

/// The CSV's first line: `source,index,top,left,log_likelihood,component[,r_0,…]`.
pub fn csv_header(n_components: usize, responsibilities: bool) -> String {
    let mut out = String::from("source,index,top,left,log_likelihood,component");
    if responsibilities {
        for c in 0..n_components {
            let _ = write!(out, ",r_{c}");
        }
    }
    out.push('\n');
    out
}

/// The CSV lines of a block of rows.
pub fn csv_lines(sources: &[RowSource], rows: &[RowScore]) -> String {
    let mut out = String::new();
    for (src, row) in sources.iter().zip(rows) {
        let (top, left) =
            src.at.map_or((String::new(), String::new()), |(t, l)| (t.to_string(), l.to_string()));
        let quoted = src.source.replace('"', "\"\"");
        let _ = write!(
            out,
            "\"{quoted}\",{},{top},{left},{:.6},{}",
            src.index, row.log_likelihood, row.component
        );
        for r in &row.responsibilities {
            let _ = write!(out, ",{r:.6e}");
        }
        out.push('\n');
    }
    out
}

/// The scores of every sample, in input order (what [`super::score_input`] collects).
#[derive(Debug, Clone)]
pub struct ScoreReport {
    /// The run folder.
    pub run: PathBuf,
    /// The layer scored (counted from 0).
    pub layer: usize,
    /// Its components.
    pub n_components: usize,
    /// Where each row came from.
    pub sources: Vec<RowSource>,
    /// Each row's scores.
    pub rows: Vec<RowScore>,
}

impl ScoreReport {
    /// Its summary, as `score` prints it.
    pub fn summary(&self) -> ScoreSummary {
        let mut summary = ScoreSummary::new(self.run.clone(), self.layer, self.n_components);
        summary.add(&self.sources, &self.rows);
        summary
    }

    /// One summary per source.
    pub fn summaries(&self) -> Vec<SourceSummary> {
        self.summary().sources
    }

    /// The CSV of every row: `source,index,top,left,log_likelihood,component[,r_0,…]`.
    pub fn to_csv(&self) -> String {
        let keep = self.rows.first().is_some_and(|r| !r.responsibilities.is_empty());
        csv_header(self.n_components, keep) + &csv_lines(&self.sources, &self.rows)
    }
}

impl std::fmt::Display for ScoreReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.summary().fmt(f)
    }
}
