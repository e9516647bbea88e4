//! Reference models from other codes, kept beside the platform model for comparison:
//! [`insilicho`] (Möller et al. 2020 as coded in PyPI insilicho 1.1.4). They share the
//! integrator but not the platform model's states, loops or sensors.

pub mod insilicho;
