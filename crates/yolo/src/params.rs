//! Where the weights come from: a checkpoint, or seeded random values for a bare config.
//!
//! Blocks ask for tensors by `state_dict` name and expected shape; the source either looks them
//! up (checking the shape) or makes them up. Conv+BatchNorm pairs are fused here, exactly as
//! Ultralytics' `fuse_conv_and_bn` does it: in float32, after the float16 weights are upcast,
//! `r = 1/sqrt(var + 1e-3)`, `W' = W * (γ·r)`, `b' = ((0 - μ)·r)·γ + β`.

use crate::error::{Result, YoloError};
use half::f16;
use onnxide_weights::{Checkpoint, WeightDType, WeightTensor};
use std::collections::HashMap;

/// BatchNorm epsilon of the YOLO11 detection models (Ultralytics' `initialize_weights`, which
/// `DetectionModel` and its segment/pose/obb subclasses call, sets 1e-3).
pub const BN_EPS: f32 = 1e-3;
/// BatchNorm epsilon of the classification models: `ClassificationModel` never calls
/// `initialize_weights`, so its BatchNorms keep torch's default 1e-5 (measured: the fused
/// weights of Ultralytics' yolo11n-cls export are bit-identical with 1e-5, off by ~1e-3 with 1e-3).
pub const BN_EPS_CLASSIFY: f32 = 1e-5;

/// The BatchNorm epsilon of a task's model class.
pub fn bn_eps(task: crate::config::Task) -> f32 {
    if task == crate::config::Task::Classify {
        BN_EPS_CLASSIFY
    } else {
        BN_EPS
    }
}

/// How a random source should fill a tensor it is asked for.
#[derive(Clone, Copy, Debug)]
pub enum Init {
    /// Conv weight: uniform in ±sqrt(6 / fan_in) (He-uniform).
    ConvWeight {
        fan_in: usize,
    },
    BnWeight,
    BnBias,
    BnMean,
    BnVar,
    /// A constant (Detect's bias init).
    Constant(f32),
    /// 0, 1, 2, ... (the DFL projection weight).
    Arange,
}

/// A provider of unfused weights by name.
pub trait ParamSource {
    /// The tensor `name` as float32, which must have `shape`.
    fn tensor(&mut self, name: &str, shape: &[usize], init: Init) -> Result<Vec<f32>>;
    /// Whether `name` exists (used to accept already-fused checkpoints).
    fn has(&self, name: &str) -> bool;
}

/// Fused weight and bias of `Conv2d(bias=False) + BatchNorm2d(eps)` at `key` (`model.0` etc.).
/// A checkpoint saved after fusion (conv bias present, no `bn`) is taken as it is.
pub fn fused_conv_bn(
    src: &mut dyn ParamSource,
    key: &str,
    shape: [usize; 4],
    eps: f32,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let c2 = shape[0];
    let fan_in = shape[1] * shape[2] * shape[3];
    let w_name = format!("{key}.conv.weight");
    let w = src.tensor(&w_name, &shape, Init::ConvWeight { fan_in })?;
    let bn_w = format!("{key}.bn.weight");
    if !src.has(&bn_w) && src.has(&format!("{key}.conv.bias")) {
        let b = src.tensor(&format!("{key}.conv.bias"), &[c2], Init::BnBias)?;
        return Ok((w, b));
    }
    let gamma = src.tensor(&bn_w, &[c2], Init::BnWeight)?;
    let beta = src.tensor(&format!("{key}.bn.bias"), &[c2], Init::BnBias)?;
    let mean = src.tensor(&format!("{key}.bn.running_mean"), &[c2], Init::BnMean)?;
    let var = src.tensor(&format!("{key}.bn.running_var"), &[c2], Init::BnVar)?;
    Ok(fuse(&w, &gamma, &beta, &mean, &var, eps))
}

/// The BatchNorm fusion itself (float32, operation order as in torch's `fuse_conv_bn_weights`).
pub fn fuse(
    w: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f32,
) -> (Vec<f32>, Vec<f32>) {
    let c2 = gamma.len();
    let per_out = w.len().checked_div(c2).unwrap_or(0);
    let mut fw = Vec::with_capacity(w.len());
    let mut fb = Vec::with_capacity(c2);
    for o in 0..c2 {
        let r = 1.0f32 / (var[o] + eps).sqrt();
        let s = gamma[o] * r;
        fw.extend(w[o * per_out..(o + 1) * per_out].iter().map(|&x| x * s));
        fb.push((0.0f32 - mean[o]) * r * gamma[o] + beta[o]);
    }
    (fw, fb)
}

/// Weights looked up in a checkpoint.
pub struct CheckpointParams<'a> {
    origin: String,
    tensors: HashMap<&'a str, &'a WeightTensor>,
}

impl<'a> CheckpointParams<'a> {
    pub fn new(ck: &'a Checkpoint) -> CheckpointParams<'a> {
        CheckpointParams {
            origin: ck.source.display().to_string(),
            tensors: ck.tensors.iter().map(|(n, t)| (n.as_str(), t)).collect(),
        }
    }
}

impl ParamSource for CheckpointParams<'_> {
    fn tensor(&mut self, name: &str, shape: &[usize], init: Init) -> Result<Vec<f32>> {
        let Some(t) = self.tensors.get(name) else {
            // The DFL projection is fixed (0..15, requires_grad=False): rebuild it if absent.
            if let Init::Arange = init {
                return Ok((0..shape.iter().product::<usize>())
                    .map(|i| i as f32)
                    .collect());
            }
            return Err(YoloError::MissingTensor {
                origin: self.origin.clone(),
                tensor: name.into(),
                expected: shape.to_vec(),
            });
        };
        if t.shape != shape {
            return Err(YoloError::TensorShape {
                origin: self.origin.clone(),
                tensor: name.into(),
                found: t.shape.clone(),
                expected: shape.to_vec(),
            });
        }
        let bad = |reason: String| YoloError::BadTensor {
            origin: self.origin.clone(),
            tensor: name.into(),
            reason,
        };
        if !matches!(
            t.dtype,
            WeightDType::F16 | WeightDType::F32 | WeightDType::BF16 | WeightDType::F64
        ) {
            return Err(bad(format!("dtype {} is not a float type", t.dtype)));
        }
        let v = t.to_f32().map_err(|e| bad(e.to_string()))?;
        if v.iter().any(|x| !x.is_finite()) {
            return Err(bad("holds NaN or infinite values".into()));
        }
        Ok(v)
    }

    fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

/// Seeded random weights for a config without a checkpoint.
///
/// Every tensor gets its own stream (SplitMix64 seeded from the seed and an FNV-1a hash of the
/// tensor name), so the values do not depend on build order. Values are rounded to float16,
/// as in a saved Ultralytics checkpoint, and recorded so they can be written out as one.
/// Distributions: conv weights He-uniform ±sqrt(6/fan_in); BN γ ~ U(0.75, 1.25),
/// β ~ U(-0.25, 0.25), running mean ~ U(-0.25, 0.25), running var ~ U(0.5, 2.0);
/// Detect's last biases use Ultralytics' `bias_init` constants; the DFL weight is 0..15.
pub struct RandomParams {
    seed: u64,
    recorded: Vec<(String, WeightTensor)>,
}

impl RandomParams {
    pub fn new(seed: u64) -> RandomParams {
        RandomParams {
            seed,
            recorded: Vec::new(),
        }
    }

    /// The tensors handed out so far, as float16 checkpoint tensors (unfused, `state_dict` names).
    pub fn into_tensors(self) -> Vec<(String, WeightTensor)> {
        self.recorded
    }
}

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 random bits (exact in float32).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

impl ParamSource for RandomParams {
    fn tensor(&mut self, name: &str, shape: &[usize], init: Init) -> Result<Vec<f32>> {
        let n: usize = shape.iter().product();
        let mut rng = SplitMix64(fnv1a(name) ^ self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let values: Vec<f16> = (0..n)
            .map(|i| {
                let v = match init {
                    Init::ConvWeight { fan_in } => {
                        let b = (6.0f32 / fan_in.max(1) as f32).sqrt();
                        rng.uniform(-b, b)
                    }
                    Init::BnWeight => rng.uniform(0.75, 1.25),
                    Init::BnBias | Init::BnMean => rng.uniform(-0.25, 0.25),
                    Init::BnVar => rng.uniform(0.5, 2.0),
                    Init::Constant(c) => c,
                    Init::Arange => i as f32,
                };
                f16::from_f32(v)
            })
            .collect();
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.recorded.push((
            name.to_string(),
            WeightTensor {
                dtype: WeightDType::F16,
                shape: shape.to_vec(),
                data,
            },
        ));
        Ok(values.iter().map(|v| v.to_f32()).collect())
    }

    fn has(&self, _name: &str) -> bool {
        // A random source always has unfused Conv+BN pairs.
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fusion_matches_the_reference_formula() {
        let (w, b) = fuse(&[1.0, 2.0], &[2.0], &[0.5], &[1.0], &[3.999], BN_EPS);
        let r = 1.0f32 / (3.999f32 + 1e-3).sqrt();
        assert_eq!(w, vec![2.0 * r, 2.0 * (2.0 * r)]);
        assert_eq!(b, vec![(0.0 - 1.0) * r * 2.0 + 0.5]);
    }

    #[test]
    fn random_values_depend_on_name_and_seed_only() {
        let mut a = RandomParams::new(0);
        let mut b = RandomParams::new(0);
        let x = a
            .tensor(
                "model.0.conv.weight",
                &[4, 3, 3, 3],
                Init::ConvWeight { fan_in: 27 },
            )
            .unwrap();
        b.tensor("other", &[2], Init::BnVar).unwrap();
        let y = b
            .tensor(
                "model.0.conv.weight",
                &[4, 3, 3, 3],
                Init::ConvWeight { fan_in: 27 },
            )
            .unwrap();
        assert_eq!(x, y);
        let mut c = RandomParams::new(1);
        let z = c
            .tensor(
                "model.0.conv.weight",
                &[4, 3, 3, 3],
                Init::ConvWeight { fan_in: 27 },
            )
            .unwrap();
        assert_ne!(x, z);
    }
}
