//! What gmm-zoo does with trained layers, on top of the engine (`gmm-training`): per-class
//! generative classifiers, their discriminative fine-tuning, top-down refinement of a stack,
//! samples and inspection pictures of a run, and the zoo of shipped checkpoints.

pub mod classify;
pub mod finetune;
pub mod impute;
pub mod inspect;
pub mod restore;
pub mod sampling;
pub mod scoring;
pub mod select;
pub mod topdown;
pub mod zoo;
