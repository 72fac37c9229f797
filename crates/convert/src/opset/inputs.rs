//! Opset 10 → 11 changes that moved attributes to inputs: Clip (`min`/`max`), Pad (`pads`,
//! `value`), TopK (`k`, at 10), Slice (`starts`/`ends`/`axes` → inputs with `steps`, at 10),
//! Upsample (`scales`, at 9). Going down the inputs must be constants.

use super::common::{base, float_scalar, input, trim_inputs, Ctx, Rewrite};
use super::schema::remove_attr;
use onnxide_ir::rewrite::attr;
use onnxide_ir::{Node, Tensor};

/// Clip at 11: `min`/`max` attributes ↔ optional scalar inputs 1 and 2.
pub(crate) fn clip(ctx: &mut Ctx, n0: &Node, up: bool) -> Result<Rewrite, String> {
    let mut n = n0.clone();
    let b = base(&n);
    if up {
        let dtype = n.inputs.first().and_then(|x| ctx.inferred.elem(x));
        let (lo, hi) = (n.attr_float("min"), n.attr_float("max"));
        remove_attr(&mut n, "min");
        remove_attr(&mut n, "max");
        n.inputs.truncate(1);
        for (i, v) in [(1, lo), (2, hi)] {
            let Some(v) = v else { continue };
            let t = float_scalar(dtype, f64::from(v), Vec::new())?;
            let name = ctx.initializer(&format!("{b}_{}", ["", "min", "max"][i]), t);
            n.inputs.resize(i, String::new());
            n.inputs.push(name);
        }
        return Ok(Rewrite::one(n, "min/max attributes -> inputs"));
    }
    for (i, a) in [(1, "min"), (2, "max")] {
        if let Some(v) = input(&n, i) {
            match ctx.const_floats(v).as_deref() {
                Some([x]) => n.attributes.push(attr(a, *x as f32)),
                _ => return Err(format!("{a} '{v}' is not a constant scalar")),
            }
        }
    }
    n.inputs.truncate(1);
    Ok(Rewrite::one(n, "min/max inputs -> attributes"))
}

/// Pad at 11: `pads` and `value` attributes ↔ inputs 1 and 2.
pub(crate) fn pad(ctx: &mut Ctx, n0: &Node, up: bool) -> Result<Rewrite, String> {
    let mut n = n0.clone();
    let b = base(&n);
    if up {
        let pads = n
            .attr_ints("pads")
            .map(<[i64]>::to_vec)
            .ok_or("Pad without pads")?;
        let value = n.attr_float("value").unwrap_or(0.0);
        remove_attr(&mut n, "pads");
        remove_attr(&mut n, "value");
        n.inputs.truncate(1);
        let pads = ctx.int64_initializer(&format!("{b}_pads"), &pads)?;
        n.inputs.push(pads);
        if value != 0.0 {
            let dtype = n.inputs.first().and_then(|x| ctx.inferred.elem(x));
            let t = float_scalar(dtype, f64::from(value), Vec::new())?;
            n.inputs.push(ctx.initializer(&format!("{b}_value"), t));
        }
        return Ok(Rewrite::one(n, "pads/value attributes -> inputs"));
    }
    let p = input(&n, 1).ok_or("Pad without pads")?.to_string();
    let pads = ctx
        .const_ints(&p)
        .ok_or_else(|| format!("pads '{p}' is computed at run time"))?;
    n.attributes.push(attr("pads", pads));
    if let Some(v) = input(&n, 2) {
        match ctx.const_floats(v).as_deref() {
            Some([x]) => n.attributes.push(attr("value", *x as f32)),
            Some([]) | None => {
                return Err(format!("constant_value '{v}' is not a constant scalar"))
            }
            Some(_) => return Err(format!("constant_value '{v}' is not a scalar")),
        }
    }
    n.inputs.truncate(1);
    Ok(Rewrite::one(n, "pads/value inputs -> attributes"))
}

/// TopK at 10: `k` attribute ↔ input 1 (a 1-element int64 tensor).
pub(crate) fn topk(ctx: &mut Ctx, n0: &Node, up: bool) -> Result<Rewrite, String> {
    let mut n = n0.clone();
    if up {
        let k = n.attr_int("k").ok_or("TopK without k")?;
        remove_attr(&mut n, "k");
        n.inputs.truncate(1);
        let name = ctx.int64_initializer(&format!("{}_k", base(&n)), &[k])?;
        n.inputs.push(name);
        return Ok(Rewrite::one(n, "k attribute -> input"));
    }
    let k = input(&n, 1).ok_or("TopK without k")?.to_string();
    match ctx.const_ints(&k).as_deref() {
        Some([v]) => n.attributes.push(attr("k", *v)),
        _ => return Err(format!("k '{k}' is computed at run time")),
    }
    n.inputs.truncate(1);
    Ok(Rewrite::one(n, "k input -> attribute"))
}

/// Slice at 10: `starts`/`ends`/`axes` attributes ↔ inputs 1..3 (and `steps`, input 4, which
/// must be all ones going down).
pub(crate) fn slice(ctx: &mut Ctx, n0: &Node, up: bool) -> Result<Rewrite, String> {
    let mut n = n0.clone();
    let b = base(&n);
    if up {
        n.inputs.truncate(1);
        for a in ["starts", "ends", "axes"] {
            let Some(v) = n.attr_ints(a).map(<[i64]>::to_vec) else {
                continue;
            };
            let name = ctx.int64_initializer(&format!("{b}_{a}"), &v)?;
            n.inputs.push(name);
        }
        for a in ["starts", "ends", "axes"] {
            remove_attr(&mut n, a);
        }
        return Ok(Rewrite::one(n, "starts/ends/axes attributes -> inputs"));
    }
    if let Some(s) = input(&n, 4) {
        match ctx.const_ints(s) {
            Some(v) if v.iter().all(|&x| x == 1) => {}
            _ => {
                return Err(format!(
                    "steps '{s}' other than constant ones exist only from opset 10"
                ))
            }
        }
    }
    for (i, a) in [(1, "starts"), (2, "ends"), (3, "axes")] {
        if let Some(v) = input(&n, i) {
            let values = ctx
                .const_ints(v)
                .ok_or_else(|| format!("{a} '{v}' is computed at run time"))?;
            n.attributes.push(attr(a, values));
        }
    }
    n.inputs.truncate(1);
    trim_inputs(&mut n);
    Ok(Rewrite::one(n, "starts/ends/axes inputs -> attributes"))
}

/// Upsample at 9: `scales` attribute ↔ input 1 (float).
pub(crate) fn upsample(ctx: &mut Ctx, n0: &Node, up: bool) -> Result<Rewrite, String> {
    let mut n = n0.clone();
    if up {
        let scales: Vec<f32> = match n.attr("scales") {
            Some(onnxide_ir::AttrValue::Floats(v)) => v.clone(),
            _ => return Err("Upsample without scales".into()),
        };
        remove_attr(&mut n, "scales");
        let t = Tensor::from_vec(vec![scales.len()], scales).map_err(|e| e.to_string())?;
        let name = ctx.initializer(&format!("{}_scales", base(&n)), t);
        n.inputs.truncate(1);
        n.inputs.push(name);
        return Ok(Rewrite::one(n, "scales attribute -> input"));
    }
    let s = input(&n, 1).ok_or("Upsample without scales")?.to_string();
    let scales: Vec<f32> = ctx
        .const_floats(&s)
        .ok_or_else(|| format!("scales '{s}' is computed at run time"))?
        .into_iter()
        .map(|v| v as f32)
        .collect();
    n.attributes.push(attr("scales", scales));
    n.inputs.truncate(1);
    Ok(Rewrite::one(n, "scales input -> attribute"))
}
