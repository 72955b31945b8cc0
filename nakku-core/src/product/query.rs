//! Answering a search: terms expanded (prefix, fuzzy), scored by field weight and rarity,
//! filtered, faceted, sorted and paged by cursor. A child module of `search`, so it reads
//! the index's private structures.

use super::*;

impl Index {
    pub(super) fn idf(&self, token: &str) -> f32 {
        let n = self.by_id.len().max(1) as f32;
        let df = self.postings.get(token).map_or(0, Vec::len) as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// Tokens a query word matches, each with a factor: itself, words it begins (when it is
    /// the word being typed), or words one or two edits away when nothing else matches.
    pub(super) fn expand(&self, term: &str, last: bool) -> (Vec<(String, f32)>, Option<String>) {
        let mut out = Vec::new();
        if self.postings.contains_key(term) {
            out.push((term.to_owned(), 1.0));
        }
        if last && term.chars().count() >= 2 {
            for t in self
                .vocab
                .range(term.to_owned()..)
                .take_while(|t| t.starts_with(term))
                .filter(|t| t.as_str() != term)
                .take(MAX_PREFIX_EXPANSIONS)
            {
                out.push((t.clone(), F_PREFIX));
            }
        }
        if !out.is_empty() {
            return (out, None);
        }
        let max = max_edits(term);
        if max == 0 {
            return (out, None);
        }
        let mut seen: HashSet<&str> = HashSet::new();
        let mut probes = deletes(term);
        probes.push(term.to_owned());
        for probe in &probes {
            if let Some(cands) = self.fuzzy.get(probe) {
                for c in cands {
                    if seen.insert(c) && strsim::damerau_levenshtein(term, c) <= max {
                        out.push((c.clone(), F_FUZZY));
                    }
                }
            }
        }
        // also words that are themselves a deletion of the query ("milkk" → "milk")
        for probe in &probes {
            if self.postings.contains_key(probe) && seen.insert(probe) {
                out.push((probe.clone(), F_FUZZY));
            }
        }
        let best = out
            .iter()
            .max_by_key(|(t, _)| self.postings.get(t).map_or(0, Vec::len))
            .map(|(t, _)| t.clone());
        (out, best)
    }

    /// Runs a search. Cursors from another query or sort are refused.
    pub fn search(&self, p: &SearchParams) -> Result<SearchPage, SearchError> {
        let query_hash = fingerprint(p);
        let cursor = match &p.cursor {
            Some(c) => {
                let c = decode_cursor(c)?;
                if c.s != p.sort || c.q != query_hash {
                    return Err(SearchError::BadCursor("belongs to a different query or sort"));
                }
                Some(c)
            }
            None => None,
        };

        // 1. candidates with text scores
        let mut terms: Vec<String> = tokenize(&p.q);
        let without_stop: Vec<String> = terms
            .iter()
            .filter(|t| !STOP_WORDS.contains(&t.as_str()))
            .cloned()
            .collect();
        if !without_stop.is_empty() {
            terms = without_stop;
        }
        let mut did_you_mean: Vec<String> = Vec::new();
        let mut corrected = false;
        let candidates: Vec<(u32, f32)> = if terms.is_empty() {
            match &p.category {
                Some(cat) => self
                    .tree
                    .subtree(cat)
                    .iter()
                    .filter_map(|c| self.by_category.get(c))
                    .flatten()
                    .map(|s| (*s, 0.0))
                    .collect(),
                None => self
                    .entries
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.is_some())
                    .map(|(i, _)| (i as u32, 0.0))
                    .collect(),
            }
        } else {
            // Dense accumulators: per slot, the sum over terms of each term's best token
            // score, and how many terms matched so far (a slot must match every term).
            let n = terms.len();
            let size = self.entries.len();
            let mut total = vec![0f32; size];
            let mut matched = vec![0u16; size];
            let mut best = vec![0f32; size];
            let mut touched: Vec<u32> = Vec::new();
            for (i, term) in terms.iter().enumerate() {
                let (tokens, correction) = self.expand(term, i + 1 == n);
                match correction {
                    Some(c) => {
                        corrected = true;
                        did_you_mean.push(c);
                    }
                    None => did_you_mean.push(term.clone()),
                }
                touched.clear();
                for (tok, factor) in tokens {
                    let idf = self.idf(&tok);
                    if let Some(list) = self.postings.get(&tok) {
                        for (slot, w) in list {
                            let s = w * idf * factor;
                            let b = &mut best[*slot as usize];
                            if *b == 0.0 {
                                touched.push(*slot);
                            }
                            if s > *b {
                                *b = s;
                            }
                        }
                    }
                }
                for slot in &touched {
                    let k = *slot as usize;
                    if usize::from(matched[k]) == i {
                        matched[k] += 1;
                        total[k] += best[k];
                    }
                    best[k] = 0.0;
                }
            }
            touched
                .iter()
                .filter(|s| usize::from(matched[**s as usize]) == n)
                .map(|s| (*s, total[*s as usize]))
                .collect()
        };

        // 2. filters and facets
        let cats: Option<Vec<bool>> = p.category.as_ref().map(|c| {
            let ids = self.tree.subtree(c);
            self.categories.mask(ids.iter().map(String::as_str))
        });
        let brands: Option<Vec<bool>> =
            (!p.brands.is_empty()).then(|| self.brands.mask(p.brands.iter().map(String::as_str)));
        let stock = p.store.as_ref().and_then(|s| self.stock.get(s));
        let mut brand_counts = vec![0usize; self.brands.names.len()];
        let mut cat_counts = vec![0usize; self.categories.names.len()];
        let mut results: Vec<(f64, u32)> = Vec::new();
        for (slot, score) in candidates {
            let Some(e) = self.entry(slot) else { continue };
            if !e.active && !p.include_inactive {
                continue;
            }
            if p.min_price.is_some_and(|m| e.price < m) || p.max_price.is_some_and(|m| e.price > m) {
                continue;
            }
            if cats.as_ref().is_some_and(|c| !c[e.category as usize]) {
                continue;
            }
            if !p.tags.is_empty() && !p.tags.iter().all(|t| e.product.tags.contains(t)) {
                continue;
            }
            if p.in_stock && stock.and_then(|m| m.get(&e.product.sku)).copied().unwrap_or(0) <= 0 {
                continue;
            }
            brand_counts[e.brand as usize] += 1;
            if brands.as_ref().is_some_and(|b| !b[e.brand as usize]) {
                continue;
            }
            cat_counts[e.category as usize] += 1;
            let key = self.sort_key(p.sort, e, score, terms.is_empty());
            results.push((key, slot));
        }

        // 3. order, cursor, page: only the page is sorted (a partial selection finds it)
        let id_of = |slot: u32| self.entry(slot).map_or("", |e| e.product.id.as_str());
        let rank = |slot: u32| self.entry(slot).map_or(0, |e| e.rank);
        let order = |a: &(f64, u32), b: &(f64, u32)| a.0.total_cmp(&b.0).then_with(|| rank(a.1).cmp(&rank(b.1)));
        let total = results.len();
        if let Some(c) = &cursor {
            let after = rank_of(&c.id);
            results.retain(|(k, s)| k.total_cmp(&c.k).then_with(|| rank(*s).cmp(&after)).is_gt());
        }
        let remaining = results.len();
        let limit = p.limit.clamp(1, 100);
        if results.len() > limit {
            results.select_nth_unstable_by(limit - 1, order);
            results.truncate(limit);
        }
        results.sort_by(order);
        let page = results;
        let next_cursor = if remaining > page.len() {
            page.last().map(|(k, s)| {
                encode_cursor(&Cursor {
                    s: p.sort,
                    k: *k,
                    id: id_of(*s).to_owned(),
                    q: query_hash,
                })
            })
        } else {
            None
        };
        let items = page
            .iter()
            .filter_map(|(k, slot)| {
                let mut hit = self.hit(&self.entry(*slot)?.product, p.store.as_deref());
                hit.score = (p.sort == Sort::Relevance && !terms.is_empty()).then_some(-*k as f32);
                Some(hit)
            })
            .collect();

        let mut brands: Vec<BrandFacet> = brand_counts
            .into_iter()
            .enumerate()
            .filter(|(i, n)| *n > 0 && !self.brands.names[*i].is_empty())
            .map(|(i, count)| BrandFacet {
                value: self.brands.names[i].clone(),
                count,
            })
            .collect();
        brands.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        brands.truncate(50);
        let mut categories: Vec<CategoryFacet> = cat_counts
            .into_iter()
            .enumerate()
            .filter(|(_, n)| *n > 0)
            .filter_map(|(i, count)| {
                let c = self.tree.get(&self.categories.names[i])?;
                Some(CategoryFacet {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    slug: c.slug.clone(),
                    count,
                })
            })
            .collect();
        categories.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        categories.truncate(50);

        Ok(SearchPage {
            total,
            items,
            facets: Facets { brands, categories },
            next_cursor,
            did_you_mean: corrected.then(|| did_you_mean.join(" ")),
            store_status: None,
        })
    }

    /// Ascending key: smaller comes first.
    pub(super) fn sort_key(&self, sort: Sort, e: &Entry, score: f32, no_query: bool) -> f64 {
        let sold = e.sold as f64;
        match sort {
            Sort::Relevance if no_query => -sold,
            Sort::Relevance => {
                // up to +10% for the best sellers, so among equal matches they come first
                let boost = if self.max_sales > 0 {
                    0.1 * (1.0 + sold).ln() / (1.0 + self.max_sales as f64).ln()
                } else {
                    0.0
                };
                -(f64::from(score) * (1.0 + boost))
            }
            Sort::PriceAsc => e.price as f64,
            Sort::PriceDesc => -(e.price as f64),
            Sort::Popularity => -sold,
            Sort::Newest => -(e.created_at as f64),
            Sort::Discount => -(e.discount as f64),
        }
    }

    /// Active products in `category`'s subtree ranked by units sold, in stock at `store`
    /// when one is given (the recommendation fallback).
    pub fn popular(
        &self,
        category: Option<&str>,
        store: Option<&str>,
        exclude: &HashSet<String>,
        n: usize,
    ) -> Vec<Arc<Product>> {
        let params = SearchParams {
            category: category.map(str::to_owned),
            store: store.map(str::to_owned),
            in_stock: store.is_some(),
            sort: Sort::Popularity,
            limit: 100,
            ..Default::default()
        };
        let mut out = Vec::new();
        let mut params = params;
        while let Ok(page) = self.search(&params) {
            for h in &page.items {
                if !exclude.contains(&h.sku) {
                    if let Some(p) = self.get(&h.id) {
                        out.push(p.clone());
                    }
                }
                if out.len() >= n {
                    return out;
                }
            }
            match page.next_cursor {
                Some(c) => params.cursor = Some(c),
                None => break,
            }
        }
        out
    }
}
