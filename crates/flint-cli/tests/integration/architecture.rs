/// Every crate appears in ARCHITECTURE.md's code map (rust-analyzer's tidy check).
#[test]
fn every_crate_is_in_the_code_map() {
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../..");
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            architecture.contains(&format!("### crates/{name}")),
            "crates/{name} is missing from ARCHITECTURE.md"
        );
    }
}
