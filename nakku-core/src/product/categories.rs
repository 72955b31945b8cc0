//! The category tree: reading it (cached in the index), and admins' changes to categories.
//! A child module of `service`, so it shares the service's private helpers.

use super::*;

impl ProductService {
    pub(super) fn tree(&self) -> CategoryTree {
        self.read().tree().clone()
    }

    // ---- categories ----

    /// The whole tree with product counts (from memory).
    pub fn category_tree(&self) -> Vec<CategoryNode> {
        let ix = self.read();
        ix.tree().nested(&ix.category_counts())
    }

    /// One category with its breadcrumbs and direct children.
    pub fn category(&self, id_or_slug: &str) -> Result<CategoryPage, CoreError> {
        let ix = self.read();
        let t = ix.tree();
        let c = t
            .resolve(id_or_slug)
            .ok_or_else(|| CoreError::NotFound("category".into()))?;
        let children = t
            .children_of(Some(&c.id))
            .iter()
            .filter_map(|k| t.get(k))
            .cloned()
            .collect();
        Ok(CategoryPage {
            path: t.path(&c.id),
            category: c.clone(),
            children,
        })
    }

    pub(super) async fn category_changed(
        &self,
        conn: &mut AnyConnection,
        c: &Category,
        change: Change,
        ctx: &RequestCtx,
    ) -> Result<(), CoreError> {
        let env = Envelope::of(
            Service::Product,
            &c.id,
            &ctx.request_id,
            &CategoryUpdated {
                category: c.clone(),
                change,
            },
        );
        outbox::append(conn, &env).await?;
        Ok(())
    }

    pub(super) async fn reload_tree(&self) -> Result<(), CoreError> {
        let mut conn = self.conn().await?;
        let tree = CategoryTree::new(store::categories(&mut conn).await?);
        let mark = category_mark(&mut conn).await?;
        self.rebuild_with_tree(tree);
        self.marks().categories = mark;
        Ok(())
    }

    pub async fn create_category(&self, ctx: &RequestCtx, input: CategoryInput) -> Result<Category, CoreError> {
        let tree = self.tree();
        let mut v = Validator::new();
        let name = v
            .required("name", input.name.as_deref())
            .and_then(|n| v.check("name", crate::rules::parse_text(n, 100)));
        let slug = match input.slug.as_deref() {
            Some(s) => v.check("slug", parse_slug(s)),
            None => name.as_deref().map(slugify).filter(|s| !s.is_empty()),
        };
        if slug.is_none() && name.is_some() && input.slug.is_none() {
            v.add("slug", "cannot be made from the name; give one");
        }
        let parent = match input.parent.flatten() {
            Some(p) => match tree.resolve(&p) {
                Some(c) => Some(c.id.clone()),
                None => {
                    v.add("parent", format!("no category with id or slug '{p}'"));
                    None
                }
            },
            None => None,
        };
        let position = input.position.unwrap_or(0);
        v.finish()?;
        let (Some(name), Some(slug)) = (name, slug) else {
            return Err(CoreError::validation("name", "is required"));
        };
        let now = now_ms();
        let c = Category {
            id: new_id(),
            parent_id: parent,
            name,
            slug,
            position,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin().await?;
        store::insert_category(&mut tx, &c)
            .await
            .on_unique_violation(|_| CoreError::conflict("slug", format!("'{}' is already used", c.slug)))?;
        self.category_changed(&mut tx, &c, Change::Created, ctx).await?;
        tx.commit().await?;
        self.reload_tree().await?;
        Ok(c)
    }

    /// Renames, re-slugs, reorders or moves a category (with its whole subtree: children
    /// keep their parent, products keep their category).
    pub async fn update_category(
        &self,
        ctx: &RequestCtx,
        key: &str,
        input: CategoryInput,
    ) -> Result<Category, CoreError> {
        let tree = self.tree();
        let mut c = tree
            .resolve(key)
            .cloned()
            .ok_or_else(|| CoreError::NotFound("category".into()))?;
        let mut v = Validator::new();
        if let Some(n) = input
            .name
            .as_deref()
            .and_then(|n| v.check("name", crate::rules::parse_text(n, 100)))
        {
            c.name = n;
        }
        if let Some(s) = input.slug.as_deref().and_then(|s| v.check("slug", parse_slug(s))) {
            c.slug = s;
        }
        if let Some(p) = input.position {
            c.position = p;
        }
        if let Some(parent) = input.parent {
            match parent {
                None => c.parent_id = None,
                Some(p) => match tree.resolve(&p) {
                    Some(target) if tree.is_within(&target.id, &c.id) => v.add(
                        "parent",
                        "cannot move a category into itself or below one of its own children",
                    ),
                    Some(target) => c.parent_id = Some(target.id.clone()),
                    None => v.add("parent", format!("no category with id or slug '{p}'")),
                },
            }
        }
        v.finish()?;
        c.updated_at = now_ms().max(c.updated_at + 1);
        let mut tx = self.db.begin().await?;
        store::update_category(&mut tx, &c)
            .await
            .on_unique_violation(|_| CoreError::conflict("slug", format!("'{}' is already used", c.slug)))?;
        self.category_changed(&mut tx, &c, Change::Updated, ctx).await?;
        tx.commit().await?;
        self.reload_tree().await?;
        Ok(c)
    }

    /// Deletes an empty category; one with children or products is a conflict.
    pub async fn delete_category(&self, ctx: &RequestCtx, key: &str) -> Result<(), CoreError> {
        let tree = self.tree();
        let c = tree
            .resolve(key)
            .cloned()
            .ok_or_else(|| CoreError::NotFound("category".into()))?;
        if !tree.children_of(Some(&c.id)).is_empty() {
            return Err(CoreError::conflict(
                "category",
                "has subcategories; move or delete them first",
            ));
        }
        let mut tx = self.db.begin().await?;
        let n = store::count_in_category(&mut tx, &c.id).await?;
        if n > 0 {
            return Err(CoreError::conflict(
                "category",
                format!("holds {n} products; move them to another category first"),
            ));
        }
        store::delete_category(&mut tx, &c.id).await?;
        self.category_changed(&mut tx, &c, Change::Deleted, ctx).await?;
        tx.commit().await?;
        self.reload_tree().await
    }

    // ---- products ----
}
