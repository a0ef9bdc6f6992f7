//! `gmmzoo zoo table`: the README's results table, rendered from the manifest.

use super::{Entry, LayerEntry, Manifest, accuracy_with_error};

/// The README's table sits between these two lines.
pub const TABLE_BEGIN: &str = "<!-- zoo-table:begin (gmmzoo zoo table --write README.md) -->";
/// See [`TABLE_BEGIN`].
pub const TABLE_END: &str = "<!-- zoo-table:end -->";

/// The README's results table (markdown), from the manifest.
pub fn render_table(manifest: &Manifest) -> String {
    let mut out = String::from(
        "| config | model | data | train LL nats (bits/dim) | validation LL nats ± s.e. | test LL \
         nats ± s.e. (bits/dim) | accuracy | purity / NMI | components alive | EM iterations | \
         wall time | shipped |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for e in &manifest.models {
        for (i, l) in e.layers.iter().enumerate() {
            let name = match e.layers.len() {
                1 => format!("[{}]({})", e.name, e.config),
                _ => format!("[{}]({}) layer {i}", e.name, e.config),
            };
            let model = match &l.input {
                Some(f) => format!("{} on {f}", l.kind),
                None => l.kind.clone(),
            };
            let score = |nats: f64| match nats.is_finite() {
                true => format!("{nats:.2} ({:.3})", LayerEntry::bits(nats, l.dims)),
                false => "—".into(),
            };
            let (valid, test) = split_cells(e, l, i + 1 == e.layers.len());
            let accuracy = e.accuracy.map_or("—".into(), |a| accuracy_with_error(a, Some(l)));
            let clusters = match (l.purity, l.nmi) {
                (Some(p), Some(n)) => format!("{p:.3} / {n:.3}"),
                _ => "—".into(),
            };
            let wall = match i {
                0 => format!("{:.1} s", e.wall_seconds),
                _ => "″".into(),
            };
            let shipped = match (e.shipped, i) {
                (true, 0) => format!("[yes](checkpoints/{})", e.name),
                (false, 0) => "no (too large)".into(),
                _ => "″".into(),
            };
            let alive = e
                .accuracy
                .map_or(format!("{} / {}", l.components, l.configured_components), |_| {
                    format!("{} per class", l.components)
                });
            out.push_str(&format!(
                "| {name} | {model} | {} | {} | {} | {test} | {accuracy} | {clusters} | {alive} | \
                 {} | {wall} | {shipped} |\n",
                e.data,
                score(l.train_nats),
                valid,
                l.iterations,
            ));
        }
    }
    let machines: Vec<&str> = {
        let mut m: Vec<&str> = manifest.models.iter().map(|e| e.machine.as_str()).collect();
        m.sort();
        m.dedup();
        m
    };
    out.push_str(&format!(
        "\nMachine: {}. Bits/dim is −LL/(D·ln 2) over the D values a layer models (pixels, or \
         the K features of the layer below). Classification rows give the mean test LL of each \
         digit under its own class's model and the EM iteration cap. ± is the standard error over \
         the test rows: s/√N of the rows' log-likelihoods, √(p(1 − p)/N) of an accuracy. The \
         validation rows (`[data] n_valid`) are the ones settings are chosen on; — where a config \
         has none. \"Averaged over 8 symmetries (dihedral)\": the model's density averaged over \
         the square patch turned and mirrored, q(x) = mean over g of p(g·x), itself a density \
         (`gmmzoo zoo symmetric`).\n",
        machines.join("; ")
    ));
    out
}

/// A layer's validation and test cells: its figures ± their standard errors (the test one in
/// bits/dim too), and for the last layer the entry's figures averaged over symmetries.
fn split_cells(e: &Entry, l: &LayerEntry, last: bool) -> (String, String) {
    let own_class = if e.accuracy.is_some() { " own class" } else { "" };
    let bits = LayerEntry::bits(l.test_nats, l.dims);
    let mut test = format!("{} ({bits:.3}){own_class}", l.test_with_error());
    let mut valid = l.valid_with_error();
    if let Some(sym) = e.symmetric.as_ref().filter(|_| last) {
        let bits = LayerEntry::bits(sym.test_nats, l.dims);
        let (t, se) = (sym.test_nats, sym.test_standard_error);
        test += &format!("; averaged over {}: **{t:.2} ± {se:.2}** ({bits:.3})", sym.label());
        if let (Some(v), Some(se)) = (sym.valid_nats, sym.valid_standard_error) {
            valid += &format!("; averaged: {v:.2} ± {se:.2}");
        }
    }
    (valid, test)
}

/// `text` with the part between [`TABLE_BEGIN`] and [`TABLE_END`] replaced by `table`.
pub fn splice_table(text: &str, table: &str) -> Result<String, String> {
    let begin = text.find(TABLE_BEGIN).ok_or(format!("no line {TABLE_BEGIN}"))?;
    let end = text.find(TABLE_END).ok_or(format!("no line {TABLE_END}"))?;
    if end < begin {
        return Err(format!("{TABLE_END} comes before {TABLE_BEGIN}"));
    }
    let head = &text[..begin + TABLE_BEGIN.len()];
    Ok(format!("{head}\n{table}{}", &text[end..]))
}
