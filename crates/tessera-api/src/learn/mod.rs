//! Learning from embeddings (`tessera_learn`): training tables, heads, cross-validation,
//! model files. Training and evaluation read only local files, so the facade is the
//! learning crate's own entry points; predictions over regions join the store access of
//! this crate.

pub use tessera_learn::classes::{ClassInfo, ClassTable};
pub use tessera_learn::cv::{CurvePoint, CvOutcome, Scores};
pub use tessera_learn::data::{TableOptions, Target, Task, TrainingSet};
pub use tessera_learn::heads::{Head, HeadParams, HeadSpec, Metric, Prediction, Weights};
pub use tessera_learn::model::Model;
pub use tessera_learn::split::Cv;
pub use tessera_learn::train::{
    EvaluateReport, EvaluateRequest, HeadEvaluation, SplitReport, TrainReport, TrainRequest,
    evaluate, fit_set, train,
};
pub use tessera_learn::{LearnError, metrics};

pub mod labels;
pub mod map;
pub use labels::{Balance, LabelsReport, LabelsRequest, labels};
pub use map::{
    ClusterOptions, DataSource, MapFile, MapReport, MapRequest, PointPredictions, PredictOptions,
    SimilarOptions, SimilarityMethod, cluster, predict, predict_points, similar, write_matches,
};

/// `tessera train --labels`: the label file into a training table (written at
/// `labels.output`), then the head trained on it as `req` says (`req.table` is replaced by
/// the table written).
pub fn train_from_labels(
    ctx: &crate::Context,
    dataset: &crate::tiles::DatasetOptions,
    labels_req: &LabelsRequest,
    req: &TrainRequest,
    progress: &crate::Progress,
) -> std::result::Result<(LabelsReport, TrainReport), tessera_client::ClientError> {
    let rep = labels(ctx, dataset, labels_req, progress)?;
    let mut req = req.clone();
    req.table = rep.output.clone();
    // The label file's field became the table's `label` column.
    req.table_opts.label_field = Some("label".into());
    let t = train(&req, &|| progress.is_cancelled()).map_err(map::learn_error)?;
    Ok((rep, t))
}
