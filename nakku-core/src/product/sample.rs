//! A synthetic grocery catalogue of any size, deterministic for a given size: five aisles
//! of four shelves, forty brands, twenty kinds of product, ten descriptions, prices from
//! ₹10 to ₹510. Used by `nakku bench catalogue` (and meant for seeding).

use super::CategoryInput;

pub const BRANDS: [&str; 40] = [
    "Amul",
    "Nandini",
    "Britannia",
    "Haldiram",
    "Tata",
    "Aashirvaad",
    "Fortune",
    "Parle",
    "Cadbury",
    "Nestle",
    "Mtr",
    "Lays",
    "Kurkure",
    "Dabur",
    "Patanjali",
    "Itc",
    "Sunfeast",
    "Bingo",
    "Maggi",
    "Saffola",
    "Everest",
    "Catch",
    "Kissan",
    "Dettol",
    "Lifebuoy",
    "Surf",
    "Ariel",
    "Tide",
    "Horlicks",
    "Bournvita",
    "Kelloggs",
    "Quaker",
    "Epigamia",
    "Akshayakalpa",
    "Milky",
    "Gowardhan",
    "Heritage",
    "Dodla",
    "Hatsun",
    "Arokya",
];
pub const KINDS: [&str; 20] = [
    "chocolate",
    "biscuit",
    "noodle",
    "rice",
    "atta",
    "ghee",
    "paneer",
    "curd",
    "juice",
    "coffee",
    "tea",
    "soap",
    "shampoo",
    "detergent",
    "chips",
    "namkeen",
    "honey",
    "jam",
    "ketchup",
    "oats",
];
pub const DESCRIPTIONS: [&str; 10] = [
    "classic", "premium", "organic", "spicy", "sweet", "roasted", "fresh", "instant", "crunchy", "masala",
];
pub const AISLES: [(&str, [&str; 4]); 5] = [
    ("Pantry", ["Staples", "Spreads", "Sauces", "Oils"]),
    ("Beverages", ["Hot Drinks", "Cold Drinks", "Energy", "Mixers"]),
    ("Household", ["Cleaning", "Laundry", "Bath", "Kitchen Care"]),
    ("Snacks", ["Savoury", "Mithai", "Crackers", "Nuts"]),
    ("Breakfast", ["Cereals", "Porridge", "Bakery", "Eggs"]),
];

fn slug(name: &str) -> String {
    super::slugify(name)
}

/// The categories, parents before children.
pub fn categories() -> Vec<CategoryInput> {
    let mut out = Vec::new();
    for (aisle, shelves) in AISLES {
        out.push(CategoryInput {
            name: Some(aisle.to_owned()),
            ..Default::default()
        });
        for shelf in shelves {
            out.push(CategoryInput {
                name: Some(shelf.to_owned()),
                parent: Some(Some(slug(aisle))),
                ..Default::default()
            });
        }
    }
    out
}

/// Product `i` of the sample as a CSV line (see `import` for the columns written by
/// [`csv`]).
fn line(i: usize) -> String {
    let shelf = AISLES[(i * 7) % 20 / 4].1[(i * 7) % 4];
    let grams = 100 + (i % 9) * 50;
    let mut tags = Vec::new();
    if i.is_multiple_of(3) {
        tags.push("veg");
    }
    if i.is_multiple_of(5) {
        tags.push("bestseller");
    }
    let price = 1000 + (i as i64 * 37) % 50_000;
    format!(
        "SKU-{i:06},{brand} {desc} {kind} {grams}g,{brand},{cat},{grams} g,{price},{mrp},{tags}\n",
        brand = BRANDS[i % 40],
        desc = DESCRIPTIONS[(i / 800) % 10],
        kind = KINDS[(i / 40) % 20],
        cat = slug(shelf),
        mrp = price + (i as i64 % 4) * 500,
        tags = tags.join("|"),
    )
}

/// `n` products as an import CSV.
pub fn csv(n: usize) -> String {
    let mut out = String::with_capacity(n * 80 + 64);
    out.push_str("sku,name,brand,category,unit,price_paise,mrp_paise,tags\n");
    for i in 0..n {
        out.push_str(&line(i));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_imports_cleanly() {
        let rows = crate::product::import::parse_csv(csv(100).as_bytes()).unwrap();
        assert_eq!(rows.len(), 100);
        assert!(rows.iter().all(|r| r.input.is_ok()));
        assert_eq!(categories().len(), 25);
    }
}
