//! Payment providers. A real gateway (Razorpay, Stripe, a bank's UPI switch) plugs in by
//! implementing [`Provider`]: `charge` is called with the payment id as the idempotency key,
//! `lookup` answers "what happened to this charge?" after a timeout or a crash (the call a
//! webhook would otherwise answer), `refund` returns money. The default is [`Simulator`].

use std::time::Duration;

use super::Payment;
use crate::events::bus::BoxFut;
use crate::id::stable_hash;
use crate::CoreError;

/// What the provider said about a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    Captured { reference: String },
    Declined { reason: String },
}

/// The UPI id of the simulator's test payer who always declines (as payment gateways'
/// test modes have, e.g. Razorpay's `failure@razorpay`): `nakku simulate
/// --payment-failure-rate` pays with it.
pub const DECLINING_UPI_ID: &str = "failure@nakku";

pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;
    /// Charges `p.amount_paise` from `payer` (the saved method's UPI id or card, when the
    /// order names one); the same payment id never charges twice.
    fn charge<'a>(&'a self, p: &'a Payment, payer: Option<&'a str>) -> BoxFut<'a, Result<ChargeOutcome, CoreError>>;
    /// The outcome of an earlier charge with this payment id (a lost answer).
    fn lookup<'a>(&'a self, p: &'a Payment, payer: Option<&'a str>) -> BoxFut<'a, Result<ChargeOutcome, CoreError>>;
    /// Returns `amount` of a captured charge; the provider's refund reference. `key`
    /// (with the payment id) makes a repeated request refund once.
    fn refund<'a>(&'a self, p: &'a Payment, amount: i64, key: &'a str) -> BoxFut<'a, Result<String, CoreError>>;
}

/// A provider that answers after a configurable latency and declines a configurable share of
/// charges. Whether an order's charge is declined depends only on the seed and the order
/// id, so a run is repeatable and a retried charge gets the same answer; the test payer
/// [`DECLINING_UPI_ID`] is always declined.
#[derive(Debug, Clone)]
pub struct Simulator {
    pub latency: Duration,
    pub failure_rate: f64,
    pub seed: u64,
}

impl Simulator {
    fn decide(&self, p: &Payment, payer: Option<&str>) -> ChargeOutcome {
        if payer == Some(DECLINING_UPI_ID) {
            return ChargeOutcome::Declined {
                reason: format!("upi declined by the payer's bank (test payer {DECLINING_UPI_ID})"),
            };
        }
        let roll = splitmix64(self.seed ^ stable_hash(p.order_id.as_bytes())) as f64 / u64::MAX as f64;
        if roll < self.failure_rate {
            ChargeOutcome::Declined {
                reason: format!("{} declined by the issuer (simulated)", p.kind),
            }
        } else {
            ChargeOutcome::Captured {
                reference: format!("sim_{:016x}", stable_hash(p.id.as_bytes())),
            }
        }
    }

    async fn wait(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Provider for Simulator {
    fn name(&self) -> &'static str {
        "simulator"
    }

    fn charge<'a>(&'a self, p: &'a Payment, payer: Option<&'a str>) -> BoxFut<'a, Result<ChargeOutcome, CoreError>> {
        Box::pin(async move {
            self.wait().await;
            Ok(self.decide(p, payer))
        })
    }

    fn lookup<'a>(&'a self, p: &'a Payment, payer: Option<&'a str>) -> BoxFut<'a, Result<ChargeOutcome, CoreError>> {
        Box::pin(async move { Ok(self.decide(p, payer)) })
    }

    fn refund<'a>(&'a self, p: &'a Payment, amount: i64, key: &'a str) -> BoxFut<'a, Result<String, CoreError>> {
        Box::pin(async move {
            self.wait().await;
            Ok(format!(
                "simrf_{:016x}",
                stable_hash(format!("{}:{amount}:{key}", p.id).as_bytes())
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(order: &str) -> Payment {
        Payment {
            id: format!("pay-{order}"),
            order_id: order.to_owned(),
            user_id: "u".into(),
            kind: "upi".into(),
            method_id: None,
            amount_paise: 100,
            currency: "INR".into(),
            status: "initiated".into(),
            captured_paise: 0,
            refunded_paise: 0,
            provider: "simulator".into(),
            provider_ref: None,
            failure_reason: None,
            attempts: 1,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn the_same_seed_declines_the_same_orders_at_about_the_configured_rate() {
        let sim = Simulator {
            latency: Duration::ZERO,
            failure_rate: 0.2,
            seed: 7,
        };
        let declined: Vec<bool> = (0..2000)
            .map(|i| {
                matches!(
                    sim.decide(&payment(&format!("o{i}")), None),
                    ChargeOutcome::Declined { .. }
                )
            })
            .collect();
        let again: Vec<bool> = (0..2000)
            .map(|i| {
                matches!(
                    sim.decide(&payment(&format!("o{i}")), None),
                    ChargeOutcome::Declined { .. }
                )
            })
            .collect();
        assert_eq!(declined, again);
        let n = declined.iter().filter(|d| **d).count();
        assert!((300..500).contains(&n), "{n} of 2000 declined at 20%");
        let other = Simulator { seed: 8, ..sim.clone() };
        let differs = (0..2000).any(|i| {
            matches!(
                other.decide(&payment(&format!("o{i}")), None),
                ChargeOutcome::Declined { .. }
            ) != declined[i]
        });
        assert!(differs, "another seed declines other orders");
        let never = Simulator {
            failure_rate: 0.0,
            ..sim
        };
        assert!((0..500).all(|i| matches!(
            never.decide(&payment(&format!("o{i}")), None),
            ChargeOutcome::Captured { .. }
        )));
    }

    #[test]
    fn the_test_payer_is_always_declined_and_others_are_not_by_it() {
        let never = Simulator {
            latency: Duration::ZERO,
            failure_rate: 0.0,
            seed: 1,
        };
        for i in 0..50 {
            let p = payment(&format!("o{i}"));
            assert!(matches!(
                never.decide(&p, Some(DECLINING_UPI_ID)),
                ChargeOutcome::Declined { .. }
            ));
            assert!(matches!(
                never.decide(&p, Some("asha@okaxis")),
                ChargeOutcome::Captured { .. }
            ));
        }
    }
}
