//! Instruction-set selection.
//!
//! Every kernel in this crate exists in up to three flavours. The planner normally takes
//! [`Isa::detect`]; tests and benchmarks force each flavour the machine supports with
//! [`Isa::all_supported`] so that every path is exercised on one machine.

use std::sync::OnceLock;

/// A family of SIMD kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// x86-64 with AVX-512F: 512-bit registers, 32 of them, embedded broadcasts and masks.
    Avx512,
    /// x86-64 with AVX2 and FMA: 256-bit registers, 16 of them.
    Avx2Fma,
    /// Portable Rust, left to the compiler's auto-vectoriser (SSE2 on x86-64, NEON on aarch64).
    Generic,
}

impl Isa {
    /// The fastest flavour this CPU runs. Detected once, then cached.
    pub fn detect() -> Isa {
        static DETECTED: OnceLock<Isa> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            [Isa::Avx512, Isa::Avx2Fma]
                .into_iter()
                .find(|isa| isa.is_supported())
                .unwrap_or(Isa::Generic)
        })
    }

    /// Whether this CPU can run the flavour.
    pub fn is_supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx512 | Isa::Avx2Fma => false,
            Isa::Generic => true,
        }
    }

    /// Every flavour this CPU runs, fastest first (for tests and benchmarks).
    pub fn all_supported() -> Vec<Isa> {
        [Isa::Avx512, Isa::Avx2Fma, Isa::Generic]
            .into_iter()
            .filter(|isa| isa.is_supported())
            .collect()
    }

    /// `self` if this CPU runs it, otherwise the best flavour it does run.
    /// Kernels call this so that an unsupported choice can never reach a SIMD instruction.
    pub(crate) fn or_supported(self) -> Isa {
        if self.is_supported() {
            self
        } else {
            Isa::detect()
        }
    }
}
