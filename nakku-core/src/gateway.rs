//! The gateway's route table: every public endpoint, the service that owns it, and who may
//! call it; plain data, no HTTP types. The endpoints themselves are declared once, beside
//! their handlers, in `nakku-server` (its `api` module gathers them into a [`Table`]); this
//! module is what the gateway does with them: find the endpoint of a request (a static path
//! segment wins over a parameter, a wrong method is named with the right ones) and tell
//! whether a caller may use it. The gateway refuses a caller the table does not allow
//! before anything reaches a service (services check again: they are reachable directly
//! too).

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

/// One endpoint: its owning service, method, path under `/api/v1` (`{name}` is one path
/// segment), who may call it, and its OpenAPI `operationId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub service: Service,
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    /// The OpenAPI `operationId`: a verb and a noun in camelCase (`placeOrder`), what a
    /// client generator names the call.
    pub name: &'static str,
    /// Set when the operation is on its way out of `/api/v1`.
    pub sunset: Option<Sunset>,
}

/// A deprecated operation (see the README's "Versioning"): since when, until when it still
/// works, and the operation that replaces it. Answers through the gateway carry
/// `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and a `Link` to the successor; the
/// OpenAPI document marks the operation `deprecated` with `x-sunset`, and the contract
/// check lets it be removed once that day has passed, not before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sunset {
    /// `YYYY-MM-DD` (UTC): when it was deprecated.
    pub deprecated: &'static str,
    /// `YYYY-MM-DD` (UTC): the first day it may be gone.
    pub sunset: &'static str,
    /// The `operationId` to use instead.
    pub successor: &'static str,
}

impl Sunset {
    fn midnight(day: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let d = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
        Some(d.and_hms_opt(0, 0, 0)?.and_utc())
    }

    /// `Deprecation: @<seconds since the epoch>` (RFC 9745's structured date).
    pub fn deprecation_header(&self) -> Option<String> {
        Some(format!("@{}", Self::midnight(self.deprecated)?.timestamp()))
    }

    /// `Sunset: <HTTP-date>` (RFC 8594).
    pub fn sunset_header(&self) -> Option<String> {
        Some(
            Self::midnight(self.sunset)?
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string(),
        )
    }

    /// Whether the sunset day has come (at `now_ms`): the operation may then be removed.
    pub fn passed(&self, now_ms: i64) -> bool {
        Self::day_has_come(self.sunset, now_ms)
    }

    /// Whether `day` (`YYYY-MM-DD`, UTC) has begun at `now_ms`; never for a malformed day.
    pub fn day_has_come(day: &str, now_ms: i64) -> bool {
        Self::midnight(day).is_some_and(|t| t.timestamp_millis() <= now_ms)
    }

    /// Both days are dates, and the sunset comes after the deprecation.
    pub fn is_valid(&self) -> bool {
        matches!((Self::midnight(self.deprecated), Self::midnight(self.sunset)), (Some(a), Some(b)) if a < b)
    }
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

/// The endpoints, and a trie of their paths (matchit, the router axum uses: a lookup
/// walks the path once, whatever the number of endpoints; a static segment wins over a
/// parameter, backtracking to the parameter when the static branch leads nowhere).
#[derive(Debug, Clone, Default)]
pub struct Table {
    entries: Vec<Endpoint>,
    /// `/path` → the indices in `entries` of its endpoints, one per method.
    paths: matchit::Router<Vec<usize>>,
}

impl Table {
    /// The table of `endpoints`.
    ///
    /// # Panics
    ///
    /// When two declared paths cannot both be told apart (`a/{x}` and `a/{x}/{y}` can;
    /// `a/{*rest}` is not a path of this API): a defect of the declarations in the code,
    /// found by every test that builds the API's table, never by a request.
    pub fn new(endpoints: impl IntoIterator<Item = Endpoint>) -> Table {
        let entries: Vec<Endpoint> = endpoints.into_iter().collect();
        let mut by_path: Vec<(&'static str, Vec<usize>)> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            match by_path.iter_mut().find(|(p, _)| *p == e.path) {
                Some((_, ids)) => ids.push(i),
                None => by_path.push((e.path, vec![i])),
            }
        }
        let mut paths = matchit::Router::new();
        for (path, ids) in by_path {
            if let Err(e) = paths.insert(format!("/{path}"), ids) {
                panic!("the route table cannot hold {path}: {e}");
            }
        }
        Table { entries, paths }
    }

    /// Every endpoint, in declaration order.
    pub fn endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Resolves `METHOD /api/v1/...` to its endpoint; a static segment wins over a
    /// parameter (`deliveries/slots` before `deliveries/{order_id}`), a parameter never
    /// matches an empty segment, one trailing `/` is ignored. `HEAD` is served as `GET`.
    pub fn resolve(&self, method: &str, path: &str) -> Result<Route, Miss> {
        let rest = path
            .strip_prefix("/api/v1")
            .filter(|r| r.starts_with('/'))
            .ok_or(Miss::NotFound)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let found = self.paths.at(rest).map_err(|_| Miss::NotFound)?;
        if found.params.iter().any(|(_, v)| v.is_empty()) {
            return Err(Miss::NotFound);
        }
        let method = if method == "HEAD" { "GET" } else { method };
        let here = found.value.iter().filter_map(|i| self.entries.get(*i));
        match here.clone().find(|ep| ep.method == method) {
            Some(ep) => Ok(Route {
                service: ep.service,
                endpoint: *ep,
            }),
            None => Err(Miss::Method(here.map(|ep| ep.method).collect())),
        }
    }

    /// Resolves `/api/v1/...`; `None` when it is not an endpoint of the public API.
    pub fn route(&self, method: &str, path: &str) -> Option<Route> {
        self.resolve(method, path).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Access::{Admin, DeliveryPartner as Partner, Public, Signed};

    fn e(service: Service, method: &'static str, path: &'static str, access: Access) -> Endpoint {
        Endpoint {
            service,
            method,
            path,
            access,
            name: "x",
            sunset: None,
        }
    }

    #[test]
    fn a_sunset_is_said_in_the_rfcs_formats_and_passes_at_its_day() {
        let s = Sunset {
            deprecated: "2026-12-07",
            sunset: "2027-06-30",
            successor: "placeOrder",
        };
        assert!(s.is_valid());
        assert_eq!(s.deprecation_header().as_deref(), Some("@1796601600"));
        assert_eq!(s.sunset_header().as_deref(), Some("Wed, 30 Jun 2027 00:00:00 GMT"));
        let sunset_ms = 1_814_313_600_000; // 2027-06-30T00:00:00Z
        assert!(!s.passed(sunset_ms - 1));
        assert!(s.passed(sunset_ms));
        let backwards = Sunset {
            sunset: "2026-01-01",
            ..s
        };
        assert!(!backwards.is_valid());
        let garbled = Sunset {
            sunset: "30/06/2027",
            ..s
        };
        assert!(!garbled.is_valid() && garbled.sunset_header().is_none());
    }

    /// A few endpoints of the real API, in an order that puts parameters first.
    fn table() -> Table {
        Table::new([
            e(Service::User, "GET", "users/me", Signed),
            e(Service::User, "PATCH", "users/me", Signed),
            e(Service::User, "DELETE", "users/me", Signed),
            e(Service::Delivery, "GET", "deliveries/{order_id}", Signed),
            e(Service::Delivery, "POST", "deliveries/{order_id}/{action}", Partner),
            e(Service::Delivery, "GET", "deliveries/slots", Signed),
            e(Service::Delivery, "GET", "deliveries/partners/me", Partner),
            e(Service::Product, "GET", "products/{id}", Public),
            e(Service::Product, "GET", "products/popular", Public),
            e(Service::Product, "GET", "products", Public),
            e(Service::Product, "POST", "products", Admin),
        ])
    }

    #[test]
    fn a_static_segment_wins_over_a_parameter_and_wrong_methods_are_named() {
        let t = table();
        let a = |m: &str, p: &str| t.route(m, p).map(|r| (r.service, r.endpoint.access));
        assert_eq!(a("GET", "/api/v1/deliveries/slots"), Some((Service::Delivery, Signed)));
        assert_eq!(
            a("GET", "/api/v1/deliveries/partners/me"),
            Some((Service::Delivery, Partner))
        );
        assert_eq!(a("POST", "/api/v1/deliveries/partners/me"), None);
        assert_eq!(
            a("POST", "/api/v1/deliveries/ord-1/pickup"),
            Some((Service::Delivery, Partner))
        );
        // The static branch (`partners/me`) leads nowhere: back to the parameters.
        assert_eq!(
            a("POST", "/api/v1/deliveries/partners/pickup"),
            Some((Service::Delivery, Partner))
        );
        assert_eq!(a("GET", "/api/v1/deliveries/ord-1"), Some((Service::Delivery, Signed)));
        assert_eq!(a("GET", "/api/v1/products/popular"), Some((Service::Product, Public)));
        assert_eq!(a("GET", "/api/v1/products/p-1"), Some((Service::Product, Public)));
        assert_eq!(a("POST", "/api/v1/products/"), Some((Service::Product, Admin)));
        assert_eq!(
            t.resolve("PUT", "/api/v1/users/me"),
            Err(Miss::Method(vec!["GET", "PATCH", "DELETE"]))
        );
        assert_eq!(a("HEAD", "/api/v1/products"), Some((Service::Product, Public)));
    }

    #[test]
    fn paths_outside_the_table_are_not_found() {
        let t = table();
        assert_eq!(t.resolve("GET", "/api/v1/usersx"), Err(Miss::NotFound));
        assert_eq!(t.resolve("GET", "/api/v2/users/me"), Err(Miss::NotFound));
        assert_eq!(t.resolve("GET", "/api/v1users/me"), Err(Miss::NotFound));
        assert_eq!(t.resolve("GET", "/api/v1"), Err(Miss::NotFound));
        assert_eq!(t.resolve("GET", "/api/v1/deliveries//pickup"), Err(Miss::NotFound));
        assert_eq!(t.resolve("GET", "/api/v1/users/me/nothing/here"), Err(Miss::NotFound));
        assert_eq!(t.resolve("GET", "/api/v1/products//"), Err(Miss::NotFound));
        let deep = format!("/api/v1/{}", ["a"; 20].join("/"));
        assert_eq!(t.resolve("GET", &deep), Err(Miss::NotFound));
        assert!(Table::default().is_empty() && table().len() == 11);
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
