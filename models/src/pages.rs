//! Host buffers for rows: backed by 2 MB pages on Linux, so that filling a large batch costs a
//! few page faults rather than one per 4 KB.

/// `len` zeros, their memory still untouched (a fresh allocation), with Linux asked to back it
/// with transparent huge pages (`madvise(MADV_HUGEPAGE)`; systems whose setting is `never`, or
/// other systems, give ordinary pages). Filled by the caller, MNIST's 188 MB of float32 rows
/// take about 100 page faults instead of 46,000: measured on a 2-core machine, 0.05 s of a
/// 0.15 s one-iteration fit.
pub fn huge_page_zeros(len: usize) -> Vec<f32> {
    let v = vec![0.0f32; len];
    #[cfg(target_os = "linux")]
    {
        // madvise takes whole pages: the ones inside `v`.
        const PAGE: usize = 4096;
        let start = v.as_ptr() as usize;
        let (first, end) = (start.next_multiple_of(PAGE), start + std::mem::size_of_val(&v[..]));
        if end > first + PAGE {
            // SAFETY: advice on whole pages inside `v`'s allocation; it changes no value, and
            // an error only means ordinary pages.
            unsafe {
                let len = (end - first) / PAGE * PAGE;
                libc::madvise(first as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    /// Zeros of the length asked, whatever the pages (the advice never changes a value).
    #[test]
    fn zeros_of_any_length() {
        for len in [0, 1, 1023, 1 << 20, (1 << 21) + 7] {
            let v = super::huge_page_zeros(len);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x == 0.0));
        }
    }
}
