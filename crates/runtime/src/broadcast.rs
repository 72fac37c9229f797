//! Multidirectional (numpy) broadcasting.

use crate::value::{bail, OpResult};

/// The broadcast shape of several shapes.
pub fn shape_of(shapes: &[&[usize]]) -> OpResult<Vec<usize>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; rank];
    for s in shapes {
        let off = rank - s.len();
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[off + i];
            if *o == d || d == 1 {
                continue;
            }
            if *o == 1 {
                *o = d;
            } else {
                bail!("shapes {:?} cannot be broadcast together", shapes);
            }
        }
    }
    Ok(out)
}

/// Strides of `shape` laid into `out` (right-aligned), with 0 on broadcast dimensions.
pub fn strides_in(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let own = crate::value::strides(shape);
    let off = out.len() - shape.len();
    (0..out.len())
        .map(|i| {
            if i < off || shape[i - off] == 1 {
                0
            } else {
                own[i - off]
            }
        })
        .collect()
}

/// For every element of `out` (row-major), its offset in a tensor of `shape` broadcast to `out`.
pub fn index_map(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let st = strides_in(shape, out);
    let n: usize = out.iter().product();
    let mut res = Vec::with_capacity(n);
    if n == 0 {
        return res;
    }
    let mut idx = vec![0usize; out.len()];
    let mut off = 0usize;
    for _ in 0..n {
        res.push(off);
        for d in (0..out.len()).rev() {
            idx[d] += 1;
            off += st[d];
            if idx[d] < out[d] {
                break;
            }
            off -= st[d] * idx[d];
            idx[d] = 0;
        }
    }
    res
}

/// `f(a, b)` elementwise with broadcasting.
pub fn binary<A: Copy, B: Copy, C>(
    a: &[A],
    ash: &[usize],
    b: &[B],
    bsh: &[usize],
    f: impl Fn(A, B) -> C,
) -> OpResult<(Vec<usize>, Vec<C>)> {
    if ash == bsh {
        return Ok((
            ash.to_vec(),
            a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect(),
        ));
    }
    let out = shape_of(&[ash, bsh])?;
    let n: usize = out.iter().product();
    if b.len() == 1 && a.len() == n {
        let y = b[0];
        return Ok((out, a.iter().map(|&x| f(x, y)).collect()));
    }
    if a.len() == 1 && b.len() == n {
        let x = a[0];
        return Ok((out, b.iter().map(|&y| f(x, y)).collect()));
    }
    let mut res = Vec::with_capacity(n);
    if n == 0 {
        return Ok((out, res));
    }
    // Inner loop over the last dimension, odometer over the rest.
    let r = out.len();
    let sa = strides_in(ash, &out);
    let sb = strides_in(bsh, &out);
    let inner = out[r - 1];
    let (ia, ib) = (sa[r - 1], sb[r - 1]);
    let outer = n / inner;
    let mut idx = vec![0usize; r - 1];
    let (mut oa, mut ob) = (0usize, 0usize);
    for _ in 0..outer {
        for k in 0..inner {
            res.push(f(a[oa + k * ia], b[ob + k * ib]));
        }
        for d in (0..r - 1).rev() {
            idx[d] += 1;
            oa += sa[d];
            ob += sb[d];
            if idx[d] < out[d] {
                break;
            }
            oa -= sa[d] * idx[d];
            ob -= sb[d] * idx[d];
            idx[d] = 0;
        }
    }
    Ok((out, res))
}
