//! What a trained layer shows: its metrics (`metrics.json`), pictures (components, top samples,
//! curves, overlap), cluster labels against the classes, and the family's own views
//! ([`views::Inspect`]).

pub mod labels;
pub mod layer_pictures;
pub mod metrics;
pub mod pictures;
pub mod top;
pub mod views;
