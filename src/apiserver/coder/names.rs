//! Kubernetes names of Coder objects: a CoderTemplate is `<organization>.<template>`, a
//! CoderWorkspace `<organization>.<user>.<workspace>`. Each part follows coderd's name rule
//! (codersdk `NameValid`: 1–32 letters, digits and single hyphens, no hyphen at either end),
//! lowercase because Kubernetes names are; coderd looks names up case-insensitively, so a
//! Coder name with capitals still maps to exactly one Kubernetes name (its lowercase form).

/// coderd's longest name.
const MAX_PART: usize = 32;

/// Why a name does not fit; `Display` is the 400 message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "{kind} name {name:?} must be {shape} (each part 1-32 lowercase letters, digits or single hyphens, not starting or ending with a hyphen, as coderd names are)"
    )]
    Shape {
        kind: &'static str,
        name: String,
        shape: &'static str,
    },
}

/// `<organization>.<template>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateName {
    pub organization: String,
    pub template: String,
}

/// `<organization>.<user>.<workspace>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceName {
    pub organization: String,
    pub user: String,
    pub workspace: String,
}

/// Whether `part` is a valid coderd name in lowercase.
pub fn valid_part(part: &str) -> bool {
    let bytes = part.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_PART
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
        && !part.contains("--")
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

fn parts<const N: usize>(
    name: &str,
    kind: &'static str,
    shape: &'static str,
) -> Result<[String; N], NameError> {
    let error = || NameError::Shape {
        kind,
        name: name.to_string(),
        shape,
    };
    let split: Vec<&str> = name.split('.').collect();
    if split.len() != N || !split.iter().all(|p| valid_part(p)) {
        return Err(error());
    }
    let owned: Vec<String> = split.into_iter().map(str::to_string).collect();
    owned.try_into().map_err(|_| error())
}

impl TemplateName {
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let [organization, template] =
            parts::<2>(name, "CoderTemplate", "<organization>.<template>")?;
        Ok(TemplateName {
            organization,
            template,
        })
    }

    /// The Kubernetes name of a coderd template; None when coderd's names do not fit.
    pub fn object_name(organization: &str, template: &str) -> Option<String> {
        let name = format!("{organization}.{template}").to_ascii_lowercase();
        Self::parse(&name).ok().map(|_| name)
    }
}

impl WorkspaceName {
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let [organization, user, workspace] =
            parts::<3>(name, "CoderWorkspace", "<organization>.<user>.<workspace>")?;
        Ok(WorkspaceName {
            organization,
            user,
            workspace,
        })
    }

    /// The Kubernetes name of a coderd workspace; None when coderd's names do not fit.
    pub fn object_name(organization: &str, user: &str, workspace: &str) -> Option<String> {
        let name = format!("{organization}.{user}.{workspace}").to_ascii_lowercase();
        Self::parse(&name).ok().map(|_| name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_names_split_into_organization_and_template() {
        let parsed = TemplateName::parse("coder.docker-basic").unwrap();
        assert_eq!(parsed.organization, "coder");
        assert_eq!(parsed.template, "docker-basic");
    }

    #[test]
    fn workspace_names_split_into_three_parts() {
        let parsed = WorkspaceName::parse("coder.alice.dev-1").unwrap();
        assert_eq!(
            parsed,
            WorkspaceName {
                organization: "coder".into(),
                user: "alice".into(),
                workspace: "dev-1".into()
            }
        );
    }

    #[test]
    fn wrong_shapes_name_the_rule() {
        for bad in [
            "docker",
            "a.b.c",
            "coder.-x",
            "coder.x-",
            "coder.a--b",
            "coder.",
            ".x",
            "coder.abcdefghijklmnopqrstuvwxyz0123456",
        ] {
            let error = TemplateName::parse(bad).unwrap_err();
            assert!(
                error.to_string().contains("<organization>.<template>"),
                "{bad}: {error}"
            );
        }
        assert!(WorkspaceName::parse("coder.alice").is_err());
        assert!(WorkspaceName::parse("coder.al_ice.ws").is_err());
        assert!(
            WorkspaceName::parse("a.b.c.d")
                .unwrap_err()
                .to_string()
                .contains("<organization>.<user>.<workspace>")
        );
    }

    #[test]
    fn coderd_names_map_to_lowercase_object_names() {
        assert_eq!(
            WorkspaceName::object_name("coder", "Alice", "Dev").as_deref(),
            Some("coder.alice.dev")
        );
        assert_eq!(TemplateName::object_name("coder", "has_underscore"), None);
    }
}
