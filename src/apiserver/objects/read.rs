//! get, list (selectors, pagination on a consistent snapshot) and watch.

use futures::stream::BoxStream;

use super::selectors::Selector;
use super::versions::{self, ReadAt};
use super::watch::{self, Setup, Start};
use super::{
    Error, ListOptions, ObjectList, Objects, WatchEvent, WatchOptions, not_found, pagination,
    parse_resource_version, storage_error,
};
use crate::api::registry::ResourceDescriptor;
use std::sync::Arc;

use crate::apiserver::storage::{Key, ListRequest, Prefix, StorageError, StoredObject};

/// Storage pages read per round while filtering a selector-restricted list.
const FILTERED_PAGE: usize = 500;

const LIST_EXPIRED: &str = "The resourceVersion for the provided list is too old.";

const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.";

/// The storage collection of a request; a namespaced kind needs Some namespace for a single
/// object, None lists all namespaces.
pub(super) fn prefix(r: &ResourceDescriptor, namespace: Option<&str>) -> Prefix {
    Prefix::collection(r.group, r.plural, namespace.filter(|_| r.namespaced))
}

pub(super) fn key(
    r: &ResourceDescriptor,
    namespace: Option<&str>,
    name: &str,
) -> Result<Key, Error> {
    let namespace = match (r.namespaced, namespace) {
        (true, Some(ns)) if !ns.is_empty() => Some(ns),
        (true, _) => {
            return Err(Error::BadRequest(format!(
                "a namespace is required for {}",
                r.group_resource()
            )));
        }
        (false, _) => None,
    };
    Ok(Key::object(r.group, r.plural, namespace, name))
}

impl Objects {
    pub async fn get(
        &self,
        r: &'static ResourceDescriptor,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Arc<StoredObject>, Error> {
        let key = key(r, namespace, name)?;
        match self.storage.get(&key).await {
            Ok(Some(found)) => Ok(found.value),
            Ok(None) => Err(not_found(r, name)),
            Err(e) => Err(storage_error(r, name, e)),
        }
    }

    /// A get honouring `resourceVersion` (not older than it; unset or `0`: the current state).
    pub async fn get_at(
        &self,
        r: &'static ResourceDescriptor,
        namespace: Option<&str>,
        name: &str,
        resource_version: Option<&str>,
    ) -> Result<Arc<StoredObject>, Error> {
        if let ReadAt::NotOlderThan(revision) = versions::get_read_at(resource_version)?
            && revision > 0
        {
            self.wait_for_revision(r, revision).await?;
        }
        self.get(r, namespace, name).await
    }

    pub async fn list(
        &self,
        r: &'static ResourceDescriptor,
        namespace: Option<&str>,
        opts: &ListOptions,
    ) -> Result<ObjectList, Error> {
        let selector = Selector::parse(
            opts.label_selector.as_deref(),
            opts.field_selector.as_deref(),
        )?;
        let prefix = prefix(r, namespace);
        let limit = opts.limit.filter(|l| *l > 0).map(|l| l as usize);
        let token = opts.continue_token.as_deref().filter(|t| !t.is_empty());
        versions::validate_list(
            opts.resource_version.as_deref(),
            opts.resource_version_match.as_deref(),
            token,
        )?;
        let (mut revision, mut start_after) = match token {
            Some(token) => {
                if parse_resource_version(opts.resource_version.as_deref())?.is_some() {
                    return Err(Error::BadRequest(
                        "specifying resource version is not allowed when using continue".into(),
                    ));
                }
                let resume = pagination::decode(&prefix, token)?;
                (Some(resume.revision), Some(resume.after))
            }
            None => match versions::list_read_at(
                opts.resource_version.as_deref(),
                opts.resource_version_match.as_deref(),
                limit,
            )? {
                ReadAt::Latest | ReadAt::NotOlderThan(0) => (None, None),
                // The current state satisfies "not older than" once the store reached it.
                ReadAt::NotOlderThan(revision) => {
                    self.wait_for_revision(r, revision).await?;
                    (None, None)
                }
                ReadAt::Exact(revision) => {
                    self.wait_for_revision(r, revision).await?;
                    (Some(revision), None)
                }
            },
        };

        let mut items = Vec::new();
        // Each round reads strictly after the previous one, so the loop ends when the range
        // is exhausted or the limit is reached.
        loop {
            let want = limit.map(|l| l - items.len());
            let page_size = match want {
                Some(n) if selector.is_empty() => Some(n),
                Some(n) => Some(n.max(FILTERED_PAGE)),
                None => None,
            };
            let page = self
                .storage
                .list(ListRequest {
                    prefix: prefix.clone(),
                    revision,
                    start_after: start_after.clone(),
                    limit: page_size,
                })
                .await
                .map_err(|e| match e {
                    StorageError::Expired { .. } if token.is_some() => {
                        Error::Expired(CONTINUE_EXPIRED.into())
                    }
                    StorageError::Expired { .. } => Error::Expired(LIST_EXPIRED.into()),
                    other => storage_error(r, "", other),
                })?;
            revision = Some(page.revision);
            let fetched = page.items.len();
            let mut skipped_after_limit = 0u64;
            for (i, item) in page.items.into_iter().enumerate() {
                if limit.is_some_and(|l| items.len() >= l) {
                    skipped_after_limit = (fetched - i) as u64;
                    break;
                }
                start_after = Some(item.key.clone());
                if selector.matches(item.value.attrs()) {
                    items.push(item.value);
                }
            }
            let remaining = page.remaining + skipped_after_limit;
            let full = limit.is_some_and(|l| items.len() >= l);
            if remaining == 0 || limit.is_none() {
                return Ok(ObjectList {
                    items,
                    resource_version: page.revision.to_string(),
                    continue_token: None,
                    remaining_item_count: None,
                });
            }
            if full {
                let last = start_after
                    .as_ref()
                    .ok_or_else(|| Error::Internal("a full page without a last key".into()))?;
                return Ok(ObjectList {
                    items,
                    resource_version: page.revision.to_string(),
                    continue_token: Some(pagination::encode(&prefix, page.revision, last)),
                    // Only exact without a selector, as in kube.
                    remaining_item_count: selector.is_empty().then_some(remaining as i64),
                });
            }
        }
    }

    pub async fn watch(
        &self,
        r: &'static ResourceDescriptor,
        namespace: Option<&str>,
        opts: &WatchOptions,
    ) -> Result<BoxStream<'static, WatchEvent>, Error> {
        let selector = Selector::parse(
            opts.label_selector.as_deref(),
            opts.field_selector.as_deref(),
        )?;
        let prefix = prefix(r, namespace);
        let requested = parse_resource_version(opts.resource_version.as_deref())?;
        // Initial events "not older than" a version the store has not reached: wait for it,
        // then end with the Timeout as kube's watch cache does (an ERROR event).
        if opts.send_initial_events
            && let Some(revision) = requested
            && let Err(e) = self.wait_for_revision(r, revision).await
        {
            return Ok(watch::failed(e));
        }
        // Without a resourceVersion kube starts with the current state; with one, only when
        // sendInitialEvents asks for it.
        let (start, after) = if requested.is_none() || opts.send_initial_events {
            let page = self
                .storage
                .list(ListRequest {
                    prefix: prefix.clone(),
                    revision: None,
                    start_after: None,
                    limit: None,
                })
                .await
                .map_err(|e| storage_error(r, "", e))?;
            let objects = page.items.into_iter().map(|i| i.value).collect();
            let start = Start::Initial {
                objects,
                revision: page.revision,
                end_bookmark: opts.send_initial_events,
            };
            (start, page.revision)
        } else {
            (Start::After(requested.unwrap_or(0)), requested.unwrap_or(0))
        };
        let storage = match self.storage.watch(prefix, after).await {
            Ok(stream) => stream,
            Err(StorageError::Expired { requested, oldest }) => {
                return Ok(watch::failed(Error::Expired(watch::expired_message(
                    requested, oldest,
                ))));
            }
            Err(e) => return Err(storage_error(r, "", e)),
        };
        Ok(watch::stream(
            start,
            storage,
            Setup {
                selector,
                allow_bookmarks: opts.allow_bookmarks,
                bookmark_interval: self.config.bookmark_interval,
            },
        ))
    }
}
