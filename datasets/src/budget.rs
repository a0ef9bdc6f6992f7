//! User-sized numbers (sample counts, patch sizes, pictures) are checked against the machine's
//! memory before anything is allocated: a typo of three zeros gets a sentence, not an abort.

/// The most bytes one buffer sized by a user's number may take: half the machine's physical
/// memory (`MemTotal` of `/proc/meminfo`), or 8 GiB where that is unknown.
pub fn memory_budget() -> u64 {
    let total_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok()
    });
    total_kib.map_or(8 << 30, |k| k * 1024 / 2)
}

/// Refuses `count × per_item` f32 values (`what` names the number, e.g. `data.n_train`) when
/// they would not fit in [`memory_budget`]; the message gives the size and the most that fits.
pub fn check_f32_count(what: &str, count: u64, per_item: u64) -> Result<(), String> {
    let budget = memory_budget();
    let bytes = count.saturating_mul(per_item.max(1)).saturating_mul(4);
    if bytes <= budget {
        return Ok(());
    }
    Err(format!(
        "{what} = {count} needs {:.1} GB for its values alone; this machine allows {:.1} GB \
         (half its memory), that is at most {} here",
        bytes as f64 / 1e9,
        budget as f64 / 1e9,
        budget / 4 / per_item.max(1)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_pass_and_absurd_ones_are_refused_with_the_limit() {
        assert!(check_f32_count("n", 1000, 64).is_ok());
        let err = check_f32_count("--n", 100_000_000_000, 784).unwrap_err();
        assert!(err.starts_with("--n = 100000000000 needs 313600.0 GB"), "{err}");
        assert!(err.contains("at most"), "{err}");
        assert!(check_f32_count("n", u64::MAX, u64::MAX).is_err(), "no overflow");
    }
}
