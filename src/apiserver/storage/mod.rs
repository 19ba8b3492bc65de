//! The `Storage` trait (versioned get/list/create/update/delete/watch) and its backends. Knows nothing of HTTP.
