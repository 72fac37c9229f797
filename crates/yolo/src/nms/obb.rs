//! OBB's `NMSModel` tail (fast-NMS with probiou, `Trilu` upper k=1, threshold `iou`) as data:
//! `obb_tail.txt` lists its nodes as torch traced them and onnxslim left them in Ultralytics'
//! file, and [`obb_tail`] replays the table, once for the nodes before the loop over the images
//! and once per image for the loop body (the loop is unrolled).
//!
//! The table is generated from Ultralytics' exports by `xtask/fixtures/gen_obb_nms.py` (see
//! there). One node per line, `#` starts a comment line, `[once]` and `[per image]` start the
//! two sections:
//!
//! ```text
//! Op name <- input input ... -> output ... ; attr=value attr=value ...
//! ```
//!
//! - Names: `_{k+si}` stands for `_<k + s*i>` in image `i`, or for nothing when that is 0 (torch's
//!   per-op counters advance by a fixed stride per image: `/Gather_{3+18i}` is `/Gather_3`,
//!   `/Gather_21`, ...).
//! - Inputs: a value name, `''` (an omitted optional input), `$head` (the head output),
//!   `$acc` (the output rows so far: zeros `[B, max_det, row]` for image 0, else the previous
//!   image's ScatterND), or a constant (an initializer made on the spot): `$conf`, `$iou`,
//!   `$side` (the larger image side), `$topk` (`[min(5 * max_det, anchors)]`), `$image` (the
//!   image index, a scalar), `$index` (`[[i]]`), `$zeros`, or `TYPE[DIMS]:VALUES` with TYPE
//!   `i64`, `f32` or `bool` and integer values that may be sums such as `4+nc` of the
//!   parameters `nc`, `topk`, `max_det`, `row`.
//! - Outputs: value names; `$output` is `output0` for the last image and the image's
//!   ScatterND output otherwise.
//! - Attributes: `name=3` (int), `name=0.5f` (float), `name=[0,2,1]` (ints), `name="text"`.

use super::{NmsSpec, CONF, IOU};
use crate::builder::{attr_float, attr_int, attr_ints, attr_str, graph_err, GraphBuilder};
use crate::error::{Result, YoloError};
use onnxide_ir::{Attribute, Tensor};

/// The node table (see the module docs for its format).
const TABLE: &str = include_str!("obb_tail.txt");

/// The export-dependent values the table refers to.
struct ObbParams {
    batch: usize,
    nc: i64,
    topk: i64,
    max_det: i64,
    row: i64,
    side: f32,
}

/// OBB's `NMSModel` tail after the head output `head` (`[B, 4 + nc + 1, A]`, boxes xywh):
/// `output0 [B, max_det, 7]` = cx, cy, w, h, score, class, angle.
pub fn obb_tail(g: &mut GraphBuilder, head: &str, spec: &NmsSpec) -> Result<()> {
    let p = ObbParams {
        batch: spec.batch,
        nc: spec.nc as i64,
        topk: (spec.max_det() * 5).min(spec.anchors) as i64,
        max_det: spec.max_det() as i64,
        row: spec.row() as i64,
        side: spec.imgsz.0.max(spec.imgsz.1) as f32,
    };
    let table = Table::parse(TABLE)?;
    let mut player = Player { g, p: &p, head };
    for row in &table.once {
        player.emit(row, 0)?;
    }
    for i in 0..p.batch {
        for row in &table.per_image {
            player.emit(row, i)?;
        }
    }
    Ok(())
}

/// One node of the table, its fields still templates.
#[derive(Debug)]
struct Row<'a> {
    line: usize,
    op: &'a str,
    name: &'a str,
    inputs: Vec<&'a str>,
    outputs: Vec<&'a str>,
    attrs: Vec<&'a str>,
}

#[derive(Debug, Default)]
struct Table<'a> {
    once: Vec<Row<'a>>,
    per_image: Vec<Row<'a>>,
}

/// A malformed table: a bug in the generator or a hand edit, reported instead of panicking.
fn table_err(line: usize, reason: impl std::fmt::Display) -> YoloError {
    YoloError::Graph(format!("OBB NMS table line {line}: {reason}"))
}

impl<'a> Table<'a> {
    fn parse(text: &'a str) -> Result<Table<'a>> {
        let mut table = Table::default();
        let mut per_image = None;
        for (k, line) in text.lines().enumerate() {
            let line_no = k + 1;
            let line = line.trim();
            match line {
                "" => continue,
                "[once]" => per_image = Some(false),
                "[per image]" => per_image = Some(true),
                _ if line.starts_with('#') => continue,
                _ => {
                    let row = Row::parse(line_no, line)?;
                    match per_image {
                        Some(false) => table.once.push(row),
                        Some(true) => table.per_image.push(row),
                        None => return Err(table_err(line_no, "node before a section header")),
                    }
                }
            }
        }
        Ok(table)
    }
}

impl<'a> Row<'a> {
    /// `Op name <- inputs -> outputs [; attrs]`.
    fn parse(line_no: usize, line: &'a str) -> Result<Row<'a>> {
        let (node, attrs) = line.split_once(" ; ").unwrap_or((line, ""));
        let (head, rest) = node
            .split_once(" <- ")
            .ok_or_else(|| table_err(line_no, "no ' <- '"))?;
        let (inputs, outputs) = rest
            .split_once(" -> ")
            .ok_or_else(|| table_err(line_no, "no ' -> '"))?;
        let (op, name) = head
            .split_once(' ')
            .ok_or_else(|| table_err(line_no, "expected 'Op name'"))?;
        Ok(Row {
            line: line_no,
            op,
            name,
            inputs: inputs.split(' ').collect(),
            outputs: outputs.split(' ').collect(),
            attrs: attrs.split(' ').filter(|a| !a.is_empty()).collect(),
        })
    }
}

/// Replays table rows into the graph builder.
struct Player<'a> {
    g: &'a mut GraphBuilder,
    p: &'a ObbParams,
    head: &'a str,
}

impl Player<'_> {
    /// Adds the node of `row` for image `i`, making its constants (in input order) first.
    fn emit(&mut self, row: &Row, i: usize) -> Result<()> {
        let mut inputs = Vec::with_capacity(row.inputs.len());
        for input in &row.inputs {
            inputs.push(self.input(row.line, input, i)?);
        }
        let outputs: Vec<String> = row
            .outputs
            .iter()
            .map(|o| self.output(row.line, o, i))
            .collect::<Result<_>>()?;
        let attrs: Vec<Attribute> = row
            .attrs
            .iter()
            .map(|a| parse_attr(row.line, a))
            .collect::<Result<_>>()?;
        let name = expand_name(row.line, row.name, i)?;
        self.node(&name, row.op, inputs, attrs, &outputs);
        Ok(())
    }

    fn input(&mut self, line: usize, token: &str, i: usize) -> Result<String> {
        match token {
            "''" => Ok(String::new()),
            "$head" => Ok(self.head.to_string()),
            "$acc" if i == 0 => self.constant(line, "$zeros", i),
            "$acc" => expand_name(line, "/ScatterND_{0+1i}_output_0", i - 1),
            _ if is_constant(token) => self.constant(line, token, i),
            _ => expand_name(line, token, i),
        }
    }

    fn output(&self, line: usize, token: &str, i: usize) -> Result<String> {
        match token {
            "$output" if i + 1 == self.p.batch => Ok("output0".into()),
            "$output" => expand_name(line, "/ScatterND_{0+1i}_output_0", i),
            _ => expand_name(line, token, i),
        }
    }

    /// An initializer for a constant token.
    fn constant(&mut self, line: usize, token: &str, i: usize) -> Result<String> {
        let p = self.p;
        let tensor = match token {
            "$conf" => Tensor::scalar(CONF),
            "$iou" => Tensor::scalar(IOU),
            "$side" => Tensor::scalar(p.side),
            "$topk" => Tensor::from_vec(vec![1], vec![p.topk]).map_err(graph_err)?,
            "$image" => Tensor::scalar(i as i64),
            "$index" => Tensor::from_vec(vec![1, 1], vec![i as i64]).map_err(graph_err)?,
            "$zeros" => {
                let (max_det, row) = (p.max_det as usize, p.row as usize);
                Tensor::from_vec(
                    vec![p.batch, max_det, row],
                    vec![0f32; p.batch * max_det * row],
                )
                .map_err(graph_err)?
            }
            _ => self.literal(line, token)?,
        };
        self.g.constant("", tensor)
    }

    /// `TYPE[DIMS]:VALUES`.
    fn literal(&self, line: usize, token: &str) -> Result<Tensor> {
        let bad = || table_err(line, format!("bad constant '{token}'"));
        let (ty, rest) = token.split_once('[').ok_or_else(bad)?;
        let (dims, values) = rest.split_once("]:").ok_or_else(bad)?;
        let shape: Vec<usize> = dims
            .split(',')
            .filter(|d| !d.is_empty())
            .map(|d| d.parse().map_err(|_| bad()))
            .collect::<Result<_>>()?;
        let values: Vec<&str> = values.split(',').collect();
        let tensor = match ty {
            "i64" => {
                let v: Vec<i64> = values
                    .iter()
                    .map(|v| self.int_expr(v).ok_or_else(bad))
                    .collect::<Result<_>>()?;
                Tensor::from_vec(shape, v)
            }
            "f32" => {
                let v: Vec<f32> = values
                    .iter()
                    .map(|v| v.parse().map_err(|_| bad()))
                    .collect::<Result<_>>()?;
                Tensor::from_vec(shape, v)
            }
            "bool" => {
                let v: Vec<bool> = values
                    .iter()
                    .map(|v| v.parse().map_err(|_| bad()))
                    .collect::<Result<_>>()?;
                Tensor::from_vec(shape, v)
            }
            _ => return Err(bad()),
        };
        tensor.map_err(graph_err)
    }

    /// A sum of integers and parameter names (`4+nc`, `max_det`, `-1`).
    fn int_expr(&self, expr: &str) -> Option<i64> {
        let p = self.p;
        expr.split('+').try_fold(0i64, |sum, term| {
            let v = match term {
                "nc" => p.nc,
                "topk" => p.topk,
                "max_det" => p.max_det,
                "row" => p.row,
                _ => term.parse().ok()?,
            };
            sum.checked_add(v)
        })
    }

    /// The node as the builder takes it, in the form of the export's opset.
    fn node(
        &mut self,
        name: &str,
        op: &str,
        mut inputs: Vec<String>,
        mut attrs: Vec<Attribute>,
        outputs: &[String],
    ) {
        if op == "ReduceMax" && self.g.opset() < 18 && inputs.len() == 2 {
            // Opset < 18: the axes are an attribute (always [-1] here).
            inputs.truncate(1);
            attrs.insert(0, attr_ints("axes", &[-1]));
        }
        if op == "Reshape" && self.g.opset() < 14 {
            attrs.retain(|a| a.name != "allowzero");
        }
        let ins: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let outs: Vec<&str> = outputs.iter().map(String::as_str).collect();
        self.g.raw(name, op, &ins, attrs, &outs);
    }
}

/// `$name` or `TYPE[DIMS]:VALUES` (value names may contain `:`, as in `onnx::Mul_738`).
fn is_constant(token: &str) -> bool {
    token.starts_with('$')
        || ["i64[", "f32[", "bool["]
            .iter()
            .any(|t| token.starts_with(t))
}

/// `_{k+si}` → `_<k + s*i>`, or nothing when that is 0; other names are kept.
fn expand_name(line: usize, template: &str, i: usize) -> Result<String> {
    let Some((before, rest)) = template.split_once("_{") else {
        return Ok(template.to_string());
    };
    let bad = || table_err(line, format!("bad name template '{template}'"));
    let (counter, after) = rest.split_once("i}").ok_or_else(bad)?;
    let (k, s) = counter.split_once('+').ok_or_else(bad)?;
    let (k, s): (usize, usize) = (k.parse().map_err(|_| bad())?, s.parse().map_err(|_| bad())?);
    let n = s
        .checked_mul(i)
        .and_then(|si| si.checked_add(k))
        .ok_or_else(bad)?;
    Ok(if n == 0 {
        format!("{before}{after}")
    } else {
        format!("{before}_{n}{after}")
    })
}

/// `name=3`, `name=0.5f`, `name=[0,2,1]` or `name="text"`.
fn parse_attr(line: usize, token: &str) -> Result<Attribute> {
    let bad = || table_err(line, format!("bad attribute '{token}'"));
    let (name, value) = token.split_once('=').ok_or_else(bad)?;
    if let Some(text) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        return Ok(attr_str(name, text));
    }
    if let Some(list) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        let ints: Vec<i64> = list
            .split(',')
            .filter(|v| !v.is_empty())
            .map(|v| v.parse().map_err(|_| bad()))
            .collect::<Result<_>>()?;
        return Ok(attr_ints(name, &ints));
    }
    if let Some(float) = value.strip_suffix('f') {
        return Ok(attr_float(name, float.parse().map_err(|_| bad())?));
    }
    Ok(attr_int(name, value.parse().map_err(|_| bad())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses() {
        let table = Table::parse(TABLE).unwrap();
        // Transpose, three Slices, ReduceMax, ArgMax; then the loop body.
        assert_eq!(table.once.len(), 6);
        assert_eq!(table.per_image.len(), 132);
        for row in table.once.iter().chain(&table.per_image) {
            for a in &row.attrs {
                parse_attr(row.line, a).unwrap();
            }
        }
    }

    #[test]
    fn name_templates() {
        assert_eq!(expand_name(1, "/Gather_{0+18i}", 0).unwrap(), "/Gather");
        assert_eq!(
            expand_name(1, "/Gather_{3+18i}_output_0", 1).unwrap(),
            "/Gather_21_output_0"
        );
        assert_eq!(
            expand_name(1, "onnx::Mul_738_{0+1i}", 2).unwrap(),
            "onnx::Mul_738_2"
        );
        assert_eq!(
            expand_name(1, "/Slice_output_0", 5).unwrap(),
            "/Slice_output_0"
        );
        assert!(expand_name(1, "/Gather_{x+18i}", 0).is_err());
    }

    #[test]
    fn attributes_and_malformed_rows() {
        assert_eq!(parse_attr(1, "axis=-1").unwrap(), attr_int("axis", -1));
        assert_eq!(
            parse_attr(1, "perm=[0,2,1]").unwrap(),
            attr_ints("perm", &[0, 2, 1])
        );
        assert_eq!(
            parse_attr(1, "mode=\"constant\"").unwrap(),
            attr_str("mode", "constant")
        );
        assert!(parse_attr(1, "axis=x").is_err());
        assert!(Row::parse(1, "Add /Add -> /Add_output_0").is_err());
        assert!(Table::parse("Add /Add <- a b -> c").is_err());
    }
}
