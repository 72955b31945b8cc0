//! Bulk import of products (CSV or JSON): every row checked, all or nothing unless partial,
//! in batches of upserts with their events. A child module of `service`.

use super::*;

impl ProductService {
    /// Imports products from CSV or JSON, creating new skus and updating (or reviving)
    /// known ones, in one transaction. With problems in any row nothing is written unless
    /// `partial`, which writes the good rows; the report names each bad row by line.
    pub async fn import(
        &self,
        ctx: &RequestCtx,
        body: &[u8],
        json: bool,
        partial: bool,
    ) -> Result<ImportReport, CoreError> {
        let started = std::time::Instant::now();
        let rows = if json {
            import::parse_json(body)
        } else {
            import::parse_csv(body)
        }
        .map_err(|(line, msg)| CoreError::validation("file", format!("line {line}: {msg}")))?;
        if rows.is_empty() {
            return Err(CoreError::validation("file", "holds no products"));
        }
        let tree = self.tree();
        let skus: Vec<String> = rows
            .iter()
            .filter_map(|r| r.input.as_ref().ok()?.sku.as_ref().map(|s| s.trim().to_owned()))
            .collect();
        let mut conn = self.conn().await?;
        let existing: HashMap<String, Product> = store::products_by_sku(&mut conn, &skus)
            .await?
            .into_iter()
            .map(|p| (p.sku.clone(), p))
            .collect();
        drop(conn);

        let mut report = ImportReport {
            rows: rows.len(),
            ..Default::default()
        };
        let now = now_ms();
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut writes: Vec<(Product, bool)> = Vec::new();
        for RawRow { line, input } in rows {
            let input = match input {
                Ok(i) => i,
                Err(errors) => {
                    report.failed.push(RowFailure {
                        line,
                        sku: None,
                        errors,
                    });
                    continue;
                }
            };
            let sku = input.sku.as_ref().map(|s| s.trim().to_owned());
            let base = sku.as_ref().and_then(|s| existing.get(s));
            let mut v = Validator::new();
            let draft = validate_product(&input, base, &tree, &mut v);
            if let Some(s) = &sku {
                if let Some(first) = seen.insert(s.clone(), line) {
                    v.add("sku", format!("'{s}' is also on line {first}"));
                }
            }
            let draft = match (v.finish(), draft) {
                (Ok(()), Some(d)) => d,
                (Err(CoreError::Validation(f)), _) => {
                    report.failed.push(RowFailure {
                        line,
                        sku,
                        errors: flatten(&f),
                    });
                    continue;
                }
                _ => continue,
            };
            match base {
                Some(b) if b.deleted_at.is_none() && ProductDraft::from_product(b) == draft => report.unchanged += 1,
                Some(b) => {
                    report.updated += 1;
                    let at = now.max(b.updated_at + 1);
                    writes.push((build(b.id.clone(), draft, b.version + 1, b.created_at, at), false));
                }
                None => {
                    report.created += 1;
                    writes.push((build(new_id(), draft, 1, now, now), true));
                }
            }
        }
        if !report.failed.is_empty() && !partial {
            report.created = 0;
            report.updated = 0;
            report.unchanged = 0;
            return Ok(report);
        }
        report.imported = true;
        if writes.is_empty() {
            return Ok(report);
        }
        let validated_ms = started.elapsed().as_millis() as u64;
        let mut tx = self.db.begin().await?;
        let products: Vec<Product> = writes.iter().map(|(p, _)| p.clone()).collect();
        store::upsert_products(&mut tx, self.db.dialect(), &products)
            .await
            .map_err(|e| match e {
                CoreError::Database(db) if crate::error::is_unique_violation(&db) => CoreError::conflict(
                    "sku",
                    "another import or admin created one of these skus meanwhile; run the import again",
                ),
                other => other,
            })?;
        let events: Vec<Envelope> = writes
            .iter()
            .map(|(p, new)| {
                if *new {
                    event(ProductCreated, p, &ctx.request_id)
                } else {
                    event(ProductUpdated, p, &ctx.request_id)
                }
            })
            .collect();
        for chunk in events.chunks(200) {
            outbox::append_many(&mut tx, chunk).await?;
        }
        tx.commit().await?;
        let written_ms = started.elapsed().as_millis() as u64;
        self.apply(&products).await;
        metrics::counter!("nakku_products_imported_total").increment(products.len() as u64);
        tracing::info!(
            rows = report.rows,
            created = report.created,
            updated = report.updated,
            failed = report.failed.len(),
            validated_ms,
            written_ms,
            indexed_ms = started.elapsed().as_millis() as u64,
            "products imported"
        );
        Ok(report)
    }

    // ---- search and recommendations ----
}
