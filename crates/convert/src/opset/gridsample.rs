//! GridSample at 20: the modes were renamed (`bilinear` → `linear`, `bicubic` → `cubic`) and
//! inputs of more than 4 dimensions allowed. Going down a rank other than 4 refuses.

use super::common::{Ctx, Rewrite};
use super::schema::remove_attr;
use onnxide_ir::rewrite::attr;
use onnxide_ir::Node;

pub(crate) fn adapt(ctx: &Ctx, node: &Node, up: bool) -> Result<Rewrite, String> {
    let mut n = node.clone();
    let (from_to, what): (&[(&str, &str)], _) = if up {
        (
            &[("bilinear", "linear"), ("bicubic", "cubic")],
            "mode renamed",
        )
    } else {
        let x = n.inputs.first().map_or("", String::as_str);
        match ctx.rank(x) {
            Some(4) => {}
            Some(r) => return Err(format!("a rank-{r} input exists only from opset 20")),
            None => {
                return Err(format!(
                    "the rank of '{x}' is not known (only rank 4 exists before opset 20)"
                ))
            }
        }
        (
            &[("linear", "bilinear"), ("cubic", "bicubic")],
            "mode renamed",
        )
    };
    if let Some(mode) = n.attr_string("mode").map(str::to_string) {
        if let Some((_, to)) = from_to.iter().find(|(f, _)| *f == mode) {
            remove_attr(&mut n, "mode");
            n.attributes.push(attr("mode", *to));
            return Ok(Rewrite::one(n, format!("{what}: {mode} -> {to}")));
        }
    }
    Ok(Rewrite::one(n, "unchanged"))
}
