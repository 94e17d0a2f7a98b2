//! Learning from TESSERA embeddings, without Python: a training table (one labelled pixel
//! per row, `emb_0..emb_{d-1}`), the heads users train on it (nearest centroid, kNN,
//! multinomial logistic regression, random forests for classes and values, a small MLP,
//! k-means), honest validation (spatial cross-validation beside a random split, the
//! metrics scikit-learn defines), and model files (`.safetensors` with a JSON metadata
//! key) that bind a head to the dataset it was trained on.
//!
//! Everything is seeded and reproducible across machines and thread counts: random
//! streams come from [`rng::Rng`] (a fixed, documented generator), and parallel work is
//! split so that each unit draws from its own stream.

#![warn(missing_docs)]

pub mod classes;
pub mod cv;
pub mod data;
pub mod heads;
pub mod mat;
pub mod metrics;
pub mod model;
pub mod rng;
pub mod safetensors;
pub mod split;
pub mod train;

pub use classes::{ClassInfo, ClassTable};
pub use data::{Target, TrainingSet};
pub use heads::{Head, HeadSpec};

/// What went wrong learning.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    /// The caller's mistake (bad input data or options), with what to do.
    #[error("{0}")]
    Usage(String),
    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// Stopped on request.
    #[error("cancelled")]
    Cancelled,
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, LearnError>;

pub(crate) fn usage(msg: impl Into<String>) -> LearnError {
    LearnError::Usage(msg.into())
}
