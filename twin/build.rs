//! Embed libtorch's library directory as an rpath so that binaries, tests and doctests of this
//! crate run without `LD_LIBRARY_PATH` (build.md §5). torch-sys (`links = "tch"`) exports the
//! directory as `DEP_TCH_LIBTORCH_LIB` to its direct dependents only.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    if std::path::Path::new(&lib_dir).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
