//! `nakku users ...`: operator commands on accounts, run on a machine with database access
//! (for example, making the first admin).

use std::sync::Arc;

use clap::Subcommand;
use nakku_core::auth::{JwtKeys, Role};
use nakku_core::config::Settings;
use nakku_core::db::Db;
use nakku_core::service::Service;
use nakku_core::user::{UserService, UserServiceConfig};
use nakku_core::RequestCtx;

use crate::output::table;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Give an account a role: user, admin or delivery_partner
    SetRole {
        /// The account's email
        email: String,
        /// user | admin | delivery_partner
        role: String,
    },
}

/// The user service on this deployment's user database, with its signing keys (for
/// operator commands that act on accounts or sign tokens); close the database after.
pub async fn user_service(settings: &Settings) -> anyhow::Result<(Db, UserService, JwtKeys)> {
    let db = nakku_server::open_database(settings, Service::User).await?;
    let jwt = JwtKeys::new(
        &nakku_server::resolve_jwt_secret(settings)?,
        settings.access_token_ttl_secs,
    );
    let svc = UserService::new(
        db.clone(),
        jwt.clone(),
        UserServiceConfig {
            bcrypt_cost: settings.bcrypt_cost,
            refresh_ttl_secs: settings.refresh_token_ttl_secs,
        },
    )?;
    Ok((db, svc, jwt))
}

/// A token for the seeded admin (`nakku seed`), signed with this deployment's secret: for
/// operator commands on the deployment's own machine (needs its settings and user
/// database): simulate's invariant checks, the dashboard without credentials.
pub async fn seeded_admin_token(settings: &Settings) -> anyhow::Result<String> {
    let (db, svc, jwt) = user_service(settings).await?;
    let admin = svc.find_by_email(super::seed::ADMIN_EMAIL).await;
    db.close().await;
    let admin = admin?;
    anyhow::ensure!(
        admin.role == nakku_core::auth::Role::Admin,
        "{} is not an admin",
        super::seed::ADMIN_EMAIL
    );
    Ok(jwt.issue(&admin.id, nakku_core::auth::Role::Admin)?.0)
}

pub async fn run(settings: &Settings, cmd: Command) -> anyhow::Result<()> {
    let (db, svc, _) = user_service(settings).await?;
    let svc = Arc::new(svc);
    let result = match cmd {
        Command::SetRole { email, role } => {
            let role: Role = role.parse().map_err(|e| anyhow::anyhow!("role: {e}"))?;
            let user = svc.find_by_email(&email).await?;
            let user = svc.assign_role(&RequestCtx::internal("cli"), &user.id, role).await?;
            let mut t = table(&["id", "email", "name", "role"]);
            t.add_row(vec![user.id, user.email, user.name, user.role.to_string()]);
            println!("{t}");
            Ok(())
        }
    };
    db.close().await;
    result
}
