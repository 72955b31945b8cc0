//! The gateway's route table: every public endpoint, the service that owns it, and who may
//! call it. One readable table ([`ROUTES`]); plain data, no HTTP types. The gateway refuses
//! a caller the table does not allow before anything reaches a service (services check
//! again: they are reachable directly too).

use crate::auth::Role;
use crate::service::Service;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token (signing in, browsing the catalogue, serviceability).
    Public,
    /// Any signed-in account; the service decides what it sees (its own orders, ...).
    Signed,
    Admin,
    /// Admins, as the user service's accounts say at the moment of the call (a promotion or
    /// demotion takes effect at once, before the token is renewed): the gateway needs a
    /// valid token, the user service checks the role.
    AdminAccount,
    DeliveryPartner,
    /// Admins and delivery partners.
    Staff,
}

impl Access {
    /// Whether a token with `role` may call (`None`: no token).
    pub fn allows(self, role: Option<Role>) -> bool {
        match (self, role) {
            (Access::Public, _) => true,
            (_, None) => false,
            (Access::Signed | Access::AdminAccount, Some(_)) => true,
            (Access::Admin, Some(r)) => r == Role::Admin,
            (Access::DeliveryPartner, Some(r)) => r == Role::DeliveryPartner,
            (Access::Staff, Some(r)) => r == Role::Admin || r == Role::DeliveryPartner,
        }
    }

    /// Whether only admins may call (by the token here, or by the account at the service).
    pub fn admin_only(self) -> bool {
        matches!(self, Access::Admin | Access::AdminAccount)
    }

    pub fn name(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Signed => "signed in",
            Access::Admin | Access::AdminAccount => "admin",
            Access::DeliveryPartner => "delivery_partner",
            Access::Staff => "admin or delivery_partner",
        }
    }
}

/// One endpoint: method, path under `/api/v1` (`{name}` is one path segment), who may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

const fn e(method: &'static str, path: &'static str, access: Access) -> Endpoint {
    Endpoint { method, path, access }
}

use Access::{Admin, AdminAccount, DeliveryPartner as Partner, Public, Signed, Staff};

/// Every endpoint of the public API.
pub const ROUTES: &[Endpoint] = &[
    // user (8081)
    e("POST", "auth/register", Public),
    e("POST", "auth/login", Public),
    e("POST", "auth/refresh", Public),
    e("POST", "auth/logout", Public),
    e("GET", "users/me", Signed),
    e("PATCH", "users/me", Signed),
    e("DELETE", "users/me", Signed),
    e("POST", "users/me/password", Signed),
    e("GET", "users/me/addresses", Signed),
    e("POST", "users/me/addresses", Signed),
    e("GET", "users/me/addresses/{id}", Signed),
    e("PATCH", "users/me/addresses/{id}", Signed),
    e("DELETE", "users/me/addresses/{id}", Signed),
    e("GET", "users", AdminAccount),
    e("GET", "users/{id}", AdminAccount),
    e("PATCH", "users/{id}/role", AdminAccount),
    e("GET", "users/{id}/activity", AdminAccount),
    // product catalogue (8082)
    e("GET", "products", Public),
    e("POST", "products", Admin),
    e("POST", "products/import", Admin),
    e("GET", "products/popular", Public),
    e("GET", "products/{id}", Public),
    e("PATCH", "products/{id}", Admin),
    e("DELETE", "products/{id}", Admin),
    e("POST", "products/{id}/restore", Admin),
    e("GET", "products/{id}/recommendations", Public),
    e("GET", "categories", Public),
    e("POST", "categories", Admin),
    e("GET", "categories/{id}", Public),
    e("PATCH", "categories/{id}", Admin),
    e("DELETE", "categories/{id}", Admin),
    // inventory (8083)
    e("GET", "inventory/stores", Admin),
    e("POST", "inventory/stores", Admin),
    e("GET", "inventory/stores/{store}", Admin),
    e("PATCH", "inventory/stores/{store}", Admin),
    e("DELETE", "inventory/stores/{store}", Admin),
    e("GET", "inventory/stores/{store}/stock", Public),
    e("GET", "inventory/stores/{store}/stock/{sku}", Public),
    e("PUT", "inventory/stores/{store}/stock/{sku}", Admin),
    e("POST", "inventory/stores/{store}/stock/{sku}/restock", Admin),
    e("POST", "inventory/stores/{store}/stock/{sku}/adjust", Admin),
    e("GET", "inventory/stores/{store}/stock/{sku}/ledger", Admin),
    e("POST", "inventory/stores/{store}/stock/{sku}/watch", Signed),
    e("GET", "inventory/stores/{store}/low-stock", Admin),
    e("GET", "inventory/stores/{store}/reconcile", Admin),
    e("POST", "inventory/reservations", Admin),
    e("GET", "inventory/reservations/{order_id}", Admin),
    e("POST", "inventory/reservations/{order_id}/confirm", Admin),
    e("POST", "inventory/reservations/{order_id}/release", Admin),
    e("POST", "inventory/reservations/{order_id}/lines/{sku}/return", Admin),
    e("POST", "inventory/reservations/{order_id}/picked", Admin),
    // order (8084)
    e("GET", "orders", Signed),
    e("POST", "orders", Signed),
    e("GET", "orders/{id}", Signed),
    e("POST", "orders/{id}/cancel", Signed),
    e("DELETE", "orders/{id}/lines/{sku}", Signed),
    e("POST", "orders/{id}/reorder", Signed),
    e("POST", "orders/{id}/status", Staff),
    // cart (8085)
    e("GET", "cart", Signed),
    e("DELETE", "cart", Signed),
    e("POST", "cart/items", Signed),
    e("PATCH", "cart/items/{sku}", Signed),
    e("DELETE", "cart/items/{sku}", Signed),
    e("POST", "cart/lines", Signed),
    e("GET", "cart/checkout", Signed),
    e("POST", "cart/share", Signed),
    e("DELETE", "cart/share", Signed),
    e("GET", "cart/shared/{token}", Public),
    e("POST", "cart/shared/{token}/copy", Signed),
    e("POST", "cart/shared/{token}/items", Signed),
    e("PATCH", "cart/shared/{token}/items/{sku}", Signed),
    e("DELETE", "cart/shared/{token}/items/{sku}", Signed),
    // payment (8086)
    e("GET", "payments", Signed),
    e("GET", "payments/methods", Signed),
    e("POST", "payments/methods", Signed),
    e("POST", "payments/methods/resolve", Signed),
    e("GET", "payments/methods/{id}", Signed),
    e("DELETE", "payments/methods/{id}", Signed),
    e("POST", "payments/charges", Admin),
    e("GET", "payments/orders/{order_id}", Signed),
    e("GET", "payments/orders/{order_id}/refunds", Signed),
    e("POST", "payments/orders/{order_id}/refunds", Admin),
    e("POST", "payments/orders/{order_id}/cancel", Admin),
    e("POST", "payments/orders/{order_id}/settle-cod", Admin),
    // delivery (8087)
    e("GET", "deliveries/partners", Admin),
    e("GET", "deliveries/partners/me", Partner),
    e("PUT", "deliveries/partners/me", Partner),
    e("POST", "deliveries/partners/me/shift", Partner),
    e("POST", "deliveries/partners/me/location", Partner),
    e("GET", "deliveries/partners/me/track", Partner),
    e("GET", "deliveries/partners/me/deliveries", Partner),
    e("GET", "deliveries/performance", Admin),
    e("GET", "deliveries/slots", Signed),
    e("POST", "deliveries/slots/bookings", Admin),
    e("POST", "deliveries/slots/bookings/{order_id}/release", Admin),
    e("PUT", "deliveries/stores/{store}/slots", Admin),
    e("PUT", "deliveries/stores/{store}/bins", Admin),
    e("GET", "deliveries/stores/{store}/load", Signed),
    e("GET", "deliveries/pickers/me", Signed),
    e("POST", "deliveries/pickers/me/shift", Signed),
    e("GET", "deliveries/pickers/me/picks", Signed),
    e("PUT", "deliveries/pickers/{user_id}", Admin),
    e("GET", "deliveries/picks/{order_id}", Signed),
    e("POST", "deliveries/picks/{order_id}/lines/{sku}", Signed),
    e("POST", "deliveries/picks/{order_id}/pack", Signed),
    e("GET", "deliveries/{order_id}", Signed),
    e("GET", "deliveries/{order_id}/stream", Signed),
    e("POST", "deliveries/{order_id}/{action}", Partner),
    // notification (8088)
    e("GET", "notifications", Signed),
    e("GET", "notifications/preferences", Signed),
    e("PUT", "notifications/preferences", Signed),
    e("POST", "notifications/devices", Signed),
    e("DELETE", "notifications/devices/{id}", Signed),
    e("GET", "notifications/failed", Admin),
    e("POST", "notifications/{id}/retry", Admin),
    // location (8089)
    e("GET", "locations/serviceability", Public),
    e("GET", "locations/geocode", Public),
    e("GET", "locations/reverse", Public),
    e("GET", "locations/distance", Public),
    e("POST", "locations/validate-address", Signed),
    e("GET", "locations/stores", Admin),
    e("GET", "locations/zones", Admin),
    e("POST", "locations/zones", Admin),
    e("GET", "locations/zones/{id}", Admin),
    e("PATCH", "locations/zones/{id}", Admin),
    e("DELETE", "locations/zones/{id}", Admin),
    // analytics (8090)
    e("GET", "analytics/summary", Admin),
    e("GET", "analytics/stores", Admin),
    e("GET", "analytics/stock-alerts", Admin),
    e("GET", "analytics/events", Admin),
];

/// The service owning a first path segment.
pub fn owner(first: &str) -> Option<Service> {
    Some(match first {
        "auth" | "users" => Service::User,
        "products" | "categories" => Service::Product,
        "inventory" => Service::Inventory,
        "orders" => Service::Order,
        "cart" => Service::Cart,
        "payments" => Service::Payment,
        "deliveries" => Service::Delivery,
        "notifications" => Service::Notification,
        "locations" => Service::Location,
        "analytics" => Service::Analytics,
        _ => return None,
    })
}

/// Where a request goes and who may send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub service: Service,
    pub endpoint: Endpoint,
}

impl Route {
    pub fn public(&self) -> bool {
        self.endpoint.access == Access::Public
    }
}

/// Why a path is not a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// No endpoint has this path.
    NotFound,
    /// The path exists with other methods (for `Allow`).
    Method(Vec<&'static str>),
}

/// The table with each path split into segments once.
fn parsed() -> &'static [(Endpoint, Vec<&'static str>)] {
    static TABLE: std::sync::OnceLock<Vec<(Endpoint, Vec<&'static str>)>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| ROUTES.iter().map(|e| (*e, e.path.split('/').collect())).collect())
}

/// Whether `pattern` matches `segments`; the match's specificity when it does: a bit per
/// segment, set for a static one, the first segment the most significant (so a static
/// segment wins over a parameter at the first place they differ).
fn matches(pattern: &[&str], segments: &[&str]) -> Option<u64> {
    if pattern.len() != segments.len() || pattern.len() > 63 {
        return None;
    }
    let mut key = 0u64;
    for (p, s) in pattern.iter().zip(segments) {
        key <<= 1;
        if p.starts_with('{') {
            if s.is_empty() {
                return None;
            }
        } else if p == s {
            key |= 1;
        } else {
            return None;
        }
    }
    Some(key)
}

/// Resolves `METHOD /api/v1/...` to its endpoint; a static segment wins over a parameter
/// (`deliveries/slots` before `deliveries/{order_id}`). `HEAD` is served as `GET`.
pub fn resolve(method: &str, path: &str) -> Result<Route, Miss> {
    let rest = path.strip_prefix("/api/v1/").ok_or(Miss::NotFound)?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let mut buf = [""; 16];
    let mut n = 0;
    for seg in rest.split('/') {
        if n == buf.len() {
            return Err(Miss::NotFound);
        }
        buf[n] = seg;
        n += 1;
    }
    let segments = &buf[..n];
    let service = owner(segments[0]).ok_or(Miss::NotFound)?;
    let method = if method == "HEAD" { "GET" } else { method };
    // The most specific matching path, and its endpoint for this method if there is one.
    let mut top: Option<u64> = None;
    let mut hit: Option<&Endpoint> = None;
    for (ep, pattern) in parsed() {
        let Some(key) = matches(pattern, segments) else {
            continue;
        };
        if top.is_some_and(|t| t > key) {
            continue;
        }
        if top.is_none_or(|t| t < key) {
            top = Some(key);
            hit = None;
        }
        if ep.method == method {
            hit = Some(ep);
        }
    }
    let top = top.ok_or(Miss::NotFound)?;
    match hit {
        Some(ep) => Ok(Route { service, endpoint: *ep }),
        None => Err(Miss::Method(
            parsed()
                .iter()
                .filter(|(_, p)| matches(p, segments) == Some(top))
                .map(|(ep, _)| ep.method)
                .collect(),
        )),
    }
}

/// Resolves `/api/v1/...`; `None` when it is not an endpoint of the public API.
pub fn route(method: &str, path: &str) -> Option<Route> {
    resolve(method, path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_resolves_to_its_service_and_only_auth_and_browsing_are_public() {
        let r = |m: &str, p: &str| route(m, p).map(|r| (r.service, r.endpoint.access));
        assert_eq!(r("POST", "/api/v1/auth/login"), Some((Service::User, Access::Public)));
        assert_eq!(r("GET", "/api/v1/users/me"), Some((Service::User, Access::Signed)));
        assert_eq!(r("GET", "/api/v1/products/1"), Some((Service::Product, Access::Public)));
        assert_eq!(r("POST", "/api/v1/products"), Some((Service::Product, Access::Admin)));
        assert_eq!(
            r("GET", "/api/v1/analytics/summary"),
            Some((Service::Analytics, Access::Admin))
        );
        assert!(route("GET", "/api/v1/inventory/stores/BLR-1/stock").unwrap().public());
        assert!(!route("POST", "/api/v1/inventory/stores/BLR-1/stock/MILK/restock")
            .unwrap()
            .public());
        assert!(route("GET", "/api/v1/cart/shared/abc").unwrap().public());
        assert!(!route("POST", "/api/v1/cart/shared/abc/copy").unwrap().public());
        assert_eq!(route("GET", "/api/v1/usersx"), None);
        assert_eq!(route("GET", "/api/v2/users"), None);
        assert_eq!(route("GET", "/api/v1/users/me/nothing/here"), None);
    }

    #[test]
    fn a_static_segment_wins_over_a_parameter_and_wrong_methods_are_named() {
        let a = |m: &str, p: &str| route(m, p).map(|r| r.endpoint.access);
        assert_eq!(a("GET", "/api/v1/deliveries/slots"), Some(Access::Signed));
        assert_eq!(
            a("GET", "/api/v1/deliveries/partners/me"),
            Some(Access::DeliveryPartner)
        );
        assert_eq!(a("POST", "/api/v1/deliveries/partners/me"), None);
        assert_eq!(
            a("POST", "/api/v1/deliveries/ord-1/pickup"),
            Some(Access::DeliveryPartner)
        );
        assert_eq!(a("GET", "/api/v1/products/popular"), Some(Access::Public));
        assert_eq!(
            resolve("PUT", "/api/v1/users/me"),
            Err(Miss::Method(vec!["GET", "PATCH", "DELETE"]))
        );
        assert_eq!(a("HEAD", "/api/v1/products"), Some(Access::Public));
    }

    #[test]
    fn roles_are_allowed_by_the_table() {
        assert!(Access::Public.allows(None));
        assert!(!Access::Signed.allows(None));
        assert!(Access::Signed.allows(Some(Role::User)));
        assert!(!Access::Admin.allows(Some(Role::User)));
        assert!(!Access::Admin.allows(Some(Role::DeliveryPartner)));
        assert!(Access::Staff.allows(Some(Role::DeliveryPartner)));
        assert!(!Access::DeliveryPartner.allows(Some(Role::Admin)));
    }
}
