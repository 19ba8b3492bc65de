//! Files: coderd/files.go (postFile, fileByID).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{AppState, Authed};
use crate::error::{ApiError, ApiResult};
use crate::model::StoredFile;

const TAR: &str = "application/x-tar";
const ZIP: &str = "application/zip";

/// POST /files: the Content-Type must be exactly application/x-tar or application/zip; the body
/// is limited to 100 MiB (httpFileMaxBytes); the same bytes uploaded again by the same user
/// answer 200 with the existing id, a new file 201. The id comes back in the `hash` field.
/// Zip uploads are stored as given (coderd converts them to tar; not modelled).
pub async fn post(
    State(shared): State<AppState>,
    Authed(caller): Authed,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if content_type != TAR && content_type != ZIP {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("Unsupported content type header {content_type:?}."),
        ));
    }
    if body.len() > shared.max_file_bytes {
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "Failed to read file from request.")
                .detail("http: request body too large"),
        );
    }
    let hash = hex(&Sha256::digest(&body));
    let mut state = shared.state();
    if let Some(existing) = state
        .files
        .iter()
        .find(|f| f.hash == hash && f.created_by == caller.user_id)
    {
        return Ok((StatusCode::OK, Json(json!({ "hash": existing.id }))).into_response());
    }
    let id = Uuid::new_v4();
    state.files.push(StoredFile {
        id,
        hash,
        created_by: caller.user_id,
        mimetype: content_type,
        data: body.to_vec(),
    });
    Ok((StatusCode::CREATED, Json(json!({ "hash": id }))).into_response())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// GET /files/{file}: the bytes with their stored content type; a malformed id is a 400.
pub async fn get(
    State(shared): State<AppState>,
    Authed(_caller): Authed,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    let Ok(id) = Uuid::parse_str(&file) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "File id must be a valid UUID.",
        ));
    };
    let state = shared.state();
    let file = state.file(id).ok_or_else(ApiError::not_found)?;
    Ok((
        [(header::CONTENT_TYPE, file.mimetype.clone())],
        file.data.clone(),
    )
        .into_response())
}
