//! Errors of the generator. Every error names the schema file and the JSON path inside it, so
//! a user who mistyped a schema learns where without reading generator code.

use std::fmt;

/// A problem found in a schema file (or while writing outputs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CodegenError {
    /// Schema file, relative to the crate root (for example `schema/coderworkspace.yaml`).
    pub file: String,
    /// JSON path inside the file (for example `spec.versions[0].schema.openAPIV3Schema`), or empty
    /// when the problem concerns the whole file.
    pub path: String,
    /// What is wrong, in words a schema author understands.
    pub reason: String,
}

impl CodegenError {
    pub fn new(
        file: impl Into<String>,
        path: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for CodegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.file, self.reason)
        } else {
            write!(f, "{}: {}: {}", self.file, self.path, self.reason)
        }
    }
}

pub type Result<T, E = CodegenError> = std::result::Result<T, E>;
