//! Reference models from other codes, kept beside the platform model for comparison:
//! [`insilicho`] (Möller et al. 2020 as coded in PyPI insilicho 1.1.4) and [`xing2010`]
//! (the simplified Xing 2010 batch model of the of-compartments package).
//! They share the integrator but not the platform model's states, loops or sensors; the
//! tests compare them with trajectories computed by those packages. [`scenario_run`] runs
//! them from a scenario (`[model] preset = "insilicho" | "xing2010"`).

pub mod insilicho;
pub mod scenario_run;
pub mod xing2010;
