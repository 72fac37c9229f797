//! Resize across 13 (roi and scales optional from 13; `tf_half_pixel_for_nn` gone), 18
//! (`antialias`, `axes`, `keep_aspect_ratio_policy`) and 19 (`half_pixel_symmetric`).

use super::common::{input, trim_inputs, Ctx, Rewrite};
use super::schema::remove_attr;
use onnxide_ir::Node;

pub(crate) const BOUNDARIES: &[i64] = &[13, 18, 19];

pub(crate) fn adapt(ctx: &mut Ctx, node: &Node, from: i64, to: i64) -> Result<Rewrite, String> {
    let mut n = node.clone();
    let mode = n
        .attr_string("coordinate_transformation_mode")
        .unwrap_or("half_pixel")
        .to_string();
    let mut what = Vec::new();
    if from < 13 && to >= 13 && mode == "tf_half_pixel_for_nn" {
        return Err(
            "coordinate_transformation_mode tf_half_pixel_for_nn was removed in opset 13".into(),
        );
    }
    if from >= 19 && to < 19 && mode == "half_pixel_symmetric" {
        return Err(
            "coordinate_transformation_mode half_pixel_symmetric exists only from opset 19".into(),
        );
    }
    if from >= 18 && to < 18 {
        if n.attr_int("antialias").unwrap_or(0) != 0 {
            return Err("antialias=1 exists only from opset 18".into());
        }
        if n.attr("axes").is_some() {
            return Err("axes exists only from opset 18".into());
        }
        if n.attr_string("keep_aspect_ratio_policy")
            .is_some_and(|p| p != "stretch")
        {
            return Err(
                "keep_aspect_ratio_policy other than stretch exists only from opset 18".into(),
            );
        }
        for a in ["antialias", "keep_aspect_ratio_policy"] {
            if n.attr(a).is_some() {
                remove_attr(&mut n, a);
                what.push(format!("default {a} dropped"));
            }
        }
    }
    if from >= 13 && to < 13 {
        // Opset 11 needs roi and scales present (empty tensors when unused).
        while n.inputs.len() < 3 {
            n.inputs.push(String::new());
        }
        if input(&n, 1).is_none() {
            n.inputs[1] = ctx.empty_float(&format!("{}_roi", n.outputs[0]))?;
            what.push("empty roi added".into());
        }
        if input(&n, 2).is_none() {
            n.inputs[2] = ctx.empty_float(&format!("{}_scales", n.outputs[0]))?;
            what.push("empty scales added".into());
        }
        trim_inputs(&mut n);
    }
    let what = if what.is_empty() {
        "unchanged".to_string()
    } else {
        what.join(", ")
    };
    Ok(Rewrite::one(n, what))
}
