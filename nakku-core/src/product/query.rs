//! Answering a search: terms expanded (prefix, fuzzy), scored by field weight and rarity,
//! filtered, faceted, sorted and paged by cursor. A child module of `search`, so it reads
//! the index's private structures.

use super::*;

/// One query term's matches: per slot, the best score among the tokens the term expands
/// to, in slot order.
type Matches = Vec<(u32, f32)>;

/// A posting list still to be merged: a token's own (borrowed) or a merge's result, with
/// the factor its scores still need.
type Part<'a> = (std::borrow::Cow<'a, [(u32, f32)]>, f32);

/// Merges posting lists (each in slot order, with the factor of the token it belongs to)
/// into one list in slot order, a slot's score the best of its lists'. Lists are merged
/// two at a time, smallest first (a two-way merge is a tight loop; a heap over every list
/// cost 20 ns a match in the profile), each factor applied in its list's first merge (a
/// copy of every list with its factor applied first wrote each match once more).
fn merge(lists: &[(&[(u32, f32)], f32)]) -> Matches {
    let mut parts: Vec<Part<'_>> = lists
        .iter()
        .map(|(list, factor)| (std::borrow::Cow::Borrowed(*list), *factor))
        .collect();
    while parts.len() > 1 {
        parts.sort_by_key(|(m, _)| std::cmp::Reverse(m.len()));
        let (Some((a, fa)), Some((b, fb))) = (parts.pop(), parts.pop()) else {
            break;
        };
        parts.push((std::borrow::Cow::Owned(union(&a, fa, &b, fb)), 1.0));
    }
    match parts.pop() {
        Some((std::borrow::Cow::Owned(m), _)) => m,
        Some((std::borrow::Cow::Borrowed(list), factor)) => scaled(list, factor).collect(),
        None => Vec::new(),
    }
}

/// The slots of `a` and of `b` (both in slot order; their scores times `fa` and `fb`), in
/// order, a slot in both with the better of its scores.
fn union(a: &[(u32, f32)], fa: f32, b: &[(u32, f32)], fb: f32) -> Matches {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.0.cmp(&y.0) {
            std::cmp::Ordering::Less => {
                out.push((x.0, x.1 * fa));
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push((y.0, y.1 * fb));
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push((x.0, (x.1 * fa).max(y.1 * fb)));
                i += 1;
                j += 1;
            }
        }
    }
    out.extend(scaled(&a[i..], fa));
    out.extend(scaled(&b[j..], fb));
    out
}

/// A posting list's entries with their scores times `factor`.
fn scaled(list: &[(u32, f32)], factor: f32) -> impl Iterator<Item = (u32, f32)> + '_ {
    list.iter().map(move |(slot, w)| (*slot, w * factor))
}

/// Keeps the slots of `a` that are in `b` too (both in slot order), adding `b`'s score.
fn intersect(a: &mut Matches, b: &[(u32, f32)]) {
    let (mut kept, mut j) = (0, 0);
    for i in 0..a.len() {
        let (slot, score) = a[i];
        while j < b.len() && b[j].0 < slot {
            j += 1;
        }
        match b.get(j) {
            Some((s, other)) if *s == slot => {
                a[kept] = (slot, score + other);
                kept += 1;
            }
            Some(_) => {}
            None => break,
        }
    }
    a.truncate(kept);
}

/// A match kept for the page: ordered by its sort key, then by id (smaller first).
#[derive(Debug, Clone, Copy)]
pub(super) struct Top {
    key: f64,
    rank: u128,
    slot: u32,
}

impl PartialEq for Top {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Top {}

impl PartialOrd for Top {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Top {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.total_cmp(&other.key).then_with(|| self.rank.cmp(&other.rank))
    }
}

/// What one pass over the matches found.
pub(super) struct Scan {
    /// Matches with every filter.
    total: usize,
    /// Of those, the ones after the cursor.
    remaining: usize,
    /// The best `limit` after the cursor (a max-heap: its top is the worst kept).
    top: std::collections::BinaryHeap<Top>,
    brand_counts: Vec<usize>,
    cat_counts: Vec<usize>,
}

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
        let mut terms: Vec<String> = tokenize(&p.q);
        let without_stop: Vec<String> = terms
            .iter()
            .filter(|t| !STOP_WORDS.contains(&t.as_str()))
            .cloned()
            .collect();
        if !without_stop.is_empty() {
            terms = without_stop;
        }
        let (scan, did_you_mean) = self.scan(p, &terms, cursor.as_ref());

        // The page, best first, and the cursor after it.
        let page = scan.top.into_sorted_vec();
        let next_cursor = if scan.remaining > page.len() {
            page.last().map(|t| {
                encode_cursor(&Cursor {
                    s: p.sort,
                    k: t.key,
                    id: self.entry(t.slot).map_or("", |e| e.product.id.as_str()).to_owned(),
                    q: query_hash,
                })
            })
        } else {
            None
        };
        let items = page
            .iter()
            .filter_map(|t| {
                let mut hit = self.hit(&self.entry(t.slot)?.product, p.store.as_deref());
                hit.score = (p.sort == Sort::Relevance && !terms.is_empty()).then_some(-t.key as f32);
                Some(hit)
            })
            .collect();

        let mut brands: Vec<BrandFacet> = scan
            .brand_counts
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
        let mut categories: Vec<CategoryFacet> = scan
            .cat_counts
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
            total: scan.total,
            items,
            facets: Facets { brands, categories },
            next_cursor,
            did_you_mean,
            store_status: None,
        })
    }

    /// Finds the matches (text scores), filters them, counts them into the facets and keeps
    /// the best `limit` after the cursor.
    fn scan(&self, p: &SearchParams, terms: &[String], cursor: Option<&Cursor>) -> (Scan, Option<String>) {
        // 1. candidates with text scores: each term's posting lists merged, the terms'
        // matches intersected (a match matches every term), all in slot order.
        let mut did_you_mean: Vec<String> = Vec::new();
        let mut corrected = false;
        let text = !terms.is_empty();
        let mut per_term: Vec<Matches> = Vec::with_capacity(terms.len());
        for (i, term) in terms.iter().enumerate() {
            let (tokens, correction) = self.expand(term, i + 1 == terms.len());
            match correction {
                Some(c) => {
                    corrected = true;
                    did_you_mean.push(c);
                }
                None => did_you_mean.push(term.clone()),
            }
            let lists: Vec<(&[(u32, f32)], f32)> = tokens
                .iter()
                .filter_map(|(tok, factor)| Some((self.postings.get(tok)?.as_slice(), self.idf(tok) * factor)))
                .collect();
            per_term.push(merge(&lists));
        }
        // The rarest term first: each intersection is then at most its size.
        per_term.sort_by_key(Vec::len);
        let mut per_term = per_term.into_iter();
        let mut matches = per_term.next().unwrap_or_default();
        for other in per_term {
            intersect(&mut matches, &other);
        }

        // 2. filters, facets and the page (a bounded heap of the best `limit`)
        let cats: Option<Vec<bool>> = p.category.as_ref().map(|c| {
            let ids = self.tree.subtree(c);
            self.categories.mask(ids.iter().map(String::as_str))
        });
        let brands: Option<Vec<bool>> =
            (!p.brands.is_empty()).then(|| self.brands.mask(p.brands.iter().map(String::as_str)));
        let stock = p.store.as_ref().and_then(|s| self.in_stock.get(s));
        // Tags wanted, as bits; a tag past the first 64 is checked on the product itself,
        // and a tag no product has matches nothing.
        let mut tags_wanted = 0u64;
        let mut tags_beyond = false;
        for t in &p.tags {
            match self.tags.get(t) {
                Some(i) if i < 64 => tags_wanted |= 1 << i,
                Some(_) => tags_beyond = true,
                None => tags_wanted = u64::MAX,
            }
        }
        let limit = p.limit.clamp(1, 100);
        let boost_scale = self.boost_scale();
        let after = cursor.map(|c| (c.k, rank_of(&c.id)));
        let mut scan = Scan {
            total: 0,
            remaining: 0,
            top: std::collections::BinaryHeap::with_capacity(limit),
            brand_counts: vec![0usize; self.brands.names.len()],
            cat_counts: vec![0usize; self.categories.names.len()],
        };
        let mut consider = |slot: u32, h: &Hot, score: f32| {
            if !h.live || (!h.active && !p.include_inactive) {
                return;
            }
            if p.min_price.is_some_and(|m| h.price < m) || p.max_price.is_some_and(|m| h.price > m) {
                return;
            }
            if cats.as_ref().is_some_and(|c| !c[h.category as usize]) {
                return;
            }
            if tags_wanted & h.tag_bits != tags_wanted
                || (tags_beyond
                    && !self
                        .entry(slot)
                        .is_some_and(|e| p.tags.iter().all(|t| e.product.tags.contains(t))))
            {
                return;
            }
            if p.in_stock && !Index::stocked(stock, slot) {
                return;
            }
            scan.brand_counts[h.brand as usize] += 1;
            if brands.as_ref().is_some_and(|b| !b[h.brand as usize]) {
                return;
            }
            scan.cat_counts[h.category as usize] += 1;
            scan.total += 1;
            let key = Index::sort_key(p.sort, h, score, !text, boost_scale);
            // The id breaks ties: its first half from the hot array, the whole of it only
            // when that half is equal too.
            let rank = || self.ranks.get(slot as usize).copied().unwrap_or(0);
            let rank_vs = |r: u128| match h.rank_hi.cmp(&((r >> 64) as u64)) {
                std::cmp::Ordering::Equal => rank().cmp(&r),
                o => o,
            };
            if let Some((k, r)) = after {
                let past = match key.total_cmp(&k) {
                    std::cmp::Ordering::Equal => rank_vs(r).is_gt(),
                    o => o.is_gt(),
                };
                if !past {
                    return;
                }
            }
            scan.remaining += 1;
            if scan.top.len() < limit {
                scan.top.push(Top {
                    key,
                    rank: rank(),
                    slot,
                });
            } else if let Some(worst) = scan.top.peek() {
                let better = match key.total_cmp(&worst.key) {
                    std::cmp::Ordering::Equal => rank_vs(worst.rank).is_lt(),
                    o => o.is_lt(),
                };
                if better {
                    scan.top.pop();
                    scan.top.push(Top {
                        key,
                        rank: rank(),
                        slot,
                    });
                }
            }
        };
        if text {
            // The matches' hot fields are copied out a batch at a time before any is
            // looked at: the copies do not wait on one another, so their cache misses
            // (one per match at 500,000 products, the scan's whole cost in `perf`)
            // overlap instead of stalling the filter one by one.
            const BATCH: usize = 32;
            let mut batch = [Hot::default(); BATCH];
            for chunk in matches.chunks(BATCH) {
                for (h, (slot, _)) in batch.iter_mut().zip(chunk) {
                    *h = self.hot.get(*slot as usize).copied().unwrap_or_default();
                }
                for (h, (slot, score)) in batch.iter().zip(chunk) {
                    consider(*slot, h, *score);
                }
            }
        } else {
            match &p.category {
                Some(cat) => {
                    for c in self.tree.subtree(cat) {
                        for slot in self.by_category.get(&c).into_iter().flatten() {
                            if let Some(h) = self.hot.get(*slot as usize) {
                                consider(*slot, h, 0.0);
                            }
                        }
                    }
                }
                None => {
                    for (slot, h) in self.hot.iter().enumerate() {
                        consider(slot as u32, h, 0.0);
                    }
                }
            }
        }
        (scan, corrected.then(|| did_you_mean.join(" ")))
    }

    /// The best-seller boost's scale for a search: `0.1 / ln(1 + max sales)` (up to +10 %
    /// for the best seller), or 0 when nothing has sold. Taken once per search, not per match.
    pub(super) fn boost_scale(&self) -> f64 {
        if self.max_sales > 0 {
            0.1 / f64::from(sold_ln(self.max_sales))
        } else {
            0.0
        }
    }

    /// Ascending key: smaller comes first. `boost_scale` is [`Index::boost_scale`].
    pub(super) fn sort_key(sort: Sort, e: &Hot, score: f32, no_query: bool, boost_scale: f64) -> f64 {
        let sold = e.sold as f64;
        match sort {
            Sort::Relevance if no_query => -sold,
            Sort::Relevance => {
                // up to +10% for the best sellers, so among equal matches they come first
                let boost = boost_scale * f64::from(e.sold_ln);
                -(f64::from(score) * (1.0 + boost))
            }
            Sort::PriceAsc => e.price as f64,
            Sort::PriceDesc => -(e.price as f64),
            Sort::Popularity => -sold,
            Sort::Newest => -(e.created_at as f64),
            Sort::Discount => -f64::from(e.discount),
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
