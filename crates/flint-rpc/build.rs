//! Compiles `proto/*.proto` with protox (a protobuf compiler in Rust), so no system `protoc`
//! is needed, then generates tonic clients and servers from the descriptors.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/deploy.proto",
        "proto/executor.proto",
        "proto/shuffle.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
