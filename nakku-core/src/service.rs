//! The eleven services, their default ports and database names.

use std::fmt;
use std::str::FromStr;

/// One of Nakku's services. The gateway has no database of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    Gateway,
    User,
    Product,
    Inventory,
    Order,
    Cart,
    Payment,
    Delivery,
    Notification,
    Location,
    Analytics,
}

/// Every service but the gateway (`Service::ALL` begins with it): what the gateway routes to.
const BEHIND_GATEWAY: &[Service] = match Service::ALL.split_first() {
    Some((_, rest)) => rest,
    None => &[],
};

impl Service {
    /// Every service, in port order.
    pub const ALL: [Service; 11] = [
        Service::Gateway,
        Service::User,
        Service::Product,
        Service::Inventory,
        Service::Order,
        Service::Cart,
        Service::Payment,
        Service::Delivery,
        Service::Notification,
        Service::Location,
        Service::Analytics,
    ];

    /// Services whose code exists in this build (every one, now). `nakku serve` runs
    /// these; a gateway answers 503 for a service that runs in no process it knows.
    pub const IMPLEMENTED: [Service; 11] = [
        Service::Gateway,
        Service::User,
        Service::Product,
        Service::Inventory,
        Service::Order,
        Service::Cart,
        Service::Payment,
        Service::Location,
        Service::Analytics,
        Service::Notification,
        Service::Delivery,
    ];

    /// Lower-case name used in URLs, config keys and database names.
    pub fn name(self) -> &'static str {
        match self {
            Service::Gateway => "gateway",
            Service::User => "user",
            Service::Product => "product",
            Service::Inventory => "inventory",
            Service::Order => "order",
            Service::Cart => "cart",
            Service::Payment => "payment",
            Service::Delivery => "delivery",
            Service::Notification => "notification",
            Service::Location => "location",
            Service::Analytics => "analytics",
        }
    }

    /// The services this one calls over HTTP when they run in other processes (it needs
    /// their `NAKKU_<SVC>_URL`): the gateway routes to every other; the user service checks
    /// addresses with location; the cart prices with user and location; the order saga
    /// reserves, charges, reads carts and books slots. The Kubernetes manifests and the
    /// README's production example follow this list (a test checks the manifests).
    pub fn calls(self) -> &'static [Service] {
        match self {
            Service::Gateway => BEHIND_GATEWAY,
            Service::User => &[Service::Location],
            Service::Cart => &[Service::User, Service::Location],
            Service::Order => &[Service::Inventory, Service::Payment, Service::Cart, Service::Delivery],
            Service::Product
            | Service::Inventory
            | Service::Payment
            | Service::Delivery
            | Service::Notification
            | Service::Location
            | Service::Analytics => &[],
        }
    }

    /// The port a service listens on unless configured otherwise (8080 to 8090).
    pub fn default_port(self) -> u16 {
        let index = Service::ALL.iter().position(|s| *s == self).unwrap_or(0);
        8080 + index as u16
    }

    /// `nakku_<svc>`, or `None` for the gateway, which keeps no data.
    pub fn database_name(self) -> Option<String> {
        match self {
            Service::Gateway => None,
            other => Some(format!("nakku_{}", other.name())),
        }
    }

    pub fn is_implemented(self) -> bool {
        Service::IMPLEMENTED.contains(&self)
    }

    /// Upper-case name used in `NAKKU_<SVC>_...` environment variables.
    pub fn env_name(self) -> String {
        self.name().to_ascii_uppercase()
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Service {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Service::ALL
            .into_iter()
            .find(|svc| svc.name() == wanted)
            .ok_or_else(|| {
                let names: Vec<&str> = Service::ALL.iter().map(|s| s.name()).collect();
                format!("unknown service '{s}'; expected one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_run_from_8080_to_8090_in_the_documented_order() {
        assert_eq!(Service::Gateway.default_port(), 8080);
        assert_eq!(Service::User.default_port(), 8081);
        assert_eq!(Service::Location.default_port(), 8089);
        assert_eq!(Service::Analytics.default_port(), 8090);
    }

    #[test]
    fn service_names_parse_back_case_insensitively() {
        for svc in Service::ALL {
            assert_eq!(svc.name().to_uppercase().parse::<Service>(), Ok(svc));
        }
        assert!("billing".parse::<Service>().is_err());
    }
}
