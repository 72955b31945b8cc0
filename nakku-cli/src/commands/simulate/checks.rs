//! The invariants checked after a run: stock reconciles and never goes negative, what
//! payments kept matches what the orders say, accepted cancellations are honoured.

use super::*;

#[derive(Debug, Serialize)]
pub(super) struct Invariants {
    /// Stores whose stock numbers match their ledger.
    pub(super) stores_reconciled: usize,
    pub(super) stores_checked: usize,
    /// Stock lines touched by the run with a negative number (oversold).
    pub(super) negative_stock_lines: usize,
    pub(super) stock_lines_checked: usize,
    /// Orders whose payment kept what the order says (nothing for failed or cancelled ones).
    pub(super) payments_matching: usize,
    pub(super) payments_checked: usize,
    /// The orders whose payment did not match (the first ten), for support to look into.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) payment_mismatches: Vec<PaymentMismatch>,
    /// Orders whose accepted cancellation was honoured (they end cancelled — or failed, when
    /// a declined payment got there first —, nothing kept).
    pub(super) cancellations_honoured: usize,
    pub(super) cancellations_accepted: usize,
    /// Why a check could not run (no admin access), if so.
    pub(super) skipped: Option<String>,
}

/// An order whose payment kept something other than what the order says.
#[derive(Debug, Serialize)]
pub(super) struct PaymentMismatch {
    pub(super) order_id: String,
    pub(super) order_status: String,
    pub(super) payment_status: String,
    pub(super) expected_paise: i64,
    pub(super) kept_paise: i64,
}

impl std::fmt::Display for PaymentMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "order {} ({}) kept {} paise, expected {} (payment {})",
            self.order_id, self.order_status, self.kept_paise, self.expected_paise, self.payment_status
        )
    }
}

impl Invariants {
    /// No oversell: every store checked reconciles and no touched line is negative.
    pub(super) fn stock_ok(&self) -> bool {
        self.stores_reconciled == self.stores_checked && self.negative_stock_lines == 0
    }

    pub(super) fn payments_ok(&self) -> bool {
        self.payments_matching == self.payments_checked
    }

    pub(super) fn cancellations_ok(&self) -> bool {
        self.cancellations_honoured == self.cancellations_accepted
    }
}

/// How long the invariant check waits for payments, and delivered orders, to catch up
/// (both follow by events).
pub(super) const PAYMENT_LAG: Duration = Duration::from_secs(15);

/// Whether an order, as read, has gone as far as it will: its saga done and its status
/// final — or confirmed and on its way when no rider is on shift to take it further.
fn settled(order: &Value, riders_on: bool) -> bool {
    order["saga"]["state"] == "done"
        && match order["status"].as_str() {
            Some("delivered" | "cancelled" | "failed") => true,
            Some(_) => !riders_on,
            None => false,
        }
}

/// Whether a status says "the service could not answer now" (an outage the run may be
/// under, or the rate limit), not anything about the order.
fn unanswered(status: u16) -> bool {
    status == 0 || status == 429 || status >= 500
}

/// An order as its service shows it: read again while the service cannot answer or the
/// order has not gone as far as it will (it reaches its final status through events), until
/// `until`.
async fn read_order(sim: &Sim, id: &str, token: &str, until: Instant) -> Value {
    loop {
        let (done, v) = look(sim, id, token).await;
        if done || Instant::now() >= until {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One read of an order: whether its service answered and it has gone as far as it will
/// (riders as they are now), and the answer.
async fn look(sim: &Sim, id: &str, token: &str) -> (bool, Value) {
    let riders_on = sim.outcomes.lock().map(|o| o.riders_on_shift > 0).unwrap_or(false);
    let (status, v) = sim
        .call("GET /orders/{id}", Method::GET, &format!("/orders/{id}"), token, None)
        .await;
    (!unanswered(status) && settled(&v["data"], riders_on), v)
}

/// Waits until every order placed so far has gone as far as it will, or `until`: a rider
/// still has to pick up what the delivery service assigns after an outage, so the riders
/// keep working meanwhile. Each order is read until it settles, then no more.
pub(super) async fn wait_until_settled(sim: &Sim, until: Instant) {
    let mut open = sim.orders.lock().map(|o| o.clone()).unwrap_or_default();
    while !open.is_empty() && Instant::now() < until {
        let mut still = Vec::with_capacity(open.len());
        for (id, token) in open {
            if !look(sim, &id, &token).await.0 {
                still.push((id, token));
            }
        }
        open = still;
        if !open.is_empty() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Saga outcomes of every order, then the invariants.
///
/// Orders and payments that do not yet show what they will are read again until the later
/// of `settle_until` and [`PAYMENT_LAG`] from now (after an outage the bus can take a while).
pub(super) async fn check(sim: &Arc<Sim>, settings: &Settings, settle_until: Instant) -> Invariants {
    let orders = sim.orders.lock().map(|o| o.clone()).unwrap_or_default();
    let accepted = sim.cancel_accepted.lock().map(|c| c.clone()).unwrap_or_default();
    let mut honoured = 0;
    let (mut payments_matching, mut payments_checked) = (0, 0);
    let mut payment_mismatches = Vec::new();
    let payments_deadline = (Instant::now() + PAYMENT_LAG).max(settle_until);
    for (id, token) in &orders {
        let ov = read_order(sim, id, token, payments_deadline).await;
        let order = &ov["data"];
        let status = order["status"].as_str().unwrap_or_default();
        let done = order["saga"]["state"] == "done";
        sim.count(|c| match (done, status) {
            (false, _) => c.stuck += 1,
            (true, "cancelled") => c.cancelled += 1,
            (true, "failed") => c.compensated += 1,
            (true, s) => {
                c.confirmed += 1;
                if s != "delivered" && c.riders_on_shift > 0 {
                    c.undelivered += 1;
                    if c.undelivered_orders.len() < 10 {
                        c.undelivered_orders.push(format!("{id} ({s})"));
                    }
                }
            }
        });
        // A cancellation is honoured when the order never goes on: it ends cancelled, or
        // failed when its payment was declined before the cancellation took (the payment
        // check below makes sure nothing was kept either way).
        if accepted.contains(id) && (status == "cancelled" || status == "failed") {
            honoured += 1;
        }
        if !done {
            continue;
        }
        let expected = super::super::verify::expected_kept(
            status,
            order["payment"]["kind"].as_str().unwrap_or_default(),
            order["total_paise"].as_i64().unwrap_or(-1),
            order["refunded_paise"].as_i64().unwrap_or(0),
        );
        payments_checked += 1;
        // The payment service follows the order through events (cash taken at the door is
        // recorded when `delivery.completed` reaches it), so it may lag the order by a
        // moment: a mismatch is looked at again until the deadline before it counts.
        loop {
            let (ps, pv) = sim
                .call(
                    "GET /payments/orders/{id}",
                    Method::GET,
                    &format!("/payments/orders/{id}"),
                    token,
                    None,
                )
                .await;
            let kept =
                pv["data"]["captured_paise"].as_i64().unwrap_or(0) - pv["data"]["refunded_paise"].as_i64().unwrap_or(0);
            // A failed order may have no payment at all (declined before one was made).
            if (ps == 404 && expected == 0) || kept == expected {
                payments_matching += 1;
                break;
            }
            if Instant::now() >= payments_deadline {
                if payment_mismatches.len() < 10 {
                    payment_mismatches.push(PaymentMismatch {
                        order_id: id.clone(),
                        order_status: status.to_owned(),
                        payment_status: pv["data"]["status"].as_str().unwrap_or("none").to_owned(),
                        expected_paise: expected,
                        kept_paise: kept,
                    });
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let touched: Vec<(String, String)> = sim
        .touched
        .lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default();
    let admin = match super::super::users::seeded_admin_token(settings).await {
        Ok(t) => t,
        Err(e) => {
            return Invariants {
                stores_reconciled: 0,
                stores_checked: 0,
                negative_stock_lines: 0,
                stock_lines_checked: 0,
                payments_matching,
                payments_checked,
                payment_mismatches,
                cancellations_honoured: honoured,
                cancellations_accepted: accepted.len(),
                skipped: Some(format!(
                    "stock checks need admin access to this deployment's databases: {e}"
                )),
            };
        }
    };
    let stores: HashSet<&String> = touched.iter().map(|(s, _)| s).collect();
    let (mut stores_reconciled, mut negative, mut lines) = (0, 0, 0);
    for store in &stores {
        let (_, r) = sim
            .call(
                "GET /inventory/stores/{store}/reconcile",
                Method::GET,
                &format!("/inventory/stores/{store}/reconcile"),
                &admin,
                None,
            )
            .await;
        if r["data"]["reconciled"] == json!(true) {
            stores_reconciled += 1;
        }
        let skus: Vec<&String> = touched.iter().filter(|(s, _)| s == *store).map(|(_, k)| k).collect();
        for chunk in skus.chunks(100) {
            let list = chunk.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
            let (_, levels) = sim
                .call(
                    "GET /inventory/stores/{store}/stock",
                    Method::GET,
                    &format!("/inventory/stores/{store}/stock?skus={list}"),
                    "",
                    None,
                )
                .await;
            for l in levels["data"]["items"].as_array().into_iter().flatten() {
                lines += 1;
                let n = |k: &str| l[k].as_i64().unwrap_or(0);
                if n("on_hand") < 0 || n("reserved") < 0 || n("available") < 0 || n("reserved") > n("on_hand") {
                    negative += 1;
                }
            }
        }
    }
    Invariants {
        stores_reconciled,
        stores_checked: stores.len(),
        negative_stock_lines: negative,
        stock_lines_checked: lines,
        payments_matching,
        payments_checked,
        payment_mismatches,
        cancellations_honoured: honoured,
        cancellations_accepted: accepted.len(),
        skipped: None,
    }
}
