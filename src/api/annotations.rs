//! Annotations that are part of the CoderControlPlane API contract between the two apps. The
//! controller and the aggregated apiserver never import each other; they agree on these names
//! and talk through the Kubernetes API.

/// Set on a CoderControlPlane by the aggregated apiserver's Coder backend when coderd answers
/// 401 to the operator token that the control plane's status publishes. The value is the time
/// of the rejection (RFC 3339). The controller watches it: a new value makes it check the token
/// at once instead of at its next periodic attempt, and replace it when coderd no longer
/// accepts it.
pub const OPERATOR_TOKEN_REJECTED_AT: &str = "coder.com/operator-token-rejected-at";
