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
    /// Listen address for every service [env: NAKKU_HOST]
    #[arg(long)]
    host: Option<IpAddr>,
    /// Gateway port (with a single --service, that service's port) [env: NAKKU_GATEWAY_PORT]
    #[arg(long)]
    port: Option<u16>,
}

impl Opts {
    fn apply(&self, settings: &mut Settings) {
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

pub async fn run(mut settings: Settings, opts: Opts) -> anyhow::Result<()> {
    opts.apply(&mut settings);
    let app = Application::build(&settings, &opts.services).await?;
    print_addresses(&settings, &app);
    app.run_until_stopped(nakku_server::shutdown_on_signals()).await
}

pub fn print_addresses(settings: &Settings, app: &Application) {
    let mode = if settings.is_embedded() {
        format!("embedded: SQLite in {}", settings.data_dir.display())
    } else {
        "MySQL".to_owned()
    };
    println!("Nakku is running ({mode})");
    for (svc, addr) in app.addrs() {
        println!("  {:<9} http://{addr}", svc.name());
    }
    if let Some(gw) = app.addr(Service::Gateway) {
        println!("API: http://{gw}/api/v1   health: http://{gw}/health");
    }
    println!("Press Ctrl-C to stop.");
}
