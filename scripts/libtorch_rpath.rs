// Shared by the build scripts of every package that links libtorch (root, qc, twin):
// embed libtorch's library directory as an rpath so binaries, tests and doctests run
// without `LD_LIBRARY_PATH` (build.md §5). torch-sys (`links = "tch"`) exports the
// directory as `DEP_TCH_LIBTORCH_LIB` to its direct dependents only, hence one build
// script per package, all including this file.
fn emit_libtorch_rpath() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    if std::path::Path::new(&lib_dir).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
