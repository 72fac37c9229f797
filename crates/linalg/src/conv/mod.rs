//! 2-D convolution over NCHW f32 tensors, with the fused epilogue
//! `y = activation(conv(x) + bias) (+ residual)`.
//!
//! [`Conv2dPlan::new`] picks the algorithm once, from the geometry, and pre-packs the
//! weights; [`Conv2dPlan::run`] then runs any batch size.
//!
//! | geometry                               | algorithm                                  |
//! |----------------------------------------|--------------------------------------------|
//! | 1×1, stride 1, no pad, groups 1        | `direct1x1`: GEMM `W[oc×ic] · X[ic×HW]` on the NCHW data in place (one output channel: the single-row sum, as onnxruntime) |
//! | groups == in == out channels (depthwise)| `depthwise`: per-plane vectorised stencil |
//! | stride 1 (3×3 s1, any pad/dilation/groups) | `lazy`: GEMM reading B rows in place from a zero-bordered copy of the input through an offset table (no packing) |
//! | anything else (3×3 s2, …)              | `implicit`: GEMM whose B blocks are gathered from the input on the fly (one `KC ×` few-panels block at a time, never the whole im2col matrix) |
//! | 3×3 s1 d1 groups 1, not exact, ≥ 64 channels, ≥ 56×56 (see `winograd::choose`) | `winograd`: F(2×2, 3×3), 16 GEMMs on transformed tiles |
//!
//! Every path but `winograd` sums in onnxruntime's (MLAS's) order, so its results are
//! bit-identical to onnxruntime's; `winograd` is chosen only when [`ConvOptions::exact`] is
//! off (the runtime's default mode) and rounds differently (within onnxruntime's own spread
//! between its optimisation levels on the YOLO11 fixtures).

mod depthwise;
mod direct1x1;
mod implicit;
mod lazy;
mod winograd;

pub use winograd::{reference as winograd_reference, WinogradTile};

use crate::activation::Epilogue;
use crate::gemm::{self, GemmOutput, PackedWeights};
use crate::Isa;
use rayon::ThreadPool;
use std::fmt;

/// The static shape of a 2-D convolution (ONNX `Conv` attributes plus the input size).
/// Batch size is not part of it: one plan runs any batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvGeometry {
    /// Input channels (C of NCHW).
    pub in_channels: usize,
    /// Output channels (M, the first dimension of the ONNX weight).
    pub out_channels: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Zero rows added above the input.
    pub pad_top: usize,
    /// Zero columns added left of the input.
    pub pad_left: usize,
    /// Zero rows added below the input.
    pub pad_bottom: usize,
    /// Zero columns added right of the input.
    pub pad_right: usize,
    /// Vertical dilation.
    pub dilation_h: usize,
    /// Horizontal dilation.
    pub dilation_w: usize,
    /// Channel groups (`in_channels` for depthwise).
    pub groups: usize,
}

impl ConvGeometry {
    /// Stride 1, no padding, no dilation, one group.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        in_h: usize,
        in_w: usize,
        kernel_h: usize,
        kernel_w: usize,
    ) -> ConvGeometry {
        ConvGeometry {
            in_channels,
            out_channels,
            in_h,
            in_w,
            kernel_h,
            kernel_w,
            stride_h: 1,
            stride_w: 1,
            pad_top: 0,
            pad_left: 0,
            pad_bottom: 0,
            pad_right: 0,
            dilation_h: 1,
            dilation_w: 1,
            groups: 1,
        }
    }

    /// Sets the strides.
    pub fn stride(mut self, h: usize, w: usize) -> Self {
        (self.stride_h, self.stride_w) = (h, w);
        self
    }

    /// Sets the pads in ONNX order (top, left, bottom, right).
    pub fn pads(mut self, top: usize, left: usize, bottom: usize, right: usize) -> Self {
        (self.pad_top, self.pad_left, self.pad_bottom, self.pad_right) = (top, left, bottom, right);
        self
    }

    /// Sets the dilations.
    pub fn dilation(mut self, h: usize, w: usize) -> Self {
        (self.dilation_h, self.dilation_w) = (h, w);
        self
    }

    /// Sets the group count.
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// Output height.
    pub fn out_h(&self) -> usize {
        let span = self.dilation_h * (self.kernel_h - 1) + 1;
        (self.in_h + self.pad_top + self.pad_bottom - span) / self.stride_h + 1
    }

    /// Output width.
    pub fn out_w(&self) -> usize {
        let span = self.dilation_w * (self.kernel_w - 1) + 1;
        (self.in_w + self.pad_left + self.pad_right - span) / self.stride_w + 1
    }

    /// Weight elements expected: `out · in/groups · kh · kw`.
    pub fn weight_len(&self) -> usize {
        self.out_channels * (self.in_channels / self.groups) * self.kernel_h * self.kernel_w
    }

    /// Checks that the geometry describes a computable convolution.
    pub fn validate(&self) -> Result<(), ShapeError> {
        let positive = [
            ("in_channels", self.in_channels),
            ("out_channels", self.out_channels),
            ("in_h", self.in_h),
            ("in_w", self.in_w),
            ("kernel_h", self.kernel_h),
            ("kernel_w", self.kernel_w),
            ("stride_h", self.stride_h),
            ("stride_w", self.stride_w),
            ("dilation_h", self.dilation_h),
            ("dilation_w", self.dilation_w),
            ("groups", self.groups),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ShapeError(format!("conv: {name} must be positive")));
        }
        if !self.in_channels.is_multiple_of(self.groups)
            || !self.out_channels.is_multiple_of(self.groups)
        {
            return Err(ShapeError(format!(
                "conv: {} input and {} output channels are not divisible by {} groups",
                self.in_channels, self.out_channels, self.groups
            )));
        }
        let span_h = self.dilation_h * (self.kernel_h - 1) + 1;
        let span_w = self.dilation_w * (self.kernel_w - 1) + 1;
        if self.in_h + self.pad_top + self.pad_bottom < span_h
            || self.in_w + self.pad_left + self.pad_right < span_w
        {
            return Err(ShapeError(
                "conv: the kernel is larger than the padded input".into(),
            ));
        }
        Ok(())
    }

    fn is_pointwise(&self) -> bool {
        self.kernel_h == 1
            && self.kernel_w == 1
            && self.stride_h == 1
            && self.stride_w == 1
            && self.pad_top + self.pad_left + self.pad_bottom + self.pad_right == 0
    }

    fn is_depthwise(&self) -> bool {
        self.groups > 1 && self.groups == self.in_channels && self.groups == self.out_channels
    }
}

/// A shape that a kernel cannot run, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeError(pub String);

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ShapeError {}

/// Which algorithm a plan uses (for logs and the planner's report).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvAlgorithm {
    /// 1×1 stride 1: a GEMM on the NCHW input as it is.
    Pointwise,
    /// Implicit-im2col GEMM (one per group), B packed block by block.
    ImplicitGemm,
    /// Stride-1 implicit GEMM reading B in place from a padded copy of the input.
    LazyIm2colGemm,
    /// Dedicated depthwise stencil.
    Depthwise,
    /// Winograd F(m×m, 3×3) (not exact: see [`ConvOptions::exact`]).
    Winograd(WinogradTile),
}

/// How a plan may compute; [`Default`] is exact with the algorithm chosen by geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvOptions {
    /// Keep onnxruntime's summation order (bit-identical results); `false` allows Winograd
    /// for 3×3 stride-1 convolutions where it is faster.
    pub exact: bool,
    /// Force Winograd with this tile on any eligible geometry (3×3, stride 1, dilation 1, one
    /// group), regardless of `exact` and of the speed rule: for tests and measurements.
    pub force_winograd: Option<WinogradTile>,
}

impl Default for ConvOptions {
    fn default() -> Self {
        ConvOptions {
            exact: true,
            force_winograd: None,
        }
    }
}

impl ConvOptions {
    /// The default (non-exact) mode: Winograd where the speed rule picks it.
    pub const FAST: ConvOptions = ConvOptions {
        exact: false,
        force_winograd: None,
    };
}

#[derive(Clone, Debug)]
enum Kernel {
    /// One packed weight matrix per group (and, for the lazy path, the row offsets).
    Gemm(Vec<PackedWeights>, Option<lazy::LazyIm2col>),
    Depthwise(depthwise::DepthwiseWeights),
    /// One output channel, 1×1: the weights and bias as given (see `gemm::single_row`).
    SingleRow(Vec<f32>, f32),
    Winograd(winograd::WinogradWeights),
}

/// A convolution ready to run: algorithm chosen and weights packed at plan time.
#[derive(Clone, Debug)]
pub struct Conv2dPlan {
    geometry: ConvGeometry,
    isa: Isa,
    epilogue: Epilogue,
    algorithm: ConvAlgorithm,
    kernel: Kernel,
}

impl Conv2dPlan {
    /// Plans a convolution. `weights` is the ONNX weight `[out, in/groups, kh, kw]` (BN
    /// already folded in), `bias` has `out` values.
    ///
    /// # Panics
    /// If the geometry is invalid or the slices have the wrong length; see [`Self::try_new`].
    pub fn new(
        isa: Isa,
        geometry: ConvGeometry,
        weights: &[f32],
        bias: Option<&[f32]>,
        epilogue: Epilogue,
    ) -> Conv2dPlan {
        Self::try_new(isa, geometry, weights, bias, epilogue).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Self::new`], returning an error instead of panicking.
    pub fn try_new(
        isa: Isa,
        geometry: ConvGeometry,
        weights: &[f32],
        bias: Option<&[f32]>,
        epilogue: Epilogue,
    ) -> Result<Conv2dPlan, ShapeError> {
        Self::try_new_with(
            isa,
            geometry,
            weights,
            bias,
            epilogue,
            ConvOptions::default(),
        )
    }

    /// Like [`Self::try_new`], with the arithmetic mode (and, for tests, a forced algorithm).
    pub fn try_new_with(
        isa: Isa,
        geometry: ConvGeometry,
        weights: &[f32],
        bias: Option<&[f32]>,
        epilogue: Epilogue,
        options: ConvOptions,
    ) -> Result<Conv2dPlan, ShapeError> {
        geometry.validate()?;
        let g = geometry;
        if weights.len() != g.weight_len() {
            return Err(ShapeError(format!(
                "conv: weight has {} values, the geometry needs {}",
                weights.len(),
                g.weight_len()
            )));
        }
        if let Some(b) = bias {
            if b.len() != g.out_channels {
                return Err(ShapeError(format!(
                    "conv: bias has {} values, expected {}",
                    b.len(),
                    g.out_channels
                )));
            }
        }
        let isa = isa.or_supported();
        let winograd_tile = match options.force_winograd {
            Some(tile) if winograd::eligible(&g) => Some(tile),
            Some(_) => {
                return Err(ShapeError(
                    "conv: Winograd needs a 3×3 stride-1 dilation-1 one-group convolution".into(),
                ))
            }
            None if options.exact => None,
            None => winograd::choose(&g),
        };
        let (algorithm, kernel) = if let Some(tile) = winograd_tile {
            (
                ConvAlgorithm::Winograd(tile),
                Kernel::Winograd(winograd::WinogradWeights::new(isa, tile, &g, weights, bias)),
            )
        } else if g.is_pointwise() && g.groups == 1 && g.out_channels == 1 {
            (
                ConvAlgorithm::Pointwise,
                Kernel::SingleRow(weights.to_vec(), bias.map_or(0.0, |b| b[0])),
            )
        } else if g.is_depthwise() {
            (
                ConvAlgorithm::Depthwise,
                Kernel::Depthwise(depthwise::DepthwiseWeights::new(&g, weights, bias)),
            )
        } else {
            let ocg = g.out_channels / g.groups;
            let k = (g.in_channels / g.groups) * g.kernel_h * g.kernel_w;
            let packed = (0..g.groups)
                .map(|gi| {
                    let w = &weights[gi * ocg * k..(gi + 1) * ocg * k];
                    let b = bias.map(|b| &b[gi * ocg..(gi + 1) * ocg]);
                    PackedWeights::new(isa, w, ocg, k, b)
                })
                .collect();
            let (algorithm, lazy) = if g.is_pointwise() && g.groups == 1 {
                (ConvAlgorithm::Pointwise, None)
            } else if lazy::LazyIm2col::applies(&g) {
                (
                    ConvAlgorithm::LazyIm2colGemm,
                    Some(lazy::LazyIm2col::new(&g)),
                )
            } else {
                (ConvAlgorithm::ImplicitGemm, None)
            };
            (algorithm, Kernel::Gemm(packed, lazy))
        };
        Ok(Conv2dPlan {
            geometry: g,
            isa,
            epilogue,
            algorithm,
            kernel,
        })
    }

    /// The geometry planned for.
    pub fn geometry(&self) -> &ConvGeometry {
        &self.geometry
    }

    /// The algorithm chosen.
    pub fn algorithm(&self) -> ConvAlgorithm {
        self.algorithm
    }

    /// The ISA the kernels use.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Elements of one input image (`C·H·W`).
    pub fn input_len(&self) -> usize {
        self.geometry.in_channels * self.geometry.in_h * self.geometry.in_w
    }

    /// Elements of one output image (`M·OH·OW`).
    pub fn output_len(&self) -> usize {
        self.geometry.out_channels * self.geometry.out_h() * self.geometry.out_w()
    }

    /// Floating-point operations per image (2 per multiply-add), for throughput reports.
    pub fn flops_per_image(&self) -> usize {
        2 * self.output_len()
            * (self.geometry.in_channels / self.geometry.groups)
            * self.geometry.kernel_h
            * self.geometry.kernel_w
    }

    /// Runs the convolution on `input` (`[N, C, H, W]`, any N ≥ 1), writing `output`
    /// (`[N, M, OH, OW]`); `residual`, if given, has the output's shape and is added last.
    /// `pool`: the threads to use (`None`: the current rayon pool).
    ///
    /// # Panics
    /// If the slice lengths do not match the geometry; see [`Self::try_run`].
    pub fn run(
        &self,
        input: &[f32],
        residual: Option<&[f32]>,
        output: &mut [f32],
        pool: Option<&ThreadPool>,
    ) {
        self.try_run(input, residual, output, pool)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Self::run`], returning an error on mismatched lengths instead of panicking.
    pub fn try_run(
        &self,
        input: &[f32],
        residual: Option<&[f32]>,
        output: &mut [f32],
        pool: Option<&ThreadPool>,
    ) -> Result<(), ShapeError> {
        let (in_len, out_len) = (self.input_len(), self.output_len());
        if input.is_empty() || !input.len().is_multiple_of(in_len) {
            return Err(ShapeError(format!(
                "conv: input has {} values, not a positive multiple of C·H·W = {in_len}",
                input.len()
            )));
        }
        let batch = input.len() / in_len;
        if output.len() != batch * out_len {
            return Err(ShapeError(format!(
                "conv: output has {} values, expected {}",
                output.len(),
                batch * out_len
            )));
        }
        let layout = BatchLayout {
            batch,
            input_stride: in_len,
            output_stride: out_len,
        };
        self.run_batched(input, residual, output, layout, pool)
    }

    /// Runs `layout.batch` images whose inputs start `input_stride` values apart and whose
    /// outputs (and residuals) start `output_stride` values apart. This lets a batched
    /// convolution read a channel range of a wider tensor (a `Split` view) and write into a
    /// channel range of a `Concat` buffer: e.g. output channels 64..128 of a `[N, 192, H, W]`
    /// concat buffer are `&mut buf[64·H·W..]` with `output_stride = 192·H·W`.
    pub fn run_batched(
        &self,
        input: &[f32],
        residual: Option<&[f32]>,
        output: &mut [f32],
        layout: BatchLayout,
        pool: Option<&ThreadPool>,
    ) -> Result<(), ShapeError> {
        let (in_len, out_len) = (self.input_len(), self.output_len());
        let BatchLayout {
            batch,
            input_stride,
            output_stride,
        } = layout;
        if batch == 0 {
            return Ok(());
        }
        if input_stride < in_len || output_stride < out_len {
            return Err(ShapeError(format!(
                "conv: image strides ({input_stride}, {output_stride}) are smaller than one image ({in_len}, {out_len})"
            )));
        }
        let need_in = (batch - 1) * input_stride + in_len;
        let need_out = (batch - 1) * output_stride + out_len;
        if input.len() < need_in {
            return Err(ShapeError(format!(
                "conv: input has {} values, needs {need_in}",
                input.len()
            )));
        }
        if output.len() < need_out {
            return Err(ShapeError(format!(
                "conv: output has {} values, needs {need_out}",
                output.len()
            )));
        }
        if let Some(r) = residual {
            if r.len() < need_out {
                return Err(ShapeError(format!(
                    "conv: residual has {} values, needs {need_out}",
                    r.len()
                )));
            }
        }
        for n in 0..batch {
            let image = &input[n * input_stride..n * input_stride + in_len];
            let out_image = &mut output[n * output_stride..n * output_stride + out_len];
            let res_image = residual.map(|r| &r[n * output_stride..n * output_stride + out_len]);
            self.run_image(image, res_image, out_image, pool);
        }
        Ok(())
    }

    /// One image: `input` is `[C, H, W]`, `output` and `residual` are `[M, OH, OW]`.
    fn run_image(
        &self,
        input: &[f32],
        residual: Option<&[f32]>,
        output: &mut [f32],
        pool: Option<&ThreadPool>,
    ) {
        let g = &self.geometry;
        match &self.kernel {
            Kernel::Depthwise(w) => depthwise::run(
                self.isa,
                g,
                w,
                self.epilogue,
                input,
                residual,
                output,
                1,
                pool,
            ),
            Kernel::Winograd(w) => {
                debug_assert_eq!(self.algorithm, ConvAlgorithm::Winograd(w.tile()));
                winograd::run(
                    self.isa,
                    g,
                    w,
                    self.epilogue.activation,
                    input,
                    residual,
                    output,
                    pool,
                )
            }
            Kernel::SingleRow(weights, bias) => {
                let hw = g.in_h * g.in_w;
                gemm::single_row_gemm(self.isa, weights, input, hw, output);
                let res = residual.map_or(std::ptr::null(), <[f32]>::as_ptr);
                let epilogue = crate::activation::epilogue_fn(self.isa);
                // SAFETY: `output` (and `residual`, when given) hold the one output plane of
                // `hw` values; the bias pointer is one value; `epilogue_fn` picked a
                // supported ISA.
                unsafe {
                    epilogue(
                        output.as_mut_ptr(),
                        hw,
                        1,
                        hw,
                        bias,
                        self.epilogue.activation,
                        res,
                        hw,
                    )
                };
            }
            Kernel::Gemm(groups, lazy) => {
                let hw_out = g.out_h() * g.out_w();
                let icg = g.in_channels / g.groups;
                let ocg = g.out_channels / g.groups;
                let in_group = icg * g.in_h * g.in_w;
                for (gi, packed) in groups.iter().enumerate() {
                    let group_in = &input[gi * in_group..(gi + 1) * in_group];
                    let out_range = gi * ocg * hw_out..(gi + 1) * ocg * hw_out;
                    let res = residual.map(|r| &r[out_range.clone()]);
                    let out = GemmOutput {
                        data: &mut output[out_range],
                        ldc: hw_out,
                        accumulate: false,
                    };
                    if let Some(lazy) = lazy {
                        let act = self.epilogue.activation;
                        lazy::run(
                            self.isa, g, lazy, packed, act, group_in, res, out.data, pool,
                        );
                    } else if self.algorithm == ConvAlgorithm::Pointwise {
                        direct1x1::run(packed, group_in, hw_out, out, res, self.epilogue, pool);
                    } else {
                        let source = implicit::Im2colB::new(g, group_in);
                        gemm::run(
                            packed,
                            &source,
                            hw_out,
                            out,
                            res,
                            self.epilogue.activation,
                            pool,
                        );
                    }
                }
            }
        }
    }
}

/// Where the images of a batch live: see [`Conv2dPlan::run_batched`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLayout {
    /// Number of images.
    pub batch: usize,
    /// Distance between the first values of consecutive input images.
    pub input_stride: usize,
    /// Distance between the first values of consecutive output (and residual) images.
    pub output_stride: usize,
}
