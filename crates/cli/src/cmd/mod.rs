pub mod info;
pub mod run;
