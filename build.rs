//! libtorch rpath for the `mabtwin-ml` binary (see scripts/libtorch_rpath.rs).
include!("scripts/libtorch_rpath.rs");

fn main() {
    emit_libtorch_rpath();
}
