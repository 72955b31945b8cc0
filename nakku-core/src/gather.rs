//! Reads by key from many concurrent callers gathered into one read of many keys (the
//! data-loader pattern): what keeps a thousand open live feeds from costing a thousand
//! reads of their views a second.
//!
//! A caller asks for one key and waits. The first ask of a round starts a short window;
//! every ask that arrives within it joins the round; then the round's distinct keys are
//! read together (in chunks of at most `most`) and each caller gets its own answer. The
//! live feeds ask on the same whole seconds of one clock (`nakku_server::live`), so their
//! asks of a second fall into one round.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::events::bus::BoxFut;
use crate::CoreError;

/// How long a live feed's ask waits for others to join its round (the order and delivery
/// feeds: `OrderService::follow`, `DeliveryService::follow`).
pub const FEED_WINDOW: Duration = Duration::from_millis(25);
/// The most keys one read of the live feeds' rounds asks for.
pub const FEED_MOST: usize = 500;

/// Reads the values of many keys at once; a key left out of the map has no value.
pub type ReadMany<V> = Arc<dyn Fn(Vec<String>) -> BoxFut<'static, Result<HashMap<String, V>, CoreError>> + Send + Sync>;

type Ask<V> = (String, oneshot::Sender<Result<Option<V>, CoreError>>);

/// A gatherer of reads of `V` by key. Its task ends when the gatherer is dropped.
pub struct Gather<V> {
    asks: mpsc::UnboundedSender<Ask<V>>,
    what: &'static str,
}

impl<V> Clone for Gather<V> {
    fn clone(&self) -> Self {
        Gather {
            asks: self.asks.clone(),
            what: self.what,
        }
    }
}

impl<V: Clone + Send + 'static> Gather<V> {
    /// Starts the gatherer's task (needs a runtime). `what` names the values in errors.
    pub fn spawn(what: &'static str, window: Duration, most: usize, read: ReadMany<V>) -> Gather<V> {
        let (asks, rx) = mpsc::unbounded_channel();
        tokio::spawn(rounds(what, rx, window, most.max(1), read));
        Gather { asks, what }
    }

    /// A gatherer for the live feeds ([`FEED_WINDOW`], at most [`FEED_MOST`] keys a read).
    pub fn feeds<F, Fut>(what: &'static str, read: F) -> Gather<V>
    where
        F: Fn(Vec<String>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<HashMap<String, V>, CoreError>> + Send + 'static,
    {
        Gather::spawn(what, FEED_WINDOW, FEED_MOST, Arc::new(move |keys| Box::pin(read(keys))))
    }

    /// The value of `key` as the next round reads it (`None`: there is none). A failed
    /// round answers each of its callers `Unavailable` (a passing failure: ask again).
    pub async fn get(&self, key: &str) -> Result<Option<V>, CoreError> {
        let (tx, rx) = oneshot::channel();
        let stopped = || CoreError::Unavailable(format!("the reader of {} has stopped", self.what));
        self.asks.send((key.to_owned(), tx)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

async fn rounds<V: Clone>(
    what: &'static str,
    mut rx: mpsc::UnboundedReceiver<Ask<V>>,
    window: Duration,
    most: usize,
    read: ReadMany<V>,
) {
    while let Some(first) = rx.recv().await {
        tokio::time::sleep(window).await;
        let mut round = vec![first];
        while let Ok(ask) = rx.try_recv() {
            round.push(ask);
        }
        let mut keys: Vec<String> = round.iter().map(|(k, _)| k.clone()).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut found = HashMap::with_capacity(keys.len());
        let mut failed = None;
        for chunk in keys.chunks(most) {
            match read(chunk.to_vec()).await {
                Ok(m) => found.extend(m),
                Err(e) => {
                    tracing::warn!(what, keys = keys.len(), error = %e, "a gathered read failed");
                    failed = Some(e.to_string());
                    break;
                }
            }
        }
        metrics::counter!("nakku_gathered_reads_total", "what" => what).increment(1);
        metrics::counter!("nakku_gathered_keys_total", "what" => what).increment(round.len() as u64);
        for (key, reply) in round {
            let answer = match &failed {
                Some(e) => Err(CoreError::Unavailable(format!("reading {what}: {e}"))),
                None => Ok(found.get(&key).cloned()),
            };
            let _ = reply.send(answer); // the caller may have gone
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn doubling(reads: Arc<AtomicUsize>, fail: bool) -> ReadMany<usize> {
        Arc::new(move |keys: Vec<String>| {
            let reads = reads.clone();
            Box::pin(async move {
                reads.fetch_add(1, Ordering::SeqCst);
                if fail {
                    return Err(CoreError::Unavailable("database away".into()));
                }
                Ok(keys
                    .into_iter()
                    .filter(|k| k != "missing")
                    .map(|k| {
                        let n = k.len() * 2;
                        (k, n)
                    })
                    .collect())
            })
        })
    }

    #[tokio::test]
    async fn concurrent_asks_are_read_together_and_each_gets_its_own_answer() {
        let reads = Arc::new(AtomicUsize::new(0));
        let g = Arc::new(Gather::spawn(
            "tests",
            Duration::from_millis(100),
            2,
            doubling(reads.clone(), false),
        ));
        let keys: [&'static str; 5] = ["a", "bb", "a", "ccc", "missing"];
        let asks: Vec<_> = keys
            .into_iter()
            .map(|k| {
                let g = g.clone();
                tokio::spawn(async move { g.get(k).await.unwrap() })
            })
            .collect();
        let mut answers = Vec::new();
        for a in asks {
            answers.push(a.await.unwrap());
        }
        assert_eq!(answers, [Some(2), Some(4), Some(2), Some(6), None]);
        // One round of four distinct keys, read two at a time.
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        // A later ask is a round of its own.
        assert_eq!(g.get("dddd").await.unwrap(), Some(8));
        assert_eq!(reads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_failed_round_answers_every_caller_with_a_passing_error() {
        let reads = Arc::new(AtomicUsize::new(0));
        let g = Arc::new(Gather::spawn(
            "tests",
            Duration::from_millis(100),
            10,
            doubling(reads.clone(), true),
        ));
        let (a, b) = tokio::join!(g.get("a"), g.get("b"));
        assert!(matches!(a, Err(CoreError::Unavailable(_))), "{a:?}");
        assert!(matches!(b, Err(CoreError::Unavailable(_))), "{b:?}");
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }
}
