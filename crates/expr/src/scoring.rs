//! The hook through which `predict(…)` and `embed(…)` reach the models: the adapter installs a [`Scorer`]
//! at startup (it owns the loaded models); `expr` itself knows nothing of model formats.

use riffle_repr::Datum;
use std::sync::OnceLock;

/// Scores feature rows with a named model.
pub trait Scorer: Send + Sync {
    /// One datum per row: the prediction (float8, bigint or text), or with `proba` the class
    /// probabilities (float8[]), by `version` of the model (None: its current version).
    fn score(&self, model: &str, version: Option<u64>, rows: &[Vec<f64>], proba: bool) -> Result<Vec<Datum>, String>;

    /// One embedding (float4[]) per text, by `version` of a text-embedding model.
    fn embed(&self, model: &str, version: Option<u64>, texts: &[&str]) -> Result<Vec<Datum>, String>;

    /// A text model's token ids for `text` (its current version).
    fn tokenize(&self, model: &str, text: &str) -> Result<Vec<u32>, String> {
        let _ = text;
        Err(format!("model \"{model}\" has no tokenizer"))
    }
}

static SCORER: OnceLock<Box<dyn Scorer>> = OnceLock::new();

/// Installs the process's scorer (once; later calls are ignored).
pub fn set_scorer(scorer: Box<dyn Scorer>) {
    let _ = SCORER.set(scorer);
}

/// The installed scorer.
pub fn scorer() -> Option<&'static dyn Scorer> {
    SCORER.get().map(|s| s.as_ref())
}
