//! Object semantics of the aggregated apiserver (uid, resourceVersion, generation, finalizers, validation, patches, selectors), on top of a `Storage`. Knows nothing of HTTP.
