//! Scenario suites: the TOML model, its validation and matrix expansion (pure), and the runner
//! that starts test origins and a proxy per case, drives the client under test and judges each
//! case from the evidence (I/O).
//!
//! The runner emits [`crate::case_record::RunEvent`]s; it writes no report itself (that is
//! `report`), and the meaning of a connection's verdict stays in `verdict`.

pub mod client;
pub mod judge;
pub mod matrix;
pub mod model;
pub mod parse;
pub mod runner;
pub mod template;
