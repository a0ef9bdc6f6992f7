//! What a prior keeps between images: its noisy factors at the last noise levels it was used
//! at, so that images restored one after another under one schedule factor each component
//! once per level, not once per image.

use std::any::Any;
use std::sync::{Arc, Mutex};

/// Noise levels a [`FactorCache`] keeps: EPLL's schedule has five, a colour image's three
/// opponent channels (three noise levels) fifteen.
const CACHED_LEVELS: usize = 16;

/// Values (a flat prior's noisy factors: about 3 MB each for 200 components of 63
/// coordinates; 200 QR decompositions, 0.09 s of a fast-mode image) by noise variance, the
/// last [`CACHED_LEVELS`] kept. A copy of a prior starts empty.
#[derive(Default)]
pub struct FactorCache(Mutex<Vec<(u64, Arc<dyn Any + Send + Sync>)>>);

impl FactorCache {
    /// The value kept for noise variance `sigma2`, else `build`'s (then kept).
    pub(super) fn get<T: Any + Send + Sync>(
        &self,
        sigma2: f64,
        build: impl FnOnce() -> T,
    ) -> Arc<T> {
        let key = sigma2.to_bits();
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let found = kept.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
        drop(kept); // built unlocked: other images may take their levels meanwhile
        if let Some(value) = found.and_then(|v| v.downcast::<T>().ok()) {
            return value;
        }
        let value = Arc::new(build());
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|(k, _)| *k != key);
        if kept.len() == CACHED_LEVELS {
            kept.remove(0);
        }
        kept.push((key, value.clone()));
        value
    }

    /// How many noise levels are kept.
    pub(super) fn len(&self) -> usize {
        self.0.lock().map(|kept| kept.len()).unwrap_or(0)
    }
}

impl Clone for FactorCache {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for FactorCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FactorCache({} noise levels)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A level is built once and then handed back; the oldest level goes when a seventeenth
    /// comes; a copy keeps nothing.
    #[test]
    fn levels_are_built_once_and_the_oldest_go() {
        let cache = FactorCache::default();
        let builds = std::cell::Cell::new(0);
        let get = |s: f64| {
            *cache.get(s, || {
                builds.set(builds.get() + 1);
                s * 2.0
            })
        };
        assert_eq!((get(0.5), get(0.5)), (1.0, 1.0));
        for level in 0..CACHED_LEVELS {
            get(1.0 + level as f64);
        }
        assert_eq!(get(1.0), 2.0);
        assert_eq!(builds.get(), 1 + CACHED_LEVELS);
        assert_eq!(get(0.5), 1.0); // evicted by the sixteenth new level: built again
        assert_eq!(builds.get(), 2 + CACHED_LEVELS);
        assert_eq!(cache.len(), CACHED_LEVELS);
        assert_eq!(cache.clone().len(), 0);
    }
}
