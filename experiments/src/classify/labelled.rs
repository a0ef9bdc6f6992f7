//! Labelled digits: images with their class labels, typed, so that nothing downstream has to
//! ask whether the labels are there.

use gmm_datasets::Images;
use gmm_training::config::{DataConfig, Split};
use gmm_training::data::load_split;
use gmm_training::{ConfigError, TrainError};
use std::path::Path;

/// Images and one class label per image.
#[derive(Debug, Clone)]
pub struct Labelled {
    /// The images (their own `labels` field as loaded).
    pub images: Images,
    /// `labels[i]`, the class of image i.
    pub labels: Vec<u8>,
}

impl Labelled {
    /// Split `split` of `data` with its labels; data without labels is refused naming
    /// `data.dataset`.
    pub fn load(
        data: &DataConfig,
        root: &Path,
        split: Split,
        seed: u64,
    ) -> Result<Self, TrainError> {
        Self::from_images(load_split(data, root, split, seed)?, root)
    }

    /// Images loaded from `root` with their labels; images without labels are refused naming
    /// `data.dataset`.
    pub fn from_images(images: Images, root: &Path) -> Result<Self, TrainError> {
        let Some(labels) = images.labels.clone() else {
            return Err(TrainError::Config {
                path: root.into(),
                error: ConfigError::new(
                    "data.dataset",
                    "this data has no class labels; a classifier needs dataset = \"mnist\"",
                ),
            });
        };
        Ok(Self { images, labels })
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The digits of one class.
    pub fn of_class(&self, class: u8) -> Images {
        let (images, labels) = (&self.images, &self.labels);
        let d = images.dim();
        let mut pixels = Vec::new();
        for (i, &l) in labels.iter().enumerate() {
            if l == class {
                pixels.extend_from_slice(images.image(i));
            }
        }
        let n = pixels.len() / d;
        Images {
            pixels,
            height: images.height,
            width: images.width,
            labels: Some(vec![class; n]),
            weights: None,
        }
    }
}
