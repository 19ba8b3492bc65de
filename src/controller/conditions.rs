//! Status conditions as every kind writes them: `lastTransitionTime` kept while a condition's
//! status stays the same, messages capped. Shared by all kinds so they report alike.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// Condition messages are capped (the API server limits them to 32 KiB; short is kinder).
pub const MAX_MESSAGE: usize = 1024;

/// Condition `type_` as it is to be written, given the conditions the object carries now.
pub fn condition(
    old: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let status = if status { "True" } else { "False" };
    let last_transition_time = old
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map_or(Time(now), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: truncate(message, MAX_MESSAGE),
        observed_generation: generation,
        last_transition_time,
    }
}

/// Sets condition `type_` in `conditions`, keeping its `lastTransitionTime` while its status
/// stays the same.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: Timestamp,
) {
    let condition = condition(conditions, type_, status, reason, &message, generation, now);
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => *existing = condition,
        None => conditions.push(condition),
    }
}

/// `message` cut to at most `max` bytes on a char boundary, marked with an ellipsis when cut.
pub fn truncate(message: &str, max: usize) -> String {
    if message.len() <= max {
        return message.to_string();
    }
    let mut end = max;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}
