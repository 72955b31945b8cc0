//! Placing an order: the checkout re-priced and checked, the idempotency key, the order and
//! its lines written with `order.created` in one transaction, the saga started. A child
//! module of `service`, so it shares the service's private helpers.

use super::*;

/// The timeline's first entry.
const PLACED_NOTE: &str = "order placed";

impl OrderService {
    pub(super) async fn place_order(
        &self,
        ctx: &RequestCtx,
        user_id: &str,
        key: Option<&str>,
        input: PlaceInput,
    ) -> Result<(OrderView, bool), CoreError> {
        let mut v = Validator::new();
        let key = v.required("Idempotency-Key", key.map(str::trim)).and_then(|k| {
            v.check(
                "Idempotency-Key",
                if (1..=128).contains(&k.len()) && k.chars().all(|c| c.is_ascii_graphic()) {
                    Ok(k.to_owned())
                } else {
                    Err("header must be 1-128 visible ASCII characters (a UUID per checkout attempt works)".to_owned())
                },
            )
        });
        let address_id = v.required("address_id", input.address_id.clone());
        let method = v.required("payment_method", input.payment_method.clone());
        let substitution = input.substitution.clone().unwrap_or_else(|| "substitute".to_owned());
        if !SUBSTITUTIONS.contains(&substitution.as_str()) {
            v.add("substitution", format!("must be one of {}", SUBSTITUTIONS.join(", ")));
        }
        let note = match &input.note {
            Some(n) => v.check("note", crate::rules::parse_text(n, 500)),
            None => None,
        };
        let slot = match &input.slot {
            Some(raw) => v.check(
                "slot",
                crate::id::parse_rfc3339_ms(raw.trim())
                    .ok_or_else(|| "must be a slot's start as RFC 3339 (from GET /api/v1/deliveries/slots)".to_owned()),
            ),
            None => None,
        };
        if slot.is_some() && self.slots.is_none() {
            v.add(
                "slot",
                "scheduled delivery is not available here; leave slot out for express delivery",
            );
        }
        v.finish()?;
        let (Some(key), Some(address_id), Some(method)) = (key, address_id, method) else {
            return Err(CoreError::validation("address_id", "is required"));
        };
        let hash = format!(
            "{:016x}",
            stable_hash(
                serde_json::to_string(&input)
                    .map_err(|e| CoreError::Internal(e.into()))?
                    .as_bytes()
            )
        );
        if let Some(replay) = self.replay(user_id, &key, &hash).await? {
            return Ok((replay, true));
        }
        let pay = match self.payments.resolve_method(ctx, user_id, &method).await {
            Ok(p) => p,
            // Degraded: with the payment service unreachable, cash on delivery still works
            // (the amount due is recorded once it is back); online payment cannot.
            Err(CoreError::Unavailable(why)) if method.trim().eq_ignore_ascii_case("cod") => {
                tracing::warn!(%why, "payments unreachable: taking a cash-on-delivery order without them");
                crate::ports::MethodRef {
                    kind: "cod".to_owned(),
                    method_id: None,
                }
            }
            Err(CoreError::Unavailable(why)) => {
                return Err(CoreError::Unavailable(format!(
                "online payment is unavailable right now ({why}); pay cash on delivery instead (payment_method: cod)"
            )))
            }
            Err(e) => return Err(e),
        };
        let quote = self
            .carts
            .checkout(ctx, user_id, input.store.as_deref(), &address_id)
            .await?;
        check_quote(&quote, input.quote_id.as_deref())?;

        let id = new_id();
        // The slot is booked under the new order's id before the order is saved; if saving
        // fails it is given back here (or, if this process dies first, by the delivery
        // service once no order with that id arrived).
        let booking = match (slot, &self.slots) {
            (Some(start), Some(port)) => Some(port.book(ctx, &id, &quote.store, start).await?),
            _ => None,
        };
        let saved = self
            .save_order(
                ctx,
                user_id,
                &key,
                &hash,
                &id,
                &input,
                &quote,
                &pay,
                &substitution,
                note,
                booking.as_ref(),
            )
            .await;
        if !matches!(saved, Ok((_, false))) {
            if let (Some(_), Some(port)) = (&booking, &self.slots) {
                if let Err(e) = port.release(ctx, &id).await {
                    tracing::warn!(order_id = %id, error = %e, "could not give back the slot of an order not saved; the delivery service will");
                }
            }
        }
        saved
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn save_order(
        &self,
        ctx: &RequestCtx,
        user_id: &str,
        key: &str,
        hash: &str,
        id: &str,
        input: &PlaceInput,
        quote: &Quote,
        pay: &crate::ports::MethodRef,
        substitution: &str,
        note: Option<String>,
        booking: Option<&crate::ports::SlotBooking>,
    ) -> Result<(OrderView, bool), CoreError> {
        let id = id.to_owned();
        let now = now_ms();
        let lines: Vec<&crate::ports::CartLine> = quote.lines.iter().collect();
        let quote_json = serde_json::to_string(&quote).map_err(|e| CoreError::Internal(e.into()))?;
        let address_json = serde_json::to_string(&quote.address).map_err(|e| CoreError::Internal(e.into()))?;
        // The placing request takes the saga's lease with the insert, and drives it right
        // after; if this process dies first, the recovery sweep takes over once it ends.
        let lease = if self.cfg.autodrive { self.first_lease(now) } else { 0 };
        let mut tx = self.db.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO orders (id, user_id, store, status, payment_kind, payment_method_id, substitution, address_id, address, quote, \
             items_paise, fees_paise, total_paise, refunded_paise, currency, note, idem_key, request_hash, saga_state, cancel_requested, \
             attempts, step_started_at, next_attempt_at, lease_until, version, created_at, updated_at, slot_start, slot_end) \
             VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, 'running', 0, 0, ?, ?, ?, 1, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(&quote.store)
        .bind(&pay.kind)
        .bind(pay.method_id.clone())
        .bind(substitution)
        .bind(&input.address_id)
        .bind(&address_json)
        .bind(&quote_json)
        .bind(quote.items_paise)
        .bind(quote.fees_paise)
        .bind(quote.total_paise)
        .bind(&quote.currency)
        .bind(note.clone())
        .bind(key)
        .bind(hash)
        .bind(now)
        .bind(now + 1_000)
        .bind(lease)
        .bind(now)
        .bind(now)
        .bind(booking.map(|b| b.start_ms))
        .bind(booking.map(|b| b.end_ms))
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if crate::error::is_unique_violation(&e) => {
                drop(tx);
                // A concurrent request with the same key won the race.
                return match self.replay(user_id, key, hash).await? {
                    Some(o) => Ok((o, true)),
                    None => Err(CoreError::Internal(anyhow::anyhow!(
                        "idempotency key clash without an order"
                    ))),
                };
            }
            other => other?,
        };
        // Every line in one multi-row insert.
        let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(
            "INSERT INTO order_lines (order_id, sku, product_id, name, unit, unit_price_paise, mrp_paise, quantity, line_total_paise, status, created_at, updated_at) ",
        );
        qb.push_values(&lines, |mut row, l| {
            row.push_bind(id.clone())
                .push_bind(l.sku.clone())
                .push_bind(l.product_id.clone().unwrap_or_default())
                .push_bind(l.name.clone())
                .push_bind(l.unit.clone())
                .push_bind(l.unit_price_paise)
                .push_bind(l.mrp_paise)
                .push_bind(l.quantity)
                .push_bind(l.line_total_paise)
                .push_bind("active")
                .push_bind(now)
                .push_bind(now);
        });
        if !lines.is_empty() {
            qb.build().execute(&mut *tx).await?;
        }
        timeline(&mut tx, &id, "pending", PLACED_NOTE, user_id).await?;
        let payload = OrderCreated {
            order_id: id.to_owned(),
            user_id: user_id.to_owned(),
            store: quote.store.clone(),
            status: "pending".to_owned(),
            lines: lines
                .iter()
                .map(|l| PlacedLine {
                    sku: l.sku.clone(),
                    quantity: l.quantity,
                    unit_price_paise: l.unit_price_paise,
                })
                .collect(),
            items_paise: quote.items_paise,
            fees: quote
                .fees
                .iter()
                .map(|f| OrderFee {
                    code: f.code.clone(),
                    paise: f.amount_paise,
                })
                .collect(),
            total_paise: quote.total_paise,
            currency: quote.currency.clone(),
            payment_kind: pay.kind.clone(),
            address: DropPoint {
                city: quote.address.city.clone(),
                pincode: quote.address.pincode.clone(),
                lat: quote.address.lat,
                lng: quote.address.lng,
            },
            substitution: substitution.to_owned(),
            slot: booking.map(|b| SlotWindow {
                start: ms_to_rfc3339(b.start_ms),
                end: ms_to_rfc3339(b.end_ms),
            }),
            request_id: ctx.request_id.clone(),
        };
        outbox::append(&mut tx, &Envelope::of(Service::Order, &id, &id, &payload)).await?;
        tx.commit().await?;
        metrics::counter!("nakku_orders_placed_total").increment(1);
        // Gross merchandise value, in minor units (₹ × 100), by currency.
        metrics::counter!("nakku_order_value_paise_total", "currency" => quote.currency.clone())
            .increment(u64::try_from(quote.total_paise).unwrap_or(0));
        if self.cfg.autodrive && tokio::runtime::Handle::try_current().is_ok() {
            let me = self.clone();
            let order_id = id.clone();
            // The saga outlives the request; its span stays in the request's trace.
            let span = if crate::trace::enabled() {
                let span = tracing::info_span!("saga", order_id = %order_id, trace_id = tracing::field::Empty);
                crate::trace::adopt(&span, None);
                span
            } else {
                // The request's span, if any (it names the service its statements are counted under).
                tracing::Span::current()
            };
            let reserve = Line::by_sku(lines.iter().map(|l| (l.sku.as_str(), l.quantity)));
            let placed = super::super::saga::Placed {
                row: OrderRow {
                    id: id.clone(),
                    user_id: user_id.to_owned(),
                    store: quote.store.clone(),
                    status: "pending".to_owned(),
                    payment_kind: pay.kind.clone(),
                    payment_method_id: pay.method_id.clone(),
                    total_paise: quote.total_paise,
                    saga_state: "running".to_owned(),
                    cancel_requested: false,
                    failure_reason: None,
                    attempts: 0,
                    step_started_at: now,
                    adjust_pending: false,
                    cash_due_pending: false,
                },
                lines: Some(reserve),
            };
            tokio::spawn(
                async move {
                    if let Err(e) = me.drive_placed(placed, lease).await {
                        tracing::warn!(order_id, error = %e, "saga step failed; the recovery sweep retries it");
                    }
                }
                .instrument(span),
            );
        }
        // The answer is the order as placed, from what was just written (no read back).
        let mut order_lines: Vec<OrderLine> = lines
            .iter()
            .map(|l| OrderLine {
                sku: l.sku.clone(),
                product_id: l.product_id.clone().unwrap_or_default(),
                name: l.name.clone(),
                unit: l.unit.clone(),
                unit_price_paise: l.unit_price_paise,
                mrp_paise: l.mrp_paise,
                quantity: l.quantity,
                line_total_paise: l.line_total_paise,
                status: "active".to_owned(),
            })
            .collect();
        order_lines.sort_by(|a, b| a.sku.cmp(&b.sku));
        let at = ms_to_rfc3339(now);
        Ok((
            OrderView {
                id,
                user_id: user_id.to_owned(),
                store: quote.store.clone(),
                status: "pending".to_owned(),
                payment: PaymentChoice {
                    kind: pay.kind.clone(),
                    method_id: pay.method_id.clone(),
                },
                substitution: substitution.to_owned(),
                note,
                address: Some(quote.address.clone()),
                lines: order_lines,
                items_paise: quote.items_paise,
                fees: quote.fees.clone(),
                fees_paise: quote.fees_paise,
                total_paise: quote.total_paise,
                refunded_paise: 0,
                currency: quote.currency.clone(),
                eta_minutes: Some(quote.eta_minutes),
                quote_id: Some(quote.quote_id.clone()),
                picking: None,
                delivery_slot: booking.map(|b| SlotWindow {
                    start: ms_to_rfc3339(b.start_ms),
                    end: ms_to_rfc3339(b.end_ms),
                }),
                saga: SagaView {
                    state: "running".to_owned(),
                    next_step: Some(super::super::saga::Step::Reserve.name().to_owned()),
                    attempts: 0,
                    last_error: None,
                    cancel_requested: false,
                    step_started_at: at.clone(),
                },
                failure_reason: None,
                timeline: vec![TimelineEntry {
                    status: "pending".to_owned(),
                    note: Some(PLACED_NOTE.to_owned()),
                    actor: Some(user_id.to_owned()),
                    at: at.clone(),
                }],
                version: 1,
                created_at: at.clone(),
                updated_at: at,
            },
            false,
        ))
    }

    pub(super) async fn replay(&self, user_id: &str, key: &str, hash: &str) -> Result<Option<OrderView>, CoreError> {
        let Some(r) = sqlx::query("SELECT id, request_hash FROM orders WHERE user_id = ? AND idem_key = ?")
            .bind(user_id)
            .bind(key)
            .fetch_optional(self.db.pool())
            .await?
        else {
            return Ok(None);
        };
        if text(&r, "request_hash")? != hash {
            return Err(CoreError::validation(
                "Idempotency-Key",
                "was already used for a different order request; use a new key for a new order",
            ));
        }
        Ok(Some(self.view(&text(&r, "id")?).await?))
    }
}
