// Implementation note: uses libpng's simplified `png_image` API, which reports errors through
// return codes and `png_image.message` instead of setjmp/longjmp (which Swift cannot use).

import CPNG
import Foundation

/// Reading and writing 8-bit PNG files (heatmaps, explanation pictures, user input images).
///
/// Pixels are row-major, top row first, channels interleaved (`RGBRGB...` or one gray byte per
/// pixel), the layout of `PIL.Image.tobytes()` / numpy `H x W x C` uint8 arrays.
public enum PNGImage {
  /// Writes an 8-bit RGB PNG; `rgb` holds `height * width * 3` bytes.
  public static func write(rgb: [UInt8], width: Int, height: Int, to path: String) throws {
    try write(rgb, channels: 3, format: mf_png_format_rgb(), width: width, height: height, to: path)
  }

  /// Writes an 8-bit grayscale PNG; `gray` holds `height * width` bytes.
  public static func write(gray: [UInt8], width: Int, height: Int, to path: String) throws {
    try write(gray, channels: 1, format: mf_png_format_gray(), width: width, height: height, to: path)
  }

  /// Reads any PNG as 8-bit RGB: gray is replicated to three channels, palettes are expanded,
  /// an alpha channel is dropped (as `PIL.Image.convert("RGB")` does); 16-bit samples are
  /// scaled to 8 bits with rounding (`v * 255 / 65535`).
  ///
  /// The header's size is checked against `maxPixels` (nil: ``ImageBudget/maxPixels(_:environment:)``,
  /// `$MODELFOOL_MAX_PIXELS` or 100 megapixels) with overflow-checked arithmetic after libpng has
  /// read the header chunks (`png_read_info`) and before any pixel buffer is allocated.
  public static func read(_ path: String, maxPixels: Int? = nil) throws -> (rgb: [UInt8], width: Int, height: Int) {
    guard FileManager.default.fileExists(atPath: path) else { throw DataError("\(path): file not found") }
    let budget = try ImageBudget.maxPixels(maxPixels)
    var image = png_image()
    image.version = png_uint_32(PNG_IMAGE_VERSION)
    guard png_image_begin_read_from_file(&image, path) != 0 else {
      let message = pngMessage(&image)
      png_image_free(&image)
      throw DataError("\(path): not a readable PNG file (\(message))")
    }
    let width = Int(image.width)
    let height = Int(image.height)
    let sixteenBit = image.format & mf_png_format_flag_linear() != 0
    let rgbBytes: Int
    do {
      rgbBytes = try ImageBudget.checkedByteCount(width: width, height: height, channels: 3, maxPixels: budget, source: path)
      // libpng's own buffer for the RGBA rows: 4 or 8 bytes per pixel.
      _ = try ImageBudget.checkedByteCount(
        width: width, height: height, channels: sixteenBit ? 8 : 4, maxPixels: budget, source: path)
    } catch {
      png_image_free(&image)
      throw error
    }
    let pixels = width * height
    var rgb = [UInt8](repeating: 0, count: rgbBytes)
    if sixteenBit {
      image.format = mf_png_format_rgba() | mf_png_format_flag_linear()
      var wide = [UInt16](repeating: 0, count: pixels * 4)
      guard png_image_finish_read(&image, nil, &wide, 0, nil) != 0 else {
        let message = pngMessage(&image)
        png_image_free(&image)
        throw DataError("\(path): corrupt or truncated PNG file (\(message))")
      }
      for p in 0..<pixels {
        for c in 0..<3 { rgb[3 * p + c] = UInt8((UInt32(wide[4 * p + c]) * 255 + 32_767) / 65_535) }
      }
    } else {
      image.format = mf_png_format_rgba()
      var rgba = [UInt8](repeating: 0, count: pixels * 4)
      guard png_image_finish_read(&image, nil, &rgba, 0, nil) != 0 else {
        let message = pngMessage(&image)
        png_image_free(&image)
        throw DataError("\(path): corrupt or truncated PNG file (\(message))")
      }
      for p in 0..<pixels {
        rgb[3 * p] = rgba[4 * p]
        rgb[3 * p + 1] = rgba[4 * p + 1]
        rgb[3 * p + 2] = rgba[4 * p + 2]
      }
    }
    return (rgb, width, height)
  }

  private static func write(
    _ bytes: [UInt8], channels: Int, format: png_uint_32, width: Int, height: Int, to path: String
  ) throws {
    guard width > 0, height > 0, width <= 1 << 24, height <= 1 << 24 else {
      throw DataError("\(path): cannot write a \(width)x\(height) PNG")
    }
    guard bytes.count == width * height * channels else {
      throw DataError(
        "\(path): a \(width)x\(height) PNG with \(channels) channel(s) needs \(width * height * channels) bytes, got \(bytes.count)")
    }
    var image = png_image()
    image.version = png_uint_32(PNG_IMAGE_VERSION)
    image.width = png_uint_32(width)
    image.height = png_uint_32(height)
    image.format = format
    let ok = png_image_write_to_file(&image, path, 0, bytes, 0, nil)
    if ok == 0 {
      let message = pngMessage(&image)
      png_image_free(&image)
      throw DataError("\(path): cannot write PNG (\(message))")
    }
  }

  /// The message libpng left in `image.message` (64 bytes, NUL-terminated).
  private static func pngMessage(_ image: inout png_image) -> String {
    let text = withUnsafeBytes(of: &image.message) { raw in
      String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
    return text.isEmpty ? "unknown libpng error" : text
  }
}
