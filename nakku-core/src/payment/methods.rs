//! Saved payment methods: cards (as tokens), UPI ids and wallets, and resolving what a shopper
//! typed at checkout to one. A child module of `service`.

use super::*;

impl PaymentService {
    pub async fn add_method(&self, user_id: &str, input: MethodInput) -> Result<PaymentMethod, CoreError> {
        let mut v = Validator::new();
        if input.card_number.is_some()
            || input.number.is_some()
            || input.token.as_deref().is_some_and(looks_like_card_number)
        {
            v.add(
                "token",
                "send the token from the card vault; Nakku never accepts or stores card numbers",
            );
        }
        let kind = v.required("kind", input.kind).map(|k| k.trim().to_ascii_lowercase());
        if let Some(k) = &kind {
            if !KINDS.contains(&k.as_str()) {
                v.add("kind", format!("must be one of {}", KINDS.join(", ")));
            }
        }
        let (mut token, mut last4, mut brand, mut upi, mut wallet) = (None, None, None, None, None);
        match kind.as_deref() {
            Some("card") => {
                token = v.required("token", input.token.clone()).and_then(|t| {
                    let t = t.trim().to_owned();
                    v.check(
                        "token",
                        if (8..=200).contains(&t.len())
                            && t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
                        {
                            Ok(t)
                        } else {
                            Err("must be a vault token of 8-200 letters, digits, '_' or '-'".to_owned())
                        },
                    )
                });
                last4 = input.last4.and_then(|l| {
                    v.check(
                        "last4",
                        if l.len() == 4 && l.chars().all(|c| c.is_ascii_digit()) {
                            Ok(l)
                        } else {
                            Err("must be four digits".to_owned())
                        },
                    )
                });
                brand = input
                    .card_brand
                    .and_then(|b| v.check("card_brand", crate::rules::parse_text(&b, 32)));
            }
            Some("upi") => {
                upi = v
                    .required("upi_id", input.upi_id)
                    .and_then(|u| v.check("upi_id", parse_upi(&u)))
            }
            Some("wallet") => {
                wallet = v.required("wallet", input.wallet).and_then(|w| {
                    let w = w.trim().to_ascii_lowercase();
                    v.check(
                        "wallet",
                        if WALLETS.contains(&w.as_str()) {
                            Ok(w)
                        } else {
                            Err(format!("must be one of {}", WALLETS.join(", ")))
                        },
                    )
                })
            }
            _ => {}
        }
        let label = match input.label {
            Some(l) => v.check("label", crate::rules::parse_text(&l, 100)),
            None => None,
        };
        v.finish()?;
        let kind = kind.ok_or_else(|| CoreError::validation("kind", "is required"))?;
        let label = label.unwrap_or_else(|| match kind.as_str() {
            "card" => format!(
                "{} card{}",
                brand.as_deref().unwrap_or("Saved"),
                last4.as_deref().map(|l| format!(" ending {l}")).unwrap_or_default()
            ),
            "upi" => format!("UPI {}", upi.as_deref().unwrap_or_default()),
            "wallet" => format!("Wallet {}", wallet.as_deref().unwrap_or_default()),
            _ => "Cash on delivery".to_owned(),
        });
        let now = now_ms();
        let id = new_id();
        let is_default = input.is_default.unwrap_or(false);
        let mut tx = self.db.begin().await?;
        if is_default {
            sqlx::query(
                "UPDATE payment_methods SET is_default = 0, updated_at = ? WHERE user_id = ? AND deleted_at IS NULL",
            )
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO payment_methods (id, user_id, kind, label, token, last4, card_brand, upi_id, wallet, is_default, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(&kind)
        .bind(&label)
        .bind(token)
        .bind(last4)
        .bind(brand)
        .bind(upi)
        .bind(wallet)
        .bind(i32::from(is_default))
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.method(user_id, &id).await
    }

    pub async fn methods(&self, user_id: &str) -> Result<Vec<PaymentMethod>, CoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {METHOD_COLS} FROM payment_methods WHERE user_id = ? AND deleted_at IS NULL ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.iter().map(method_from_row).collect::<Result<_, _>>()?)
    }

    /// One of the user's methods; another user's is `NotFound` (never confirm it exists).
    pub async fn method(&self, user_id: &str, id: &str) -> Result<PaymentMethod, CoreError> {
        let row = sqlx::query(&format!(
            "SELECT {METHOD_COLS} FROM payment_methods WHERE id = ? AND user_id = ? AND deleted_at IS NULL"
        ))
        .bind(id)
        .bind(user_id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(|| CoreError::NotFound("payment method".to_owned()))?;
        Ok(method_from_row(&row)?)
    }

    pub async fn delete_method(&self, user_id: &str, id: &str) -> Result<(), CoreError> {
        let r = sqlx::query("UPDATE payment_methods SET deleted_at = ?, is_default = 0, updated_at = ? WHERE id = ? AND user_id = ? AND deleted_at IS NULL")
            .bind(now_ms())
            .bind(now_ms())
            .bind(id)
            .bind(user_id)
            .write_on(&self.db)
            .await?;
        if r.rows_affected() == 0 {
            return Err(CoreError::NotFound("payment method".to_owned()));
        }
        Ok(())
    }

    /// Reads what an order's `payment_method` names: a kind (`cod`, `upi`, `card`,
    /// `wallet`) or the id of one of the user's saved methods.
    pub async fn resolve_method(&self, user_id: &str, raw: &str) -> Result<MethodRef, CoreError> {
        let wanted = raw.trim().to_ascii_lowercase();
        if KINDS.contains(&wanted.as_str()) {
            if wanted == "card" {
                // A card charge needs a saved card: the default one, else the newest.
                let cards: Vec<PaymentMethod> = self
                    .methods(user_id)
                    .await?
                    .into_iter()
                    .filter(|m| m.kind == "card")
                    .collect();
                let card = cards.iter().find(|m| m.is_default).or(cards.last()).ok_or_else(|| {
                    CoreError::validation(
                        "payment_method",
                        "no saved card: add one under /api/v1/payments/methods, or pick upi, wallet or cod",
                    )
                })?;
                return Ok(MethodRef {
                    kind: "card".to_owned(),
                    method_id: Some(card.id.clone()),
                });
            }
            return Ok(MethodRef {
                kind: wanted,
                method_id: None,
            });
        }
        match self.method(user_id, raw.trim()).await {
            Ok(m) => Ok(MethodRef {
                kind: m.kind,
                method_id: Some(m.id),
            }),
            Err(CoreError::NotFound(_)) => Err(CoreError::validation(
                "payment_method",
                "must be cod, upi, card, wallet or the id of one of your saved payment methods",
            )),
            Err(e) => Err(e),
        }
    }

    // ---- payments ----
}
