//! Product images: uploaded in Chromium (two at once through the file input) and through the
//! API's multipart endpoint; re-encoded without metadata (no EXIF location survives), stored
//! once under content-addressed names with thumbnails, and served cacheable and inert. A corpus
//! of hostile files is refused or neutralised, and another vendor's products take no upload.

use image::{ImageEncoder, Rgb, RgbImage};
use serde_json::Value;

use crate::admin_panel::{hidden, signed_in_at};
use crate::browser::Browser;
use crate::helpers::TestApp;

const PASSWORD: &str = "correct horse battery staple";

pub fn jpeg(width: u32, height: u32, shade: u8) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        Rgb([shade, (x % 200) as u8, (y % 200) as u8])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(img.as_raw(), width, height, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// A PNG with transparency (kept as a PNG; an opaque image is stored as a JPEG).
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(width, height, image::Rgba([10, 120, 200, 128]));
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(img.as_raw(), width, height, image::ExtendedColorType::Rgba8)
        .unwrap();
    out
}

/// GPS latitude 48° 51' 29" N, as a camera writes it: an EXIF (APP1) segment with a GPS IFD.
fn exif_with_location() -> Vec<u8> {
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    // IFD0: one entry, the GPS IFD pointer (0x8825) to offset 26.
    tiff.extend([0, 1, 0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 26, 0, 0, 0, 0]);
    // GPS IFD: GPSLatitudeRef "N", GPSLatitude (3 rationals at offset 56).
    tiff.extend([0, 2]);
    tiff.extend([0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
    tiff.extend([0, 2, 0, 5, 0, 0, 0, 3, 0, 0, 0, 56]);
    tiff.extend([0, 0, 0, 0]);
    for part in [48u32, 51, 29] {
        tiff.extend(part.to_be_bytes());
        tiff.extend(1u32.to_be_bytes());
    }
    assert_eq!(tiff.len(), 80);
    let mut segment = vec![0xff, 0xe1];
    segment.extend(((2 + 6 + tiff.len()) as u16).to_be_bytes());
    segment.extend(b"Exif\x00\x00");
    segment.extend(tiff);
    segment
}

/// A JPEG photo carrying an EXIF location right after its start marker.
fn photo_with_location() -> Vec<u8> {
    let plain = jpeg(1200, 800, 40);
    let mut out = plain[..2].to_vec();
    out.extend(exif_with_location());
    out.extend(&plain[2..]);
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A tiny PNG whose header claims 100,000 × 100,000 pixels (40 GB once decoded).
fn decompression_bomb() -> Vec<u8> {
    let mut bytes = png(1, 1);
    // The IHDR chunk starts at 8: length (4), "IHDR" (4), width (4), height (4)…, CRC.
    bytes[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bytes[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A `multipart/form-data` body with the image as `file` (named `filename`) and `alt`.
fn multipart(file: &[u8], filename: &str, content_type: &str, alt: &str) -> (String, Vec<u8>) {
    let boundary = "souk-test-boundary-7f3a";
    let mut body = Vec::new();
    body.extend(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"alt\"\r\n\r\n{alt}\r\n")
            .as_bytes(),
    );
    body.extend(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend(file);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(
    app: &TestApp,
    token: &str,
    product: &str,
    file: &[u8],
    filename: &str,
    content_type: &str,
) -> (u16, Value) {
    let (kind, body) = multipart(file, filename, content_type, "A test image");
    let response = app
        .client
        .post(app.url(&format!("/api/vendor/products/{product}/images")))
        .bearer_auth(token)
        .header("content-type", kind)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Every file under the media directory.
fn stored_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let root = app.database.dir.path().join("media");
    let Ok(dirs) = std::fs::read_dir(&root) else {
        return files;
    };
    for dir in dirs.flatten() {
        for file in std::fs::read_dir(dir.path()).unwrap().flatten() {
            files.push(file.path());
        }
    }
    files.sort();
    files
}

async fn product_id(app: &TestApp, handle: &str) -> String {
    app.get_json(&format!("/api/store/products/{handle}"))
        .await
        .1["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_uploaded_photo_loses_its_location_is_stored_once_with_thumbnails_and_served_inert() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let vendors = app.two_vendors(&admin).await;
    let apple = product_id(&app, "apple").await;

    let photo = photo_with_location();
    assert!(contains(&photo, b"Exif") && contains(&photo, &48u32.to_be_bytes()));
    let (status, product) = upload(
        &app,
        &vendors.a_token,
        &apple,
        &photo,
        "IMG_0001.JPG",
        "image/jpeg",
    )
    .await;
    assert_eq!(status, 201, "{product}");
    // The seeded product has one image (a URL); the upload comes after it.
    let url = product["images"][1]["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("/media/") && url.ends_with(".jpg"), "{url}");
    assert_eq!(product["images"][1]["alt"], "A test image");

    // Served: the re-encoded pixels, with no EXIF segment left; cacheable for a year; inert.
    let served = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(served.status(), 200);
    let headers = served.headers().clone();
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    let bytes = served.bytes().await.unwrap();
    assert!(!contains(&bytes, b"Exif"), "no EXIF in the served file");
    assert!(!contains(&bytes, &[0xff, 0xe1]), "no APP1 segment at all");
    let decoded = image::load_from_memory(&bytes).expect("a valid JPEG");
    assert_eq!((decoded.width(), decoded.height()), (1200, 800));
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let again = app
        .client
        .get(app.url(&url))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // On disk: the display image and thumbnails 160, 480 and 960 wide, none with EXIF.
    let files = stored_files(&app);
    assert_eq!(files.len(), 4, "{files:?}");
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        assert!(!contains(&bytes, b"Exif"), "{}", file.display());
    }
    let mut widths: Vec<u32> = files
        .iter()
        .map(|f| image::open(f).unwrap().width())
        .collect();
    widths.sort_unstable();
    assert_eq!(widths, [160, 480, 960, 1200]);

    // The same photo again: the same file, not a second copy (a second image entry, though).
    let (status, product) = upload(
        &app,
        &vendors.a_token,
        &apple,
        &photo,
        "copy.jpg",
        "image/jpeg",
    )
    .await;
    assert_eq!(status, 201, "{product}");
    assert_eq!(product["images"][2]["url"], url.as_str());
    assert_eq!(stored_files(&app).len(), 4);

    // Names that are not a stored file's are not served (nor looked for outside the folder).
    for bad in [
        "/media/..%2fsouk.db",
        "/media/secret.key",
        "/media/0000.jpg",
        &url.replace(".jpg", ".svg"),
    ] {
        let status = app.client.get(app.url(bad)).send().await.unwrap().status();
        assert_eq!(status, 404, "{bad}");
    }
}

#[tokio::test]
async fn hostile_uploads_are_refused_or_neutralised_and_other_vendors_products_take_none() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let vendors = app.two_vendors(&admin).await;
    let apple = product_id(&app, "apple").await;

    // A JPEG that is also an HTML page: kept only as re-encoded pixels, the page gone.
    let mut polyglot = jpeg(64, 64, 90);
    polyglot.extend(b"<html><script>alert('polyglot')</script></html>");
    let (status, product) = upload(
        &app,
        &vendors.a_token,
        &apple,
        &polyglot,
        "page.html",
        "text/html",
    )
    .await;
    assert_eq!(status, 201, "{product}");
    // After the seeded product's own image (a URL).
    let url = product["images"][1]["url"].as_str().unwrap().to_owned();
    let served = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(served.headers()["content-type"], "image/jpeg");
    let bytes = served.bytes().await.unwrap();
    assert!(!contains(&bytes, b"<script"), "the HTML did not survive");

    // A PNG named .jpg: recognised by its content and stored as a PNG.
    let (status, product) = upload(
        &app,
        &vendors.a_token,
        &apple,
        &png(300, 200),
        "photo.jpg",
        "image/jpeg",
    )
    .await;
    assert_eq!(status, 201, "{product}");
    assert!(
        product["images"][2]["url"]
            .as_str()
            .unwrap()
            .ends_with(".png"),
        "{product}"
    );
    let files_before = stored_files(&app);

    // Refused, each with its code, and nothing stored or added.
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>"#;
    let photo = jpeg(400, 300, 10);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("an SVG with script", svg.to_vec(), 422, "not_an_image"),
        (
            "a text file named .png",
            b"just some text".to_vec(),
            422,
            "not_an_image",
        ),
        (
            "a decompression bomb",
            decompression_bomb(),
            422,
            "image_too_many_pixels",
        ),
        ("an empty file", Vec::new(), 422, "not_an_image"),
    ];
    for (what, file, status_wanted, code) in cases {
        let (status, body) =
            upload(&app, &vendors.a_token, &apple, &file, "x.png", "image/png").await;
        assert_eq!(status, status_wanted, "{what}: {body}");
        assert_eq!(body["code"], code, "{what}: {body}");
    }
    // A photo cut short: refused as damaged, or kept only as a clean image of what it had.
    let (status, body) = upload(
        &app,
        &vendors.a_token,
        &apple,
        &photo[..photo.len() / 2],
        "cut.jpg",
        "image/jpeg",
    )
    .await;
    match status {
        422 => assert_eq!(body["code"], "image_damaged", "{body}"),
        201 => {
            let url = body["images"][3]["url"].as_str().unwrap();
            let bytes = app
                .client
                .get(app.url(url))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            image::load_from_memory(&bytes).expect("a clean re-encoding");
        }
        other => panic!("a truncated photo: {other} {body}"),
    }
    let truncated_kept = status == 201;
    // 50 MB: refused before it is read.
    let fifty_mb = vec![0xffu8; 50 * 1024 * 1024];
    let (status, body) = upload(
        &app,
        &vendors.a_token,
        &apple,
        &fifty_mb,
        "huge.jpg",
        "image/jpeg",
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "payload_too_large");
    let expected_files = files_before.len() + if truncated_kept { 2 } else { 0 };
    assert_eq!(
        stored_files(&app).len(),
        expected_files,
        "nothing more stored"
    );

    // Another vendor: A's product is not found, over the API and from the dashboard's form.
    let (status, _) = upload(
        &app,
        &vendors.b_token,
        &apple,
        &jpeg(64, 64, 200),
        "b.jpg",
        "image/jpeg",
    )
    .await;
    assert_eq!(status, 404);
    let b = signed_in_at(&app, "/vendor/sign-in", "b@example.com").await;
    let page = b
        .get(app.url("/vendor/products/new"))
        .await
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let (kind, mut body) = multipart(&jpeg(64, 64, 201), "b.jpg", "image/jpeg", "mine");
    let boundary = kind.split("boundary=").nth(1).unwrap().to_owned();
    let mut with_token =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n")
            .into_bytes();
    with_token.append(&mut body);
    let renamed = replace_bytes(&with_token, b"name=\"file\"", b"name=\"image\"");
    let refused = b
        .post_bytes(
            app.url(&format!("/vendor/products/{apple}/images")),
            &kind,
            renamed,
        )
        .await;
    assert_eq!(refused.status(), 404);
    let (_, after) = app.get_json("/api/store/products/apple").await;
    let images = after["images"].as_array().unwrap().len();
    assert_eq!(images, 3 + usize::from(truncated_kept), "{after}");
    assert_eq!(stored_files(&app).len(), expected_files);
}

fn replace_bytes(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = haystack
        .windows(from.len())
        .position(|w| w == from)
        .expect("the part to rename");
    let mut out = haystack[..at].to_vec();
    out.extend(to);
    out.extend(&haystack[at + from.len()..]);
    out
}

#[tokio::test]
async fn a_vendor_uploads_two_images_in_chromium_orders_them_and_describes_them() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.two_vendors(&admin).await;
    let apple = product_id(&app, "apple").await;
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("orchard.jpg");
    let second = dir.path().join("basket.png");
    std::fs::write(&first, jpeg(1600, 1200, 60)).unwrap();
    std::fs::write(&second, png(500, 500)).unwrap();

    let browser = Browser::open(&app.base).await;
    browser
        .sign_in_at("/vendor/sign-in", "a@example.com", PASSWORD)
        .await;
    browser.go(&format!("/vendor/products/{apple}")).await;
    let text = browser.main_text().await;
    assert!(text.contains("Add images"), "{text}");
    // Both files at once through the plain file input (what dropping them does, too).
    let paths = format!("{}\n{}", first.display(), second.display());
    browser
        .find("#f-image")
        .await
        .send_keys(&paths)
        .await
        .unwrap();
    browser.fill("#f-alt", "Apples").await;
    browser.click_and_wait("form.upload button").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "2 images added, after the product's other images.");
    browser.find(".image-row img").await;
    browser
        .assert_accessible("vendor product with images")
        .await;
    browser.screenshot("vendor-product-images").await;

    // The basket first, with its own alt text; saved with the product.
    // The seeded product's image is img0; the uploads img1 (orchard) and img2 (basket).
    browser.fill("input[name='img2.position']", "0").await;
    browser
        .fill("input[name='img2.alt']", "A basket of apples")
        .await;
    browser.click_and_wait("form.editor button.primary").await;
    browser.find("p.flash").await;
    browser.close().await;
    let (_, product) = app.get_json("/api/store/products/apple").await;
    let images = product["images"].as_array().unwrap();
    assert_eq!(images.len(), 3, "{product}");
    assert_eq!(images[0]["alt"], "A basket of apples");
    assert!(images[0]["url"].as_str().unwrap().ends_with(".png"));
    assert_eq!(images[2]["alt"], "Apples");
    assert!(images[2]["url"].as_str().unwrap().ends_with(".jpg"));
}

/// The shop page's logo form as a multipart body: `csrf` and the `logo` file.
fn logo_form(csrf: &str, file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "souk-logo-boundary-19c2";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"logo.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend(file);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn an_owner_sets_and_removes_the_shop_logo_and_a_non_image_is_refused_beside_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let vendors = app.two_vendors(&admin).await;
    let a = signed_in_at(&app, "/vendor/sign-in", "a@example.com").await;
    let page = a.get(app.url("/vendor/shop")).await.text().await.unwrap();
    assert!(page.contains("No logo yet."), "{page}");
    let csrf = hidden(&page, "csrf");

    let (kind, body) = logo_form(&csrf, b"<svg onload=alert(1)></svg>");
    let refused = a
        .post_bytes(app.url("/vendor/shop/logo"), &kind, body)
        .await;
    assert_eq!(refused.status(), 422);
    let text = refused.text().await.unwrap();
    assert!(
        text.contains("id=\"logo-problem\">the file is not a JPEG, PNG or WebP image"),
        "{text}"
    );

    let (kind, body) = logo_form(&csrf, &png(256, 256));
    let saved = a
        .post_bytes(app.url("/vendor/shop/logo"), &kind, body)
        .await;
    assert_eq!(saved.status(), 303);
    let (status, profile) = app
        .send(
            reqwest::Method::GET,
            "/api/vendor/profile",
            &vendors.a_token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{profile}");
    let logo = profile["logo_url"].as_str().unwrap().to_owned();
    assert!(
        logo.starts_with("/media/") && logo.ends_with(".png"),
        "{logo}"
    );
    let served = app.client.get(app.url(&logo)).send().await.unwrap();
    assert_eq!(served.headers()["content-type"], "image/png");
    let page = a.get(app.url("/vendor/shop")).await.text().await.unwrap();
    assert!(page.contains(&logo.replace('/', "&#x2f;")), "{page}");

    // Vendor B's profile is untouched; A removes its logo.
    let (_, b_profile) = app
        .send(
            reqwest::Method::GET,
            "/api/vendor/profile",
            &vendors.b_token,
            None,
        )
        .await;
    assert!(b_profile["logo_url"].is_null(), "{b_profile}");
    let removed = a
        .post(
            app.url("/vendor/shop/logo/remove"),
            &[("csrf", csrf.as_str())],
            None,
        )
        .await;
    assert_eq!(removed.status(), 303);
    let (_, profile) = app
        .send(
            reqwest::Method::GET,
            "/api/vendor/profile",
            &vendors.a_token,
            None,
        )
        .await;
    assert!(profile["logo_url"].is_null(), "{profile}");
}
