//! Shopify's product CSV format, read and written.
//!
//! A product spans several rows sharing its `Handle`: the first carries the product's fields and its
//! first variant and image; continuation rows carry only `Handle` plus variant and/or image columns.
//! Unknown columns are ignored. Reading validates everything and reports every bad row by the line
//! it starts on (quoted fields may span lines), so an import can refuse a file before writing.

use std::collections::HashMap;
use std::io::{Read, Write};

use crate::catalog::{Handle, ImageDraft, ProductDraft, ProductStatus, VariantDraft};
use crate::html;
use crate::money::{Currency, format_decimal, parse_decimal};

/// The columns Souk writes, in Shopify's order. Reading accepts any superset or subset with `Handle`.
pub const EXPORT_COLUMNS: &[&str] = &[
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Product Category",
    "Type",
    "Tags",
    "Published",
    "Option1 Name",
    "Option1 Value",
    "Option2 Name",
    "Option2 Value",
    "Option3 Name",
    "Option3 Value",
    "Variant SKU",
    "Variant Grams",
    "Variant Inventory Tracker",
    "Variant Inventory Qty",
    "Variant Inventory Policy",
    "Variant Fulfillment Service",
    "Variant Price",
    "Variant Compare At Price",
    "Variant Requires Shipping",
    "Variant Taxable",
    "Image Src",
    "Image Position",
    "Image Alt Text",
    "Status",
];

/// Shopify's placeholder for a product without options.
const DEFAULT_OPTION_NAME: &str = "Title";
const DEFAULT_OPTION_VALUE: &str = "Default Title";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line of the file where the offending row starts.
    pub line: u64,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("the file has no header row")]
    Empty,
    #[error("the header row has no 'Handle' column; is this a Shopify product CSV?")]
    NoHandleColumn,
    #[error("the file is not readable CSV: {0}")]
    Csv(#[from] csv::Error),
}

/// One product read from the file, with the lines it came from.
#[derive(Debug, Clone)]
pub struct ParsedProduct {
    pub first_line: u64,
    pub lines: Vec<u64>,
    /// The `Vendor` column of its first row, if any.
    pub vendor_name: Option<String>,
    pub draft: ProductDraft,
}

#[derive(Debug, Default)]
pub struct ParsedFile {
    /// Valid products only, in file order.
    pub products: Vec<ParsedProduct>,
    /// Every problem found, sorted by line.
    pub errors: Vec<RowError>,
    /// Data rows read (not counting the header).
    pub rows: u64,
}

struct Columns(HashMap<String, usize>);

impl Columns {
    fn get<'r>(&self, record: &'r csv::StringRecord, name: &str) -> Option<&'r str> {
        let i = *self.0.get(name)?;
        record
            .get(i)
            .map(|v| restore_cell(v.trim()))
            .filter(|v| !v.is_empty())
    }
    fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

struct Builder {
    first_line: u64,
    lines: Vec<u64>,
    errors: Vec<RowError>,
    handle: Option<Handle>,
    title: String,
    body: String,
    vendor: Option<String>,
    product_type: String,
    tags: Vec<String>,
    status: ProductStatus,
    category_path: Vec<String>,
    option_names: Vec<String>,
    default_option: bool,
    variants: Vec<VariantDraft>,
    images: Vec<(i64, usize, ImageDraft)>,
}

/// Reads a whole Shopify product CSV. Prices are read in `currency`.
pub fn parse<R: Read>(input: R, currency: Currency) -> Result<ParsedFile, FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(input);
    let headers = reader.headers()?.clone();
    if headers.is_empty() || (headers.len() == 1 && headers[0].trim().is_empty()) {
        return Err(FileError::Empty);
    }
    let columns = Columns(
        headers
            .iter()
            .enumerate()
            .map(|(i, h)| (h.trim().trim_start_matches('\u{feff}').to_owned(), i))
            .collect(),
    );
    if !columns.has("Handle") {
        return Err(FileError::NoHandleColumn);
    }

    let mut out = ParsedFile::default();
    let mut builders: Vec<Builder> = Vec::new();
    let mut by_handle: HashMap<String, usize> = HashMap::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // Invalid UTF-8 or a broken quote: report it on its line and go on if we can.
                let line = e.position().map_or(line, |p| p.line());
                out.errors.push(RowError {
                    line,
                    message: format!("unreadable row: {e}"),
                });
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    return Err(FileError::Csv(e));
                }
                out.rows += 1;
                continue;
            }
        }
        out.rows += 1;
        let line = record.position().map_or(line, |p| p.line());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue; // blank line
        }
        let Some(handle) = columns.get(&record, "Handle") else {
            out.errors.push(RowError {
                line,
                message: "Handle is empty".to_owned(),
            });
            continue;
        };
        let index = match by_handle.get(handle) {
            Some(&i) => {
                builders[i].lines.push(line);
                i
            }
            None => {
                by_handle.insert(handle.to_owned(), builders.len());
                builders.push(start_product(&columns, &record, line, handle));
                builders.len() - 1
            }
        };
        add_row(&mut builders[index], &columns, &record, line, currency);
    }

    for b in builders {
        finish(b, &mut out);
    }
    out.errors.sort_by_key(|e| e.line);
    Ok(out)
}

fn start_product(
    columns: &Columns,
    record: &csv::StringRecord,
    line: u64,
    handle: &str,
) -> Builder {
    let mut errors = Vec::new();
    let err = |errors: &mut Vec<RowError>, message: String| errors.push(RowError { line, message });
    let handle = match Handle::parse(handle) {
        Ok(h) => Some(h),
        Err(e) => {
            err(&mut errors, e.to_string());
            None
        }
    };
    let title = columns.get(record, "Title").unwrap_or_default().to_owned();
    if title.is_empty() {
        err(
            &mut errors,
            "Title is required on a product's first row".to_owned(),
        );
    }
    let published = match columns.get(record, "Published") {
        None => None,
        Some(v) => match parse_bool(v) {
            Some(b) => Some(b),
            None => {
                err(
                    &mut errors,
                    format!("Published must be TRUE or FALSE, not '{v}'"),
                );
                None
            }
        },
    };
    let status = match columns
        .get(record, "Status")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("active") if published == Some(false) => ProductStatus::Draft,
        Some("active") => ProductStatus::Published,
        Some("draft") => ProductStatus::Draft,
        Some("archived") => ProductStatus::Archived,
        Some(other) => {
            err(
                &mut errors,
                format!("Status must be active, draft or archived, not '{other}'"),
            );
            ProductStatus::Draft
        }
        None if published == Some(false) => ProductStatus::Draft,
        None => ProductStatus::Published,
    };
    let mut option_names = Vec::new();
    for n in 1..=3 {
        match columns.get(record, &format!("Option{n} Name")) {
            Some(name) => option_names.push(name.to_owned()),
            None => break,
        }
    }
    let default_option = option_names.len() == 1
        && option_names[0] == DEFAULT_OPTION_NAME
        && columns.get(record, "Option1 Value") == Some(DEFAULT_OPTION_VALUE);
    if default_option {
        option_names.clear();
    }
    Builder {
        first_line: line,
        lines: vec![line],
        errors,
        handle,
        title,
        body: columns
            .get(record, "Body (HTML)")
            .unwrap_or_default()
            .to_owned(),
        vendor: columns.get(record, "Vendor").map(str::to_owned),
        product_type: columns.get(record, "Type").unwrap_or_default().to_owned(),
        tags: columns
            .get(record, "Tags")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        status,
        category_path: columns
            .get(record, "Product Category")
            .unwrap_or_default()
            .split('>')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
        option_names,
        default_option,
        variants: Vec::new(),
        images: Vec::new(),
    }
}

fn add_row(
    b: &mut Builder,
    columns: &Columns,
    record: &csv::StringRecord,
    line: u64,
    currency: Currency,
) {
    let mut errors = Vec::new();
    let is_variant_row = (1..=3)
        .any(|n| columns.get(record, &format!("Option{n} Value")).is_some())
        || columns.get(record, "Variant SKU").is_some()
        || columns.get(record, "Variant Price").is_some();
    if is_variant_row {
        let mut option_values = Vec::new();
        if !b.default_option {
            for (i, name) in b.option_names.iter().enumerate() {
                match columns.get(record, &format!("Option{} Value", i + 1)) {
                    Some(v) => option_values.push(v.to_owned()),
                    None => errors.push(format!(
                        "Option{} Value is required (option '{name}')",
                        i + 1
                    )),
                }
            }
        }
        let price = match columns.get(record, "Variant Price") {
            Some(p) => parse_decimal(p, currency)
                .map_err(|e| errors.push(format!("Variant Price: {e}")))
                .ok(),
            None => {
                errors.push("Variant Price is required on a variant row".to_owned());
                None
            }
        };
        let compare_at_price = columns
            .get(record, "Variant Compare At Price")
            .and_then(|p| {
                parse_decimal(p, currency)
                    .map_err(|e| errors.push(format!("Variant Compare At Price: {e}")))
                    .ok()
            });
        // No quantity: a variant already in the shop keeps its stock (a new one starts at 0).
        let stock = match columns.get(record, "Variant Inventory Qty") {
            None => None,
            Some(q) => match parse_whole(q) {
                Some(n) if n >= 0 => Some(n),
                Some(_) => {
                    errors.push(format!(
                        "Variant Inventory Qty must not be negative, got {q}"
                    ));
                    None
                }
                None => {
                    errors.push(format!(
                        "Variant Inventory Qty must be a whole number, not '{q}'"
                    ));
                    None
                }
            },
        };
        let grams = match columns.get(record, "Variant Grams") {
            None => 0,
            Some(g) => match parse_whole(g) {
                Some(n) if n >= 0 => n,
                _ => {
                    errors.push(format!(
                        "Variant Grams must be a whole number ≥ 0, not '{g}'"
                    ));
                    0
                }
            },
        };
        // An empty tracker means Shopify does not count stock; without the column, count it.
        let track_inventory = !columns.has("Variant Inventory Tracker")
            || columns.get(record, "Variant Inventory Tracker").is_some();
        if let Some(price) = price
            && errors.is_empty()
        {
            b.variants.push(VariantDraft {
                sku: columns.get(record, "Variant SKU").map(str::to_owned),
                option_values,
                price,
                compare_at_price,
                stock,
                track_inventory,
                grams,
            });
        }
    }
    if let Some(src) = columns.get(record, "Image Src") {
        let position = match columns.get(record, "Image Position") {
            None => i64::MAX,
            Some(p) => p.parse::<i64>().unwrap_or_else(|_| {
                errors.push(format!("Image Position must be a whole number, not '{p}'"));
                0
            }),
        };
        if !crate::catalog::is_http_url(src) {
            errors.push(format!("Image Src '{src}' must be an http(s) URL"));
        } else if !b.images.iter().any(|(_, _, i)| i.url == src) {
            let order = b.images.len();
            b.images.push((
                position,
                order,
                ImageDraft {
                    url: src.to_owned(),
                    alt: columns
                        .get(record, "Image Alt Text")
                        .unwrap_or_default()
                        .to_owned(),
                },
            ));
        }
    }
    if !is_variant_row && columns.get(record, "Image Src").is_none() && line != b.first_line {
        errors.push("row has neither variant nor image columns".to_owned());
    }
    b.errors
        .extend(errors.into_iter().map(|message| RowError { line, message }));
}

fn finish(mut b: Builder, out: &mut ParsedFile) {
    b.images.sort_by_key(|(pos, order, _)| (*pos, *order));
    let Some(handle) = b.handle.clone() else {
        out.errors.append(&mut b.errors);
        return;
    };
    let draft = ProductDraft {
        handle,
        title: b.title,
        description_html: html::sanitize(&b.body),
        product_type: b.product_type,
        tags: b.tags,
        status: b.status,
        category_path: b.category_path,
        option_names: b.option_names,
        variants: b.variants,
        images: b.images.into_iter().map(|(_, _, i)| i).collect(),
    };
    if b.errors.is_empty() {
        for problem in draft.validate() {
            b.errors.push(RowError {
                line: b.first_line,
                message: format!("product '{}': {problem}", draft.handle),
            });
        }
    }
    if b.errors.is_empty() {
        out.products.push(ParsedProduct {
            first_line: b.first_line,
            lines: b.lines,
            vendor_name: b.vendor,
            draft,
        });
    } else {
        out.errors.append(&mut b.errors);
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// A whole number, tolerating Shopify's occasional `"200.0"`.
fn parse_whole(v: &str) -> Option<i64> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if !frac.bytes().all(|b| b == b'0') {
        return None;
    }
    int.parse().ok()
}

/// A product to export, with the vendor's display name.
pub struct ExportProduct<'a> {
    pub vendor_name: &'a str,
    pub draft: &'a ProductDraft,
}

/// Whether a spreadsheet would read `cell` as a formula: its first character after any leading
/// spaces and quotes is `=`, `+`, `-`, `@`, a tab or a carriage return (OWASP's CSV injection
/// rule).
fn looks_like_formula(cell: &str) -> bool {
    cell.trim_start_matches([' ', '\'', '"'])
        .starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// A cell as it is written to an exported CSV: one that a spreadsheet would run as a formula is
/// prefixed with `'`, which spreadsheets show as text. [`restore_cell`] undoes it on import, so
/// a Souk export re-imports unchanged.
pub fn neutralise_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    if looks_like_formula(cell) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// The value of an imported cell: the `'` that [`neutralise_cell`] put before a formula-like
/// value is removed (exactly one, and only there), anything else is kept as it is.
pub fn restore_cell(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if looks_like_formula(rest) => rest,
        _ => cell,
    }
}

/// Writes the header row.
pub fn write_header<W: Write>(writer: &mut csv::Writer<W>) -> csv::Result<()> {
    writer.write_record(EXPORT_COLUMNS)
}

/// Writes one product's rows in Shopify's layout (variant *i* and image *i* share row *i*).
pub fn write_product<W: Write>(
    writer: &mut csv::Writer<W>,
    product: &ExportProduct<'_>,
    currency: Currency,
) -> csv::Result<()> {
    let d = product.draft;
    let rows = d.variants.len().max(d.images.len()).max(1);
    for i in 0..rows {
        let mut row: Vec<String> = vec![String::new(); EXPORT_COLUMNS.len()];
        let mut set = |name: &str, value: String| {
            let at = EXPORT_COLUMNS
                .iter()
                .position(|c| *c == name)
                .expect("known column");
            row[at] = value;
        };
        set("Handle", d.handle.to_string());
        if i == 0 {
            set("Title", d.title.clone());
            set("Body (HTML)", d.description_html.clone());
            set("Vendor", product.vendor_name.to_owned());
            set("Product Category", d.category_path.join(" > "));
            set("Type", d.product_type.clone());
            set("Tags", d.tags.join(", "));
            set("Published", bool_text(d.status == ProductStatus::Published));
            set(
                "Status",
                match d.status {
                    ProductStatus::Published => "active",
                    ProductStatus::Draft => "draft",
                    ProductStatus::Archived => "archived",
                }
                .to_owned(),
            );
            if d.option_names.is_empty() {
                set("Option1 Name", DEFAULT_OPTION_NAME.to_owned());
            }
            for (n, name) in d.option_names.iter().enumerate() {
                set(&format!("Option{} Name", n + 1), name.clone());
            }
        }
        if let Some(v) = d.variants.get(i) {
            if d.option_names.is_empty() {
                set("Option1 Value", DEFAULT_OPTION_VALUE.to_owned());
            }
            for (n, value) in v.option_values.iter().enumerate() {
                set(&format!("Option{} Value", n + 1), value.clone());
            }
            set("Variant SKU", v.sku.clone().unwrap_or_default());
            set("Variant Grams", v.grams.to_string());
            set(
                "Variant Inventory Tracker",
                if v.track_inventory { "shopify" } else { "" }.to_owned(),
            );
            set("Variant Inventory Qty", v.stock.unwrap_or(0).to_string());
            set("Variant Inventory Policy", "deny".to_owned());
            set("Variant Fulfillment Service", "manual".to_owned());
            set("Variant Price", format_decimal(v.price, currency));
            set(
                "Variant Compare At Price",
                v.compare_at_price
                    .map(|c| format_decimal(c, currency))
                    .unwrap_or_default(),
            );
            set("Variant Requires Shipping", bool_text(true));
            set("Variant Taxable", bool_text(true));
        }
        if let Some(img) = d.images.get(i) {
            set("Image Src", img.url.clone());
            set("Image Position", (i + 1).to_string());
            set("Image Alt Text", img.alt.clone());
        }
        writer.write_record(row.iter().map(|cell| neutralise_cell(cell).into_owned()))?;
    }
    Ok(())
}

fn bool_text(b: bool) -> String {
    if b { "TRUE" } else { "FALSE" }.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_cells_are_neutralised_and_restored_exactly() {
        for cell in [
            "=HYPERLINK(\"http://x\")",
            "+cmd|' /C calc'!A0",
            "@SUM(1+1)",
            "-2+3",
            "\t=1",
            "\r=1",
            " =1",
            "\"=1",
            "'=1",
            "''-1",
        ] {
            let out = neutralise_cell(cell);
            assert!(out.starts_with('\''), "{cell:?} → {out:?}");
            assert_eq!(restore_cell(&out), cell);
        }
        for cell in ["Linen shirt", "'quoted'", "12.50", "a=b", ""] {
            assert_eq!(neutralise_cell(cell), cell);
            assert_eq!(restore_cell(cell), cell);
        }
    }

    const SAMPLE: &str = "Handle,Title,Body (HTML),Vendor,Type,Tags,Published,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Variant SKU,Variant Inventory Tracker,Variant Inventory Qty,Variant Price,Variant Compare At Price,Image Src,Image Alt Text,Status,Some Future Column
tee,\"Tee, \"\"classic\"\"\",\"<p>Soft,
warm</p><script>x</script>\",Acme,Shirts,\"a, b\",TRUE,Size,S,Colour,Red,TEE-S-R,shopify,5,19.99,25.00,https://img.example/tee.png,Front,active,zzz
tee,,,,,,,,M,,Red,TEE-M-R,shopify,0,21.00,,https://img.example/tee2.png,Back,,
tee,,,,,,,,,,,,,,,,https://img.example/tee3.png,,,
mug,Mug ☕,,Acme,,,FALSE,Title,Default Title,,,MUG,,3,8,,,,,
";

    #[test]
    fn reads_multi_row_products() {
        let file = parse(SAMPLE.as_bytes(), Currency::USD).unwrap();
        assert_eq!(file.errors, vec![]);
        assert_eq!(file.rows, 4);
        let tee = &file.products[0].draft;
        assert_eq!(tee.title, "Tee, \"classic\"");
        assert_eq!(tee.description_html, "<p>Soft,\nwarm</p>");
        assert_eq!(tee.option_names, ["Size", "Colour"]);
        assert_eq!(tee.variants.len(), 2);
        assert_eq!(tee.variants[0].price, 1999);
        assert_eq!(tee.variants[0].compare_at_price, Some(2500));
        assert_eq!(tee.variants[1].option_values, ["M", "Red"]);
        assert_eq!(tee.images.len(), 3);
        assert_eq!(tee.tags, ["a", "b"]);
        assert_eq!(file.products[0].lines, vec![2, 4, 5]);
        let mug = &file.products[1].draft;
        assert_eq!(mug.title, "Mug ☕");
        assert!(mug.option_names.is_empty());
        assert_eq!(mug.status, ProductStatus::Draft);
        assert!(!mug.variants[0].track_inventory);
        assert_eq!(file.products[1].first_line, 6);
    }

    #[test]
    fn reports_every_bad_row_by_line() {
        let csv = "Handle,Title,Option1 Name,Option1 Value,Variant Price,Variant Inventory Qty\n\
                   ok,Ok,Size,S,1.00,1\n\
                   bad,,Size,S,abc,1\n\
                   bad,,,M,1.00,-2\n\
                   ,,,,,\n\
                   NoUpper,X,,,1,1\n";
        let file = parse(csv.as_bytes(), Currency::USD).unwrap();
        let lines: Vec<u64> = file.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 3, 4, 6], "{:?}", file.errors);
        assert!(file.errors[0].message.contains("Title"));
        assert!(
            file.errors
                .iter()
                .any(|e| e.message.contains("Variant Price"))
        );
        assert!(
            file.errors
                .iter()
                .any(|e| e.line == 4 && e.message.contains("negative"))
        );
        assert_eq!(file.products.len(), 1);
    }

    #[test]
    fn export_then_parse_round_trips() {
        let file = parse(SAMPLE.as_bytes(), Currency::USD).unwrap();
        let mut w = csv::Writer::from_writer(Vec::new());
        write_header(&mut w).unwrap();
        for p in &file.products {
            write_product(
                &mut w,
                &ExportProduct {
                    vendor_name: "Acme",
                    draft: &p.draft,
                },
                Currency::USD,
            )
            .unwrap();
        }
        let bytes = w.into_inner().unwrap();
        let again = parse(bytes.as_slice(), Currency::USD).unwrap();
        assert_eq!(again.errors, vec![]);
        let a: Vec<_> = file.products.iter().map(|p| &p.draft).collect();
        let b: Vec<_> = again.products.iter().map(|p| &p.draft).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn refuses_files_without_handle() {
        assert!(matches!(
            parse("Title\nx\n".as_bytes(), Currency::USD),
            Err(FileError::NoHandleColumn)
        ));
    }
}
