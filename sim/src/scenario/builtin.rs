//! Placeholder: the scenarios embedded in the binary.
