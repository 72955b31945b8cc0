//! A bus wrapper that fails on purpose, for tests and outage drills: switch the broker
//! "off", make the next publish reach the broker and then report a crash (the relay then
//! never marks the rows sent, as if it died between publish and mark-sent), or leave the
//! group members that join meanwhile without partitions for good.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::bus::*;

pub struct FaultyBus {
    inner: Arc<dyn EventBus>,
    down: AtomicBool,
    crash_after_next_publish: AtomicBool,
    deaf: AtomicBool,
    refused: AtomicUsize,
}

impl FaultyBus {
    pub fn new(inner: Arc<dyn EventBus>) -> Self {
        FaultyBus {
            inner,
            down: AtomicBool::new(false),
            crash_after_next_publish: AtomicBool::new(false),
            deaf: AtomicBool::new(false),
            refused: AtomicUsize::new(0),
        }
    }

    /// Publishes refused because the bus was down: proof that a relay tried meanwhile.
    pub fn refused_publishes(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// While down, publishing and pings fail as with an unreachable broker.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// The next publish is stored by the broker, then reported as failed.
    pub fn crash_after_next_publish(&self) {
        self.crash_after_next_publish.store(true, Ordering::SeqCst);
    }

    /// Members that join a group while this is on are given nothing, ever (a coordinator
    /// that left a rejoining member without partitions); the ones joined before are unchanged.
    pub fn deafen_new_members(&self, deaf: bool) {
        self.deaf.store(deaf, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), BusError> {
        if self.down.load(Ordering::SeqCst) {
            Err(BusError::Unavailable("broker unreachable (fault injected)".into()))
        } else {
            Ok(())
        }
    }
}

impl EventBus for FaultyBus {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn publish<'a>(&'a self, msgs: &'a [Message]) -> BoxFut<'a, Result<(), BusError>> {
        Box::pin(async move {
            if let Err(e) = self.check() {
                self.refused.fetch_add(1, Ordering::SeqCst);
                return Err(e);
            }
            self.inner.publish(msgs).await?;
            if self.crash_after_next_publish.swap(false, Ordering::SeqCst) {
                return Err(BusError::Unavailable(
                    "crashed after publishing (fault injected)".into(),
                ));
            }
            Ok(())
        })
    }
    fn subscribe<'a>(&'a self, g: &'a str, t: &'a [String]) -> BoxFut<'a, Result<Box<dyn Subscriber>, BusError>> {
        Box::pin(async move {
            if self.deaf.load(Ordering::SeqCst) {
                return Ok(Box::new(Deaf) as Box<dyn Subscriber>);
            }
            self.inner.subscribe(g, t).await
        })
    }
    fn read<'a>(&'a self, t: &'a [String], from: Position) -> BoxFut<'a, Result<Box<dyn Subscriber>, BusError>> {
        self.inner.read(t, from)
    }
    fn rewind<'a>(&'a self, g: &'a str, t: &'a [String], to: Position) -> BoxFut<'a, Result<(), BusError>> {
        self.inner.rewind(g, t, to)
    }
    fn group_lag<'a>(&'a self, g: &'a str, t: &'a [String]) -> BoxFut<'a, Result<i64, BusError>> {
        Box::pin(async move {
            self.check()?;
            self.inner.group_lag(g, t).await
        })
    }
    fn topics(&self) -> BoxFut<'_, Result<Vec<String>, BusError>> {
        self.inner.topics()
    }
    fn ping(&self) -> BoxFut<'_, Result<(), BusError>> {
        Box::pin(async move {
            self.check()?;
            self.inner.ping().await
        })
    }
}

/// A group member with no partitions: it waits and receives nothing.
struct Deaf;

impl Subscriber for Deaf {
    fn poll<'a>(&'a mut self, _max: usize, wait: std::time::Duration) -> BoxFut<'a, Result<Vec<Delivery>, BusError>> {
        Box::pin(async move {
            tokio::time::sleep(wait).await;
            Ok(Vec::new())
        })
    }
    fn commit<'a>(&'a mut self, _d: &'a Delivery) -> BoxFut<'a, Result<(), BusError>> {
        Box::pin(async { Ok(()) })
    }
    fn lag(&mut self) -> BoxFut<'_, Option<i64>> {
        Box::pin(async { None })
    }
}
