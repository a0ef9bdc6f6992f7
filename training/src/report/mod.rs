//! What a trained layer shows: its metrics (`metrics.json`), pictures (components, top samples,
//! curves, overlap), cluster labels against the classes, and the family's own views
//! ([`inspect::Inspect`]).

pub mod inspect;
pub mod labels;
pub mod layer_pictures;
pub mod metrics;
pub mod pictures;
pub mod top;
