//! The demo marketplace for `souk serve --demo`: 3 vendors, 60 products with variants,
//! a category tree and image URLs. Deterministic, written through the same path as imports.

use std::collections::HashMap;

use souk_domain::catalog::{Handle, ImageDraft, ProductDraft, ProductStatus, VariantDraft};
use souk_domain::html;
use souk_domain::money::Currency;
use souk_storage::media::{MediaFile, MediaStore};
use souk_storage::{Db, catalog, now_ms};

struct Line {
    vendor: (&'static str, &'static str),
    category: [&'static str; 2],
    nouns: [&'static str; 4],
    adjectives: [&'static str; 5],
    options: &'static [(&'static str, &'static [&'static str])],
    base_price: i64,
    blurb: &'static str,
}

const LINES: &[Line] = &[
    Line {
        vendor: ("atlas-outfitters", "Atlas Outfitters"),
        category: ["Apparel", "Tops"],
        nouns: ["T-Shirt", "Hoodie", "Polo", "Sweatshirt"],
        adjectives: [
            "Classic",
            "Organic Cotton",
            "Heavyweight",
            "Vintage Wash",
            "Everyday",
        ],
        options: &[
            ("Size", &["S", "M", "L", "XL"]),
            ("Colour", &["Black", "Sand", "Forest"]),
        ],
        base_price: 2400,
        blurb: "Cut from soft, breathable cotton and built to be worn every day.",
    },
    Line {
        vendor: ("copper-and-clay", "Copper & Clay"),
        category: ["Home", "Kitchen"],
        nouns: ["Mug", "Bowl", "Teapot", "Serving Plate"],
        adjectives: ["Hand-Thrown", "Speckled", "Glazed", "Stoneware", "Rustic"],
        options: &[("Colour", &["Ivory", "Slate", "Terracotta"])],
        base_price: 1800,
        blurb: "Made by hand in a small studio; every piece is a little different.",
    },
    Line {
        vendor: ("trailhead-supply", "Trailhead Supply"),
        category: ["Outdoors", "Gear"],
        nouns: ["Backpack", "Water Bottle", "Headlamp", "Camp Lantern"],
        adjectives: [
            "Ultralight",
            "Rugged",
            "Packable",
            "All-Weather",
            "Expedition",
        ],
        options: &[("Capacity", &["Small", "Large"])],
        base_price: 3500,
        blurb: "Tested on long trails and built to come home in one piece.",
    },
];

/// The demo catalog as (vendor handle, vendor name, product) triples.
pub fn demo_products() -> Vec<(&'static str, &'static str, ProductDraft)> {
    let mut out = Vec::new();
    for (l, line) in LINES.iter().enumerate() {
        for i in 0..20usize {
            let noun = line.nouns[i % line.nouns.len()];
            let adjective = line.adjectives[i / line.nouns.len() % line.adjectives.len()];
            let title = format!("{adjective} {noun}");
            let handle = Handle::slugify(&title).expect("demo titles slugify");
            let option_names: Vec<String> =
                line.options.iter().map(|(n, _)| (*n).to_owned()).collect();
            let mut combos: Vec<Vec<String>> = vec![vec![]];
            for (_, values) in line.options {
                combos = combos
                    .into_iter()
                    .flat_map(|c| {
                        values.iter().map(move |v| {
                            let mut c = c.clone();
                            c.push((*v).to_owned());
                            c
                        })
                    })
                    .collect();
            }
            let price = line.base_price + (i as i64 % 7) * 300 + (l as i64) * 50;
            let variants = combos
                .into_iter()
                .enumerate()
                .map(|(k, values)| VariantDraft {
                    sku: Some(format!(
                        "{}-{:02}-{:02}",
                        &line.vendor.0[..3].to_uppercase(),
                        i,
                        k
                    )),
                    option_values: values,
                    price: price + (k as i64 % 2) * 200,
                    compare_at_price: (i % 5 == 0).then_some(price + 1000),
                    // A few sold-out products so `in_stock=true` has something to filter.
                    stock: Some(if i % 9 == 4 {
                        0
                    } else {
                        ((i * 7 + k * 3) % 25 + 1) as i64
                    }),
                    track_inventory: true,
                    grams: 250 + (k as i64) * 50,
                })
                .collect();
            let images = (1..=2)
                .map(|n| ImageDraft {
                    url: format!("https://picsum.photos/seed/{handle}-{n}/800/800"),
                    alt: format!("{title}, view {n}"),
                })
                .collect();
            let draft = ProductDraft {
                description_html: html::sanitize(&format!(
                    "<p><strong>{title}</strong> from {}.</p><p>{}</p>",
                    line.vendor.1.replace('&', "&amp;"),
                    line.blurb
                )),
                handle,
                title,
                product_type: noun.to_owned(),
                tags: vec![line.category[0].to_lowercase(), noun.to_lowercase()],
                status: ProductStatus::Published,
                category_path: vec![line.category[0].to_owned(), line.category[1].to_owned()],
                option_names,
                variants,
                images,
            };
            out.push((line.vendor.0, line.vendor.1, draft));
        }
    }
    out
}

/// A sign-in made for the demo, shown once when the demo is seeded.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    /// `platform admin`, or the vendor's name for its owner.
    pub role: String,
    pub email: String,
    pub password: String,
}

/// What seeding the demo made.
#[derive(Debug, Default)]
pub struct DemoSeed {
    pub products: usize,
    /// A platform admin and one owner per demo vendor, with random passwords: so a newcomer
    /// can sign in as each role. Not stored anywhere in plain text; printed once.
    pub accounts: Vec<DemoAccount>,
}

/// The demo's sign-ins: a platform admin and one owner per vendor (`<vendor>@demo.example`,
/// a reserved domain that never receives mail).
fn demo_accounts(vendors: &[(&'static str, &'static str)]) -> Vec<DemoAccount> {
    let mut accounts = vec![DemoAccount {
        role: "platform admin".to_owned(),
        email: "admin@demo.example".to_owned(),
        password: souk_domain::accounts::random_password(),
    }];
    for (handle, name) in vendors {
        accounts.push(DemoAccount {
            role: format!("owner of {name}"),
            email: format!("{handle}@demo.example"),
            password: souk_domain::accounts::random_password(),
        });
    }
    accounts
}

/// Seeds the demo marketplace if there are no products yet: the catalog, and the demo's
/// accounts (see [`DemoSeed::accounts`]). Nothing when the catalog is not empty.
pub async fn seed_demo(
    db: &Db,
    currency: Currency,
    media: Option<&MediaStore>,
) -> anyhow::Result<DemoSeed> {
    if catalog::count_products(db).await? > 0 {
        return Ok(DemoSeed::default());
    }
    let mut vendor_names: Vec<(&'static str, &'static str)> = Vec::new();
    for (handle, name, _) in demo_products() {
        if !vendor_names.iter().any(|(h, _)| *h == handle) {
            vendor_names.push((handle, name));
        }
    }
    let accounts = demo_accounts(&vendor_names);
    // Hashing is slow on purpose: off the async threads, all at once.
    let hashing: Vec<_> = accounts
        .iter()
        .map(|a| {
            let password = a.password.clone();
            tokio::task::spawn_blocking(move || souk_domain::accounts::hash_password(&password))
        })
        .collect();
    let mut hashes = Vec::new();
    for hash in hashing {
        hashes.push(hash.await?);
    }
    let mut products = demo_products();
    let pictures = match media {
        Some(store) => demo_pictures(store, &mut products).await?,
        None => Vec::new(),
    };
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let mut categories = HashMap::new();
    let mut vendors = HashMap::new();
    for (i, (vendor_handle, vendor_name, draft)) in products.iter().enumerate() {
        if !vendors.contains_key(vendor_handle) {
            let handle = Handle::parse(vendor_handle)?;
            let record = catalog::ensure_vendor(&mut tx, &handle, vendor_name, now).await?;
            vendors.insert(*vendor_handle, record);
        }
        let category =
            catalog::ensure_category_path(&mut tx, &draft.category_path, &mut categories, now)
                .await?;
        // Spread creation times so "newest" has a visible order.
        catalog::upsert_product(
            &mut tx,
            &vendors[vendor_handle],
            draft,
            category.as_slice(),
            currency,
            now - 60_000 * (products.len() - i) as i64,
        )
        .await?;
    }
    for (vendor_handle, files) in &pictures {
        for file in files {
            souk_storage::media::record(&mut tx, vendors[vendor_handle].id, file, now).await?;
        }
    }
    for (i, (account, hash)) in accounts.iter().zip(&hashes).enumerate() {
        let name = account.email.split('@').next().unwrap_or("demo");
        let user = souk_storage::accounts::create_user(&mut tx, &account.email, name, hash, i == 0)
            .await?;
        souk_storage::accounts::mark_email_verified(&mut tx, user.id).await?;
        if i > 0 {
            let (handle, _) = vendor_names[i - 1];
            souk_storage::vendors::add_member(&mut tx, vendors[handle].id, user.id, "owner")
                .await?;
        }
    }
    tx.commit().await?;
    Ok(DemoSeed {
        products: products.len(),
        accounts,
    })
}

/// Pictures for the demo products, made and stored in `store` (two views of each kind of
/// product, with thumbnails, as an upload would have them), replacing the products' image
/// URLs: the demo then shows images without reaching the internet. The files of each vendor,
/// to record in the database.
async fn demo_pictures(
    store: &MediaStore,
    products: &mut [(&'static str, &'static str, ProductDraft)],
) -> anyhow::Result<Vec<(&'static str, Vec<MediaFile>)>> {
    let store = store.clone();
    let kinds: Vec<(usize, usize, &'static str)> = LINES
        .iter()
        .enumerate()
        .flat_map(|(l, line)| (0..line.nouns.len()).map(move |n| (l, n, line.vendor.0)))
        .collect();
    let made = tokio::task::spawn_blocking(move || {
        let mut made = HashMap::new();
        for (l, n, vendor) in kinds {
            for view in 0..2u8 {
                let hue = [28.0, 12.0, 150.0][l % 3] + 9.0 * n as f32;
                let bytes = souk_app::images::illustration(640, hue, n as u8, f32::from(view));
                let files = souk_app::product_images::process_and_store(&store, bytes)
                    .map_err(|e| anyhow::anyhow!("demo picture: {e}"))?;
                made.insert((l, n, view), (vendor, files));
            }
        }
        anyhow::Ok(made)
    })
    .await??;
    for (i, (_, _, draft)) in products.iter_mut().enumerate() {
        let (l, k) = (i / 20, i % 20);
        let n = k % LINES[l].nouns.len();
        for (view, image) in draft.images.iter_mut().enumerate() {
            if let Some((_, files)) = made.get(&(l, n, view as u8)) {
                image.url = format!("/media/{}", files[0].name);
            }
        }
    }
    let mut by_vendor: HashMap<&'static str, Vec<MediaFile>> = HashMap::new();
    for (vendor, files) in made.into_values() {
        by_vendor.entry(vendor).or_default().extend(files);
    }
    Ok(by_vendor.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_catalog_is_valid_and_unique() {
        let products = demo_products();
        assert_eq!(products.len(), 60);
        let mut handles = std::collections::HashSet::new();
        let mut skus = std::collections::HashSet::new();
        for (_, _, p) in &products {
            assert_eq!(p.validate(), Vec::<String>::new(), "{}", p.handle);
            assert!(
                handles.insert(p.handle.clone()),
                "duplicate handle {}",
                p.handle
            );
            for v in &p.variants {
                assert!(skus.insert(v.sku.clone().unwrap()), "duplicate sku");
            }
        }
        assert_eq!(
            products
                .iter()
                .map(|p| p.0)
                .collect::<std::collections::HashSet<_>>()
                .len(),
            3
        );
    }
}
