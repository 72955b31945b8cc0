//! `payment.deliveries`: the payment service's one consumer.

use sqlx::AnyConnection;

use super::service::settle_cod_on;
use crate::delivery::events::DeliveryCompleted;
use crate::events::bus::BoxFut;
use crate::events::Event;
use crate::RequestCtx;

/// `payment.deliveries`: a delivery completed with cash on delivery settles its payment.
pub struct CodSettler;

impl crate::events::consumer::Handler for CodSettler {
    fn name(&self) -> &'static str {
        "payment.deliveries"
    }

    fn handles(&self) -> &'static [(&'static str, u32)] {
        &[(DeliveryCompleted::TYPE, DeliveryCompleted::VERSION)]
    }

    fn handle<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        env: &'a crate::events::Envelope,
    ) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let done = env.decode::<DeliveryCompleted>()?.delivery;
            if done.payment_kind != "cod" {
                return Ok(());
            }
            let order_id = done.order_id.as_str();
            let ctx = RequestCtx {
                request_id: env.correlation_id.clone(),
                user_agent: None,
            };
            settle_cod_on(conn, &ctx, order_id).await?;
            Ok(())
        })
    }

    fn reset<'a>(&'a self, conn: &'a mut AnyConnection) -> BoxFut<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let _ = conn;
            Ok(())
        })
    }
}
