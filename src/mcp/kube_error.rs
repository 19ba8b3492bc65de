//! Tool failures as the caller sees them: what the tool tried, and the API's own Status message
//! (which, for a 403, names the user, verb, resource and namespace that RBAC refused).

/// A failed tool call: reported to the client as an MCP tool error (`isError: true`) whose text
/// is [`ToolError::message`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ToolError {
    pub message: String,
}

impl ToolError {
    /// Bad arguments that the input schema cannot express (an empty name, say).
    pub fn invalid(message: impl Into<String>) -> Self {
        ToolError {
            message: message.into(),
        }
    }

    /// A Kubernetes call that failed while `doing` (e.g. `get CoderWorkspace ns/name`).
    pub fn kube(doing: &str, error: kube::Error) -> Self {
        ToolError {
            message: format!("{doing}: {}", describe(&error)),
        }
    }
}

impl From<ToolError> for rmcp::model::CallToolResult {
    fn from(error: ToolError) -> Self {
        rmcp::model::CallToolResult::error(vec![rmcp::model::ContentBlock::text(error.message)])
    }
}

/// The API Status message and reason for API errors (`... is forbidden: User "x" cannot update
/// resource ... (Forbidden, 403)`), else the client error.
pub fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => {
            let message = if status.message.is_empty() {
                "the API answered with an error"
            } else {
                status.message.as_str()
            };
            match (status.reason.is_empty(), status.code) {
                (false, code) => format!("{message} ({}, {code})", status.reason),
                (true, 0) => message.to_string(),
                (true, code) => format!("{message} (HTTP {code})"),
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, reason: &str, message: &str) -> kube::Error {
        let mut status = kube::core::Status::failure(message, reason);
        status.code = code;
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn api_errors_carry_the_status_message_and_reason() {
        let error = ToolError::kube(
            "update CoderWorkspace team/dev",
            api_error(
                403,
                "Forbidden",
                "coderworkspaces.aggregation.coder.com \"dev\" is forbidden: User \"bob\" cannot patch resource \"coderworkspaces\"",
            ),
        );
        assert_eq!(
            error.message,
            "update CoderWorkspace team/dev: coderworkspaces.aggregation.coder.com \"dev\" is forbidden: User \"bob\" cannot patch resource \"coderworkspaces\" (Forbidden, 403)"
        );
        let result: rmcp::model::CallToolResult = error.into();
        assert_eq!(result.is_error, Some(true));
    }

    #[test]
    fn statuses_without_reason_or_message_still_say_something() {
        assert_eq!(
            describe(&api_error(500, "", "")),
            "the API answered with an error (HTTP 500)"
        );
        assert_eq!(describe(&api_error(0, "", "boom")), "boom");
    }
}
