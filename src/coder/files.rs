//! Template source files: packing them as a tar archive and uploading it (`/api/v2/files`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use uuid::Uuid;

use super::client::{Body, CoderClient, decode};
use super::error::{CoderError, Endpoint};

const UPLOAD: Endpoint = Endpoint::new("POST", "/api/v2/files");

/// codersdk `UploadResponse`: the file's id travels under the json key `hash`.
#[derive(Deserialize)]
struct UploadResponse {
    hash: Uuid,
}

impl CoderClient {
    /// Uploads a tar archive; returns the file id a template version is created from. coderd
    /// answers 200 instead of 201 when the same bytes were uploaded before (same id).
    pub async fn upload_tar(&self, tar: Vec<u8>) -> Result<Uuid, CoderError> {
        let (_, bytes) = self.call(UPLOAD, UPLOAD.path, Body::Tar(tar)).await?;
        decode::<UploadResponse>(UPLOAD, &bytes).map(|r| r.hash)
    }
}

/// Packs `files` (relative path → content) into a tar archive for [`CoderClient::upload_tar`].
///
/// The archive is deterministic, so unchanged files give identical bytes (and coderd the same
/// file id): parent directories first, then files, each in sorted order, with fixed mode
/// (0755 / 0644), owner 0 and mtime 0. Paths must be relative, `/`-separated, without empty,
/// `.` or `..` components.
pub fn pack_template_files(files: &BTreeMap<String, String>) -> Result<Vec<u8>, CoderError> {
    let mut directories = BTreeSet::new();
    for path in files.keys() {
        validate_path(path)?;
        let mut parent = path.as_str();
        while let Some((dir, _)) = parent.rsplit_once('/') {
            directories.insert(dir.to_string());
            parent = dir;
        }
    }

    let mut archive = tar::Builder::new(Vec::new());
    for dir in &directories {
        let mut header = fixed_header(tar::EntryType::Directory, 0o755, 0);
        append(&mut archive, &mut header, &format!("{dir}/"), &[][..])?;
    }
    for (path, content) in files {
        let mut header = fixed_header(tar::EntryType::Regular, 0o644, content.len() as u64);
        append(&mut archive, &mut header, path, content.as_bytes())?;
    }
    archive.into_inner().map_err(|e| CoderError::Encode {
        what: "the template archive",
        reason: e.to_string(),
    })
}

fn fixed_header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}

fn append(
    archive: &mut tar::Builder<Vec<u8>>,
    header: &mut tar::Header,
    path: &str,
    data: &[u8],
) -> Result<(), CoderError> {
    archive
        .append_data(header, path, data)
        .map_err(|e| CoderError::InvalidTemplateFile {
            path: path.to_string(),
            reason: e.to_string(),
        })
}

fn validate_path(path: &str) -> Result<(), CoderError> {
    let reject = |reason: &str| {
        Err(CoderError::InvalidTemplateFile {
            path: path.to_string(),
            reason: reason.to_string(),
        })
    };
    if path.is_empty() {
        return reject("the file name is empty");
    }
    if path.starts_with('/') {
        return reject("absolute paths are not allowed; use a path relative to the template root");
    }
    if path.contains('\\') {
        return reject("use '/' to separate directories");
    }
    if path.contains('\0') {
        return reject("the name contains a NUL character");
    }
    for component in path.split('/') {
        match component {
            "" => {
                return reject("the path has an empty component (leading, trailing or double '/')");
            }
            "." => return reject("'.' components are not allowed"),
            ".." => return reject("'..' components are not allowed"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn entries(tar: &[u8]) -> Vec<(String, tar::EntryType, u32, u64, String)> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|entry| {
                let mut entry = entry.unwrap();
                let mut content = String::new();
                std::io::Read::read_to_string(&mut entry, &mut content).unwrap();
                let header = entry.header();
                (
                    entry.path().unwrap().to_string_lossy().into_owned(),
                    header.entry_type(),
                    header.mode().unwrap(),
                    header.mtime().unwrap(),
                    content,
                )
            })
            .collect()
    }

    #[test]
    fn packs_directories_then_files_sorted_with_fixed_metadata() {
        let tar = pack_template_files(&files(&[
            ("modules/net/main.tf", "net"),
            ("main.tf", "resource \"null_resource\" \"a\" {}"),
            ("README.md", "# hi"),
        ]))
        .unwrap();
        let got = entries(&tar);
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "modules/",
                "modules/net/",
                "README.md",
                "main.tf",
                "modules/net/main.tf"
            ]
        );
        assert_eq!(got[0].1, tar::EntryType::Directory);
        assert_eq!(got[0].2, 0o755);
        assert_eq!(got[3].1, tar::EntryType::Regular);
        assert_eq!(got[3].2, 0o644);
        assert!(got.iter().all(|e| e.3 == 0));
        assert_eq!(got[3].4, "resource \"null_resource\" \"a\" {}");
    }

    #[test]
    fn same_files_give_identical_bytes() {
        let a = pack_template_files(&files(&[("b.tf", "b"), ("a.tf", "a")])).unwrap();
        let b = pack_template_files(&files(&[("a.tf", "a"), ("b.tf", "b")])).unwrap();
        assert_eq!(a, b);
        let c = pack_template_files(&files(&[("a.tf", "a"), ("b.tf", "B")])).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn long_paths_survive() {
        let long = format!("{}/main.tf", "d".repeat(150));
        let tar = pack_template_files(&files(&[(&long, "x")])).unwrap();
        assert!(entries(&tar).iter().any(|e| e.0 == long));
    }

    #[test]
    fn rejects_unsafe_paths_naming_them() {
        for (path, expect) in [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("../x.tf", "'..'"),
            ("a/../../x.tf", "'..'"),
            ("a//b.tf", "empty component"),
            ("dir/", "empty component"),
            ("./main.tf", "'.'"),
            ("a\\b.tf", "'/'"),
        ] {
            let error = pack_template_files(&files(&[("ok.tf", "x"), (path, "x")])).unwrap_err();
            let message = error.to_string();
            assert!(
                message.contains(&format!("{path:?}")) && message.contains(expect),
                "{path}: {message}"
            );
        }
    }
}
