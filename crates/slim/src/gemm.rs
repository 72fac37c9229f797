//! `fuse-gemm`: MatMul → Add becomes one Gemm when A is 2-D, B a constant 2-D matrix and the
//! addend a constant that broadcasts to the product without growing it.

use crate::util::{constant, default_domain, only_read_by};
use onnxide_ir::infer::infer;
use onnxide_ir::rewrite::{node, GraphIndex, Pass, PassReport, Patch};
use onnxide_ir::{DType, Dim, IrError, Model};

/// `Add(MatMul(A, B), C)` (either operand order) ⇒ `Gemm(A, B, C)` (alpha = beta = 1, no
/// transposes; B and C stay as they are, nothing is recomputed). Conditions: A has rank 2
/// (inferred); B is a float32/float64 constant of rank 2; C is a constant of B's type whose
/// shape broadcasts one way to `[M, N]`; the MatMul's output is read by the Add only.
pub struct FuseGemm;

impl Pass for FuseGemm {
    fn name(&self) -> &'static str {
        "fuse-gemm"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        let Ok(facts) = infer(model) else {
            return Ok(PassReport::new());
        };
        let g = &model.graph;
        let ix = GraphIndex::new(g);
        let mut patch = Patch::new();
        let mut report = PassReport::new();
        for (a, add) in g.nodes.iter().enumerate() {
            if add.op_type != "Add"
                || !default_domain(add)
                || add.inputs.len() != 2
                || add.outputs.len() != 1
            {
                continue;
            }
            for side in 0..2 {
                let (y, c_name) = (&add.inputs[side], &add.inputs[1 - side]);
                let Some(mm) = ix.producer(y) else { continue };
                let matmul = &g.nodes[mm];
                if matmul.op_type != "MatMul"
                    || !default_domain(matmul)
                    || matmul.inputs.len() != 2
                    || patch.touches_node(mm)
                    || patch.touches_node(a)
                    || !only_read_by(&ix, y, a)
                {
                    continue;
                }
                let (x, b_name) = (&matmul.inputs[0], &matmul.inputs[1]);
                let (Some(b), Some(c)) = (constant(g, &ix, b_name), constant(g, &ix, c_name))
                else {
                    continue;
                };
                let Some(a_shape) = facts.shape(x).filter(|s| s.len() == 2) else {
                    continue;
                };
                if b.rank() != 2
                    || !matches!(b.dtype(), DType::F32 | DType::F64)
                    || c.dtype() != b.dtype()
                    || facts.elem(x) != Some(b.dtype())
                    || c.rank() > 2
                {
                    continue;
                }
                let out = [a_shape[0].clone(), Dim::Fixed(b.shape()[1] as u64)];
                let offset = 2 - c.rank();
                let broadcasts = c.shape().iter().enumerate().all(|(k, &d)| {
                    d == 1 || matches!(&out[offset + k], Dim::Fixed(n) if *n == d as u64)
                });
                if !broadcasts {
                    continue;
                }
                let gemm = node("Gemm")
                    .name(if matmul.name.is_empty() {
                        add.name.clone()
                    } else {
                        matmul.name.clone()
                    })
                    .inputs([x.clone(), b_name.clone(), c_name.clone()])
                    .output(add.outputs[0].clone())
                    .build();
                patch.replace_node(mm, gemm);
                patch.remove_node(a);
                report.add("MatMul+Add", 1);
                break;
            }
        }
        if !patch.is_empty() {
            patch.apply(&mut model.graph);
        }
        Ok(report)
    }
}
