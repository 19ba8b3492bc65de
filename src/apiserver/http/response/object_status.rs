//! Object-layer errors as the `metav1.Status` a client sees, coded and worded like
//! kube-apiserver's. This conversion lives on the HTTP side so that `status` stays a leaf (it
//! knows no layer) and `objects` stays free of HTTP: every handler's `?` on an object-layer
//! error goes through it.

use http::StatusCode;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{StatusCause, StatusDetails};

use crate::apiserver::objects::hooks::{HookError, Refusal};
use crate::apiserver::objects::{Cause, Error as ObjectError};
use crate::apiserver::status::{ApiError, cause};

/// Splits `plural.group` (or `Kind.group`) into its two parts.
fn split_group_resource(gr: &str) -> (&str, &str) {
    gr.split_once('.').unwrap_or((gr, ""))
}

impl From<ObjectError> for ApiError {
    fn from(err: ObjectError) -> Self {
        let message = err.to_string();
        let object_details = |gr: &str, name: &str| {
            let (resource, group) = split_group_resource(gr);
            StatusDetails {
                // Core resources (`namespaces`) have no group, and kube leaves it out.
                group: (!group.is_empty()).then(|| group.to_string()),
                kind: Some(resource.to_string()),
                name: (!name.is_empty()).then(|| name.to_string()),
                ..Default::default()
            }
        };
        match err {
            ObjectError::NotFound {
                group_resource,
                name,
            } => ApiError::new(StatusCode::NOT_FOUND, "NotFound", message)
                .with_details(object_details(&group_resource, &name)),
            ObjectError::AlreadyExists {
                group_resource,
                name,
            } => ApiError::new(StatusCode::CONFLICT, "AlreadyExists", message)
                .with_details(object_details(&group_resource, &name)),
            ObjectError::Conflict {
                group_resource,
                name,
                ..
            } => ApiError::new(StatusCode::CONFLICT, "Conflict", message)
                .with_details(object_details(&group_resource, &name)),
            ObjectError::Invalid {
                group_resource,
                kind,
                name,
                causes,
            } => {
                let (_, group) = split_group_resource(&group_resource);
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message).with_details(
                    StatusDetails {
                        // Errors about a patch name no object (kube leaves these out).
                        group: (!group.is_empty()).then(|| group.to_string()),
                        kind: (!kind.is_empty()).then_some(kind),
                        name: (!name.is_empty()).then_some(name),
                        causes: status_causes(&causes),
                        ..Default::default()
                    },
                )
            }
            ObjectError::ApplyConflict { causes, .. } => {
                ApiError::new(StatusCode::CONFLICT, "Conflict", message).with_details(
                    StatusDetails {
                        causes: status_causes(&causes),
                        ..Default::default()
                    },
                )
            }
            ObjectError::Forbidden {
                group_resource,
                name,
                causes,
                ..
            } => {
                let mut details = object_details(&group_resource, &name);
                details.causes = status_causes(&causes);
                ApiError::forbidden(message).with_details(details)
            }
            ObjectError::UnprocessableEntity(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message)
            }
            ObjectError::BadRequest(_) => ApiError::bad_request(message),
            ObjectError::Expired(_) => ApiError::expired(message),
            ObjectError::UnsupportedMediaType(_) => ApiError::unsupported_media_type(message),
            ObjectError::Internal(_) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
            }
            ObjectError::TooLarge(_) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                message,
            ),
            ObjectError::ResourceVersionTooLarge { .. } => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "Timeout", message).with_details(
                    StatusDetails {
                        causes: Some(vec![cause(
                            "",
                            "ResourceVersionTooLarge",
                            "Too large resource version",
                        )]),
                        retry_after_seconds: Some(1),
                        ..Default::default()
                    },
                )
            }
            ObjectError::Refused(refused) => refused_status(refused),
            ObjectError::Unavailable(_) => {
                ApiError::service_unavailable(message).with_details(StatusDetails {
                    retry_after_seconds: Some(1),
                    ..Default::default()
                })
            }
        }
    }
}

/// A write hook's refusal as the Status kube would give for the same kind of failure.
fn refused_status(refused: HookError) -> ApiError {
    let (code, reason) = match refused.refusal {
        Refusal::BadRequest => (StatusCode::BAD_REQUEST, "BadRequest"),
        Refusal::NotFound => (StatusCode::NOT_FOUND, "NotFound"),
        Refusal::Forbidden => (StatusCode::FORBIDDEN, "Forbidden"),
        Refusal::Conflict => (StatusCode::CONFLICT, "Conflict"),
        Refusal::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
        Refusal::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
    };
    let error = ApiError::new(code, reason, refused.message);
    match refused.retry_after_seconds {
        Some(seconds) => error.with_details(StatusDetails {
            retry_after_seconds: Some(i32::try_from(seconds).unwrap_or(i32::MAX)),
            ..Default::default()
        }),
        None => error,
    }
}

/// The object layer's field causes as Status causes (`details.causes`).
fn status_causes(causes: &[Cause]) -> Option<Vec<StatusCause>> {
    Some(
        causes
            .iter()
            .map(|c| cause(&c.field, &c.reason, &c.message))
            .collect(),
    )
}
