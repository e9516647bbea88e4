//! libtorch rpath for this crate (see scripts/libtorch_rpath.rs).
include!("../scripts/libtorch_rpath.rs");

fn main() {
    emit_libtorch_rpath();
}
