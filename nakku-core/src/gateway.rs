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
    /// The OpenAPI `operationId`: a verb and a noun in camelCase (`placeOrder`), what a
    /// client generator names the call.
    pub name: &'static str,
}

const fn e(method: &'static str, path: &'static str, access: Access, name: &'static str) -> Endpoint {
    Endpoint {
        method,
        path,
        access,
        name,
    }
}

use Access::{Admin, AdminAccount, DeliveryPartner as Partner, Public, Signed, Staff};

/// Every endpoint of the public API.
pub const ROUTES: &[Endpoint] = &[
    // user (8081)
    e("POST", "auth/register", Public, "registerAccount"),
    e("POST", "auth/login", Public, "logIn"),
    e("POST", "auth/refresh", Public, "refreshTokens"),
    e("POST", "auth/logout", Public, "logOut"),
    e("GET", "users/me", Signed, "getMyProfile"),
    e("PATCH", "users/me", Signed, "updateMyProfile"),
    e("DELETE", "users/me", Signed, "deleteMyAccount"),
    e("POST", "users/me/password", Signed, "changeMyPassword"),
    e("GET", "users/me/addresses", Signed, "listMyAddresses"),
    e("POST", "users/me/addresses", Signed, "addAddress"),
    e("GET", "users/me/addresses/{id}", Signed, "getAddress"),
    e("PATCH", "users/me/addresses/{id}", Signed, "updateAddress"),
    e("DELETE", "users/me/addresses/{id}", Signed, "deleteAddress"),
    e("GET", "users", AdminAccount, "listUsers"),
    e("GET", "users/{id}", AdminAccount, "getUser"),
    e("PATCH", "users/{id}/role", AdminAccount, "setUserRole"),
    e("GET", "users/{id}/activity", AdminAccount, "getUserActivity"),
    // product catalogue (8082)
    e("GET", "products", Public, "searchProducts"),
    e("POST", "products", Admin, "createProduct"),
    e("POST", "products/import", Admin, "importProducts"),
    e("GET", "products/popular", Public, "listPopularProducts"),
    e("GET", "products/{id}", Public, "getProduct"),
    e("PATCH", "products/{id}", Admin, "updateProduct"),
    e("DELETE", "products/{id}", Admin, "deleteProduct"),
    e("POST", "products/{id}/restore", Admin, "restoreProduct"),
    e("GET", "products/{id}/recommendations", Public, "recommendProducts"),
    e("GET", "categories", Public, "listCategories"),
    e("POST", "categories", Admin, "createCategory"),
    e("GET", "categories/{id}", Public, "getCategory"),
    e("PATCH", "categories/{id}", Admin, "updateCategory"),
    e("DELETE", "categories/{id}", Admin, "deleteCategory"),
    // inventory (8083)
    e("GET", "inventory/stores", Admin, "listStores"),
    e("POST", "inventory/stores", Admin, "createStore"),
    e("GET", "inventory/stores/{store}", Admin, "getStore"),
    e("PATCH", "inventory/stores/{store}", Admin, "updateStore"),
    e("DELETE", "inventory/stores/{store}", Admin, "deleteStore"),
    e("GET", "inventory/stores/{store}/stock", Public, "listStock"),
    e("GET", "inventory/stores/{store}/stock/{sku}", Public, "getStock"),
    e("PUT", "inventory/stores/{store}/stock/{sku}", Admin, "setStock"),
    e("POST", "inventory/stores/{store}/stock/{sku}/restock", Admin, "restock"),
    e(
        "POST",
        "inventory/stores/{store}/stock/{sku}/adjust",
        Admin,
        "adjustStock",
    ),
    e(
        "GET",
        "inventory/stores/{store}/stock/{sku}/ledger",
        Admin,
        "getStockLedger",
    ),
    e(
        "POST",
        "inventory/stores/{store}/stock/{sku}/watch",
        Signed,
        "watchStock",
    ),
    e("GET", "inventory/stores/{store}/low-stock", Admin, "listLowStock"),
    e("GET", "inventory/stores/{store}/reconcile", Admin, "reconcileStore"),
    e("POST", "inventory/reservations", Admin, "reserveStock"),
    e("GET", "inventory/reservations/{order_id}", Admin, "getReservation"),
    e(
        "POST",
        "inventory/reservations/{order_id}/confirm",
        Admin,
        "confirmReservation",
    ),
    e(
        "POST",
        "inventory/reservations/{order_id}/release",
        Admin,
        "releaseReservation",
    ),
    e(
        "POST",
        "inventory/reservations/{order_id}/lines/{sku}/return",
        Admin,
        "returnReservedLine",
    ),
    e(
        "POST",
        "inventory/reservations/{order_id}/picked",
        Admin,
        "recordPickedStock",
    ),
    // order (8084)
    e("GET", "orders", Signed, "listOrders"),
    e("POST", "orders", Signed, "placeOrder"),
    e("GET", "orders/{id}", Signed, "getOrder"),
    e("POST", "orders/{id}/cancel", Signed, "cancelOrder"),
    e("DELETE", "orders/{id}/lines/{sku}", Signed, "removeOrderLine"),
    e("POST", "orders/{id}/reorder", Signed, "reorder"),
    e("POST", "orders/{id}/status", Staff, "moveOrder"),
    // cart (8085)
    e("GET", "cart", Signed, "getCart"),
    e("DELETE", "cart", Signed, "clearCart"),
    e("POST", "cart/items", Signed, "addCartItem"),
    e("PATCH", "cart/items/{sku}", Signed, "updateCartItem"),
    e("DELETE", "cart/items/{sku}", Signed, "removeCartItem"),
    e("POST", "cart/lines", Signed, "addCartLines"),
    e("GET", "cart/checkout", Signed, "getCheckoutQuote"),
    e("POST", "cart/share", Signed, "shareCart"),
    e("DELETE", "cart/share", Signed, "stopSharingCart"),
    e("GET", "cart/shared/{token}", Public, "getSharedCart"),
    e("POST", "cart/shared/{token}/copy", Signed, "copySharedCart"),
    e("POST", "cart/shared/{token}/items", Signed, "addSharedCartItem"),
    e(
        "PATCH",
        "cart/shared/{token}/items/{sku}",
        Signed,
        "updateSharedCartItem",
    ),
    e(
        "DELETE",
        "cart/shared/{token}/items/{sku}",
        Signed,
        "removeSharedCartItem",
    ),
    // payment (8086)
    e("GET", "payments", Signed, "listPayments"),
    e("GET", "payments/methods", Signed, "listPaymentMethods"),
    e("POST", "payments/methods", Signed, "savePaymentMethod"),
    e("POST", "payments/methods/resolve", Signed, "resolvePaymentMethod"),
    e("GET", "payments/methods/{id}", Signed, "getPaymentMethod"),
    e("DELETE", "payments/methods/{id}", Signed, "deletePaymentMethod"),
    e("POST", "payments/charges", Admin, "createCharge"),
    e("GET", "payments/orders/{order_id}", Signed, "getOrderPayment"),
    e("GET", "payments/orders/{order_id}/refunds", Signed, "listRefunds"),
    e("POST", "payments/orders/{order_id}/refunds", Admin, "refundOrder"),
    e("POST", "payments/orders/{order_id}/cancel", Admin, "cancelPayment"),
    e(
        "POST",
        "payments/orders/{order_id}/settle-cod",
        Admin,
        "settleCashOnDelivery",
    ),
    // delivery (8087)
    e("GET", "deliveries/partners", Admin, "listPartners"),
    e("GET", "deliveries/partners/me", Partner, "getMyPartnerProfile"),
    e("PUT", "deliveries/partners/me", Partner, "setMyPartnerProfile"),
    e("POST", "deliveries/partners/me/shift", Partner, "setMyShift"),
    e("POST", "deliveries/partners/me/location", Partner, "reportMyLocation"),
    e("GET", "deliveries/partners/me/track", Partner, "getMyRoute"),
    e("GET", "deliveries/partners/me/deliveries", Partner, "listMyDeliveries"),
    e("GET", "deliveries/performance", Admin, "getDeliveryPerformance"),
    e("GET", "deliveries/slots", Signed, "listSlots"),
    e("POST", "deliveries/slots/bookings", Admin, "bookSlot"),
    e(
        "POST",
        "deliveries/slots/bookings/{order_id}/release",
        Admin,
        "releaseSlot",
    ),
    e("PUT", "deliveries/stores/{store}/slots", Admin, "setStoreSlots"),
    e("PUT", "deliveries/stores/{store}/bins", Admin, "setStoreBins"),
    e("GET", "deliveries/stores/{store}/load", Signed, "getStoreLoad"),
    e("GET", "deliveries/pickers/me", Signed, "getMyPickerProfile"),
    e("POST", "deliveries/pickers/me/shift", Signed, "setMyPickingShift"),
    e("GET", "deliveries/pickers/me/picks", Signed, "listMyPicks"),
    e("PUT", "deliveries/pickers/{user_id}", Admin, "setPicker"),
    e("GET", "deliveries/picks/{order_id}", Signed, "getPickList"),
    e(
        "POST",
        "deliveries/picks/{order_id}/lines/{sku}",
        Signed,
        "recordPickedLine",
    ),
    e("POST", "deliveries/picks/{order_id}/pack", Signed, "packOrder"),
    e("GET", "deliveries/{order_id}", Signed, "trackDelivery"),
    e("GET", "deliveries/{order_id}/stream", Signed, "streamDelivery"),
    e("POST", "deliveries/{order_id}/{action}", Partner, "advanceDelivery"),
    // notification (8088)
    e("GET", "notifications", Signed, "listNotifications"),
    e("GET", "notifications/preferences", Signed, "getNotificationPreferences"),
    e("PUT", "notifications/preferences", Signed, "setNotificationPreferences"),
    e("POST", "notifications/devices", Signed, "registerDevice"),
    e("DELETE", "notifications/devices/{id}", Signed, "removeDevice"),
    e("GET", "notifications/failed", Admin, "listFailedNotifications"),
    e("POST", "notifications/{id}/retry", Admin, "retryNotification"),
    // location (8089)
    e("GET", "locations/serviceability", Public, "checkServiceability"),
    e("GET", "locations/geocode", Public, "geocode"),
    e("GET", "locations/reverse", Public, "reverseGeocode"),
    e("GET", "locations/distance", Public, "getDistance"),
    e("POST", "locations/validate-address", Signed, "validateAddress"),
    e("GET", "locations/stores", Admin, "listStoreLocations"),
    e("GET", "locations/zones", Admin, "listZones"),
    e("POST", "locations/zones", Admin, "createZone"),
    e("GET", "locations/zones/{id}", Admin, "getZone"),
    e("PATCH", "locations/zones/{id}", Admin, "updateZone"),
    e("DELETE", "locations/zones/{id}", Admin, "deleteZone"),
    // analytics (8090)
    e("GET", "analytics/summary", Admin, "getAnalyticsSummary"),
    e("GET", "analytics/stores", Admin, "getStoreAnalytics"),
    e("GET", "analytics/stock-alerts", Admin, "getStockAlerts"),
    e("GET", "analytics/events", Admin, "listEvents"),
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
    fn every_endpoint_has_its_own_camel_case_operation_name() {
        let mut seen = std::collections::HashSet::new();
        for e in ROUTES {
            assert!(seen.insert(e.name), "{} is the name of two endpoints", e.name);
            let mut chars = e.name.chars();
            assert!(
                chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric()),
                "{} {}: {:?} is not camelCase",
                e.method,
                e.path,
                e.name
            );
        }
        let name = |m: &str, p: &str| ROUTES.iter().find(|e| e.method == m && e.path == p).map(|e| e.name);
        assert_eq!(name("POST", "orders"), Some("placeOrder"));
        assert_eq!(name("POST", "cart/items"), Some("addCartItem"));
        assert_eq!(name("GET", "deliveries/{order_id}"), Some("trackDelivery"));
    }

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
