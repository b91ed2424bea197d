//! A generated catalog of any size for benchmarks, plan checks and trials (`souk demo
//! --products N`): realistic titles and descriptions, 1–5 variants by size and colour, a
//! two-level category tree, several vendors and a wide price spread. Deterministic for a seed,
//! written through the same path as imports.

use std::collections::HashMap;

use souk_domain::catalog::{Handle, ImageDraft, ProductDraft, ProductStatus, VariantDraft};
use souk_domain::html;
use souk_domain::money::Currency;
use souk_storage::{Db, catalog, now_ms};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct CatalogSpec {
    pub products: usize,
    pub vendors: usize,
    pub seed: u64,
}

/// splitmix64: a tiny, well-mixed generator; a catalog is reproducible from its seed.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Department → (category, nouns, base price in minor units, sized?).
type Department = (
    &'static str,
    &'static [(&'static str, &'static [&'static str], i64, bool)],
);

const DEPARTMENTS: &[Department] = &[
    (
        "Apparel",
        &[
            (
                "Tops",
                &["T-Shirt", "Hoodie", "Sweater", "Polo", "Blouse", "Cardigan"],
                2500,
                true,
            ),
            (
                "Bottoms",
                &["Jeans", "Chinos", "Shorts", "Skirt", "Joggers"],
                4000,
                true,
            ),
            (
                "Outerwear",
                &["Jacket", "Parka", "Raincoat", "Vest", "Overshirt"],
                9000,
                true,
            ),
        ],
    ),
    (
        "Home",
        &[
            (
                "Kitchen",
                &[
                    "Mug",
                    "Bowl",
                    "Teapot",
                    "Skillet",
                    "Cutting Board",
                    "Carafe",
                ],
                1800,
                false,
            ),
            (
                "Living",
                &["Cushion", "Throw", "Vase", "Table Lamp", "Rug"],
                3500,
                false,
            ),
            (
                "Bath",
                &["Towel", "Bath Mat", "Soap Dish", "Robe"],
                2200,
                false,
            ),
        ],
    ),
    (
        "Outdoor",
        &[
            (
                "Camping",
                &["Tent", "Sleeping Bag", "Lantern", "Camp Stove", "Hammock"],
                6000,
                false,
            ),
            (
                "Hiking",
                &["Backpack", "Trekking Poles", "Water Bottle", "Gaiters"],
                4500,
                false,
            ),
        ],
    ),
    (
        "Electronics",
        &[
            (
                "Audio",
                &["Headphones", "Speaker", "Earbuds", "Turntable"],
                8000,
                false,
            ),
            (
                "Accessories",
                &["Charger", "Cable", "Power Bank", "Phone Case", "Stand"],
                1500,
                false,
            ),
        ],
    ),
    (
        "Beauty",
        &[
            (
                "Skincare",
                &["Moisturiser", "Serum", "Cleanser", "Face Oil"],
                2000,
                false,
            ),
            (
                "Fragrance",
                &["Candle", "Eau de Parfum", "Diffuser", "Room Spray"],
                3000,
                false,
            ),
        ],
    ),
    (
        "Stationery",
        &[
            (
                "Paper",
                &["Notebook", "Journal", "Planner", "Sketchbook"],
                1200,
                false,
            ),
            (
                "Writing",
                &["Fountain Pen", "Pencil Set", "Ink", "Brush Pen"],
                1600,
                false,
            ),
        ],
    ),
];

const ADJECTIVES: &[&str] = &[
    "Classic",
    "Organic",
    "Vintage",
    "Heavyweight",
    "Lightweight",
    "Hand-Thrown",
    "Rustic",
    "Modern",
    "Minimal",
    "Waterproof",
    "Packable",
    "Everyday",
    "Premium",
    "Recycled",
    "Artisan",
    "Nordic",
    "Coastal",
    "Alpine",
    "Urban",
    "Heritage",
    "Studio",
    "Field",
    "Travel",
    "Cosy",
    "Rugged",
    "Compact",
    "Deluxe",
    "Matte",
    "Speckled",
    "Brushed",
];

const MATERIALS: &[&str] = &[
    "Cotton",
    "Linen",
    "Wool",
    "Silk",
    "Leather",
    "Canvas",
    "Stoneware",
    "Porcelain",
    "Steel",
    "Aluminium",
    "Bamboo",
    "Oak",
    "Walnut",
    "Glass",
    "Nylon",
    "Cork",
    "Copper",
    "Brass",
    "Merino",
    "Hemp",
];

const BENEFITS: &[&str] = &[
    "Built to last for years of daily use.",
    "Light enough to take anywhere.",
    "Designed in a small studio and made in limited runs.",
    "Finished by hand, so every piece is a little different.",
    "Easy to care for and quick to dry.",
    "A gift that gets used every day.",
    "Tested on long weekends in the mountains.",
    "Made from responsibly sourced materials.",
    "Pairs well with the rest of the range.",
    "Comes in recyclable packaging.",
];

const CARE: &[&str] = &[
    "Machine washable at 30 °C.",
    "Wipe clean with a damp cloth.",
    "Dishwasher and microwave safe.",
    "Store somewhere cool and dry.",
    "Hand wash only.",
];

const SIZES: &[&str] = &["XS", "S", "M", "L", "XL"];
const COLOURS: &[&str] = &[
    "Black", "White", "Sand", "Forest", "Navy", "Rust", "Slate", "Ochre", "Sage", "Ivory",
];

const VENDOR_FIRST: &[&str] = &[
    "Atlas",
    "Copper",
    "Trailhead",
    "Northwind",
    "Juniper",
    "Harbor",
    "Meadow",
    "Granite",
    "Saffron",
    "Willow",
    "Ember",
    "Tide",
    "Cedar",
    "Lumen",
    "Fable",
    "Orchard",
];
const VENDOR_SECOND: &[&str] = &[
    "Supply",
    "Goods",
    "Studio",
    "Works",
    "Trading",
    "House",
    "Outfitters",
    "Collective",
];

/// The `i`th vendor's handle and name.
pub fn vendor(i: usize) -> (String, String) {
    let name = format!(
        "{} {}",
        VENDOR_FIRST[i % VENDOR_FIRST.len()],
        VENDOR_SECOND[(i / VENDOR_FIRST.len()) % VENDOR_SECOND.len()]
    );
    let name = if i >= VENDOR_FIRST.len() * VENDOR_SECOND.len() {
        format!("{name} {}", i + 1)
    } else {
        name
    };
    (format!("gen-vendor-{:03}", i + 1), name)
}

/// The `i`th product of a catalog of `spec` and the index of its vendor.
pub fn product(spec: &CatalogSpec, i: usize) -> (usize, ProductDraft) {
    let mut rng = Rng(spec.seed ^ (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let (department, categories) = rng.pick(DEPARTMENTS);
    let &(category, nouns, base, sized) = rng.pick(categories);
    let noun = *rng.pick(nouns);
    let adjective = *rng.pick(ADJECTIVES);
    let material = *rng.pick(MATERIALS);
    let title = format!("{adjective} {material} {noun}");
    let handle = Handle::parse(&format!(
        "{}-{}",
        Handle::slugify(&title).map_or_else(|| "item".to_owned(), |h| h.as_str().to_owned()),
        i + 1
    ))
    .expect("generated handles are valid");
    // Prices spread log-uniformly from a third to five times the category's base.
    let price = ((base as f64) * (1.0 / 3.0) * 15f64.powf(rng.unit())).round() as i64 / 10 * 10;
    let price = price.max(100);
    let variant_count = 1 + rng.below(5);
    let (option_names, values): (Vec<String>, Vec<Vec<String>>) = if sized && variant_count > 1 {
        let colour = *rng.pick(COLOURS);
        (
            vec!["Size".to_owned(), "Colour".to_owned()],
            SIZES
                .iter()
                .take(variant_count)
                .map(|s| vec![(*s).to_owned(), colour.to_owned()])
                .collect(),
        )
    } else if variant_count > 1 {
        let first = rng.below(COLOURS.len());
        (
            vec!["Colour".to_owned()],
            (0..variant_count)
                .map(|k| vec![COLOURS[(first + k) % COLOURS.len()].to_owned()])
                .collect(),
        )
    } else {
        (Vec::new(), vec![Vec::new()])
    };
    let variants = values
        .into_iter()
        .enumerate()
        .map(|(k, option_values)| VariantDraft {
            sku: Some(format!("G{:06}-{k}", i + 1)),
            option_values,
            price: price + (k as i64) * (price / 20 / 10 * 10),
            compare_at_price: (rng.below(8) == 0).then_some(price + price / 4),
            // About one product in twelve is sold out.
            stock: Some(if rng.below(12) == 0 {
                0
            } else {
                1 + rng.below(200) as i64
            }),
            track_inventory: true,
            grams: 100 + rng.below(2000) as i64,
        })
        .collect();
    let images = (1..=1 + rng.below(2))
        .map(|n| ImageDraft {
            url: format!("https://picsum.photos/seed/{handle}-{n}/800/800"),
            alt: format!("{title}, view {n}"),
        })
        .collect();
    let article = if adjective.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "An"
    } else {
        "A"
    };
    let description = format!(
        "<p>{article} {} {} {} in {}.</p><p>{} {}</p>",
        adjective.to_lowercase(),
        material.to_lowercase(),
        noun.to_lowercase(),
        rng.pick(COLOURS).to_lowercase(),
        rng.pick(BENEFITS),
        rng.pick(CARE)
    );
    let draft = ProductDraft {
        description_html: html::sanitize(&description),
        handle,
        title,
        product_type: noun.to_owned(),
        tags: vec![department.to_lowercase(), material.to_lowercase()],
        status: ProductStatus::Published,
        category_path: vec![(*department).to_owned(), category.to_owned()],
        option_names,
        variants,
        images,
    };
    (i % spec.vendors.max(1), draft)
}

/// Products per write transaction: large enough to amortise the commit, small enough to
/// keep one transaction's memory and lock time modest.
const BATCH: usize = 1000;

/// Writes a generated catalog into an empty one; returns how many products it wrote.
/// `progress` is called after each batch with the count so far.
pub async fn write_catalog(
    db: &Db,
    currency: Currency,
    spec: &CatalogSpec,
    mut progress: impl FnMut(usize),
) -> anyhow::Result<usize> {
    if catalog::count_products(db).await? > 0 {
        anyhow::bail!("the catalog is not empty: generate into a new database");
    }
    let now = now_ms();
    let mut categories = HashMap::new();
    // Each path's leaf, once known (ensure_category_path reads the tree again on every call).
    let mut leaves: HashMap<Vec<String>, Option<uuid::Uuid>> = HashMap::new();
    let mut vendors = HashMap::new();
    let mut written = 0;
    while written < spec.products {
        let end = (written + BATCH).min(spec.products);
        let drafts: Vec<(usize, ProductDraft)> = (written..end).map(|i| product(spec, i)).collect();
        let mut tx = db.begin_write().await?;
        let mut placed = Vec::with_capacity(drafts.len());
        for (v, draft) in &drafts {
            if !vendors.contains_key(v) {
                let (handle, name) = vendor(*v);
                let record =
                    catalog::ensure_vendor(&mut tx, &Handle::parse(&handle)?, &name, now).await?;
                vendors.insert(*v, record);
            }
            let category = match leaves.get(&draft.category_path) {
                Some(&leaf) => leaf,
                None => {
                    let leaf = catalog::ensure_category_path(
                        &mut tx,
                        &draft.category_path,
                        &mut categories,
                        now,
                    )
                    .await?;
                    leaves.insert(draft.category_path.clone(), leaf);
                    leaf
                }
            };
            placed.push(category);
        }
        let rows: Vec<catalog::NewProduct<'_>> = drafts
            .iter()
            .zip(&placed)
            .enumerate()
            .map(|(k, ((v, draft), category))| catalog::NewProduct {
                vendor: &vendors[v],
                draft,
                categories: category.as_slice(),
                // One second apart, newest last, so "newest" has a stable order.
                created_at: now - 1000 * (spec.products - (written + k)) as i64,
            })
            .collect();
        catalog::insert_new_products(&mut tx, &rows, currency).await?;
        tx.commit().await?;
        written = end;
        progress(written);
    }
    catalog::refresh_statistics(db).await?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_products_are_valid_varied_and_reproducible() {
        let spec = CatalogSpec {
            products: 2000,
            vendors: 20,
            seed: 7,
        };
        let mut handles = std::collections::HashSet::new();
        let mut variant_counts = [0usize; 6];
        let (mut low, mut high) = (i64::MAX, 0);
        for i in 0..spec.products {
            let (v, p) = product(&spec, i);
            assert!(v < 20);
            assert_eq!(p.validate(), Vec::<String>::new(), "{}", p.handle);
            assert!(handles.insert(p.handle.clone()), "duplicate {}", p.handle);
            variant_counts[p.variants.len()] += 1;
            for variant in &p.variants {
                low = low.min(variant.price);
                high = high.max(variant.price);
            }
        }
        assert!(
            variant_counts[1..=5].iter().all(|&n| n > 0),
            "{variant_counts:?}"
        );
        assert!(low < 1000 && high > 30_000, "price spread {low}..{high}");
        assert_eq!(product(&spec, 42).1.title, product(&spec, 42).1.title);
        assert_eq!(vendor(0).0, "gen-vendor-001");
    }
}
