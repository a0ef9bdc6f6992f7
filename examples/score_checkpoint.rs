//! Load a shipped checkpoint by name, score new data with it and draw samples.
//!
//! `cargo run --release --example score_checkpoint` (the `quickstart` conv GMM of 8×8 BSDS
//! patches; `gmmzoo zoo list` names the others).

use gmm_zoo::datasets::sample_data_root;
use gmm_zoo::experiments::scoring::{ScoreInput, score_input};
use gmm_zoo::experiments::zoo::resolve_run;
use gmm_zoo::models::{DEFAULT_DEVICE, device_from_name};
use gmm_zoo::training::folder::layer_dir;
use gmm_zoo::training::{Progress, RunOptions, SavedLayer};
use rand::SeedableRng;
use std::path::Path;

fn main() -> anyhow::Result<()> {
    let device = device_from_name(DEFAULT_DEVICE)?;
    let run = resolve_run(Path::new("quickstart"))?; // checkpoints/quickstart
    let opts = RunOptions {
        data_root: sample_data_root(),
        out_dir: run.clone(),
        device: device.clone(),
        device_name: DEFAULT_DEVICE.into(),
        progress: Progress::quiet(),
        resume: false,
    };

    // Score the BSDS test images of the shipped sample, tile by tile: the least likely
    // tile of each image is where the model is most surprised.
    let images = ScoreInput::Images(sample_data_root().join("bsds300/test"));
    let report = score_input(&run, &images, 0, false, &opts)?;
    print!("{report}");

    // Draw five patches from the mixture.
    let (saved, layer) = SavedLayer::load(&layer_dir(&run, 0, 1), &device)?;
    let model = layer.generative().expect("a conv layer is generative");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let (samples, components) = model.sample(5, &mut rng)?;
    let [h, w] = saved.input_shape;
    println!(
        "5 samples of {h}x{w} from components {components:?}; first pixels {:.3?}",
        &samples[..4]
    );
    Ok(())
}
