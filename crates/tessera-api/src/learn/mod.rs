//! Learning from embeddings (`tessera_learn`): training tables, heads, cross-validation,
//! model files. Training and evaluation read only local files, so the facade is the
//! learning crate's own entry points; predictions over regions join the store access of
//! this crate.

pub use tessera_learn::classes::{ClassInfo, ClassTable};
pub use tessera_learn::cv::{CurvePoint, CvOutcome, Scores};
pub use tessera_learn::data::{TableOptions, Target, Task, TrainingSet};
pub use tessera_learn::heads::{Head, HeadSpec, Metric, Weights};
pub use tessera_learn::model::Model;
pub use tessera_learn::split::Cv;
pub use tessera_learn::train::{
    EvaluateReport, EvaluateRequest, HeadEvaluation, SplitReport, TrainReport, TrainRequest,
    evaluate, train,
};
pub use tessera_learn::{LearnError, metrics};

pub mod map;
pub use map::{
    ClusterOptions, DataSource, MapFile, MapReport, MapRequest, PointPredictions, PredictOptions,
    SimilarOptions, SimilarityMethod, cluster, predict, predict_points, similar, write_matches,
};
