//! The search index's unit tests.
use super::*;
use crate::product::Category;
use std::collections::BTreeMap;

fn product(id: &str, name: &str, brand: &str, cat: &str, price: i64) -> Arc<Product> {
    Arc::new(Product {
        id: id.into(),
        sku: format!("SKU-{id}"),
        name: name.into(),
        brand: brand.into(),
        description: String::new(),
        category_id: cat.into(),
        unit: "1 pc".into(),
        mrp_paise: price,
        price_paise: price,
        tags: vec![],
        images: vec![],
        attributes: BTreeMap::new(),
        max_per_order: None,
        active: true,
        version: 1,
        created_at: 0,
        updated_at: 0,
        deleted_at: None,
    })
}

fn index() -> Index {
    let cat = |id: &str, parent: Option<&str>, name: &str| Category {
        id: id.into(),
        parent_id: parent.map(Into::into),
        name: name.into(),
        slug: name.to_lowercase(),
        position: 0,
        created_at: 0,
        updated_at: 0,
    };
    let mut ix = Index::new(CategoryTree::new(vec![
        cat("dairy", None, "Dairy"),
        cat("milk", Some("dairy"), "Milk"),
        cat("veg", None, "Vegetables"),
    ]));
    ix.upsert(product("1", "Amul Taaza Toned Milk", "Amul", "milk", 2900));
    ix.upsert(product("2", "Nandini Full Cream Milk", "Nandini", "milk", 3200));
    ix.upsert(product("3", "Amul Butter", "Amul", "dairy", 5600));
    ix.upsert(product("4", "Fresh Tomatoes", "", "veg", 4000));
    ix
}

fn search(ix: &Index, q: &str) -> SearchPage {
    ix.search(&SearchParams {
        q: q.into(),
        limit: 20,
        ..Default::default()
    })
    .unwrap()
}

fn ids(page: &SearchPage) -> Vec<&str> {
    page.items.iter().map(|h| h.id.as_str()).collect()
}

#[test]
fn words_match_with_plurals_prefixes_and_typos() {
    let ix = index();
    assert_eq!(ids(&search(&ix, "tomato")), vec!["4"]);
    assert_eq!(ids(&search(&ix, "amul but")), vec!["3"], "prefix of the last word");
    let typo = search(&ix, "nandni");
    assert_eq!(ids(&typo), vec!["2"]);
    assert_eq!(typo.did_you_mean.as_deref(), Some("nandini"));
    let milk_page = search(&ix, "milk");
    let mut milk = ids(&milk_page);
    milk.sort();
    assert_eq!(milk, vec!["1", "2"], "category words count too");
    assert!(search(&ix, "bread").items.is_empty());
}

#[test]
fn facets_filters_and_cursors_agree() {
    let mut ix = index();
    ix.set_stock("S1", "SKU-1", 3);
    let all = ix
        .search(&SearchParams {
            category: Some("dairy".into()),
            brands: vec!["amul".into()],
            limit: 1,
            sort: Sort::PriceAsc,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.total, 2);
    assert_eq!(ids(&all), vec!["1"]);
    let amul = all.facets.brands.iter().find(|b| b.value == "Amul").unwrap();
    assert_eq!(amul.count, 2);
    assert_eq!(
        all.facets.brands.iter().find(|b| b.value == "Nandini").unwrap().count,
        1
    );
    let next = ix
        .search(&SearchParams {
            category: Some("dairy".into()),
            brands: vec!["amul".into()],
            limit: 1,
            sort: Sort::PriceAsc,
            cursor: all.next_cursor.clone(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&next), vec!["3"]);
    assert!(next.next_cursor.is_none());
    let wrong = ix.search(&SearchParams {
        q: "milk".into(),
        cursor: all.next_cursor,
        sort: Sort::PriceAsc,
        ..Default::default()
    });
    assert!(wrong.is_err());
    let stocked = ix
        .search(&SearchParams {
            store: Some("S1".into()),
            in_stock: true,
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&stocked), vec!["1"]);
    assert_eq!(stocked.items[0].available, Some(3));
}

#[test]
fn removed_and_renamed_products_leave_no_trace() {
    let mut ix = index();
    ix.remove("3");
    assert!(search(&ix, "butter").items.is_empty());
    ix.upsert(product("1", "Amul Gold Milk", "Amul", "milk", 3300));
    assert!(search(&ix, "taaza").items.is_empty());
    assert_eq!(ids(&search(&ix, "gold")), vec!["1"]);
    assert_eq!(ix.len(), 3);
}

fn in_stock_at(ix: &Index, store: &str) -> Vec<String> {
    let page = ix
        .search(&SearchParams {
            store: Some(store.into()),
            in_stock: true,
            limit: 100,
            sort: Sort::PriceAsc,
            ..Default::default()
        })
        .unwrap();
    ids(&page).into_iter().map(str::to_owned).collect()
}

#[test]
fn the_in_stock_filter_follows_every_stock_change_and_slot_reuse() {
    // Stock known before the product is indexed, set after, dropping to zero, per store.
    let mut ix = Index::new(CategoryTree::new(vec![]));
    ix.set_stock("S1", "SKU-5", 4);
    ix.upsert(product("5", "Banana", "", "fruit", 500));
    ix.upsert(product("6", "Apple", "", "fruit", 600));
    assert_eq!(in_stock_at(&ix, "S1"), vec!["5"]);
    ix.set_stock("S1", "SKU-6", 2);
    ix.set_stock("S2", "SKU-6", 1);
    assert_eq!(in_stock_at(&ix, "S1"), vec!["5", "6"]);
    assert_eq!(in_stock_at(&ix, "S2"), vec!["6"]);
    ix.set_stock("S1", "SKU-5", 0);
    assert_eq!(in_stock_at(&ix, "S1"), vec!["6"]);
    assert!(in_stock_at(&ix, "S3").is_empty(), "a store with no stock has nothing");
    // A removed product's slot goes to the next one, which must not inherit its stock.
    ix.remove("6");
    ix.upsert(product("7", "Cherry", "", "fruit", 700));
    assert!(in_stock_at(&ix, "S1").is_empty(), "{:?}", in_stock_at(&ix, "S1"));
    assert!(in_stock_at(&ix, "S2").is_empty());
    // And a rebuild (an import) keeps what is in stock.
    ix.set_stock("S2", "SKU-7", 9);
    ix.upsert_many(vec![product("8", "Date", "", "fruit", 800)]);
    assert_eq!(in_stock_at(&ix, "S2"), vec!["7"]);
}

#[test]
fn paging_through_many_equal_matches_returns_each_once_in_order() {
    // 250 products with one price: the order is by id, pages of 7 cover all, none twice.
    let mut ix = Index::new(CategoryTree::new(vec![]));
    for i in 0..250 {
        ix.upsert(product(
            &format!("0190d5e0-0000-7000-8000-{i:012}"),
            "Same Soap",
            "Brand",
            "home",
            1000,
        ));
    }
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = None;
    loop {
        let page = ix
            .search(&SearchParams {
                q: "soap".into(),
                sort: Sort::PriceAsc,
                limit: 7,
                cursor: cursor.take(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(page.total, 250);
        seen.extend(ids(&page).into_iter().map(str::to_owned));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "in id order, each once");
    assert_eq!(seen.len(), 250);
}

#[test]
fn an_index_built_at_once_answers_as_one_built_product_by_product() {
    let products: Vec<Arc<Product>> = (0..60)
        .map(|i| {
            let cat = ["milk", "veg", "dairy"][i % 3];
            product(
                &format!("{:03}", 59 - i),
                &format!("Item {}", i % 7),
                "B",
                cat,
                100 + (i as i64 % 5),
            )
        })
        .collect();
    let tree = index().tree().clone();
    let built = Index::build(tree.clone(), products.clone());
    let mut one_by_one = Index::new(tree);
    for p in products {
        one_by_one.upsert(p);
    }
    for (q, cat, sort) in [
        ("", Some("dairy"), Sort::PriceAsc),
        ("item", None, Sort::Relevance),
        ("", None, Sort::Newest),
        ("item 3", Some("veg"), Sort::PriceDesc),
    ] {
        let params = SearchParams {
            q: q.into(),
            category: cat.map(Into::into),
            sort,
            limit: 100,
            ..Default::default()
        };
        let (a, b) = (built.search(&params).unwrap(), one_by_one.search(&params).unwrap());
        assert_eq!(ids(&a), ids(&b), "{q:?} {cat:?} {sort:?}");
        assert_eq!(a.total, b.total);
        assert_eq!(a.facets.brands, b.facets.brands);
        assert_eq!(a.facets.categories, b.facets.categories);
    }
}

#[test]
fn tags_filter_by_every_tag_asked_including_past_the_first_sixty_four() {
    let mut ix = Index::new(CategoryTree::new(vec![]));
    // Seventy tags seen first, so "veg" and "organic" are past the first 64.
    for i in 0..70 {
        let mut p = (*product(&format!("t{i:02}"), "Filler", "", "x", 100)).clone();
        p.tags = vec![format!("tag{i}")];
        ix.upsert(Arc::new(p));
    }
    for (id, tags) in [
        ("a", vec!["veg", "organic"]),
        ("b", vec!["veg"]),
        ("c", vec!["tag3", "veg"]),
    ] {
        let mut p = (*product(id, "Leaf", "", "x", 100)).clone();
        p.tags = tags.into_iter().map(str::to_owned).collect();
        ix.upsert(Arc::new(p));
    }
    let tagged = |tags: &[&str]| {
        let page = ix
            .search(&SearchParams {
                tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                sort: Sort::PriceAsc,
                limit: 100,
                ..Default::default()
            })
            .unwrap();
        let mut got: Vec<String> = ids(&page).into_iter().map(str::to_owned).collect();
        got.sort();
        got
    };
    assert_eq!(tagged(&["veg"]), vec!["a", "b", "c"]);
    assert_eq!(tagged(&["veg", "organic"]), vec!["a"]);
    assert_eq!(tagged(&["tag3"]), vec!["c", "t03"]);
    assert_eq!(tagged(&["tag3", "veg"]), vec!["c"]);
    assert!(tagged(&["vegan"]).is_empty(), "a tag no product has matches nothing");
}

#[test]
fn words_are_matched_alike_after_slots_are_freed_and_reused_out_of_order() {
    // Forty products, every other one named "masala"; the first ten removed, then new
    // products take their slots (lower than every remaining one) in reverse: the posting
    // lists must stay in slot order for the merge of a prefix's words and the
    // intersection of a query's words to find every match once.
    let mut ix = index();
    for i in 0..40 {
        let word = if i % 2 == 0 { "masala" } else { "mango" };
        ix.upsert(product(
            &format!("p{i:02}"),
            &format!("Spicy {word} mix"),
            "Tata",
            "veg",
            1000 + i,
        ));
    }
    for i in 0..10 {
        ix.remove(&format!("p{i:02}"));
    }
    for i in (0..10).rev() {
        ix.upsert(product(
            &format!("n{i:02}"),
            "Spicy mango masala mix",
            "Tata",
            "veg",
            5000 + i,
        ));
    }
    let sorted = |page: &SearchPage| {
        let mut v: Vec<String> = ids(page).into_iter().map(str::to_owned).collect();
        v.sort();
        v
    };
    let mut masala: Vec<String> = (10..40).step_by(2).map(|i| format!("p{i:02}")).collect();
    masala.extend((0..10).map(|i| format!("n{i:02}")));
    masala.sort();
    let all = |q: &str| {
        let page = ix.search(&SearchParams {
            q: q.into(),
            limit: 100,
            ..Default::default()
        });
        page.map(|p| sorted(&p)).unwrap_or_default()
    };
    assert_eq!(
        all("spicy masala"),
        masala,
        "both words: the masala products and the new ones"
    );
    // "ma" while typing: masala and mango, so every one of the forty products, each once.
    let typed = all("spicy ma");
    let mut every: Vec<String> = (10..40).map(|i| format!("p{i:02}")).collect();
    every.extend((0..10).map(|i| format!("n{i:02}")));
    every.sort();
    assert_eq!(typed, every, "a prefix's words merged: each product once");
    // The new products match the narrow query only once though they carry both words.
    let both = search(&ix, "mango masala");
    assert_eq!(both.total, 10);
}

#[test]
fn the_hot_array_stays_within_56_bytes_a_slot() {
    // The filter loop reads one of these per match; growing it slows every broad search.
    assert!(
        std::mem::size_of::<Hot>() <= 56,
        "Hot is {} bytes",
        std::mem::size_of::<Hot>()
    );
}

#[test]
fn best_sellers_come_first_among_equal_matches_and_follow_sales_as_they_change() {
    let mut ix = index();
    // "milk" matches both milks equally (the ids break the tie).
    let page = search(&ix, "milk");
    assert_eq!(page.items[0].score, page.items[1].score);
    let (a, b) = (page.items[0].id.clone(), page.items[1].id.clone());
    // the second of the tie sells: it comes first, by a tenth (all the boost is the best seller's)
    ix.set_sales(&format!("SKU-{b}"), 100);
    let page = search(&ix, "milk");
    assert_eq!(ids(&page)[..2], [b.as_str(), a.as_str()]);
    let (best, other) = (page.items[0].score.unwrap(), page.items[1].score.unwrap());
    assert!((best / other - 1.1).abs() < 1e-4, "{best} vs {other}");
    // the first sells more: it is first again, the other keeps a smaller boost
    ix.set_sales(&format!("SKU-{a}"), 1000);
    let page = search(&ix, "milk");
    assert_eq!(ids(&page)[..2], [a.as_str(), b.as_str()]);
    let (best, other) = (page.items[0].score.unwrap(), page.items[1].score.unwrap());
    let expected = 1.0 + 0.1 * (101f32.ln() / 1001f32.ln());
    assert!((best / other - 1.1 / expected).abs() < 1e-4, "{best} vs {other}");
    // a product indexed after its sales were counted carries them
    ix.set_sales("SKU-5", 5000);
    ix.upsert(product("5", "Heritage Milk", "Heritage", "milk", 3000));
    assert_eq!(ids(&search(&ix, "milk"))[0], "5");
}
