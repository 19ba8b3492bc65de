//! Running async work from sync code that may itself be inside a tokio runtime (a
//! `#[tokio::test]` calling `shared()`): a scoped thread with its own current-thread runtime, so
//! nothing the harness starts is tied to the caller's runtime.

use std::future::Future;

pub(crate) fn run<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("envtest: building a tokio runtime")
                    .block_on(future)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
