//! Links the `flint` binary as a position-dependent executable on x86-64 Linux.
//!
//! A PIE image of this size carries ~4 MiB of `.data.rel.ro` (vtables, string tables) that the
//! dynamic loader relocates at every start, turning those pages into private dirty memory in
//! every master, worker, driver and executor process. Linked at a fixed address they stay
//! clean file pages, shared between processes and loaded only when used (the same choice as
//! Go's default build mode). Shared libraries, heap and stacks are still randomized.

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if target_os == "linux" && target_arch == "x86_64" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
