//! The sync's guard against removing objects that coderd did not delete.
//!
//! An object missing from coderd's list is only a reason to ask: each one is read by id, and
//! only coderd's positive answer that it is gone (404/410, or a workspace whose delete build
//! finished, or an id that now carries another name) counts. Even then, a round that would
//! remove more than half of a namespace's objects of one kind at once is refused: that is what
//! a coderd with a fresh database (whose new operator token gets 404 for every old id) looks
//! like, not everyday churn. The refused objects stay, with their labels, annotations and
//! managed fields, and the next round looks again; the user removes them deliberately with
//! `kubectl delete` if coderd really lost them. Objects a user already deleted (deletion
//! timestamp set) are not counted: that removal was asked for.

/// Objects one round may remove without an explicit delete, of `total` stored objects of one
/// kind in one namespace: half, and at least one (so a namespace with one or two objects can
/// still follow a deletion made in Coder).
pub fn allowed(total: usize) -> usize {
    (total / 2).max(1)
}

/// Whether a round with `unrequested` confirmed removals (not deleted by a user) out of
/// `total` objects goes ahead.
pub fn permitted(unrequested: usize, total: usize) -> bool {
    unrequested <= allowed(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_namespaces_can_lose_one_object() {
        assert!(permitted(1, 1));
        assert!(permitted(1, 2));
        assert!(!permitted(2, 2));
        assert!(permitted(1, 3));
        assert!(!permitted(2, 3));
    }

    #[test]
    fn more_than_half_at_once_is_refused() {
        assert!(permitted(5, 10));
        assert!(!permitted(6, 10));
        assert!(permitted(50, 100));
        assert!(!permitted(100, 100));
        assert_eq!(allowed(0), 1);
    }
}
