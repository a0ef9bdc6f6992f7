/// A set of equally sized grayscale images (or patches), row-major, one image per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Images {
    /// Pixel values, `len() == n * height * width`.
    pub pixels: Vec<f32>,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Class labels, when the dataset has them (MNIST digits).
    pub labels: Option<Vec<u8>>,
    /// Per-row sample weights, when the user gives them (`[data] weights`).
    pub weights: Option<Vec<f32>>,
}

impl Images {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / self.dim().max(1)
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pixels per image, `D = height * width`.
    pub fn dim(&self) -> usize {
        self.height * self.width
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        let d = self.dim();
        &self.pixels[i * d..(i + 1) * d]
    }

    /// The first `n` images (all of them when `n` is larger), with their labels and weights.
    pub fn truncated(mut self, n: usize) -> Self {
        let n = n.min(self.len());
        self.pixels.truncate(n * self.dim());
        if let Some(labels) = self.labels.as_mut() {
            labels.truncate(n);
        }
        if let Some(weights) = self.weights.as_mut() {
            weights.truncate(n);
        }
        self
    }

    /// The rows of the block `keep` (all when it covers them), with their labels and weights.
    pub fn rows(mut self, keep: std::ops::Range<usize>) -> Self {
        let (start, end) = (keep.start.min(self.len()), keep.end.min(self.len()));
        let d = self.dim();
        self.pixels.truncate(end * d);
        self.pixels.drain(..start * d);
        self.pixels.shrink_to_fit();
        if let Some(labels) = self.labels.as_mut() {
            labels.truncate(end);
            labels.drain(..start);
        }
        if let Some(weights) = self.weights.as_mut() {
            weights.truncate(end);
            weights.drain(..start);
        }
        self
    }

    /// The rows `keep` (indices, in that order), with their labels and weights.
    pub fn select(&self, keep: &[usize]) -> Self {
        let mut pixels = Vec::with_capacity(keep.len() * self.dim());
        for &i in keep {
            pixels.extend_from_slice(self.image(i));
        }
        let labels = self.labels.as_ref().map(|l| keep.iter().map(|&i| l[i]).collect());
        let weights = self.weights.as_ref().map(|w| keep.iter().map(|&i| w[i]).collect());
        Self { pixels, height: self.height, width: self.width, labels, weights }
    }
}
