//! Creating and editing a product on one form that works without JavaScript: its fields,
//! categories, options, variants (a row each, with blank rows to add more) and images' alt
//! text. The page and the form share one map of field names to text, so a refused form comes
//! back exactly as typed. A variant's stock is sent only when the seller changed it: orders
//! placed while the form was open are not undone by saving it.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;
use souk_app::products::{ProductForm, VariantForm};
use souk_app::{AppError, FieldProblem};
use souk_domain::catalog::{
    CategoryNode, Handle, MAX_IMAGES, MAX_OPTIONS, MAX_VARIANTS, Product, category_tree,
};
use souk_domain::money::{Currency, format_decimal, parse_decimal};
use uuid::Uuid;

use super::{VendorForm, VendorSession, chrome};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::web::panel::done;
use crate::web::session::CsrfField;
use crate::web::{CspNonce, Flash, Page, PageError};

/// Empty variant rows under the existing ones: room to add variants without JavaScript.
const BLANK_ROWS: usize = 3;
const STATUSES: [&str; 3] = ["draft", "published", "archived"];

/// The editor's fields by name (`title`, `cat:<handle>`, `v3.price`, `img0.alt`…).
#[derive(Debug, Default, Deserialize)]
pub struct EditorForm {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    fields: HashMap<String, String>,
}

impl CsrfField for EditorForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub(super) type Fields = BTreeMap<String, String>;

fn text<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.get(name).map_or("", |v| v.trim())
}

/// How many numbered rows (`v0.`, `v1.`… or `img0.`…) the fields hold.
fn rows(fields: &Fields, prefix: &str, max: usize) -> usize {
    fields
        .keys()
        .filter_map(|k| {
            k.strip_prefix(prefix)?
                .split_once('.')?
                .0
                .parse::<usize>()
                .ok()
        })
        .filter(|i| *i < max)
        .map(|i| i + 1)
        .max()
        .unwrap_or(0)
}

/// A stored product as the editor's fields.
pub(super) fn fields_of(p: &Product) -> Fields {
    let mut f = Fields::new();
    f.insert("title".into(), p.title.clone());
    f.insert("handle".into(), p.handle.clone());
    f.insert("description".into(), p.description_html.clone());
    f.insert("product_type".into(), p.product_type.clone());
    f.insert("tags".into(), p.tags.join(", "));
    f.insert("status".into(), p.status.as_str().into());
    for c in &p.categories {
        f.insert(format!("cat:{}", c.handle), "on".into());
    }
    for (i, o) in p.options.iter().enumerate() {
        f.insert(format!("option{}", i + 1), o.name.clone());
    }
    for (i, v) in p.variants.iter().enumerate() {
        for (j, (_, value)) in v.options.iter().enumerate() {
            f.insert(format!("v{i}.o{}", j + 1), value.clone());
        }
        let currency = v.price.currency;
        f.insert(format!("v{i}.sku"), v.sku.clone().unwrap_or_default());
        f.insert(
            format!("v{i}.price"),
            format_decimal(v.price.amount, currency),
        );
        if let Some(c) = &v.compare_at_price {
            f.insert(
                format!("v{i}.compare_at"),
                format_decimal(c.amount, currency),
            );
        }
        f.insert(format!("v{i}.stock"), v.stock.to_string());
        f.insert(format!("v{i}.stock_was"), v.stock.to_string());
        f.insert(format!("v{i}.grams"), v.grams.to_string());
        if v.track_inventory {
            f.insert(format!("v{i}.track"), "on".into());
        }
    }
    for (i, image) in p.images.iter().enumerate() {
        f.insert(format!("img{i}.url"), image.url.clone());
        f.insert(format!("img{i}.alt"), image.alt.clone());
        f.insert(format!("img{i}.position"), (i + 1).to_string());
    }
    f
}

/// The fields as the use case's form, or the problems found in what was typed (each beside
/// its field). `handle`: the product's, when it exists (it cannot change).
fn read(
    fields: &Fields,
    currency: Currency,
    handle: Option<&str>,
) -> Result<ProductForm, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let mut problem = |field: String, message: &str| {
        problems.push(FieldProblem {
            field,
            message: message.to_owned(),
        })
    };
    let handle = match handle {
        Some(h) => h.to_owned(),
        None => match text(fields, "handle") {
            "" => {
                Handle::slugify(text(fields, "title")).map_or_else(String::new, |h| h.to_string())
            }
            typed => typed.to_owned(),
        },
    };
    let options: Vec<String> = (1..=MAX_OPTIONS)
        .map(|i| text(fields, &format!("option{i}")).to_owned())
        .take_while(|name| !name.is_empty())
        .collect();
    let mut variants = Vec::new();
    for i in 0..rows(fields, "v", MAX_VARIANTS + BLANK_ROWS) {
        let get = |name: &str| text(fields, &format!("v{i}.{name}"));
        let values: Vec<String> = (1..=options.len())
            .map(|j| get(&format!("o{j}")).to_owned())
            .collect();
        let blank =
            values.iter().all(String::is_empty) && get("sku").is_empty() && get("price").is_empty();
        if blank || get("remove") == "on" {
            continue;
        }
        let price = match parse_decimal(get("price"), currency) {
            Ok(p) => p,
            Err(_) => {
                problem(format!("v{i}.price"), "a price such as 12.50");
                0
            }
        };
        let compare_at_price = match get("compare_at") {
            "" => None,
            typed => parse_decimal(typed, currency)
                .map_err(|_| {
                    problem(
                        format!("v{i}.compare_at"),
                        "a price such as 15.00, or blank",
                    )
                })
                .ok(),
        };
        // Sent only when changed (or new): saving must not undo sales made meanwhile.
        let stock = match get("stock") {
            "" if get("stock_was").is_empty() => Some(0),
            "" => None,
            typed if typed == get("stock_was") => None,
            typed => typed
                .parse::<i64>()
                .map_err(|_| problem(format!("v{i}.stock"), "a whole number of units"))
                .ok(),
        };
        let grams = match get("grams") {
            "" => 0,
            typed => typed.parse::<i64>().unwrap_or_else(|_| {
                problem(format!("v{i}.grams"), "a whole number of grams");
                0
            }),
        };
        variants.push(VariantForm {
            sku: Some(get("sku").to_owned()).filter(|s| !s.is_empty()),
            options: values,
            price,
            compare_at_price,
            stock,
            track_inventory: get("track") == "on",
            grams,
        });
    }
    if variants.is_empty() {
        problem(
            "v0.price".into(),
            "give the product at least one variant with a price",
        );
    }
    // Images in the order of their position numbers (ties: as listed).
    let mut images: Vec<(i64, usize, String, String)> = (0..rows(fields, "img", MAX_IMAGES))
        .filter(|i| text(fields, &format!("img{i}.remove")) != "on")
        .filter_map(|i| {
            let url = text(fields, &format!("img{i}.url"));
            let position = text(fields, &format!("img{i}.position"))
                .parse::<i64>()
                .unwrap_or(i as i64 + 1);
            let alt = text(fields, &format!("img{i}.alt")).to_owned();
            (!url.is_empty()).then(|| (position, i, url.to_owned(), alt))
        })
        .collect();
    images.sort_by_key(|(position, i, _, _)| (*position, *i));
    let images = images
        .into_iter()
        .map(|(_, _, url, alt)| (url, alt))
        .collect();
    let categories = fields
        .iter()
        .filter(|(_, v)| v.as_str() == "on")
        .filter_map(|(k, _)| k.strip_prefix("cat:").map(str::to_owned))
        .collect();
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ProductForm {
        handle,
        title: text(fields, "title").to_owned(),
        description_html: fields.get("description").cloned().unwrap_or_default(),
        product_type: text(fields, "product_type").to_owned(),
        tags: text(fields, "tags").split(',').map(str::to_owned).collect(),
        status: Some(text(fields, "status"))
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        categories,
        options,
        variants,
        images,
    })
}

/// Where the use case's field names (`variants[2].price.amount`) show on the form: the
/// variants it numbers are the rows that were not blank.
fn on_form(field: &str) -> String {
    match field {
        "title" | "handle" | "status" | "categories" => field.to_owned(),
        f if f.starts_with("variants") => "variants".to_owned(),
        _ => "product".to_owned(),
    }
}

/// The editor page for a new product (`product: None`) or an existing one.
#[allow(clippy::too_many_arguments)]
pub(super) async fn editor_page(
    state: &AppState,
    session: &VendorSession,
    nonce: &CspNonce,
    flash: &Flash,
    product: Option<&Product>,
    fields: Fields,
    problems: Vec<FieldProblem>,
    status: StatusCode,
) -> Response {
    let categories = match souk_storage::catalog::all_categories(&state.db).await {
        Ok(all) => all,
        Err(e) => return PageError::from(e).render(nonce),
    };
    let mut category_rows = Vec::new();
    flatten(&category_tree(categories), 0, &mut category_rows);
    let variant_rows = rows(&fields, "v", MAX_VARIANTS) + BLANK_ROWS;
    let image_rows = rows(&fields, "img", MAX_IMAGES);
    let beside: HashMap<String, String> = problems
        .iter()
        .map(|p| (p.field.clone(), p.message.clone()))
        .collect();
    let ctx = context! {
        product => product.map(|p| context! {
            id => p.id.to_string(), handle => p.handle, title => p.title,
            status => p.status.as_str(), description_html => p.description_html,
        }),
        values => fields,
        variant_rows => (0..variant_rows).collect::<Vec<_>>(),
        image_rows => (0..image_rows).collect::<Vec<_>>(),
        option_slots => (1..=MAX_OPTIONS).collect::<Vec<_>>(),
        categories => category_rows,
        statuses => STATUSES,
        currency => state.app.settings.currency.code(),
        problems => problems.iter().map(|p| context! { field => p.field, message => p.message }).collect::<Vec<_>>(),
        beside => beside,
        ..chrome(&session.principal, &session.csrf, "products")
    };
    Page::new("vendor/product.html", ctx)
        .with_status(status)
        .render(nonce, flash)
}

fn flatten(nodes: &[CategoryNode], depth: usize, out: &mut Vec<Value>) {
    for n in nodes {
        out.push(context! { handle => n.handle, name => n.name, indent => "— ".repeat(depth) });
        flatten(&n.children, depth + 1, out);
    }
}

/// This vendor's product `id`, or 404 (another vendor's product is not found either).
pub(super) async fn own_product(
    state: &AppState,
    session: &VendorSession,
    id: &str,
) -> Result<Product, PageError> {
    let id = Uuid::parse_str(id).map_err(|_| PageError::not_found("no such product"))?;
    Ok(souk_app::products::get(&state.app, session.vendor_id, id).await?)
}

pub async fn new_product(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    let mut fields = Fields::new();
    fields.insert("status".into(), "draft".into());
    editor_page(
        &state,
        &session,
        &nonce,
        &flash,
        None,
        fields,
        Vec::new(),
        StatusCode::OK,
    )
    .await
}

pub async fn edit_product(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    flash: Flash,
    Path(id): Path<String>,
) -> Response {
    match own_product(&state, &session, &id).await {
        Ok(p) => {
            let fields = fields_of(&p);
            editor_page(
                &state,
                &session,
                &nonce,
                &flash,
                Some(&p),
                fields,
                Vec::new(),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => e.render(&nonce),
    }
}

/// Saves the form: `existing` is the product being edited (`None`: a new one).
async fn save(
    state: &AppState,
    session: &VendorSession,
    nonce: &CspNonce,
    client: &ClientInfo,
    existing: Option<Product>,
    form: EditorForm,
) -> Response {
    let fields: Fields = form.fields.into_iter().collect();
    let currency = state.app.settings.currency;
    let read = read(
        &fields,
        currency,
        existing.as_ref().map(|p| p.handle.as_str()),
    );
    let refused = |problems: Vec<FieldProblem>, status: StatusCode| {
        editor_page(
            state,
            session,
            nonce,
            &Flash(None),
            existing.as_ref(),
            fields.clone(),
            problems,
            status,
        )
    };
    let form = match read {
        Ok(form) => form,
        Err(problems) => return refused(problems, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    let who = actor(&session.principal, client);
    let saved = match &existing {
        None => souk_app::products::create(&state.app, &who, session.vendor_id, form).await,
        Some(p) => {
            souk_app::products::replace(&state.app, &who, session.vendor_id, p.id, form).await
        }
    };
    match saved {
        Ok(p) => {
            let message = match (existing.is_some(), p.status.as_str()) {
                (false, "published") => "Product created and published: shoppers can buy it now.",
                (false, _) => "Product created. It is not in the shop until you publish it.",
                (true, "published") => "Saved: the shop shows the change now.",
                (true, _) => "Saved.",
            };
            done(&format!("/vendor/products/{}", p.id), message)
        }
        Err(AppError::Refused {
            kind,
            fields: problems,
            detail,
            ..
        }) if kind != souk_app::Kind::NotFound => {
            let problems = if problems.is_empty() {
                vec![FieldProblem {
                    field: "product".into(),
                    message: detail,
                }]
            } else {
                problems
                    .into_iter()
                    .map(|p| FieldProblem {
                        field: on_form(&p.field),
                        message: p.message,
                    })
                    .collect()
            };
            refused(problems, crate::web::form_status(kind)).await
        }
        Err(e) => PageError::from(e).render(nonce),
    }
}

pub async fn create(
    State(state): State<AppState>,
    nonce: CspNonce,
    client: ClientInfo,
    VendorForm { session, form }: VendorForm<EditorForm>,
) -> Response {
    save(&state, &session, &nonce, &client, None, form).await
}

pub async fn update(
    State(state): State<AppState>,
    nonce: CspNonce,
    client: ClientInfo,
    Path(id): Path<String>,
    VendorForm { session, form }: VendorForm<EditorForm>,
) -> Response {
    match own_product(&state, &session, &id).await {
        Ok(p) => save(&state, &session, &nonce, &client, Some(p), form).await,
        Err(e) => e.render(&nonce),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn blank_rows_are_ignored_and_unchanged_stock_is_not_sent() {
        let f = fields(&[
            ("title", "Linen Shirt"),
            ("option1", "Size"),
            ("v0.o1", "S"),
            ("v0.price", "12.50"),
            ("v0.stock", "7"),
            ("v0.stock_was", "7"),
            ("v1.o1", "M"),
            ("v1.price", "13"),
            ("v1.stock", "9"),
            ("v1.stock_was", "7"),
            ("v2.o1", ""),
            ("v2.price", ""),
            ("v3.o1", "L"),
            ("v3.price", "14"),
            ("v3.remove", "on"),
        ]);
        let form = read(&f, Currency::USD, None).expect("valid");
        assert_eq!(form.handle, "linen-shirt");
        assert_eq!(form.variants.len(), 2);
        assert_eq!(form.variants[0].price, 1250);
        assert_eq!(form.variants[0].stock, None, "unchanged stock is kept");
        assert_eq!(form.variants[1].stock, Some(9));
    }

    #[test]
    fn typing_mistakes_are_reported_beside_their_fields() {
        let f = fields(&[
            ("title", "Cup"),
            ("v0.price", "12,5x"),
            ("v0.grams", "heavy"),
        ]);
        let problems = read(&f, Currency::USD, None).expect_err("refused");
        let at: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(at, ["v0.price", "v0.grams"]);
    }
}
