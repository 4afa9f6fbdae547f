//! Load shedding above a concurrency limit, as one tower layer.
//!
//! Why not tower's `LoadShed` over `GlobalConcurrencyLimit`: that pair takes a semaphore
//! permit in `poll_ready`, and every per-request clone of the limited service builds a new
//! `PollSemaphore` (a boxed future), so an admitted request paid an allocation and several
//! atomic read-modify-writes for a limit that is almost never reached. Here admission is one
//! `fetch_add` on a shared counter and the release one `fetch_sub`, when the response future
//! ends or is dropped; a request above the limit is refused at once with [`Overloaded`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// The error a request above the limit gets (mapped to a 503 by the front).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overloaded {
    /// The limit that was reached.
    pub limit: usize,
}

impl std::fmt::Display for Overloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} requests are already in progress", self.limit)
    }
}

impl std::error::Error for Overloaded {}

/// Admits at most `limit` requests at once across every service it wraps (all connections
/// share one counter); the rest fail with [`Overloaded`] without reaching the inner service.
#[derive(Clone, Debug)]
pub struct ShedAboveLayer {
    in_flight: Arc<AtomicUsize>,
    limit: usize,
}

impl ShedAboveLayer {
    /// A layer admitting at most `limit` concurrent requests.
    pub fn new(limit: usize) -> ShedAboveLayer {
        ShedAboveLayer {
            in_flight: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }
}

impl<S> Layer<S> for ShedAboveLayer {
    type Service = ShedAbove<S>;

    fn layer(&self, inner: S) -> ShedAbove<S> {
        ShedAbove {
            inner,
            in_flight: Arc::clone(&self.in_flight),
            limit: self.limit,
        }
    }
}

/// The service [`ShedAboveLayer`] builds.
#[derive(Clone, Debug)]
pub struct ShedAbove<S> {
    inner: S,
    in_flight: Arc<AtomicUsize>,
    limit: usize,
}

impl<S, R> Service<R> for ShedAbove<S>
where
    S: Service<R>,
    S::Error: Into<tower::BoxError>,
{
    type Response = S::Response;
    type Error = tower::BoxError;
    type Future = Admitted<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let permit = Permit(Arc::clone(&self.in_flight));
        if before >= self.limit {
            return Admitted::Refused {
                overloaded: Some(Overloaded { limit: self.limit }),
            };
        }
        Admitted::Running {
            future: self.inner.call(request),
            _permit: permit,
        }
    }
}

/// Gives the slot back when the request ends, however it ends.
#[derive(Debug)]
pub struct Permit(Arc<AtomicUsize>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`ShedAbove`]. (Fields undocumented: pin-project-lite takes no
    /// attributes on enum fields but `#[pin]`.)
    #[project = AdmittedProj]
    #[allow(missing_docs)]
    #[derive(Debug)]
    pub enum Admitted<F> {
        /// Admitted: the inner future, holding its slot until this future is dropped.
        Running {
            #[pin]
            future: F,
            _permit: Permit,
        },
        /// Refused at the limit.
        Refused {
            overloaded: Option<Overloaded>,
        },
    }
}

impl<F, T, E> Future for Admitted<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<tower::BoxError>,
{
    type Output = Result<T, tower::BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AdmittedProj::Running { future, .. } => future.poll(cx).map_err(Into::into),
            AdmittedProj::Refused { overloaded } => {
                Poll::Ready(Err(overloaded.take().map_or_else(
                    || "polled after completion".into(),
                    |o| Box::new(o) as tower::BoxError,
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn requests_above_the_limit_are_refused_and_slots_come_back() {
        let gate = Arc::new(tokio::sync::Notify::new());
        let layer = ShedAboveLayer::new(2);
        // Calls finish only when `gate` is notified.
        let waiting = Arc::clone(&gate);
        let svc = layer.layer(tower::service_fn(move |n: u32| {
            let gate = Arc::clone(&waiting);
            async move {
                gate.notified().await;
                Ok::<_, std::convert::Infallible>(n)
            }
        }));
        let first = tokio::spawn(svc.clone().oneshot(1));
        let second = tokio::spawn(svc.clone().oneshot(2));
        tokio::task::yield_now().await;
        while layer.in_flight.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        let refused = svc.clone().oneshot(3).await.unwrap_err();
        assert_eq!(
            refused.downcast_ref::<Overloaded>(),
            Some(&Overloaded { limit: 2 })
        );
        assert_eq!(
            layer.in_flight.load(Ordering::Acquire),
            2,
            "a refusal holds no slot"
        );
        gate.notify_waiters();
        assert_eq!(first.await.unwrap().unwrap(), 1);
        assert_eq!(second.await.unwrap().unwrap(), 2);
        assert_eq!(layer.in_flight.load(Ordering::Acquire), 0);
        // A request dropped before it finished (a client that went away) gives its slot back.
        let abandoned = tokio::spawn(svc.clone().oneshot(4));
        while layer.in_flight.load(Ordering::Acquire) < 1 {
            tokio::task::yield_now().await;
        }
        abandoned.abort();
        assert!(abandoned.await.unwrap_err().is_cancelled());
        assert_eq!(layer.in_flight.load(Ordering::Acquire), 0);
    }
}
