//! An SVG chart rasterised to PNG (resvg), for e-mail clients, most of which block
//! SVG. Text is set in DejaVu Sans, embedded in the binary, so a chart reads the same
//! on a host without fonts.

use std::sync::{Arc, OnceLock};

use resvg::{tiny_skia, usvg};

#[derive(Debug, thiserror::Error)]
pub enum PngError {
    #[error("the chart is not valid SVG: {0}")]
    Svg(#[from] usvg::Error),
    #[error("the chart has no area to draw ({0}×{1})")]
    Size(u32, u32),
    #[error("PNG encoding failed: {0}")]
    Encode(String),
}

fn options() -> &'static usvg::Options<'static> {
    static OPTIONS: OnceLock<usvg::Options<'static>> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        let mut fonts = usvg::fontdb::Database::new();
        fonts.load_font_data(dejavu::sans::regular().to_vec());
        fonts.set_sans_serif_family("DejaVu Sans");
        usvg::Options {
            fontdb: Arc::new(fonts),
            font_family: "DejaVu Sans".into(),
            ..usvg::Options::default()
        }
    })
}

/// A standalone SVG document ([`super::svg::standalone`]) as PNG bytes, at its own
/// size times `scale`.
pub fn render(svg: &str, scale: f32) -> Result<Vec<u8>, PngError> {
    let tree = usvg::Tree::from_str(svg, options())?;
    let size = tree.size();
    let (w, h) = (
        (size.width() * scale).ceil() as u32,
        (size.height() * scale).ceil() as u32,
    );
    let mut pixmap = tiny_skia::Pixmap::new(w, h).ok_or(PngError::Size(w, h))?;
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    encode_palette(pixmap.data(), w, h)
}

/// Colours of a chart's palette: its few colours and the anti-aliased edges between
/// them read the same with 64.
const PALETTE: usize = 64;

/// RGBA pixels (opaque: every chart paints its background) as an indexed PNG.
fn encode_palette(rgba: &[u8], w: u32, h: u32) -> Result<Vec<u8>, PngError> {
    // NeuQuant's sampling factor: 10 is its recommended speed/quality balance.
    let quant = color_quant::NeuQuant::new(10, PALETTE, rgba);
    let palette: Vec<u8> = quant
        .color_map_rgba()
        .chunks(4)
        .flat_map(|c| [c[0], c[1], c[2]])
        .collect();
    let indices: Vec<u8> = rgba.chunks(4).map(|p| quant.index_of(p) as u8).collect();
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(palette);
    encoder.set_compression(png::Compression::Best);
    encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    let encode = |e: png::EncodingError| PngError::Encode(e.to_string());
    let mut writer = encoder.write_header().map_err(encode)?;
    writer.write_image_data(&indices).map_err(encode)?;
    writer.finish().map_err(encode)?;
    Ok(out)
}

/// Width and height from a PNG's header, `None` when the bytes are not a PNG.
pub fn dimensions(png: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if png.len() < 24 || &png[..8] != SIGNATURE || &png[12..16] != b"IHDR" {
        return None;
    }
    let word = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    Some((word(16), word(20)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::{svg, Series};

    #[test]
    fn a_chart_rasterises_at_its_size_with_text() {
        let s = Series {
            metric: "psi".into(),
            points: (0..24)
                .map(|i| (i * 3_600_000, Some(i as f64 / 40.0)))
                .collect(),
            threshold: Some(0.2),
        };
        let doc = svg::standalone(&svg::series(&s, "psi of amount"));
        let png = render(&doc, 1.0).unwrap();
        assert_eq!(dimensions(&png), Some((420, 150)));
        // Text drawn: the same chart without its labels has fewer coloured pixels.
        let bare = render(
            &doc.replace("<text", "<desc").replace("</text>", "</desc>"),
            1.0,
        )
        .unwrap();
        assert!(png.len() > bare.len(), "{} vs {}", png.len(), bare.len());
        assert!(png.len() < 20_000, "{} bytes", png.len());
    }

    #[test]
    fn broken_svg_is_an_error() {
        assert!(matches!(render("<svg", 1.0), Err(PngError::Svg(_))));
        assert_eq!(dimensions(b"GIF89a"), None);
    }
}
