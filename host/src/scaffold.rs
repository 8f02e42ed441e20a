//! `ml-connector plugin new`: a new out-of-tree plugin, in Rust or
//! JavaScript, that builds and has one passing test case. The templates are
//! in `scaffold/`; the case reuses the `invoice.paid` event and context of
//! `tests/cases/invoice-paid-paid`. Both languages' plugins do the same thing,
//! so one `expected.json` serves both.
//!
//! The new plugin depends on the SDK of an ml-connector checkout by path
//! (`ml-connector-sdk` for Rust, `ml-connector-sdk` from `sdk/js` for
//! JavaScript), by default the checkout this binary was built from. A Rust
//! plugin also gets that checkout's `Cargo.lock`, so the SDK's dependencies
//! resolve to the versions it is tested with, offline.

use std::path::{Path, PathBuf};

/// The language of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A Rust crate built for `wasm32-wasip2` with `ml-connector-sdk`.
    Rust,
    /// A JavaScript module built with `ml-connector-js-build` (componentize-qjs).
    Js,
}

/// Why a plugin could not be scaffolded.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot be a plugin (and crate) name.
    #[error("{0:?} is not a plugin name: use lowercase letters, digits and dashes, starting with a letter")]
    Name(String),
    /// The target folder exists and holds something.
    #[error("{0} already exists and is not empty")]
    NotEmpty(PathBuf),
    /// No SDK where it was looked for.
    #[error("no ml-connector SDK at {path} ({missing} is missing): pass --sdk with the sdk/ folder of an ml-connector checkout")]
    NoSdk {
        /// The SDK folder looked at.
        path: PathBuf,
        /// The file that should be there.
        missing: &'static str,
    },
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The `sdk/` folder of the checkout this binary was built from, if it is still there.
pub fn default_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    sdk.join("Cargo.toml").is_file().then(|| sdk.canonicalize().unwrap_or(sdk))
}

/// Writes a new `lang` plugin called `name` into `dir` (created; it must not
/// exist or be empty), depending on the SDK in `sdk` (an `sdk/` folder).
/// Returns the files written, relative to `dir`.
pub fn create(name: &str, lang: Lang, dir: &Path, sdk: &Path) -> Result<Vec<PathBuf>, ScaffoldError> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !valid {
        return Err(ScaffoldError::Name(name.into()));
    }
    if dir.read_dir().is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(ScaffoldError::NotEmpty(dir.into()));
    }
    let sdk = sdk.canonicalize().unwrap_or_else(|_| sdk.to_path_buf());
    let needed = match lang {
        Lang::Rust => "Cargo.toml",
        Lang::Js => "js/package.json",
    };
    if !sdk.join(needed).is_file() {
        return Err(ScaffoldError::NoSdk { path: sdk, missing: needed });
    }
    let absolute_dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let crate_name = name.replace('-', "_");
    let type_name: String = name
        .split('-')
        .map(|part| part[..1].to_ascii_uppercase() + &part[1..])
        .collect();
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{crate}}", &crate_name)
            .replace("{{type}}", &type_name)
            .replace("{{dir}}", &absolute_dir.display().to_string())
            .replace("{{sdk_toml}}", &toml::Value::String(sdk.display().to_string()).to_string())
            .replace("{{sdk_js_json}}", &serde_json::Value::String(format!("file:{}", sdk.join("js").display())).to_string())
    };
    let case = "cases/invoice-paid";
    let mut files: Vec<(String, String)> = vec![
        (format!("{case}/event.json"), include_str!("../../tests/cases/invoice-paid-paid/event.json").into()),
        (format!("{case}/context.json"), include_str!("../../tests/cases/invoice-paid-paid/context.json").into()),
        (format!("{case}/expected.json"), fill(include_str!("scaffold/case/expected.json.tmpl"))),
        (format!("{case}/plugin"), format!("{name}\n")),
    ];
    match lang {
        Lang::Rust => {
            files.extend([
                ("Cargo.toml".into(), fill(include_str!("scaffold/rust/Cargo.toml.tmpl"))),
                (".cargo/config.toml".into(), fill(include_str!("scaffold/rust/cargo-config.toml.tmpl"))),
                ("src/lib.rs".into(), fill(include_str!("scaffold/rust/lib.rs.tmpl"))),
                ("README.md".into(), fill(include_str!("scaffold/rust/README.md.tmpl"))),
                (".gitignore".into(), fill(include_str!("scaffold/rust/gitignore.tmpl"))),
                ("rust-toolchain.toml".into(), include_str!("../../rust-toolchain.toml").into()),
            ]);
            if let Ok(lock) = std::fs::read_to_string(sdk.join("../Cargo.lock")) {
                files.push(("Cargo.lock".into(), lock));
            }
        }
        Lang::Js => files.extend([
            ("package.json".into(), fill(include_str!("scaffold/js/package.json.tmpl"))),
            (".npmrc".into(), fill(include_str!("scaffold/js/npmrc.tmpl"))),
            ("plugin.js".into(), fill(include_str!("scaffold/js/plugin.js.tmpl"))),
            ("jsconfig.json".into(), fill(include_str!("scaffold/js/jsconfig.json.tmpl"))),
            ("README.md".into(), fill(include_str!("scaffold/js/README.md.tmpl"))),
            (".gitignore".into(), fill(include_str!("scaffold/js/gitignore.tmpl"))),
        ]),
    }
    let mut written = Vec::new();
    for (relative, content) in files {
        let path = dir.join(&relative);
        let parent = path.parent().expect("every file is inside dir");
        std::fs::create_dir_all(parent).map_err(|source| ScaffoldError::Write { path: parent.into(), source })?;
        std::fs::write(&path, content).map_err(|source| ScaffoldError::Write { path: path.clone(), source })?;
        written.push(PathBuf::from(relative));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdk() -> PathBuf {
        default_sdk().expect("this checkout's sdk/")
    }

    #[test]
    fn names_must_be_lowercase_words_joined_by_dashes() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "Payment", "9lives", "pay_alert", "pay--alert", "pay-", "-pay", "pay alert"] {
            let err = create(bad, Lang::Js, &dir.path().join("p"), &sdk()).unwrap_err();
            assert!(matches!(err, ScaffoldError::Name(_)), "{bad:?}: {err}");
        }
        assert!(create("pay-alert-2", Lang::Js, &dir.path().join("p"), &sdk()).is_ok());
    }

    #[test]
    fn a_folder_with_something_in_it_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
        let err = create("pay-alert", Lang::Rust, dir.path(), &sdk()).unwrap_err();
        assert!(matches!(err, ScaffoldError::NotEmpty(_)), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_sdk_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = create("pay-alert", Lang::Js, &dir.path().join("p"), dir.path()).unwrap_err();
        assert!(err.to_string().contains("js/package.json is missing"), "{err}");
    }

    #[test]
    fn the_templates_are_filled_in() {
        let dir = tempfile::tempdir().unwrap();
        let rust = dir.path().join("rust");
        create("pay-alert", Lang::Rust, &rust, &sdk()).unwrap();
        let lib = std::fs::read_to_string(rust.join("src/lib.rs")).unwrap();
        assert!(lib.contains("pub struct PayAlert;") && lib.contains("export_plugin!(PayAlert)"), "{lib}");
        let manifest: toml::Table = std::fs::read_to_string(rust.join("Cargo.toml")).unwrap().parse().unwrap();
        let sdk_path = manifest["dependencies"]["ml-connector-sdk"]["path"].as_str().unwrap();
        assert_eq!(Path::new(sdk_path), sdk());
        let js = dir.path().join("js");
        create("pay-alert", Lang::Js, &js, &sdk()).unwrap();
        let package: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(js.join("package.json")).unwrap()).unwrap();
        assert_eq!(package["dependencies"]["ml-connector-sdk"], format!("file:{}", sdk().join("js").display()));
        for file in [rust.join("src/lib.rs"), js.join("plugin.js"), js.join("README.md"), rust.join("README.md")] {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(!text.contains("{{"), "{} has an unfilled placeholder", file.display());
        }
    }
}
