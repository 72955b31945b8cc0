//! What the simulated people do: a shopper's visit (browse, search, cart, checkout, order,
//! maybe cancel, then follow it) and a rider's shift; the demand curve over the run.

use super::*;

pub(super) const TERMS: [&str; 16] = [
    "milk",
    "bread",
    "atta",
    "rice",
    "dal",
    "chips",
    "biscuit",
    "tea",
    "coffee",
    "paneer",
    "curd",
    "onion",
    "tomato",
    "banana",
    "noodles",
    "chocolate",
];

/// One shopper's visit: browse, search, fill the cart, check out, place; maybe cancel;
/// then follow the order until its saga ends. Through REST or GraphQL (`--api`).
pub(super) async fn shop(sim: Arc<Sim>, p: Person, seed: u64, o: Arc<OptsView>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let Some((token, address)) = sim.sign_in(&p).await else {
        sim.refuse("sign-in (no such shopper, or no address)");
        return;
    };
    let me = steps::Shopper {
        sim: &sim,
        token: &token,
        gql: o.api.graphql_for(seed),
    };
    let store = p.store.clone();
    me.categories().await;
    let term = TERMS[rng.gen_range(0..TERMS.len())];
    let mut skus = me.search(Some(term), &store).await;
    if skus.is_empty() {
        skus = me.search(None, &store).await;
    }
    if let Some(first) = skus.first() {
        me.product(first, &store).await;
    }
    me.clear_cart(&store).await;
    let lines = rng.gen_range(1..=3).min(skus.len());
    let mut added = 0;
    for _ in 0..lines {
        let sku = skus[rng.gen_range(0..skus.len())].clone();
        if me.add(&sku, rng.gen_range(1..=2), &store).await == 200 {
            added += 1;
            if let Ok(mut t) = sim.touched.lock() {
                t.insert((store.clone(), sku));
            }
        }
    }
    if added == 0 {
        sim.refuse("nothing could be added to the cart");
        return;
    }
    let quote_id = match me.checkout(&store, &address).await {
        Ok(q) => q,
        Err(why) => {
            sim.refuse(format!("checkout: {why}"));
            return;
        }
    };
    let pay = if rng.gen_bool(o.cod_share.clamp(0.0, 1.0)) {
        "cod".to_owned()
    } else if rng.gen_bool(o.payment_failure_rate.clamp(0.0, 1.0)) {
        match sim.declining_method(&p, &token).await {
            Some(id) => id,
            None => {
                sim.refuse("could not save the declining test UPI id");
                return;
            }
        }
    } else {
        "upi".to_owned()
    };
    let body = json!({"address_id": address, "payment_method": pay, "store": store, "quote_id": quote_id});
    let key = format!("sim-{}-{seed}", o.run);
    let id = match me.place(body, &key).await {
        Ok(id) => id,
        Err((status, error)) => {
            let why: String = error.split('(').next().unwrap_or_default().chars().take(80).collect();
            sim.refuse(format!("placing: {status} {why}"));
            return;
        }
    };
    sim.count(|c| c.placed += 1);
    if let Ok(mut all) = sim.orders.lock() {
        all.push((id.clone(), token.clone()));
    }
    if rng.gen_bool(o.cancel_rate.clamp(0.0, 1.0)) {
        let (status, error) = me.cancel(&id).await;
        if status == 200 {
            if let Ok(mut c) = sim.cancel_accepted.lock() {
                c.insert(id.clone());
            }
        } else {
            let why: String = error.chars().take(80).collect();
            sim.count(|c| *c.cancel_refused.entry(format!("{status} {why}")).or_default() += 1);
        }
    }
    // Follow the order until the saga ends (a step may be retried through an outage of a
    // minute or more); a confirmed order's code goes to the riders.
    let deadline = Instant::now() + Duration::from_secs(150);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (status, saga) = me.order(&id).await;
        if saga != "done" {
            continue;
        }
        // The saga may finish after the rider set off (a step retried through an outage):
        // the shopper still shows the code at the door.
        if matches!(status.as_str(), "confirmed" | "packed" | "out_for_delivery") {
            // The shopper shows the code at the door once a rider has it (after an outage
            // the assignment may take as long as the events held back take to arrive).
            let code_until = Instant::now() + Duration::from_secs(150);
            while Instant::now() < code_until {
                if let Some(code) = me.delivery_code(&id).await {
                    if let Ok(mut codes) = sim.codes.lock() {
                        codes.insert(id.clone(), code);
                    }
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        return;
    }
}

/// A rider's shift: on at their store, positions every few seconds, and every delivery in
/// hand picked up, ridden and handed over with the shopper's code.
pub(super) async fn ride(sim: Arc<Sim>, p: Person, at: (f64, f64), stop: tokio_util::sync::CancellationToken) {
    let Some(token) = sim.login(&p).await else {
        return;
    };
    let (status, _) = sim
        .call(
            "POST /deliveries/partners/me/shift",
            Method::POST,
            "/deliveries/partners/me/shift",
            &token,
            Some(json!({"on": true})),
        )
        .await;
    if status == 200 {
        sim.count(|c| c.riders_on_shift += 1);
    }
    let mut last_ping = Instant::now() - Duration::from_secs(10);
    while !stop.is_cancelled() {
        if last_ping.elapsed() > Duration::from_secs(5) {
            sim.call(
                "POST /deliveries/partners/me/location",
                Method::POST,
                "/deliveries/partners/me/location",
                &token,
                Some(json!({"lat": at.0, "lng": at.1})),
            )
            .await;
            last_ping = Instant::now();
        }
        let (_, mine) = sim
            .call(
                "GET /deliveries/partners/me/deliveries",
                Method::GET,
                "/deliveries/partners/me/deliveries",
                &token,
                None,
            )
            .await;
        for d in mine["data"]["items"].as_array().into_iter().flatten() {
            let id = d["order_id"].as_str().unwrap_or_default().to_owned();
            let path = |a: &str| format!("/deliveries/{id}/{a}");
            match d["status"].as_str().unwrap_or_default() {
                "assigned" | "at_store" => {
                    sim.call(
                        "POST /deliveries/{id}/{action}",
                        Method::POST,
                        &path("pickup"),
                        &token,
                        Some(json!({})),
                    )
                    .await;
                }
                "picked_up" => {
                    sim.call(
                        "POST /deliveries/{id}/{action}",
                        Method::POST,
                        &path("start"),
                        &token,
                        Some(json!({})),
                    )
                    .await;
                }
                "out_for_delivery" | "at_door" => {
                    let code = sim.codes.lock().ok().and_then(|c| c.get(&id).cloned());
                    if let Some(code) = code {
                        let (status, _) = sim
                            .call(
                                "POST /deliveries/{id}/{action}",
                                Method::POST,
                                &path("deliver"),
                                &token,
                                Some(json!({"otp": code})),
                            )
                            .await;
                        if status == 200 {
                            sim.count(|c| c.delivered += 1);
                            if let Ok(mut codes) = sim.codes.lock() {
                                codes.remove(&id);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_millis(400)) => {}
        }
    }
    sim.call(
        "POST /deliveries/partners/me/shift",
        Method::POST,
        "/deliveries/partners/me/shift",
        &token,
        Some(json!({"on": false})),
    )
    .await;
}

/// What the shopper tasks need of the options.
pub(super) struct OptsView {
    /// This run (idempotency keys are unique per run; the choices depend on the seed only).
    pub(super) run: i64,
    pub(super) cancel_rate: f64,
    pub(super) cod_share: f64,
    pub(super) payment_failure_rate: f64,
    pub(super) api: Api,
}

/// The demand multiplier at `x` (0..1 of the run).
pub(super) fn demand(curve: Curve, x: f64) -> f64 {
    match curve {
        Curve::Flat => 1.0,
        Curve::Peaks => {
            let bump = |c: f64, h: f64| h * (-((x - c) / 0.08).powi(2)).exp();
            0.6 + bump(0.3, 1.6) + bump(0.75, 1.9)
        }
    }
}
