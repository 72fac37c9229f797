//! Dropout at 12: the `ratio` attribute became an optional input, with an optional
//! `training_mode` input (and a `seed` attribute). Inference (no training mode) is the identity
//! either way; going down a `training_mode` that is not a constant false refuses and a `ratio`
//! input must be a constant scalar. From 12 the inference mask is all true; going down a mask
//! that is read becomes `ConstantOfShape(Shape(x), true)` (onnxruntime's older Dropout does not
//! set it).

use super::common::{input, Ctx, Rewrite};
use super::schema::remove_attr;
use onnxide_ir::rewrite::{attr, node};
use onnxide_ir::{NamedTensor, Node, Tensor};

pub(crate) fn adapt(ctx: &mut Ctx, n0: &Node, up: bool, to: i64) -> Result<Rewrite, String> {
    let mut n = n0.clone();
    if up {
        let Some(ratio) = n.attr_float("ratio") else {
            return Ok(Rewrite::one(n, "unchanged"));
        };
        remove_attr(&mut n, "ratio");
        let base = format!("{}_ratio", n.outputs.first().map_or("", String::as_str));
        let name = ctx.initializer(&base, Tensor::scalar(ratio));
        n.inputs.truncate(1);
        n.inputs.push(name);
        return Ok(Rewrite::one(n, "ratio attribute -> input"));
    }
    if let Some(t) = input(&n, 2) {
        match ctx.const_ints(t).or_else(|| {
            ctx.const_tensor(t).and_then(|c| {
                c.as_slice::<bool>()
                    .map(|b| b.iter().map(|&x| i64::from(x)).collect())
            })
        }) {
            Some(v) if v.iter().all(|&x| x == 0) => {}
            _ => {
                return Err(format!(
                    "training_mode '{t}' other than a constant false exists only from opset 12"
                ))
            }
        }
    }
    let ratio = match input(&n, 1) {
        None => None,
        Some(r) => match ctx.const_floats(r).as_deref() {
            Some([v]) => Some(*v as f32),
            _ => return Err(format!("ratio '{r}' is not a constant scalar")),
        },
    };
    remove_attr(&mut n, "seed");
    n.inputs.truncate(1);
    if let Some(r) = ratio {
        n.attributes.push(attr("ratio", r));
    }
    let Some(mask) = n.outputs.get(1).filter(|m| !m.is_empty()).cloned() else {
        n.outputs.truncate(1);
        return Ok(Rewrite::one(n, "ratio input -> attribute"));
    };
    if to < 9 {
        return Err("a mask read before opset 9 (no ConstantOfShape) is not converted".into());
    }
    n.outputs.truncate(1);
    let x = n.inputs.first().cloned().unwrap_or_default();
    let base = if n.name.is_empty() {
        mask.clone()
    } else {
        n.name.clone()
    };
    let shape = ctx.names.fresh(&format!("{base}_mask_shape"));
    let shape_n = node("Shape")
        .name(ctx.names.fresh(&format!("{base}_mask_shape_of")))
        .input(&x)
        .output(&shape)
        .build();
    let value = Tensor::from_vec(vec![1], vec![true]).map_err(|e| e.to_string())?;
    let fill = node("ConstantOfShape")
        .name(ctx.names.fresh(&format!("{base}_mask")))
        .input(&shape)
        .output(&mask)
        .attr("value", NamedTensor::new("value", value))
        .build();
    Ok(Rewrite {
        nodes: vec![n, shape_n, fill],
        what: "ratio input -> attribute, mask -> ConstantOfShape(true)".into(),
    })
}
