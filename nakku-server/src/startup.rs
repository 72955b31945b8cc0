//! Building and running services: `Application::build` connects databases, checks
//! migrations and binds every listener (port 0 works, for tests); `run_until_stopped`
//! serves until the shutdown token fires, then lets in-flight requests finish.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::serve::ListenerExt;
use axum::Router;
use nakku_core::auth::{self, JwtKeys};
use nakku_core::config::{Secret, Settings};
use nakku_core::db::{migrate, Db};
use nakku_core::events::bus::EventBus;
use nakku_core::events::consumer::{Consumer, ConsumerConfig};
use nakku_core::events::relay::{Relay, RelayConfig};
use nakku_core::service::Service;
use nakku_core::user::{UserService, UserServiceConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::health::{Check, Ready};
use crate::middleware::{stack, Limits};

mod setup;

use setup::relay_config;
pub use setup::{build_catalogue, consumer_config, open_database, resolve_jwt_secret};

/// Services bound to their listeners, ready to serve.
pub struct Application {
    servers: Vec<(Service, TcpListener, Router)>,
    /// The gateway's certificate when it serves HTTPS (`NAKKU_TLS_CERT_FILE`).
    edge_tls: Option<(Arc<crate::tls::ReloadingCert>, Duration)>,
    addrs: BTreeMap<Service, SocketAddr>,
    dbs: BTreeMap<Service, Db>,
    grace: Duration,
    bus: Option<Arc<dyn EventBus>>,
    relays: Vec<(Service, Relay)>,
    /// Each consumer with the flag it sets once subscribed (for `/readyz`).
    consumers: Vec<(Service, Consumer, Arc<std::sync::atomic::AtomicBool>)>,
    /// Cancelled when shutdown starts: `/readyz` fails from then on.
    draining: CancellationToken,
    /// How long requests are still accepted after `/readyz` started failing.
    shutdown_delay: Duration,
    /// Inventory services whose expired reservations are released in the background.
    sweepers: Vec<Arc<nakku_core::inventory::InventoryService>>,
    /// Catalogue instances whose search index follows changes made elsewhere.
    catalogues: Vec<Arc<nakku_core::product::ProductService>>,
    /// Order services whose recovery sweep drives due sagas.
    sagas: Vec<Arc<nakku_core::order::OrderService>>,
    /// Notification services whose dispatcher sends due messages.
    dispatchers: Vec<Arc<nakku_core::notification::NotificationService>>,
    /// Delivery services whose assigner matches deliveries with partners.
    couriers: Vec<Arc<nakku_core::delivery::DeliveryService>>,
}

impl Application {
    /// Builds the given services (all implemented ones when `services` is empty) on the
    /// configured event bus.
    pub async fn build(settings: &Settings, services: &[Service]) -> anyhow::Result<Application> {
        Self::build_with_bus(settings, services, None).await
    }

    /// Like [`Application::build`], with a bus of the caller's (embedding, tests).
    pub async fn build_with_bus(
        settings: &Settings,
        services: &[Service],
        bus: Option<Arc<dyn EventBus>>,
    ) -> anyhow::Result<Application> {
        let wanted: Vec<Service> = if services.is_empty() {
            Service::IMPLEMENTED.to_vec()
        } else {
            services.to_vec()
        };
        for s in &wanted {
            if !s.is_implemented() {
                bail!("the {s} service is not implemented in this build yet (implemented: gateway, user, product, inventory, order, cart, payment, location, analytics, notification, delivery)");
            }
        }
        let jwt = JwtKeys::new(&resolve_jwt_secret(settings)?, settings.access_token_ttl_secs)
            .with_previous(settings.jwt_previous_secret.as_ref());
        let roots = nakku_core::tls::ExtraRoots::from_settings(settings)?;
        let limits = Limits {
            timeout: Duration::from_secs(settings.request_timeout_secs),
            body_limit: settings.body_limit_bytes,
        };
        crate::metrics::handle();

        let mut app = Application {
            servers: Vec::new(),
            edge_tls: None,
            addrs: BTreeMap::new(),
            dbs: BTreeMap::new(),
            grace: Duration::from_secs(settings.shutdown_grace_secs),
            bus: None,
            relays: Vec::new(),
            consumers: Vec::new(),
            draining: CancellationToken::new(),
            shutdown_delay: Duration::from_secs(settings.shutdown_delay_secs),
            sweepers: Vec::new(),
            catalogues: Vec::new(),
            sagas: Vec::new(),
            dispatchers: Vec::new(),
            couriers: Vec::new(),
        };
        let with_data = wanted.iter().any(|s| *s != Service::Gateway);
        if with_data {
            app.bus = match bus {
                Some(b) => Some(b),
                None => Some(nakku_core::events::connect_bus(settings).await?),
            };
        }
        // Services before the ones that call them: location (the user service checks
        // addresses with it), then users, stock, payments, carts, delivery, and orders last.
        let mut order: Vec<Service> = wanted.iter().copied().filter(|s| *s != Service::Gateway).collect();
        order.sort_by_key(|s| match s {
            Service::Location => 0,
            Service::User => 1,
            Service::Inventory => 2,
            Service::Payment => 3,
            Service::Cart => 4,
            Service::Delivery => 5,
            Service::Order => 6,
            _ => 7,
        });
        let mut location: Option<Arc<nakku_core::location::LocationService>> = None;
        let mut users: Option<Arc<UserService>> = None;
        let mut stock: Option<Arc<nakku_core::inventory::InventoryService>> = None;
        let mut payments: Option<Arc<nakku_core::payment::PaymentService>> = None;
        let mut carts: Option<Arc<nakku_core::cart::CartService>> = None;
        let mut couriers: Option<Arc<nakku_core::delivery::DeliveryService>> = None;
        let peer = |target: Service, caller: &'static str| -> anyhow::Result<crate::clients::HttpPeer> {
            let url = settings.upstream_first(target).with_context(|| {
                format!(
                    "the {caller} service needs the {target} service: run both in one process or set NAKKU_{}_URL",
                    target.env_name()
                )
            })?;
            Ok(crate::clients::HttpPeer {
                name: target.name(),
                base_url: url.clone(),
                client: roots.http_client(Duration::from_secs(10))?,
                jwt: jwt.clone(),
                caller,
            })
        };
        for svc in order {
            let db = open_database(settings, svc).await?;
            let bus = app.bus.clone().context("event bus")?;
            app.relays.push((
                svc,
                Relay::new(svc.name(), db.clone(), bus.clone(), relay_config(settings)),
            ));
            let mut subscribed = Vec::new();
            let handlers = nakku_core::consumers_of(svc, settings);
            let names: Vec<&'static str> = handlers.iter().map(|h| h.name()).collect();
            crate::metrics::start_at_zero(svc, &names);
            for handler in handlers {
                let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
                subscribed.push((handler.name(), flag.clone()));
                let consumer = Consumer {
                    handler,
                    db: db.clone(),
                    bus: bus.clone(),
                    cfg: consumer_config(settings),
                };
                app.consumers.push((svc, consumer, flag));
            }
            let api = match svc {
                Service::User => {
                    let cfg = UserServiceConfig {
                        bcrypt_cost: settings.bcrypt_cost,
                        refresh_ttl_secs: settings.refresh_token_ttl_secs,
                    };
                    let mut user = UserService::new(db.clone(), jwt.clone(), cfg)?;
                    if let Some(l) = &location {
                        user = user.with_address_checker(l.clone());
                    } else if let Some(url) = settings.upstream_first(Service::Location) {
                        let client = roots.http_client(Duration::from_secs(3))?;
                        user = user.with_address_checker(Arc::new(crate::location::HttpAddressChecker {
                            base_url: url.clone(),
                            client,
                            jwt: jwt.clone(),
                        }));
                    } else {
                        tracing::warn!("no location service in this process and NAKKU_LOCATION_URL unset: addresses are saved unchecked");
                    }
                    let user = Arc::new(user);
                    users = Some(user.clone());
                    crate::user::router(user)
                }
                Service::Inventory => {
                    let cfg = nakku_core::inventory::InventoryConfig {
                        reservation_ttl_secs: settings.reservation_ttl_secs,
                        ..Default::default()
                    };
                    let inventory = Arc::new(nakku_core::inventory::InventoryService::new(db.clone(), cfg));
                    app.sweepers.push(inventory.clone());
                    stock = Some(inventory.clone());
                    crate::inventory::router(inventory, jwt.clone())
                }
                Service::Product => {
                    let catalogue = Arc::new(build_catalogue(settings, db.clone()).await?);
                    app.catalogues.push(catalogue.clone());
                    crate::product::router(catalogue, jwt.clone(), settings.import_max_bytes)
                }
                Service::Location => {
                    let cfg = nakku_core::location::LocationConfig {
                        road_factor: settings.eta_road_factor,
                        rider_speed_kmh: settings.rider_speed_kmh,
                        prep_minutes: settings.prep_minutes,
                    };
                    let svc = Arc::new(nakku_core::location::LocationService::new(db.clone(), cfg));
                    location = Some(svc.clone());
                    crate::location::router(svc, jwt.clone())
                }
                Service::Payment => {
                    let provider = Arc::new(nakku_core::payment::Simulator {
                        latency: Duration::from_millis(settings.payment_latency_ms),
                        failure_rate: settings.payment_failure_rate,
                        seed: settings.payment_seed,
                    });
                    let svc = Arc::new(nakku_core::payment::PaymentService::new(db.clone(), provider));
                    payments = Some(svc.clone());
                    crate::payment::router(svc, jwt.clone())
                }
                Service::Cart => {
                    let addresses: Arc<dyn nakku_core::ports::AddressPort> = match &users {
                        Some(u) => u.clone(),
                        None => Arc::new(peer(Service::User, "cart")?),
                    };
                    let places: Arc<dyn nakku_core::ports::PlacePort> = match &location {
                        Some(l) => l.clone(),
                        None => Arc::new(peer(Service::Location, "cart")?),
                    };
                    let svc = Arc::new(
                        nakku_core::cart::CartService::new(db.clone(), settings.pricing.clone())
                            .with_ports(addresses, places),
                    );
                    carts = Some(svc.clone());
                    crate::cart::router(svc, jwt.clone())
                }
                Service::Order => {
                    let stock_port: Arc<dyn nakku_core::ports::StockPort> = match &stock {
                        Some(s) => s.clone(),
                        None => Arc::new(peer(Service::Inventory, "order")?),
                    };
                    let pay_port: Arc<dyn nakku_core::payment::PaymentPort> = match &payments {
                        Some(p) => p.clone(),
                        None => Arc::new(peer(Service::Payment, "order")?),
                    };
                    let cart_port: Arc<dyn nakku_core::ports::CartPort> = match &carts {
                        Some(c) => c.clone(),
                        None => Arc::new(peer(Service::Cart, "order")?),
                    };
                    let cfg = nakku_core::order::OrderConfig {
                        step_timeout: Duration::from_secs(settings.saga_step_timeout_secs),
                        ..Default::default()
                    };
                    let mut svc =
                        nakku_core::order::OrderService::new(db.clone(), cfg, stock_port, pay_port, cart_port);
                    // Scheduled orders need the delivery service (here or at its URL).
                    if let Some(d) = &couriers {
                        svc = svc.with_slots(d.clone());
                    } else if settings.upstream_urls.contains_key(&Service::Delivery) {
                        svc = svc.with_slots(Arc::new(peer(Service::Delivery, "order")?));
                    } else {
                        tracing::info!(
                            "no delivery service in this process and NAKKU_DELIVERY_URL unset: express orders only"
                        );
                    }
                    let svc = Arc::new(svc);
                    app.sagas.push(svc.clone());
                    crate::order::router(svc, jwt.clone())
                }
                Service::Notification => {
                    let email: Arc<dyn nakku_core::notification::provider::Provider> = match &settings.smtp_url {
                        Some(url) => Arc::new(nakku_core::notification::provider::SmtpProvider::new(
                            url.expose(),
                            &settings.mail_from,
                            &roots,
                        )?),
                        None => Arc::new(nakku_core::notification::provider::LogProvider),
                    };
                    let hook = |url: &Option<String>,
                                token: &Option<Secret>|
                     -> anyhow::Result<Arc<dyn nakku_core::notification::provider::Provider>> {
                        Ok(match url {
                            Some(u) => Arc::new(nakku_core::notification::provider::WebhookProvider::new(
                                u,
                                token.clone(),
                                &roots,
                            )?),
                            None => Arc::new(nakku_core::notification::provider::LogProvider),
                        })
                    };
                    let providers = nakku_core::notification::Providers {
                        email,
                        sms: hook(&settings.sms_webhook_url, &settings.sms_webhook_token)?,
                        push: hook(&settings.push_webhook_url, &settings.push_webhook_token)?,
                    };
                    let svc = Arc::new(nakku_core::notification::NotificationService::new(
                        db.clone(),
                        providers,
                        nakku_core::notification::NotificationConfig {
                            max_attempts: settings.notify_max_attempts,
                        },
                    ));
                    app.dispatchers.push(svc.clone());
                    crate::notification::router(svc, jwt.clone())
                }
                Service::Delivery => {
                    let svc = Arc::new(nakku_core::delivery::DeliveryService::new(
                        db.clone(),
                        nakku_core::delivery::DeliveryConfig::from_settings(settings),
                    ));
                    app.couriers.push(svc.clone());
                    couriers = Some(svc.clone());
                    crate::delivery::router(svc, jwt.clone())
                }
                Service::Analytics => {
                    let svc = Arc::new(nakku_core::analytics::AnalyticsService::new(db.clone()));
                    crate::analytics::router(svc, jwt.clone())
                }
                other => bail!("the {other} service is not implemented in this build yet"),
            };
            let mut checks = vec![
                Check::Database(db.clone()),
                Check::Bus(bus.clone()),
                Check::Outbox(db.clone()),
            ];
            let mut ready = vec![
                Ready::Database(db.clone(), svc),
                Ready::Bus(bus, Arc::default()),
                Ready::Consumers(subscribed),
            ];
            if let Some(c) = app.catalogues.last().filter(|_| svc == Service::Product) {
                checks.push(Check::Catalogue(c.clone()));
                ready.push(Ready::Catalogue(c.clone()));
            }
            let probes = crate::health::Probes {
                ready,
                draining: app.draining.clone(),
            };
            let router = api.merge(crate::health::router(svc.name(), checks, probes, None));
            app.bind(settings, svc, stack(router, svc.name(), limits)).await?;
            app.dbs.insert(svc, db);
        }
        if wanted.contains(&Service::Gateway) {
            crate::metrics::start_at_zero(Service::Gateway, &[]);
            // Each service's instances: those in this process, else the configured URLs.
            let mut upstreams: BTreeMap<Service, Vec<String>> = Service::IMPLEMENTED
                .iter()
                .filter(|s| **s != Service::Gateway)
                .map(|s| (*s, settings.upstream_list(*s)))
                .filter(|(_, urls)| !urls.is_empty())
                .collect();
            for (svc, addr) in &app.addrs {
                if *svc != Service::Gateway {
                    upstreams.insert(*svc, vec![format!("http://{addr}")]);
                }
            }
            let client = roots
                .http()?
                .timeout(limits.timeout)
                .pool_idle_timeout(Duration::from_secs(30))
                .build()
                .context("building the gateway's HTTP client")?;
            let breaker = crate::upstream::BreakerConfig {
                failures: settings.breaker_failures,
                open_for: Duration::from_secs(settings.breaker_open_secs),
                ..Default::default()
            };
            let pool = Arc::new(crate::upstream::Pool::new(&upstreams, breaker));
            pool.spawn_health_checks(client.clone(), Duration::from_secs(2));
            let checks = pool
                .services()
                .map(|(svc, _)| Check::Upstream {
                    name: svc.name().to_owned(),
                    svc: *svc,
                    pool: pool.clone(),
                    client: client.clone(),
                })
                .collect();
            let rate = crate::ratelimit::Limits {
                auth: settings.rate_limit_auth_per_minute,
                write: settings.rate_limit_write_per_minute,
                read: settings.rate_limit_read_per_minute,
            };
            let limiter = match &settings.redis_url {
                Some(url) => {
                    crate::ratelimit::Limiter::shared(rate, url.expose(), &roots, &settings.event_topic_prefix)
                        .await
                        .context("rate limits in Redis")?
                }
                None => crate::ratelimit::Limiter::local(rate),
            };
            let limiter = Arc::new(limiter);
            limiter.spawn_upkeep();
            tracing::info!(store = limiter.kind(), ?rate, "gateway rate limits");
            let state = crate::gateway::GatewayState {
                pool,
                jwt: jwt.clone(),
                upstream: crate::gateway::upstream_client(&roots),
                body_limit: limits.body_limit,
                import_body_limit: settings.import_max_bytes.max(limits.body_limit),
                timeout: limits.timeout,
                limiter,
                trusted_hops: settings.trusted_proxy_hops as usize,
                graphql: crate::graphql::schema(settings.graphql_introspection),
            };
            let probes = crate::health::Probes {
                ready: vec![Ready::Routes(state.pool.clone())],
                draining: app.draining.clone(),
            };
            let guard = (!settings.metrics_public).then_some(settings.trusted_proxy_hops as usize);
            let router = crate::health::router("gateway", checks, probes, guard)
                .merge(crate::gateway::router(state))
                .layer(crate::middleware::cors(&settings.cors_origins))
                .layer(tower_http::compression::CompressionLayer::new());
            // Outermost: the route found once is what the span, the metrics and the proxy use.
            let router =
                stack(router, "gateway", limits).layer(axum::middleware::from_fn(crate::gateway::resolve_route));
            app.bind(settings, Service::Gateway, router).await?;
            if let (Some(cert), Some(key)) = (&settings.tls_cert_file, &settings.tls_key_file) {
                let reloading = crate::tls::ReloadingCert::load(cert, key)?;
                app.edge_tls = Some((reloading, Duration::from_secs(settings.tls_reload_secs)));
            }
        }
        Ok(app)
    }

    async fn bind(&mut self, settings: &Settings, svc: Service, router: Router) -> anyhow::Result<()> {
        let addr = SocketAddr::new(settings.host, settings.port(svc));
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!(
                "binding the {svc} service to {addr} (set NAKKU_{}_PORT to use another port)",
                svc.env_name()
            )
        })?;
        let local = listener.local_addr()?;
        self.addrs.insert(svc, local);
        self.servers.push((svc, listener, router));
        Ok(())
    }

    /// Where a service listens (the real port when 0 was configured).
    pub fn addr(&self, svc: Service) -> Option<SocketAddr> {
        self.addrs.get(&svc).copied()
    }

    /// The base URL of a service here: `https://` for a gateway serving TLS.
    pub fn url(&self, svc: Service) -> Option<String> {
        let scheme = if svc == Service::Gateway && self.edge_tls.is_some() {
            "https"
        } else {
            "http"
        };
        self.addr(svc).map(|a| format!("{scheme}://{a}"))
    }

    pub fn addrs(&self) -> &BTreeMap<Service, SocketAddr> {
        &self.addrs
    }

    /// The event bus, when a service with data runs here.
    pub fn bus(&self) -> Option<Arc<dyn EventBus>> {
        self.bus.clone()
    }

    /// The database pool of a service running here.
    pub fn db(&self, svc: Service) -> Option<&Db> {
        self.dbs.get(&svc)
    }

    /// Serves until `shutdown` is cancelled, then stops accepting and waits up to the grace
    /// period for in-flight requests; then stops the consumers after their current message,
    /// flushes the outbox relays, and closes the database pools.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        crate::metrics::spawn_upkeep();
        let workers_stop = CancellationToken::new();
        let mut workers = tokio::task::JoinSet::new();
        // Each worker runs in its service's span (its statements are that service's).
        let mut spawner = Workers(&mut workers);
        for (svc, relay) in self.relays {
            spawner.spawn(svc, relay.run(workers_stop.clone()));
        }
        if !self.dbs.is_empty() {
            let dbs = self.dbs.iter().map(|(s, d)| (*s, d.clone())).collect();
            spawner.0.spawn(crate::metrics::sample_pools(dbs, workers_stop.clone()));
        }
        for inventory in self.sweepers {
            let stop = workers_stop.clone();
            spawner.spawn(Service::Inventory, async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.cancelled() => break,
                    }
                    match inventory.expire_due().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(released = n, "expired reservations released"),
                        Err(e) => tracing::warn!(error = %e, "releasing expired reservations failed"),
                    }
                }
            });
        }
        for orders in self.sagas {
            let stop = workers_stop.clone();
            spawner.spawn(Service::Order, async move {
                let mut tick = tokio::time::interval(nakku_core::order::saga::SWEEP_EVERY);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.cancelled() => break,
                    }
                    match orders.recover_due(200).await {
                        Ok(0) => {}
                        Ok(n) => tracing::debug!(orders = n, "saga recovery sweep drove orders"),
                        Err(e) => tracing::warn!(error = %e, "saga recovery sweep failed"),
                    }
                }
            });
        }
        for deliveries in self.couriers {
            let stop = workers_stop.clone();
            spawner.spawn(Service::Delivery, async move {
                let mut tick = tokio::time::interval(Duration::from_millis(500));
                let mut passes: u64 = 0;
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.cancelled() => break,
                    }
                    if let Err(e) = deliveries.assign_picks().await {
                        tracing::warn!(error = %e, "picker assignment failed");
                    }
                    if let Err(e) = deliveries.assign_due().await {
                        tracing::warn!(error = %e, "delivery assignment failed");
                    }
                    // Store loads once a second.
                    if passes.is_multiple_of(2) {
                        if let Err(e) = deliveries.update_loads().await {
                            tracing::warn!(error = %e, "store load update failed");
                        }
                    }
                    passes += 1;
                    // Slot bookings whose order never arrived: a look a minute.
                    if passes % 120 == 1 {
                        if let Err(e) = deliveries.release_orphans().await {
                            tracing::warn!(error = %e, "releasing orphaned slot bookings failed");
                        }
                    }
                }
            });
        }
        for notifications in self.dispatchers {
            let stop = workers_stop.clone();
            spawner.spawn(Service::Notification, async move {
                loop {
                    // Straight on while there is a backlog; otherwise a look every 200 ms.
                    let pause = match notifications.dispatch_due(100).await {
                        Ok(n) if n > 0 => Duration::ZERO,
                        Ok(_) => Duration::from_millis(200),
                        Err(e) => {
                            tracing::warn!(error = %e, "notification dispatch failed");
                            Duration::from_secs(1)
                        }
                    };
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = stop.cancelled() => break,
                    }
                }
            });
        }
        for catalogue in self.catalogues {
            spawner.spawn(
                Service::Product,
                catalogue.as_ref().clone().run_refresher(workers_stop.clone()),
            );
        }
        for (svc, consumer, subscribed) in self.consumers {
            let stop = workers_stop.clone();
            spawner.spawn(svc, async move {
                let name = consumer.handler.name();
                if let Err(e) = consumer.run_reporting(stop, subscribed).await {
                    tracing::error!(consumer = name, error = %e, "consumer stopped");
                }
            });
        }
        // Shutdown: `/readyz` fails at once; requests are still accepted for
        // `shutdown_delay_secs` (while load balancers take the instance out), then the
        // listeners close and in-flight requests get the grace period.
        let stop_accepting = CancellationToken::new();
        {
            let (shutdown, draining, stop, delay) = (
                shutdown.clone(),
                self.draining.clone(),
                stop_accepting.clone(),
                self.shutdown_delay,
            );
            tokio::spawn(async move {
                shutdown.cancelled().await;
                draining.cancel();
                if !delay.is_zero() {
                    tracing::info!(
                        delay_secs = delay.as_secs(),
                        "shutting down: /readyz fails; still accepting requests meanwhile"
                    );
                    tokio::time::sleep(delay).await;
                }
                stop.cancel();
            });
        }
        let mut set = tokio::task::JoinSet::new();
        for (svc, listener, router) in self.servers {
            let token = stop_accepting.clone();
            let edge = self.edge_tls.as_ref().filter(|_| svc == Service::Gateway);
            tracing::info!(
                service = svc.name(),
                addr = %listener.local_addr()?,
                tls = edge.is_some(),
                "listening"
            );
            match edge {
                Some((cert, every)) => {
                    cert.spawn_reloader(*every, shutdown.clone());
                    // TapIo: axum's way to give ConnectInfo<SocketAddr> for a listener of ours.
                    let tls = crate::tls::TlsListener::new(listener, cert.server_config())?.tap_io(|_| {});
                    set.spawn(async move {
                        let r = axum::serve(tls, router.into_make_service_with_connect_info::<SocketAddr>())
                            .with_graceful_shutdown(token.cancelled_owned())
                            .await;
                        (svc, r)
                    });
                }
                None => {
                    set.spawn(async move {
                        let r = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                            .with_graceful_shutdown(token.cancelled_owned())
                            .await;
                        (svc, r)
                    });
                }
            }
        }
        let stopper = shutdown.clone();
        let drained = async move {
            let mut first_error = None;
            while let Some(joined) = set.join_next().await {
                match joined {
                    Ok((_, Ok(()))) => {}
                    Ok((svc, Err(e))) => {
                        tracing::error!(service = svc.name(), error = %e, "server stopped with an error");
                        first_error.get_or_insert_with(|| anyhow::anyhow!("{svc}: {e}"));
                        stopper.cancel();
                    }
                    Err(e) => {
                        first_error.get_or_insert_with(|| anyhow::anyhow!("server task failed: {e}"));
                        stopper.cancel();
                    }
                }
            }
            first_error
        };
        tokio::pin!(drained);
        let first_error = tokio::select! {
            e = &mut drained => e,
            _ = stop_accepting.cancelled() => {
                tracing::info!(grace_secs = self.grace.as_secs(), "shutting down: finishing in-flight requests");
                match tokio::time::timeout(self.grace, &mut drained).await {
                    Ok(e) => e,
                    Err(_) => {
                        tracing::warn!("grace period over; abandoning requests still running");
                        None
                    }
                }
            }
        };
        workers_stop.cancel();
        if tokio::time::timeout(Duration::from_secs(15), async {
            while workers.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::warn!("consumers and relays did not stop within 15 s");
        }
        for db in self.dbs.values() {
            db.close().await;
        }
        tracing::info!("stopped");
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The background workers' set: each spawned in its service's span.
struct Workers<'a, T>(&'a mut tokio::task::JoinSet<T>);

impl<T: Send + 'static> Workers<'_, T> {
    fn spawn(&mut self, svc: Service, fut: impl std::future::Future<Output = T> + Send + 'static) {
        use tracing::Instrument;
        self.0
            .spawn(fut.instrument(nakku_core::trace::service_span(svc.name())));
    }
}
