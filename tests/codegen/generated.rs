//! `generated/` must equal what `build.rs` generated from `schema/` for this very build. The
//! product compiles from `OUT_DIR`; this test is what keeps the reviewable mirror honest.
//!
//! `UPDATE_GENERATED=1` rewrites the mirror instead (that is what hack/update-codegen.sh does).

use std::path::{Path, PathBuf};

use coder_k8s_codegen::GeneratedFiles;
use coder_k8s_codegen::verify::{compare, report, write};

fn out_dir_files() -> GeneratedFiles {
    let out = Path::new(env!("OUT_DIR"));
    let mut files = GeneratedFiles::new();
    let mut stack = vec![out.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("OUT_DIR is readable") {
            let path = entry.expect("OUT_DIR entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path.strip_prefix(out).expect("below OUT_DIR");
            let key = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.insert(
                key,
                std::fs::read_to_string(&path).expect("generated file is UTF-8"),
            );
        }
    }
    files
}

fn mirror_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("generated")
}

#[test]
fn generated_mirror_is_fresh() {
    let files = out_dir_files();
    assert!(
        files.contains_key("rust/mod.rs"),
        "build.rs wrote no module file"
    );
    if std::env::var_os("UPDATE_GENERATED").is_some() {
        write(&files, &mirror_dir()).expect("write generated/");
        return;
    }
    let drift = compare(&files, &mirror_dir()).expect("read generated/");
    assert!(drift.is_empty(), "{}", report(&drift, "generated"));
}
