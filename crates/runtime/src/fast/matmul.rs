//! f32 `MatMul` of rank ≥ 2 operands on onnxide-linalg's packed GEMM, one GEMM per batch
//! item (numpy batch broadcasting). Its k slices are onnxruntime's, so attention products
//! round exactly as there. Anything else (rank 1, other dtypes) goes to the reference.

use super::elementwise::{f32_input, wrap};
use crate::broadcast;
use crate::kernel::{BuildCtx, Builder, Kernel};
use crate::value::*;
use onnxide_ir::TensorData;
use onnxide_linalg::gemm::{sgemm, GemmOutput, MatRef};

pub(crate) fn build_matmul(
    ctx: &BuildCtx,
    reference: Builder,
) -> OpResult<Option<Box<dyn Kernel>>> {
    let isa = ctx.isa;
    wrap(ctx, reference, move |run, ins| {
        let (Some((a, x)), Some((b, y))) = (f32_input(ins, 0), f32_input(ins, 1)) else {
            return Ok(None);
        };
        let (ash, bsh) = (a.shape(), b.shape());
        if ash.len() < 2 || bsh.len() < 2 {
            return Ok(None);
        }
        let (m, k) = (ash[ash.len() - 2], ash[ash.len() - 1]);
        let (k2, n) = (bsh[bsh.len() - 2], bsh[bsh.len() - 1]);
        if k != k2 {
            bail!("shapes {ash:?} and {bsh:?} do not multiply");
        }
        let (a_batch, b_batch) = (&ash[..ash.len() - 2], &bsh[..bsh.len() - 2]);
        let batch = broadcast::shape_of(&[a_batch, b_batch])?;
        let a_items = broadcast::index_map(a_batch, &batch);
        let b_items = broadcast::index_map(b_batch, &batch);
        let mut shape = batch;
        shape.extend([m, n]);
        let mut out = run.take_f32(a_items.len() * m * n);
        if m * n > 0 {
            for (item, c) in out.chunks_mut(m * n).enumerate() {
                let (ao, bo) = (a_items[item] * m * k, b_items[item] * k * n);
                sgemm(
                    isa,
                    MatRef::row_major(&x[ao..ao + m * k], m, k),
                    MatRef::row_major(&y[bo..bo + k * n], k, n),
                    GemmOutput {
                        data: c,
                        ldc: n,
                        accumulate: false,
                    },
                    None,
                );
            }
        }
        Ok(Some(mk(shape, TensorData::F32(out))))
    })
}
