//! Shared by the conformance tests: loading the team's third-party vectors.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `../shared/vectors/wycheproof/` beside the repository; a missing folder
/// fails the test (no vector is skipped silently).
pub fn wycheproof_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors/wycheproof");
    assert!(
        dir.is_dir(),
        "the Wycheproof vectors are missing: expected the directory {} (see ../shared/vectors/README.md)",
        dir.display()
    );
    dir
}

/// One Wycheproof file, parsed.
pub fn load_wycheproof(name: &str) -> Value {
    let path = wycheproof_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}
