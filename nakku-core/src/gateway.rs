//! The gateway's route table: which service owns a public path, and which paths may be
//! called without a token. Plain data, no HTTP types.

use crate::service::Service;

/// Where a request goes and whether it needs a bearer token at the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub service: Service,
    pub public: bool,
}

/// Path prefixes under `/api/v1` and their owning service, longest first where they nest.
const PREFIXES: [(&str, Service); 11] = [
    ("auth", Service::User),
    ("users", Service::User),
    ("products", Service::Product),
    ("categories", Service::Product),
    ("inventory", Service::Inventory),
    ("orders", Service::Order),
    ("cart", Service::Cart),
    ("payments", Service::Payment),
    ("deliveries", Service::Delivery),
    ("notifications", Service::Notification),
    ("locations", Service::Location),
];

/// Resolves `/api/v1/<prefix>/...`. Token-free: the auth endpoints (a client has no token
/// yet, or only a refresh token), and reading the catalogue and serviceability (a shopper
/// browses before signing in).
pub fn route(method: &str, path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/api/v1/")?;
    let first = rest.split('/').next().unwrap_or_default();
    let service = PREFIXES
        .iter()
        .find(|(p, _)| *p == first)
        .map(|(_, s)| *s)
        .or((first == "analytics").then_some(Service::Analytics))?;
    let read = method == "GET" || method == "HEAD";
    let stock_read = first == "inventory" && read && rest.starts_with("inventory/stores/") && rest.contains("/stock");
    // A shared cart's read-only view opens from a link, signed in or not.
    let shared_cart = first == "cart" && read && rest.starts_with("cart/shared/") && rest.split('/').count() == 3;
    let public = first == "auth"
        || (read && matches!(first, "products" | "categories" | "locations"))
        || stock_read
        || shared_cart;
    Some(Route { service, public })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_their_service_and_only_auth_and_browsing_are_public() {
        assert_eq!(
            route("POST", "/api/v1/auth/login"),
            Some(Route {
                service: Service::User,
                public: true
            })
        );
        assert_eq!(
            route("GET", "/api/v1/users/me"),
            Some(Route {
                service: Service::User,
                public: false
            })
        );
        assert_eq!(
            route("GET", "/api/v1/products/1"),
            Some(Route {
                service: Service::Product,
                public: true
            })
        );
        assert_eq!(
            route("POST", "/api/v1/products"),
            Some(Route {
                service: Service::Product,
                public: false
            })
        );
        assert_eq!(
            route("GET", "/api/v1/analytics/summary").map(|r| r.service),
            Some(Service::Analytics)
        );
        assert!(route("GET", "/api/v1/inventory/stores/BLR-1/stock").unwrap().public);
        assert!(
            !route("POST", "/api/v1/inventory/stores/BLR-1/stock/MILK/restock")
                .unwrap()
                .public
        );
        assert!(!route("GET", "/api/v1/inventory/stores/BLR-1/low-stock").unwrap().public);
        assert!(route("GET", "/api/v1/cart/shared/abc").unwrap().public);
        assert!(!route("POST", "/api/v1/cart/shared/abc/copy").unwrap().public);
        assert!(!route("GET", "/api/v1/cart").unwrap().public);
        assert_eq!(route("GET", "/api/v1/usersx"), None);
        assert_eq!(route("GET", "/api/v2/users"), None);
    }
}
