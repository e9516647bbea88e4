//! # sim — kinetic fed-batch simulator for CHO mAb production
//!
//! Turns a validated scenario into a batch record: the true states every 15 min, online
//! sensor data every 15 min, daily offline samples, events and a summary. Deterministic
//! given the scenario's seed. No I/O: callers read and write files.
#![forbid(unsafe_code)]

pub mod params;
pub mod scenario;

pub use params::KineticParams;
pub use scenario::{Scenario, ValidScenario};
pub mod doe;
pub mod dopri5;
pub mod error;
pub mod model;
pub mod objective;
pub mod physics;
pub mod presets;
pub mod prototype;
pub mod record;
pub mod rng;
pub mod run;
pub mod sensors;

pub use error::{Result, SimError};
pub use record::{BatchRecord, Summary};
pub use run::simulate;
