//! How the fake provisioner decides a job's outcome: marker lines in the uploaded tar's files.
//!
//! | marker line (anywhere in any file)   | effect                                                  |
//! |--------------------------------------|---------------------------------------------------------|
//! | `# fake-coderd: fail <message>`      | the template version import job fails with `<message>` |
//! | `# fake-coderd: hang`                | the import job stays `running` until canceled          |
//! | `# fake-coderd: fail-build <message>`| every workspace build of a version with this file fails |
//! | `# fake-coderd: fail-start <message>`| only `start` builds fail (also `fail-stop`, `fail-delete`) |
//! | `# fake-coderd: hang-build`          | workspace builds stay `running` until canceled         |
//!
//! Anything else succeeds. Markers are read from regular files only; `//` may stand for `#`.

use std::io::Read;

use crate::model::{Outcome, Transition};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Markers {
    pub import: Option<Outcome>,
    pub build_all: Option<Outcome>,
    pub start: Option<Outcome>,
    pub stop: Option<Outcome>,
    pub delete: Option<Outcome>,
}

impl Markers {
    pub fn import_outcome(&self) -> Outcome {
        self.import.clone().unwrap_or(Outcome::Succeed)
    }

    pub fn build_outcome(&self, transition: Transition) -> Outcome {
        let specific = match transition {
            Transition::Start => &self.start,
            Transition::Stop => &self.stop,
            Transition::Delete => &self.delete,
        };
        specific
            .clone()
            .or_else(|| self.build_all.clone())
            .unwrap_or(Outcome::Succeed)
    }
}

/// Reads the markers from a tar archive. An archive that cannot be read is an error, as it is for
/// coderd, which unpacks the archive when a template version is created.
pub fn scan_tar(data: &[u8]) -> Result<Markers, std::io::Error> {
    let mut archive = tar::Archive::new(data);
    let mut markers = Markers::default();
    for entry in archive.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let mut content = Vec::new();
        entry.read_to_end(&mut content)?;
        for line in String::from_utf8_lossy(&content).lines() {
            apply_line(&mut markers, line);
        }
    }
    Ok(markers)
}

fn apply_line(markers: &mut Markers, line: &str) {
    let line = line.trim();
    let rest = line
        .strip_prefix('#')
        .or_else(|| line.strip_prefix("//"))
        .map(str::trim_start)
        .and_then(|l| l.strip_prefix("fake-coderd:"))
        .map(str::trim);
    let Some(rest) = rest else { return };
    let (word, arg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let arg = arg.trim();
    let fail = || {
        Outcome::Fail(if arg.is_empty() {
            "fake-coderd: marked to fail".to_string()
        } else {
            arg.to_string()
        })
    };
    match word {
        "fail" => markers.import = Some(fail()),
        "hang" => markers.import = Some(Outcome::Hang),
        "fail-build" => markers.build_all = Some(fail()),
        "hang-build" => markers.build_all = Some(Outcome::Hang),
        "fail-start" => markers.start = Some(fail()),
        "fail-stop" => markers.stop = Some(fail()),
        "fail-delete" => markers.delete = Some(fail()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, content) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, path, content.as_bytes())
                .unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn markers_are_found_in_any_file() {
        let data = tar_of(&[
            ("main.tf", "resource \"x\" \"y\" {}\n"),
            (
                "extra.tf",
                "  # fake-coderd: fail boom: bad provider\n// fake-coderd: fail-stop no stop\n",
            ),
        ]);
        let m = scan_tar(&data).unwrap();
        assert_eq!(
            m.import_outcome(),
            Outcome::Fail("boom: bad provider".into())
        );
        assert_eq!(
            m.build_outcome(Transition::Stop),
            Outcome::Fail("no stop".into())
        );
        assert_eq!(m.build_outcome(Transition::Start), Outcome::Succeed);
    }

    #[test]
    fn garbage_is_not_a_tar() {
        assert!(scan_tar(&[1u8; 1024]).is_err());
    }
}
