//! Reference kernels, one module per op family. Each family lists its ops in its own `OPS`
//! table; `crate::registry` concatenates the tables. Families may use each other's helpers
//! (most use `cast::cast`), but never in a cycle.

pub mod attention;
pub mod binary;
pub mod cast;
pub mod concat;
pub mod control;
pub mod conv;
pub mod gather;
pub mod generate;
pub mod grid;
pub mod loss;
pub mod matmul;
pub mod nms;
pub mod norm;
pub mod pool;
pub mod quant;
pub mod random;
pub mod reduce;
pub mod reshape;
pub mod resize;
pub mod rnn;
pub mod select;
pub mod slicing;
pub mod unary;
