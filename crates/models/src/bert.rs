//! Sentence embeddings from a BERT in the Hugging Face folder layout, as sentence-transformers
//! saves it: `config.json`, `model.safetensors`, `tokenizer.json`, and optionally
//! `sentence_bert_config.json` (max_seq_length), `1_Pooling/config.json` (mean, CLS or max
//! pooling) and `modules.json` (a Normalize module: unit-length embeddings).
//!
//! The folder is packed into one blob ([`pack_folder`]) so that it is stored and versioned like
//! any other model file. The encoder is candle-transformers' BERT; tokenization is the
//! `tokenizers` crate reading the same tokenizer.json the Python library uses.
//!
//! A batch is cut into groups of sentences with the same token count, each encoded in one pass
//! without padding: no compute goes to padding, and an embedding has the same bits whatever
//! batch it arrives in (padding, although masked out, changes the shapes the kernels see and so
//! the order in which they sum).

use crate::ModelError;
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::bert::{BertModel, Config};
use std::path::Path;

/// The files of a packed folder: the required ones, then the optional ones.
const REQUIRED: &[&str] = &["config.json", "model.safetensors", "tokenizer.json"];
const OPTIONAL: &[&str] = &["sentence_bert_config.json", "modules.json", "1_Pooling/config.json"];

/// The first bytes of a packed folder.
const MAGIC: &[u8] = b"RIFFLE-HF-FOLDER\x01";

/// At most this many sentences go through the encoder together.
const SENTENCES_PER_PASS: usize = 32;

/// Reads a model folder into one blob: the files Riffle uses, by their paths in the folder.
pub fn pack_folder(dir: &Path) -> Result<Vec<u8>, ModelError> {
    if !dir.is_dir() {
        return Err(ModelError::Invalid(format!(
            "{} is not a folder: format 'hf-bert' reads a Hugging Face model folder (config.json, model.safetensors, tokenizer.json)",
            dir.display()
        )));
    }
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for name in REQUIRED.iter().chain(OPTIONAL) {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => files.push((name.to_string(), bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && OPTIONAL.contains(name) => {}
            Err(e) => return Err(ModelError::Invalid(format!("could not read {}: {e}", path.display()))),
        }
    }
    // Layout: MAGIC, then per file its path's length (u32 LE), path, length (u64 LE), bytes.
    let mut out = MAGIC.to_vec();
    for (name, bytes) in &files {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    Ok(out)
}

/// Whether stored bytes are a packed folder.
pub fn is_packed(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

fn unpack(bytes: &[u8]) -> Result<Vec<(String, &[u8])>, ModelError> {
    let body = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| ModelError::Invalid("not a packed Hugging Face model folder".into()))?;
    let corrupt = || ModelError::Invalid("corrupt packed model folder".into());
    fn take<'a>(body: &'a [u8], at: &mut usize, n: usize) -> Option<&'a [u8]> {
        let part = body.get(*at..at.checked_add(n)?)?;
        *at += n;
        Some(part)
    }
    let mut at = 0usize;
    let mut files = Vec::new();
    while at < body.len() {
        let n = take(body, &mut at, 4).ok_or_else(corrupt)?;
        let n = u32::from_le_bytes(n.try_into().map_err(|_| corrupt())?) as usize;
        let name = String::from_utf8(take(body, &mut at, n).ok_or_else(corrupt)?.to_vec()).map_err(|_| corrupt())?;
        let len = take(body, &mut at, 8).ok_or_else(corrupt)?;
        let len = u64::from_le_bytes(len.try_into().map_err(|_| corrupt())?) as usize;
        files.push((name, take(body, &mut at, len).ok_or_else(corrupt)?));
    }
    Ok(files)
}

/// How token vectors become one sentence vector.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Pooling {
    Mean,
    Cls,
    Max,
}

/// A loaded sentence-embedding BERT.
pub struct Bert {
    model: BertModel,
    tokenizer: tokenizers::Tokenizer,
    pooling: Pooling,
    normalize: bool,
    /// Width of the embedding.
    pub dim: usize,
    device: Device,
}

fn json<T: serde::de::DeserializeOwned>(name: &str, bytes: &[u8]) -> Result<T, ModelError> {
    serde_json::from_slice(bytes).map_err(|e| ModelError::Invalid(format!("{name}: {e}")))
}

fn candle(e: candle_core::Error) -> ModelError {
    ModelError::Eval(e.to_string())
}

impl Bert {
    /// Loads a packed folder onto `device`.
    pub fn load(bytes: &[u8], device: &Device) -> Result<Bert, ModelError> {
        let files = unpack(bytes)?;
        let file = |name: &str| files.iter().find(|(n, _)| n == name).map(|(_, b)| *b);
        let need = |name: &str| file(name).ok_or_else(|| ModelError::Invalid(format!("the model folder has no {name}")));
        let config: Config = json("config.json", need("config.json")?)?;
        let weights = need("model.safetensors")?.to_vec();
        let vb = candle_nn::VarBuilder::from_buffered_safetensors(weights, DType::F32, device)
            .map_err(|e| ModelError::Invalid(format!("model.safetensors: {e}")))?;
        let model =
            BertModel::load(vb, &config).map_err(|e| ModelError::Invalid(format!("model.safetensors does not hold this BERT: {e}")))?;
        let mut tokenizer =
            tokenizers::Tokenizer::from_bytes(need("tokenizer.json")?).map_err(|e| ModelError::Invalid(format!("tokenizer.json: {e}")))?;
        // sentence-transformers truncates at max_seq_length and pads to the longest sentence.
        let max_tokens = match file("sentence_bert_config.json") {
            Some(b) => json::<serde_json::Value>("sentence_bert_config.json", b)?
                .get("max_seq_length")
                .and_then(|v| v.as_u64())
                .map(|v| v as usize),
            None => None,
        }
        .unwrap_or(config.max_position_embeddings)
        .min(config.max_position_embeddings);
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| ModelError::Invalid(format!("tokenizer.json: {e}")))?;
        let pooling = match file("1_Pooling/config.json") {
            None => Pooling::Mean,
            Some(b) => {
                let v: serde_json::Value = json("1_Pooling/config.json", b)?;
                let on = |k: &str| v.get(k).and_then(|x| x.as_bool()).unwrap_or(false);
                if on("pooling_mode_cls_token") {
                    Pooling::Cls
                } else if on("pooling_mode_max_tokens") {
                    Pooling::Max
                } else {
                    Pooling::Mean
                }
            }
        };
        let normalize = match file("modules.json") {
            None => false,
            Some(b) => json::<serde_json::Value>("modules.json", b)?.as_array().is_some_and(|m| {
                m.iter()
                    .any(|x| x.get("type").and_then(|t| t.as_str()).is_some_and(|t| t.ends_with(".Normalize")))
            }),
        };
        Ok(Bert {
            model,
            tokenizer,
            pooling,
            normalize,
            dim: config.hidden_size,
            device: device.clone(),
        })
    }

    /// The token ids the encoder sees for `text` (with the special tokens, truncated).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let e = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| ModelError::Eval(format!("tokenizing: {e}")))?;
        Ok(e.get_ids().to_vec())
    }

    /// How the encoder's token vectors are pooled, as `riffle_models` lists it.
    pub fn pooling_name(&self) -> &'static str {
        match (self.pooling, self.normalize) {
            (Pooling::Mean, false) => "mean pooling",
            (Pooling::Mean, true) => "mean pooling, normalized",
            (Pooling::Cls, false) => "CLS pooling",
            (Pooling::Cls, true) => "CLS pooling, normalized",
            (Pooling::Max, false) => "max pooling",
            (Pooling::Max, true) => "max pooling, normalized",
        }
    }

    /// One embedding per text.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut encodings = Vec::with_capacity(texts.len());
        for t in texts {
            let e = self
                .tokenizer
                .encode(*t, true)
                .map_err(|e| ModelError::Eval(format!("tokenizing: {e}")))?;
            encodings.push(e);
        }
        // Sentences of the same token count go through the encoder together, unpadded: the
        // shapes a sentence's numbers pass through then depend on its own length only, so its
        // embedding has the same bits whatever batch it arrives in.
        let mut by_len: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for (i, e) in encodings.iter().enumerate() {
            by_len.entry(e.get_ids().len()).or_default().push(i);
        }
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for group in by_len.values().flat_map(|g| g.chunks(SENTENCES_PER_PASS)) {
            let vectors = self.pass(group.iter().map(|&i| &encodings[i]).collect::<Vec<_>>().as_slice())?;
            for (&i, v) in group.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// Encodes a group of sentences (of one length; shorter ones would be padded and masked).
    fn pass(&self, group: &[&tokenizers::Encoding]) -> Result<Vec<Vec<f32>>, ModelError> {
        let len = group.iter().map(|e| e.get_ids().len()).max().unwrap_or(0).max(1);
        let n = group.len();
        let mut ids = vec![0u32; n * len];
        let mut types = vec![0u32; n * len];
        let mut mask = vec![0u32; n * len];
        for (r, e) in group.iter().enumerate() {
            let k = e.get_ids().len();
            ids[r * len..r * len + k].copy_from_slice(e.get_ids());
            types[r * len..r * len + k].copy_from_slice(e.get_type_ids());
            mask[r * len..r * len + k].copy_from_slice(e.get_attention_mask());
        }
        let t = |v: Vec<u32>| Tensor::from_vec(v, (n, len), &self.device).map_err(candle);
        let (ids, types, mask) = (t(ids)?, t(types)?, t(mask)?);
        let hidden = self.model.forward(&ids, &types, Some(&mask)).map_err(candle)?;
        let pooled = match self.pooling {
            Pooling::Cls => hidden.narrow(1, 0, 1).and_then(|h| h.squeeze(1)).map_err(candle)?,
            Pooling::Mean => {
                let m = mask.to_dtype(DType::F32).and_then(|m| m.unsqueeze(2)).map_err(candle)?;
                let sum = hidden.broadcast_mul(&m).and_then(|h| h.sum(1)).map_err(candle)?;
                let count = m.sum(1).and_then(|c| c.clamp(1e-9f32, f32::MAX)).map_err(candle)?;
                sum.broadcast_div(&count).map_err(candle)?
            }
            Pooling::Max => {
                // Padding must never win the max: push it far below any real value.
                let m = mask.to_dtype(DType::F32).and_then(|m| m.unsqueeze(2)).map_err(candle)?;
                let low = m.affine(1e9, -1e9).map_err(candle)?;
                hidden.broadcast_add(&low).and_then(|h| h.max(1)).map_err(candle)?
            }
        };
        let pooled = if self.normalize {
            let norm = pooled
                .sqr()
                .and_then(|s| s.sum_keepdim(1))
                .and_then(|s| s.sqrt())
                .and_then(|s| s.clamp(1e-12f32, f32::MAX))
                .map_err(candle)?;
            pooled.broadcast_div(&norm).map_err(candle)?
        } else {
            pooled
        };
        pooled.to_device(&Device::Cpu).and_then(|p| p.to_vec2::<f32>()).map_err(candle)
    }
}
