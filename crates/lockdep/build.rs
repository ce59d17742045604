//! Decides whether validation is compiled in: on in builds with debug assertions, or with the
//! feature `always`; `--cfg lockdep_off` (RUSTFLAGS) compiles it away everywhere.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(lockdep_enabled)");
    println!("cargo::rustc-check-cfg=cfg(lockdep_off)");
    println!("cargo::rerun-if-changed=build.rs");
    let debug = std::env::var_os("CARGO_CFG_DEBUG_ASSERTIONS").is_some();
    let always = std::env::var_os("CARGO_FEATURE_ALWAYS").is_some();
    let off = std::env::var_os("CARGO_CFG_LOCKDEP_OFF").is_some();
    if (debug || always) && !off {
        println!("cargo::rustc-cfg=lockdep_enabled");
    }
}
