//! Resize across 11 (Resize 10 is Upsample 9 renamed: inputs X and scales, asymmetric
//! coordinates, nearest rounding down when upsampling and up when downsampling, as onnxruntime
//! runs it; 11 added roi, sizes and the coordinate and rounding modes), 13 (roi and scales optional from 13; `tf_half_pixel_for_nn` gone), 18
//! (`antialias`, `axes`, `keep_aspect_ratio_policy`) and 19 (`half_pixel_symmetric`).

use super::common::{input, out_base, trim_inputs, Ctx, Rewrite};
use super::schema::remove_attr;
use onnxide_ir::rewrite::attr;
use onnxide_ir::Node;

/// Opset 10's nearest rounding for the node's constant scales: `floor` when every scale is at
/// least 1, `ceil` when every one is below 1 (onnxruntime rounds per axis).
fn nearest_rounding(ctx: &Ctx, s: &str) -> Result<&'static str, String> {
    let scales = ctx
        .const_floats(s)
        .ok_or_else(|| format!("nearest mode with scales '{s}' computed at run time"))?;
    if scales.iter().all(|&v| v >= 1.0) {
        Ok("floor")
    } else if scales.iter().all(|&v| v < 1.0) {
        Ok("ceil")
    } else {
        Err("nearest mode with scales both above and below 1".into())
    }
}

pub(crate) const BOUNDARIES: &[i64] = &[11, 13, 18, 19];

pub(crate) fn adapt(ctx: &mut Ctx, node: &Node, from: i64, to: i64) -> Result<Rewrite, String> {
    let mut n = node.clone();
    let mode = n
        .attr_string("coordinate_transformation_mode")
        .unwrap_or("half_pixel")
        .to_string();
    let mut what = Vec::new();
    if from < 11 && to >= 11 {
        let scales = input(&n, 1).ok_or("Resize without scales")?.to_string();
        if n.attr_string("mode").unwrap_or("nearest") == "nearest" {
            n.attributes
                .push(attr("nearest_mode", nearest_rounding(ctx, &scales)?));
        }
        n.attributes
            .push(attr("coordinate_transformation_mode", "asymmetric"));
        let roi = ctx.empty_float(&format!("{}_roi", out_base(&n)))?;
        n.inputs = vec![n.inputs[0].clone(), roi, scales];
        what.push("opset 10 semantics made explicit (asymmetric), empty roi added".to_string());
    }
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
            n.inputs[1] = ctx.empty_float(&format!("{}_roi", out_base(&n)))?;
            what.push("empty roi added".into());
        }
        if input(&n, 2).is_none() {
            n.inputs[2] = ctx.empty_float(&format!("{}_scales", out_base(&n)))?;
            what.push("empty scales added".into());
        }
        trim_inputs(&mut n);
    }
    if from >= 11 && to < 11 {
        if mode != "asymmetric" || n.attr("coordinate_transformation_mode").is_none() {
            return Err(format!(
                "coordinate_transformation_mode {mode} exists only from opset 11 (opset 10 is asymmetric)"
            ));
        }
        let m = n.attr_string("mode").unwrap_or("nearest").to_string();
        if m == "cubic" {
            return Err("mode cubic exists only from opset 11".into());
        }
        if input(&n, 3).is_some() {
            return Err("sizes exist only from opset 11".into());
        }
        let scales = input(&n, 2).ok_or("Resize without scales")?.to_string();
        if n.attr_int("exclude_outside").unwrap_or(0) != 0 {
            return Err("exclude_outside=1 exists only from opset 11".into());
        }
        if m == "nearest" {
            let want = nearest_rounding(ctx, &scales)?;
            let have = n
                .attr_string("nearest_mode")
                .unwrap_or("round_prefer_floor");
            if have != want {
                return Err(format!(
                    "nearest_mode {have} exists only from opset 11 (opset 10 rounds {want} for these scales)"
                ));
            }
        }
        for a in [
            "coordinate_transformation_mode",
            "nearest_mode",
            "cubic_coeff_a",
            "exclude_outside",
            "extrapolation_value",
        ] {
            remove_attr(&mut n, a);
        }
        n.inputs = vec![n.inputs[0].clone(), scales];
        what.push("roi dropped, asymmetric semantics of opset 10".to_string());
    }
    let what = if what.is_empty() {
        "unchanged".to_string()
    } else {
        what.join(", ")
    };
    Ok(Rewrite::one(n, what))
}
