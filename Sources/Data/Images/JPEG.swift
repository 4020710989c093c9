// Implementation note: libjpeg signals fatal errors by calling `error_exit`, which must not
// return (the default calls exit()). Swift cannot setjmp/longjmp, so every libjpeg call runs in
// small C functions in Sources/CJPEG/shim.h that set the jump point, with an error_exit that
// longjmps back to it. The decode is split in steps so that Swift sees the header
// (`jpeg_read_header`) and checks the pixel budget before `jpeg_start_decompress`, which is where
// libjpeg allocates in proportion to the image (all coefficients of a progressive file).

import CJPEG
import Foundation

/// Decoding JPEG files (libjpeg-turbo) to 8-bit RGB.
///
/// Output is row-major, top row first, `RGBRGB...` (`height * width * 3` bytes), the layout of
/// `numpy.asarray(PIL.Image.open(path).convert("RGB"))`. libjpeg's default integer IDCT and
/// fancy upsampling are used, as Pillow does, so pixels match Pillow built on the same libjpeg.
public enum JPEGImage {
  /// Reads and decodes a JPEG file; greyscale is replicated to RGB, CMYK/YCCK converted.
  /// Missing, non-JPEG, corrupt or truncated files throw a one-line `DataError` naming the file.
  ///
  /// - Parameters:
  ///   - maxPixels: the pixel budget checked against the header before decoding (nil:
  ///     ``ImageBudget/maxPixels(_:environment:)``, `$MODELFOOL_MAX_PIXELS` or 100 megapixels).
  ///   - targetShorterSide: when set, libjpeg decodes at the smallest DCT scale `n/8` (n in
  ///     1...8) whose shorter side is still at least this many pixels (``dctScale``), which is
  ///     several times faster for a large photo that will be shrunk anyway. The result is
  ///     then that smaller image, close to but not equal to a full decode resized.
  public static func read(
    _ path: String, maxPixels: Int? = nil, targetShorterSide: Int? = nil
  ) throws -> (rgb: [UInt8], width: Int, height: Int) {
    let image = try decodeFile(path, maxPixels: maxPixels, targetShorterSide: targetShorterSide)
    return (image.rgb, image.width, image.height)
  }

  /// Decodes JPEG bytes held in memory; `source` names them in error messages. `maxPixels` and
  /// `targetShorterSide` as for ``read(_:maxPixels:targetShorterSide:)``.
  public static func decode(
    _ bytes: [UInt8], source: String = "<memory>", maxPixels: Int? = nil, targetShorterSide: Int? = nil
  ) throws -> (rgb: [UInt8], width: Int, height: Int) {
    let image = try decodeScaled(bytes, source: source, maxPixels: maxPixels, targetShorterSide: targetShorterSide)
    return (image.rgb, image.width, image.height)
  }

  /// The DCT scale numerator `n` (output `ceil(size * n / 8)`) that libjpeg should decode a
  /// `width x height` image at so that its shorter side stays at least `targetShorterSide`: the
  /// smallest such `n` in 1...8, or 8 (full size) when even that is smaller than the target.
  public static func dctScale(width: Int, height: Int, targetShorterSide: Int) -> Int {
    let shorter = min(width, height)
    for n in 1...8 where (shorter * n + 7) / 8 >= targetShorterSide { return n }
    return 8
  }

  // MARK: Internals

  /// A decoded image and the size of the frame it was decoded from (equal unless DCT-scaled).
  struct Scaled {
    var rgb: [UInt8]
    var width: Int
    var height: Int
    var fullWidth: Int
    var fullHeight: Int
    /// The DCT scale numerator n (the decode is `ceil(full * n / 8)` pixels); 8: full size.
    var scale: Int
  }

  static func decodeFile(_ path: String, maxPixels: Int?, targetShorterSide: Int?) throws -> Scaled {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
      throw DataError("\(path): file not found")
    }
    try InputFile.requireRegular(path)
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DataError("\(path): cannot read the file")
    }
    return try decodeScaled([UInt8](data), source: path, maxPixels: maxPixels, targetShorterSide: targetShorterSide)
  }

  static func decodeScaled(
    _ bytes: [UInt8], source: String, maxPixels: Int?, targetShorterSide: Int?
  ) throws -> Scaled {
    guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else {
      throw DataError("\(source): not a JPEG file (no start-of-image marker)")
    }
    let budget = try ImageBudget.maxPixels(maxPixels)
    var message = [CChar](repeating: 0, count: Int(MF_JPEG_MESSAGE))
    func failure(_ reason: String = "") -> DataError {
      let text = reason.isEmpty ? String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : reason
      return DataError("\(source): corrupt or truncated JPEG file (\(text.isEmpty ? "unknown libjpeg error" : text))")
    }
    return try bytes.withUnsafeBufferPointer { buffer in
      guard let decoder = mf_jpeg_open(buffer.baseAddress, UInt(buffer.count), &message) else { throw failure() }
      defer { mf_jpeg_close(decoder) }
      var fullWidth: UInt32 = 0, fullHeight: UInt32 = 0
      mf_jpeg_image_size(decoder, &fullWidth, &fullHeight)
      _ = try ImageBudget.checkedByteCount(
        width: Int(fullWidth), height: Int(fullHeight), channels: 3, maxPixels: budget, source: source)
      let scale = targetShorterSide.map { dctScale(width: Int(fullWidth), height: Int(fullHeight), targetShorterSide: $0) } ?? 8
      var width: UInt32 = 0, height: UInt32 = 0
      guard mf_jpeg_output_size(decoder, Int32(scale), &width, &height, &message) == 0 else { throw failure() }
      let count = try ImageBudget.checkedByteCount(
        width: Int(width), height: Int(height), channels: 3, maxPixels: budget, source: source)
      let cmyk = mf_jpeg_is_cmyk(decoder) != 0
      var scratch = [UInt8](repeating: 0, count: cmyk ? Int(width) * 4 : 0)
      var status: Int32 = 0
      let rgb = [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
        status = scratch.withUnsafeMutableBufferPointer { row in
          mf_jpeg_decode_into(decoder, out.baseAddress, count, cmyk ? row.baseAddress : nil, &message)
        }
        // On failure the bytes are partly written; they are dropped with the array.
        initialized = count
      }
      switch status {
      case 0: return Scaled(rgb: rgb, width: Int(width), height: Int(height), fullWidth: Int(fullWidth), fullHeight: Int(fullHeight),
        scale: scale)
      default: throw failure()
      }
    }
  }
}
