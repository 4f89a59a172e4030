//! Generates the gRPC code from `proto/` with the vendored `protoc`, so a fresh
//! machine needs no system protobuf compiler.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure().bytes(".orbit.v1").compile_with_config(
        config,
        &["proto/orbit.proto"],
        &["proto"],
    )?;
    Ok(())
}
