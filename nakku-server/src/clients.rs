//! Typed clients for services running in another process: each implements the same port
//! trait the in-process service does (see `nakku_core::ports`), over the service's public
//! HTTP API. Calls on behalf of a shopper carry a short-lived token for that shopper; the
//! saga's own calls carry an admin token for `service:<caller>`. Timeouts come from the
//! HTTP client; retries are the saga's (every call it makes is idempotent).

use nakku_core::auth::{JwtKeys, Role};
use nakku_core::cart::Quote;
use nakku_core::error::FieldErrors;
use nakku_core::events::bus::BoxFut;
use nakku_core::inventory::Line;
use nakku_core::payment::{ChargeInput, MethodRef, Payment, PaymentPort, RefundInput};
use nakku_core::ports::CartPort;
use nakku_core::ports::{
    AddressPort, AddressSnapshot, PlacePort, ReservationView, Serving, SlotBooking, SlotPort, StockPort,
};
use nakku_core::{CoreError, RequestCtx};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tracing::Instrument;

/// Another service's base URL and how to reach it.
#[derive(Clone)]
pub struct HttpPeer {
    pub name: &'static str,
    pub base_url: String,
    pub client: reqwest::Client,
    pub jwt: JwtKeys,
    /// The caller, for service tokens (`service:order`).
    pub caller: &'static str,
}

/// Who a call is made as.
enum As<'a> {
    User(&'a str),
    Service,
    Nobody,
}

impl HttpPeer {
    /// The client span of one call (a child of the current span), named by the callee and
    /// the resource so names stay few; none while tracing is off.
    fn span(&self, method: &Method, path: &str) -> tracing::Span {
        if !nakku_core::trace::enabled() {
            return tracing::Span::none();
        }
        // `/api/v1/inventory/reservations/{id}/confirm` → `inventory /reservations`.
        let resource = path
            .split('?')
            .next()
            .unwrap_or(path)
            .trim_start_matches("/api/v1/")
            .split('/')
            .nth(1)
            .unwrap_or("");
        tracing::info_span!(
            "call",
            otel.name = format!("{method} {} /{resource}", self.name),
            otel.kind = "client",
            peer = self.name,
            url.path = path.split('?').next().unwrap_or(path),
        )
    }

    async fn call<T: DeserializeOwned>(
        &self,
        ctx: &RequestCtx,
        method: Method,
        path: &str,
        who: As<'_>,
        body: Option<Value>,
    ) -> Result<T, CoreError> {
        let unavailable = |e: String| CoreError::Unavailable(format!("the {} service: {e}", self.name));
        let span = self.span(&method, path);
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base_url))
            .header(crate::middleware::REQUEST_ID, &ctx.request_id);
        if let Some(tp) = nakku_core::trace::traceparent_of(&span) {
            req = req.header(nakku_core::trace::TRACEPARENT, tp);
        }
        let token = match who {
            As::User(u) => Some(self.jwt.issue(u, Role::User)?.0),
            As::Service => Some(self.jwt.issue(&format!("service:{}", self.caller), Role::Admin)?.0),
            As::Nobody => None,
        };
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let (status, v) = async {
            let res = req.send().await.map_err(|e| unavailable(e.to_string()))?;
            let status = res.status();
            let v: Value = res
                .json()
                .await
                .map_err(|e| unavailable(format!("unreadable answer ({status}): {e}")))?;
            Ok::<_, CoreError>((status, v))
        }
        .instrument(span)
        .await?;
        if status.is_success() {
            return serde_json::from_value(v["data"].clone())
                .map_err(|e| unavailable(format!("unexpected answer: {e}")));
        }
        let message = v["error"].as_str().unwrap_or("error").to_owned();
        let fields: Option<FieldErrors> = serde_json::from_value(v["fields"].clone()).ok();
        Err(match status.as_u16() {
            404 => CoreError::NotFound(message.trim_end_matches(" not found").to_owned()),
            409 => {
                let (field, msg) = fields
                    .and_then(|f| f.into_iter().next())
                    .map(|(k, m)| (k, m.join("; ")))
                    .unwrap_or_else(|| ("request".to_owned(), message));
                CoreError::Conflict { field, message: msg }
            }
            422 | 400 => match fields {
                Some(f) if !f.is_empty() => CoreError::Validation(f),
                _ => CoreError::validation("request", message),
            },
            401 | 403 => CoreError::Unavailable(format!("the {} service refused the call: {message}", self.name)),
            _ => unavailable(format!("answered {status}: {message}")),
        })
    }
}

impl StockPort for HttpPeer {
    fn reserve<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        store: &'a str,
        lines: Vec<Line>,
    ) -> BoxFut<'a, Result<ReservationView, CoreError>> {
        Box::pin(async move {
            let body = json!({"order_id": order_id, "store": store, "lines": lines});
            self.call(
                ctx,
                Method::POST,
                "/api/v1/inventory/reservations",
                As::Service,
                Some(body),
            )
            .await
        })
    }

    fn confirm<'a>(&'a self, ctx: &'a RequestCtx, order_id: &'a str) -> BoxFut<'a, Result<ReservationView, CoreError>> {
        Box::pin(async move {
            let path = format!("/api/v1/inventory/reservations/{order_id}/confirm");
            self.call(ctx, Method::POST, &path, As::Service, Some(json!({}))).await
        })
    }

    fn release<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        reason: &'a str,
    ) -> BoxFut<'a, Result<ReservationView, CoreError>> {
        Box::pin(async move {
            let path = format!("/api/v1/inventory/reservations/{order_id}/release");
            self.call(
                ctx,
                Method::POST,
                &path,
                As::Service,
                Some(json!({"reason": reason, "block": true})),
            )
            .await
        })
    }

    fn return_line<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        sku: &'a str,
    ) -> BoxFut<'a, Result<(), CoreError>> {
        Box::pin(async move {
            let path = format!("/api/v1/inventory/reservations/{order_id}/lines/{sku}/return");
            let _: Value = self
                .call(ctx, Method::POST, &path, As::Service, Some(json!({})))
                .await?;
            Ok(())
        })
    }

    fn picked<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        short: Vec<Line>,
        add: Vec<Line>,
    ) -> BoxFut<'a, Result<(), CoreError>> {
        Box::pin(async move {
            let path = format!("/api/v1/inventory/reservations/{order_id}/picked");
            let body = json!({"short": short, "add": add});
            let _: Value = self.call(ctx, Method::POST, &path, As::Service, Some(body)).await?;
            Ok(())
        })
    }
}

impl PaymentPort for HttpPeer {
    fn resolve_method<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        user_id: &'a str,
        raw: &'a str,
    ) -> BoxFut<'a, Result<MethodRef, CoreError>> {
        Box::pin(async move {
            let body = json!({"payment_method": raw});
            self.call(
                ctx,
                Method::POST,
                "/api/v1/payments/methods/resolve",
                As::User(user_id),
                Some(body),
            )
            .await
        })
    }

    fn charge<'a>(&'a self, ctx: &'a RequestCtx, input: ChargeInput) -> BoxFut<'a, Result<Payment, CoreError>> {
        Box::pin(async move {
            let body = serde_json::to_value(&input).map_err(|e| CoreError::Internal(e.into()))?;
            self.call(ctx, Method::POST, "/api/v1/payments/charges", As::Service, Some(body))
                .await
        })
    }

    fn refund<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        input: RefundInput,
    ) -> BoxFut<'a, Result<Payment, CoreError>> {
        Box::pin(async move {
            let body = json!({"amount_paise": input.amount_paise, "reason": input.reason, "key": input.key});
            let path = format!("/api/v1/payments/orders/{order_id}/refunds");
            self.call(ctx, Method::POST, &path, As::Service, Some(body)).await
        })
    }

    fn cancel<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        reason: &'a str,
    ) -> BoxFut<'a, Result<Payment, CoreError>> {
        Box::pin(async move {
            let path = format!("/api/v1/payments/orders/{order_id}/cancel");
            self.call(ctx, Method::POST, &path, As::Service, Some(json!({"reason": reason})))
                .await
        })
    }

    fn settle_cod<'a>(&'a self, ctx: &'a RequestCtx, order_id: &'a str) -> BoxFut<'a, Result<Payment, CoreError>> {
        Box::pin(async move {
            let path = format!("/api/v1/payments/orders/{order_id}/settle-cod");
            self.call(ctx, Method::POST, &path, As::Service, Some(json!({}))).await
        })
    }
}

impl CartPort for HttpPeer {
    fn checkout<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        user_id: &'a str,
        store: Option<&'a str>,
        address_id: &'a str,
    ) -> BoxFut<'a, Result<Quote, CoreError>> {
        Box::pin(async move {
            let mut path = format!("/api/v1/cart/checkout?address_id={}", path_segment(address_id));
            if let Some(s) = store {
                path.push_str(&format!("&store={}", path_segment(s)));
            }
            self.call(ctx, Method::GET, &path, As::User(user_id), None).await
        })
    }

    fn add_lines<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        user_id: &'a str,
        store: &'a str,
        lines: Vec<(String, i64)>,
    ) -> BoxFut<'a, Result<Value, CoreError>> {
        Box::pin(async move {
            let lines: Vec<Value> = lines
                .into_iter()
                .map(|(sku, quantity)| json!({"sku": sku, "quantity": quantity}))
                .collect();
            self.call(
                ctx,
                Method::POST,
                "/api/v1/cart/lines",
                As::User(user_id),
                Some(json!({"store": store, "lines": lines})),
            )
            .await
        })
    }
}

impl AddressPort for HttpPeer {
    fn address<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        user_id: &'a str,
        address_id: &'a str,
    ) -> BoxFut<'a, Result<AddressSnapshot, CoreError>> {
        Box::pin(async move {
            let path = format!("/api/v1/users/me/addresses/{}", path_segment(address_id));
            self.call(ctx, Method::GET, &path, As::User(user_id), None).await
        })
    }
}

impl PlacePort for HttpPeer {
    fn serving<'a>(&'a self, ctx: &'a RequestCtx, lat: f64, lng: f64) -> BoxFut<'a, Result<Serving, CoreError>> {
        Box::pin(async move {
            let path = format!("/api/v1/locations/serviceability?lat={lat}&lng={lng}");
            let v: Value = self.call(ctx, Method::GET, &path, As::Nobody, None).await?;
            Ok(Serving::from_json(&v))
        })
    }
}

/// A value as a path segment (or query value) of a URL: every byte but the unreserved
/// ones percent-encoded (a space is `%20`, never `+`).
pub(crate) fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl SlotPort for HttpPeer {
    fn book<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        store: &'a str,
        start_ms: i64,
    ) -> BoxFut<'a, Result<SlotBooking, CoreError>> {
        Box::pin(async move {
            let body = json!({"order_id": order_id, "store": store, "start": nakku_core::id::ms_to_rfc3339(start_ms)});
            self.call(
                ctx,
                Method::POST,
                "/api/v1/deliveries/slots/bookings",
                As::Service,
                Some(body),
            )
            .await
        })
    }

    fn release<'a>(&'a self, ctx: &'a RequestCtx, order_id: &'a str) -> BoxFut<'a, Result<(), CoreError>> {
        Box::pin(async move {
            let path = format!("/api/v1/deliveries/slots/bookings/{order_id}/release");
            let _: Value = self
                .call(ctx, Method::POST, &path, As::Service, Some(json!({})))
                .await?;
            Ok(())
        })
    }
}
