//! Packing a template's files the way `coder templates push` uploads them.

/// One file of a template: path inside the tar, and content.
pub type TemplateFile<'a> = (&'a str, &'a str);

/// Builds the tar coderd expects for a template's files (regular files, mode 0644).
pub fn tar_of(files: &[TemplateFile<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        // Appending to an in-memory Vec only fails on an invalid path, which is the caller's bug.
        if let Err(e) = builder.append_data(&mut header, path, content.as_bytes()) {
            panic!("fake-coderd: cannot add {path:?} to a tar: {e}");
        }
    }
    builder.into_inner().unwrap_or_default()
}
