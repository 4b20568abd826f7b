//! Issue 15, item 2: the container image `scripts/image.sh` writes without a daemon is a valid OCI
//! image layout (every blob named by its SHA-256, the manifest's sizes and the config's diff IDs true),
//! one layer on scratch holding exactly the static binary just built, run as a non-root user, with
//! OCI labels.

use std::io::Read;
use std::path::Path;

use linstor_db_tests::built_by;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// The blob `digest` of the layout at `dir`, checked against its name (and `size` when given).
fn blob(dir: &Path, descriptor: &Json) -> Vec<u8> {
    let digest = descriptor["digest"].as_str().expect("a descriptor has a digest");
    let hex = digest.strip_prefix("sha256:").expect("sha256 digests");
    let bytes = std::fs::read(dir.join("blobs/sha256").join(hex)).expect("every referenced blob exists");
    assert_eq!(sha256(&bytes), digest, "blob content and name differ");
    assert_eq!(descriptor["size"].as_u64(), Some(bytes.len() as u64), "size of {digest}");
    bytes
}

#[test]
fn the_image_holds_exactly_the_static_binary_as_a_non_root_user() {
    let binary = std::fs::read(built_by("scripts/static.sh")).unwrap();
    let dir = built_by("scripts/image.sh");
    let layout: Json = serde_json::from_slice(&std::fs::read(dir.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index: Json = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{index}");
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(manifests[0]["annotations"]["org.opencontainers.image.ref.name"], version);
    let manifest: Json = serde_json::from_slice(&blob(&dir, &manifests[0])).unwrap();
    assert_eq!(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");

    let config: Json = serde_json::from_slice(&blob(&dir, &manifest["config"])).unwrap();
    assert_eq!((config["os"].as_str(), config["architecture"].as_str()), (Some("linux"), Some("amd64")));
    assert_eq!(config["config"]["User"], "65532:65532", "not root");
    assert_eq!(config["config"]["Entrypoint"], serde_json::json!(["/linstor-db"]));
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["org.opencontainers.image.version"], version);
    assert_eq!(labels["org.opencontainers.image.title"], "linstor-db");
    assert!(labels["org.opencontainers.image.revision"].as_str().is_some_and(|r| !r.is_empty()), "{labels}");

    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "one layer on scratch: {manifest}");
    let compressed = blob(&dir, &layers[0]);
    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut tar_bytes).unwrap();
    assert_eq!(config["rootfs"]["diff_ids"], serde_json::json!([sha256(&tar_bytes)]), "diff ID of the layer");
    let mut names = Vec::new();
    let mut inside = None;
    for entry in tar::Archive::new(&tar_bytes[..]).entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        if name == "linstor-db" {
            assert_eq!(entry.header().mode().unwrap() & 0o777, 0o755);
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            inside = Some(content);
        }
        names.push(name);
    }
    assert_eq!(names, ["etc/", "etc/group", "etc/passwd", "linstor-db", "tmp/"]);
    assert!(inside == Some(binary), "the binary in the image is not the one scripts/static.sh built");
}
