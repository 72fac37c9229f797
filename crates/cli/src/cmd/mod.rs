pub mod bench;
pub mod convert;
pub mod convert_weights;
pub mod export;
pub mod info;
pub mod predict;
pub mod run;
pub mod slim;
