//! `nakku serve`: run services until SIGINT/SIGTERM.

use std::net::IpAddr;

use clap::Args;
use nakku_core::config::Settings;
use nakku_core::service::Service;
use nakku_server::Application;

#[derive(Debug, Args)]
pub struct Opts {
    /// Run only this service (repeatable); default: every implemented service
    #[arg(long = "service", value_name = "SERVICE")]
    services: Vec<Service>,
    /// Run the gateway (same as --service gateway)
    #[arg(long)]
    gateway: bool,
    /// Where a service runs, for the gateway and service-to-service calls: SERVICE=URL[,URL...]
    /// (repeatable; several URLs are balanced by the gateway) [env: NAKKU_<SVC>_URL]
    #[arg(long = "upstream", value_name = "SERVICE=URLS", value_parser = parse_upstream)]
    upstreams: Vec<(Service, String)>,
    /// Listen address for every service [env: NAKKU_HOST]
    #[arg(long)]
    host: Option<IpAddr>,
    /// Gateway port (with a single --service, that service's port) [env: NAKKU_GATEWAY_PORT]
    #[arg(long)]
    port: Option<u16>,
}

impl Opts {
    /// How this process is named in traces: `nakku-order-gateway` for the services it
    /// runs, `nakku` when it runs them all.
    pub fn process_name(&self) -> String {
        let mut names: Vec<&str> = self.services.iter().map(|s| s.name()).collect();
        if self.gateway && !self.services.contains(&Service::Gateway) {
            names.push(Service::Gateway.name());
        }
        if names.is_empty() {
            "nakku".to_owned()
        } else {
            format!("nakku-{}", names.join("-"))
        }
    }
}

/// `order=http://10.0.0.5:8084,http://10.0.0.6:8084`.
fn parse_upstream(raw: &str) -> Result<(Service, String), String> {
    let (svc, urls) = raw
        .split_once('=')
        .ok_or_else(|| "expected SERVICE=URL[,URL...], e.g. order=http://10.0.0.5:8084".to_owned())?;
    let svc: Service = svc.trim().parse().map_err(|e: String| e)?;
    if svc == Service::Gateway {
        return Err("the gateway is not an upstream".to_owned());
    }
    let mut out = Vec::new();
    for u in urls.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        let u = u.trim_end_matches('/');
        if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() < 10 {
            return Err(format!("{u:?} is not an http:// or https:// base URL"));
        }
        out.push(u.to_owned());
    }
    if out.is_empty() {
        return Err(format!("no URL given for {svc}"));
    }
    Ok((svc, out.join(",")))
}

impl Opts {
    fn apply(&mut self, settings: &mut Settings) {
        if self.gateway && !self.services.contains(&Service::Gateway) {
            self.services.push(Service::Gateway);
        }
        for (svc, urls) in &self.upstreams {
            settings.upstream_urls.insert(*svc, urls.clone());
        }
        if let Some(h) = self.host {
            settings.host = h;
        }
        if let Some(p) = self.port {
            let svc = match self.services.as_slice() {
                [one] => *one,
                _ => Service::Gateway,
            };
            settings.ports.insert(svc, p);
        }
    }
}

pub async fn run(settings: Settings, opts: Opts) -> anyhow::Result<()> {
    run_then(settings, opts, || {}).await
}

/// Serves, with `then` printing more after the addresses.
pub async fn run_then(mut settings: Settings, mut opts: Opts, then: impl FnOnce()) -> anyhow::Result<()> {
    opts.apply(&mut settings);
    let app = Application::build(&settings, &opts.services).await?;
    print_addresses(&settings, &app);
    then();
    app.run_until_stopped(nakku_server::shutdown_on_signals()).await
}

pub fn print_addresses(settings: &Settings, app: &Application) {
    let mode = if settings.is_embedded() {
        format!("embedded: SQLite in {}", settings.data_dir.display())
    } else {
        "MySQL".to_owned()
    };
    println!("Nakku is running ({mode})");
    for svc in app.addrs().keys() {
        if let Some(url) = app.url(*svc) {
            println!("  {:<9} {url}", svc.name());
        }
    }
    if let Some(gw) = app.url(Service::Gateway) {
        println!("API: {gw}/api/v1   health: {gw}/health");
    }
    println!("Press Ctrl-C to stop.");
}
