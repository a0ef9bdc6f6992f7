//! Progress bars (indicatif) and log lines that do not tear them.

use indicatif::{ProgressBar, ProgressStyle};

/// Where a run reports: a log line per event, progress bars on long steps. Quiet mode keeps
/// only the log lines off too (for tests).
#[derive(Debug, Clone, Default)]
pub struct Progress {
    quiet: bool,
    bar: std::sync::Arc<std::sync::Mutex<Option<ProgressBar>>>,
}

impl Progress {
    /// Reports to stderr.
    pub fn stderr() -> Self {
        Self::default()
    }

    /// Reports nothing.
    pub fn quiet() -> Self {
        Self { quiet: true, ..Self::default() }
    }

    /// A progress bar of `len` steps (hidden when stderr is not a terminal, or when quiet).
    pub fn bar(&self, len: u64, label: &str) -> ProgressBar {
        let bar = if self.quiet { ProgressBar::hidden() } else { ProgressBar::new(len) };
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>8} [{bar:40}] {pos}/{len} {elapsed_precise} (eta {eta})",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
        bar
    }

    /// A log line (above the progress bar, if one is showing).
    pub fn log(&self, line: &str) {
        if self.quiet {
            return;
        }
        let guard = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref().filter(|b| !b.is_finished() && !b.is_hidden()) {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
}
