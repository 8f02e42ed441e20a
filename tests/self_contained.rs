//! The repository is self-contained: no test, script or source file reads the reference folder
//! beside the repository (`shared/` one level up), which a fresh clone does not have. What
//! tests need is committed under `tests/fixtures/` with its source and licence.

use std::path::{Path, PathBuf};

/// Every text file under `dir` that is source, script or build input.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !["target", "node_modules", ".git", "fixtures"].contains(&name.as_str()) {
                files(&path, out);
            }
        } else if ["rs", "toml", "sh", "md", "json", "wit"].iter().any(|ext| name.ends_with(&format!(".{ext}"))) || path.parent().and_then(Path::file_name).is_some_and(|dir| dir == "scripts" || dir == ".ci") {
            out.push(path);
        }
    }
}

#[test]
fn no_test_script_or_source_reads_the_shared_folder_beside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut all = Vec::new();
    for dir in ["host", "sdk", "plugins", "tests", "scripts", ".ci", "wit"] {
        files(&root.join(dir), &mut all);
    }
    assert!(all.len() > 50, "only {} files found under {}", all.len(), root.display());
    // Built from parts so that this file does not match itself.
    let needles = [["..", "/shared"].concat(), ["shared", "/twilio"].concat(), ["shared", "/wave"].concat()];
    let offenders: Vec<String> = all
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            needles.iter().any(|n| text.contains(n.as_str()))
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "these read the shared folder beside the repository, which a clone does not have: {offenders:?}");
}
