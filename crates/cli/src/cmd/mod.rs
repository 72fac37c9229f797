pub mod convert_weights;
pub mod info;
pub mod run;
