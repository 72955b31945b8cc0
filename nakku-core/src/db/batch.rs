//! Group commit in the application: a writer task gathers what concurrent callers send it
//! and hands it on in batches, so many callers share one transaction (one BEGIN/COMMIT, one
//! fsync, multi-row inserts). A batch is whatever is queued when the writer gets to it,
//! at most `max`: an idle writer takes a caller alone and adds no wait, a busy one takes
//! the callers that queued while it was writing. The inventory's reservations and the
//! order saga's moves are written this way.

use std::future::Future;

use tokio::sync::mpsc;
use tracing::Instrument;

/// Starts a writer task in `span` that calls `write` with each batch (at most `max` items,
/// in arrival order); returns its queue. The task ends when every sender is dropped.
pub fn spawn_writer<T, F, Fut>(max: usize, span: tracing::Span, mut write: F) -> mpsc::Sender<T>
where
    T: Send + 'static,
    F: FnMut(Vec<T>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let max = max.max(1);
    let (tx, mut rx) = mpsc::channel::<T>(4 * max);
    tokio::spawn(
        async move {
            while let Some(first) = rx.recv().await {
                let mut batch = Vec::with_capacity(max.min(16));
                batch.push(first);
                while batch.len() < max {
                    match rx.try_recv() {
                        Ok(item) => batch.push(item),
                        Err(_) => break,
                    }
                }
                write(batch).await;
            }
        }
        .instrument(span),
    );
    tx
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::sync::oneshot;

    #[tokio::test]
    async fn callers_queued_while_the_writer_works_share_a_batch_in_arrival_order() {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Vec<u32>>();
        let (entered_tx, entered_rx) = oneshot::channel::<()>();
        let (gate_tx, gate_rx) = oneshot::channel::<()>();
        let first = Arc::new(Mutex::new(Some((entered_tx, gate_rx))));
        let tx = spawn_writer(3, tracing::Span::none(), move |batch: Vec<u32>| {
            let done = done_tx.clone();
            let first = first.lock().ok().and_then(|mut f| f.take());
            async move {
                // The first batch says it started, then waits while the rest queues.
                if let Some((entered, gate)) = first {
                    let _ = entered.send(());
                    let _ = gate.await;
                }
                let _ = done.send(batch);
            }
        });
        assert!(tx.send(0).await.is_ok());
        assert!(entered_rx.await.is_ok(), "the writer took the first item");
        for i in 1..6 {
            assert!(tx.send(i).await.is_ok());
        }
        assert!(gate_tx.send(()).is_ok());
        drop(tx);
        let mut got = Vec::new();
        while let Some(batch) = done_rx.recv().await {
            got.push(batch);
        }
        assert_eq!(got, vec![vec![0], vec![1, 2, 3], vec![4, 5]]);
    }
}
