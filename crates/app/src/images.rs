//! Product images from uploads. A file is recognised by its content (JPEG, PNG or WebP — its
//! name and declared type are ignored), bounded in bytes and in pixels before its pixels are
//! decoded (a decompression bomb is refused from its header), decoded (which validates it), and
//! re-encoded from its pixels alone: metadata such as an EXIF location, and anything hidden
//! beside the pixels (a polyglot's HTML), does not survive. The camera's orientation is applied
//! first, so a phone's portrait photo stays upright once its metadata is gone.
//!
//! Pure and synchronous (tens to hundreds of milliseconds of a core): callers run it on a
//! blocking thread.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

/// Largest upload accepted, in bytes.
pub const MAX_UPLOAD_BYTES: usize = 20 * 1024 * 1024;
/// Largest width or height accepted.
pub const MAX_SIDE: u32 = 12_000;
/// Most pixels accepted (a 50-megapixel camera's photo).
pub const MAX_PIXELS: u64 = 50_000_000;
/// The long side of the image shown on a product page; larger uploads are scaled down.
pub const DISPLAY_SIDE: u32 = 2048;
/// Widths of the thumbnails made beside it (those narrower than the image).
pub const THUMBNAIL_WIDTHS: [u32; 3] = [160, 480, 960];
const JPEG_QUALITY: u8 = 85;

/// Why an upload is not an image Souk keeps.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefusal {
    #[error("the file is {bytes} bytes; images may be at most {MAX_UPLOAD_BYTES} bytes (20 MB)")]
    TooLarge { bytes: usize },
    #[error("the file is empty")]
    Empty,
    #[error("the file is not a JPEG, PNG or WebP image")]
    NotAnImage,
    #[error(
        "the image is {width}×{height} pixels; at most {MAX_SIDE} on a side and {MAX_PIXELS} pixels"
    )]
    TooManyPixels { width: u32, height: u32 },
    #[error("the image is damaged or cut short: {0}")]
    Damaged(String),
}

/// The file type of a stored rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Jpeg,
    Png,
}

impl Encoding {
    pub fn extension(self) -> &'static str {
        match self {
            Encoding::Jpeg => "jpg",
            Encoding::Png => "png",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Jpeg => "image/jpeg",
            Encoding::Png => "image/png",
        }
    }
}

/// One encoded size of an uploaded image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    pub width: u32,
    pub height: u32,
    pub encoding: Encoding,
    pub bytes: Vec<u8>,
}

/// The image to show and its thumbnails (narrowest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub display: Rendition,
    pub thumbnails: Vec<Rendition>,
}

/// Checks, decodes and re-encodes an upload.
pub fn process(bytes: &[u8]) -> Result<Processed, ImageRefusal> {
    if bytes.is_empty() {
        return Err(ImageRefusal::Empty);
    }
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(ImageRefusal::TooLarge { bytes: bytes.len() });
    }
    let format = match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) => f,
        _ => return Err(ImageRefusal::NotAnImage),
    };
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    // Enough for the largest accepted image with an alpha channel, and no more.
    limits.max_alloc = Some(MAX_PIXELS * 4 + 64 * 1024 * 1024);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    let damaged = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => ImageRefusal::TooManyPixels {
            width: 0,
            height: 0,
        },
        other => ImageRefusal::Damaged(other.to_string()),
    };
    let mut decoder = reader.into_decoder().map_err(damaged)?;
    let (width, height) = decoder.dimensions();
    if width == 0
        || height == 0
        || width > MAX_SIDE
        || height > MAX_SIDE
        || u64::from(width) * u64::from(height) > MAX_PIXELS
    {
        return Err(ImageRefusal::TooManyPixels { width, height });
    }
    let orientation = decoder.orientation().ok();
    let mut pixels = DynamicImage::from_decoder(decoder).map_err(|e| match damaged(e) {
        ImageRefusal::TooManyPixels { .. } => ImageRefusal::TooManyPixels { width, height },
        other => other,
    })?;
    if let Some(o) = orientation {
        pixels.apply_orientation(o);
    }
    let encoding = if pixels.color().has_alpha() {
        Encoding::Png
    } else {
        Encoding::Jpeg
    };
    // Downscaled by averaging (`thumbnail`): as sharp as a filtered resize when shrinking, in a
    // fraction of the time and without a full-size floating-point copy of the photo (a
    // filtered resize of a 12-megapixel photo held ~75 MB more).
    let display = if pixels.width().max(pixels.height()) > DISPLAY_SIDE {
        pixels.thumbnail(DISPLAY_SIDE, DISPLAY_SIDE)
    } else {
        pixels
    };
    let thumbnails = THUMBNAIL_WIDTHS
        .iter()
        .filter(|w| **w < display.width())
        .map(|w| {
            let small = display.thumbnail(*w, u32::MAX);
            encode(&small, encoding)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Processed {
        display: encode(&display, encoding)?,
        thumbnails,
    })
}

fn encode(pixels: &DynamicImage, encoding: Encoding) -> Result<Rendition, ImageRefusal> {
    let mut bytes = Vec::new();
    let written = match encoding {
        Encoding::Jpeg => pixels
            .to_rgb8()
            .write_with_encoder(JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY)),
        Encoding::Png => pixels
            .to_rgba8()
            .write_with_encoder(PngEncoder::new(&mut bytes)),
    };
    written.map_err(|e| ImageRefusal::Damaged(e.to_string()))?;
    Ok(Rendition {
        width: pixels.width(),
        height: pixels.height(),
        encoding,
        bytes,
    })
}

/// A simple product illustration for the demo shop (no photo library ships with Souk): a soft
/// background in `hue` (degrees) with a centred shape (`shape` 0–3: disc, tile, ring, arch) and
/// its shadow, as a JPEG of `side` × `side` pixels. `shade` varies the background per view.
pub fn illustration(side: u32, hue: f32, shape: u8, shade: f32) -> Vec<u8> {
    let rgb = |h: f32, s: f32, l: f32| -> [u8; 3] {
        // HSL to RGB.
        let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
        let hp = (h.rem_euclid(360.0)) / 60.0;
        let x = c * (1.0 - (hp % 2.0 - 1.0).abs());
        let (r, g, b) = match hp as u32 {
            0 => (c, x, 0.0),
            1 => (x, c, 0.0),
            2 => (0.0, c, x),
            3 => (0.0, x, c),
            4 => (x, 0.0, c),
            _ => (c, 0.0, x),
        };
        let m = l - c / 2.0;
        [r, g, b].map(|v| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8)
    };
    let n = side as f32;
    let img = image::RgbImage::from_fn(side, side, |px, py| {
        let (x, y) = (px as f32 / n - 0.5, py as f32 / n - 0.5);
        let background = rgb(hue, 0.35, 0.86 - 0.08 * shade - 0.06 * (y + 0.5));
        let object = rgb(hue + 20.0, 0.55, 0.42 + 0.1 * shade - 0.12 * (x + y));
        let r = (x * x + y * y).sqrt();
        let inside = match shape % 4 {
            0 => r < 0.28,
            1 => x.abs() < 0.24 && y.abs() < 0.24,
            2 => (0.17..0.3).contains(&r),
            _ => (y > -0.05 && x.abs() < 0.26 && y < 0.26) || (r < 0.26 && y <= -0.05),
        };
        let shadow = ((x - 0.04) / 0.34).powi(2) + ((y - 0.34) / 0.06).powi(2) < 1.0;
        if inside {
            image::Rgb(object)
        } else if shadow {
            image::Rgb(background.map(|v| (f32::from(v) * 0.82) as u8))
        } else {
            image::Rgb(background)
        }
    });
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(img)
        .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 85))
        .expect("encoding to memory cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        });
        let mut out = Vec::new();
        img.write_with_encoder(JpegEncoder::new_with_quality(&mut out, 90))
            .unwrap();
        out
    }

    #[test]
    fn a_photo_is_scaled_for_display_with_thumbnails_and_reencoded() {
        let processed = process(&jpeg(3000, 1500)).expect("a valid photo");
        assert_eq!(
            (processed.display.width, processed.display.height),
            (2048, 1024)
        );
        assert_eq!(processed.display.encoding, Encoding::Jpeg);
        let widths: Vec<u32> = processed.thumbnails.iter().map(|t| t.width).collect();
        assert_eq!(widths, [160, 480, 960]);
        assert_eq!(processed.thumbnails[0].height, 80);
    }

    #[test]
    fn transparency_is_kept_as_png_and_small_images_are_not_enlarged() {
        let img = RgbaImage::from_fn(200, 100, |_, _| Rgba([1, 2, 3, 100]));
        let mut png = Vec::new();
        img.write_with_encoder(PngEncoder::new(&mut png)).unwrap();
        let processed = process(&png).expect("a valid PNG");
        assert_eq!(processed.display.encoding, Encoding::Png);
        assert_eq!(processed.display.width, 200);
        assert_eq!(processed.thumbnails.len(), 1, "only the 160 px thumbnail");
    }

    #[test]
    fn what_is_not_an_image_or_too_big_is_refused() {
        assert_eq!(process(b""), Err(ImageRefusal::Empty));
        assert_eq!(
            process(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"),
            Err(ImageRefusal::NotAnImage)
        );
        assert_eq!(process(b"GIF89a....."), Err(ImageRefusal::NotAnImage));
        // A file cut short is refused, or (when the decoder fills in what is missing) kept only
        // as a clean re-encoding of the pixels it had.
        let photo = jpeg(64, 64);
        match process(&photo[..photo.len() / 2]) {
            Err(ImageRefusal::Damaged(_)) => {}
            Ok(p) => assert!(image::load_from_memory(&p.display.bytes).is_ok()),
            other => panic!("{other:?}"),
        }
        let huge = vec![0u8; MAX_UPLOAD_BYTES + 1];
        assert!(matches!(process(&huge), Err(ImageRefusal::TooLarge { .. })));
    }
}
