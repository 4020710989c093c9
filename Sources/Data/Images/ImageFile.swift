import Foundation

/// Reading an image file of either supported format, chosen by its first bytes.
public enum ImageFile {
  /// File name extensions treated as images when scanning folders (compared lowercased).
  public static let extensions: Set<String> = ["jpg", "jpeg", "png"]

  /// Reads a JPEG or PNG file as 8-bit RGB (`height x width x 3`, row-major), deciding the
  /// format from the file's signature rather than its name (ILSVRC's train set has PNG files
  /// named `.JPEG`).
  ///
  /// - Parameters:
  ///   - maxPixels: the pixel budget checked against the file's header before anything is
  ///     decoded (nil: ``ImageBudget/maxPixels(_:environment:)``: `$MODELFOOL_MAX_PIXELS`, else
  ///     100 megapixels); a larger image throws a one-line error naming the budget.
  ///   - targetShorterSide: for JPEG files, decode at a reduced DCT scale whose shorter side is
  ///     still at least this many pixels (see ``JPEGImage/dctScale(width:height:targetShorterSide:)``);
  ///     ignored for PNG. Nil (the default) decodes at full size.
  public static func read(
    _ path: String, maxPixels: Int? = nil, targetShorterSide: Int? = nil
  ) throws -> (rgb: [UInt8], width: Int, height: Int) {
    let image = try readScaled(path, maxPixels: maxPixels, targetShorterSide: targetShorterSide)
    return (image.rgb, image.width, image.height)
  }

  /// `read`, also returning the size of the frame before DCT scaling.
  static func readScaled(_ path: String, maxPixels: Int?, targetShorterSide: Int?) throws -> JPEGImage.Scaled {
    try InputFile.requireRegular(path)  // a FIFO named like an image would block the read
    guard let handle = FileHandle(forReadingAtPath: path) else {
      throw DataError("\(path): file not found")
    }
    let head = (try? handle.read(upToCount: 8)).map { [UInt8]($0) } ?? []
    try? handle.close()
    if head.starts(with: [0xFF, 0xD8]) {
      return try JPEGImage.decodeFile(path, maxPixels: maxPixels, targetShorterSide: targetShorterSide)
    }
    if head.starts(with: [0x89, 0x50, 0x4E, 0x47]) {
      let image = try PNGImage.read(path, maxPixels: maxPixels)
      return JPEGImage.Scaled(
        rgb: image.rgb, width: image.width, height: image.height, fullWidth: image.width, fullHeight: image.height,
        scale: 8)
    }
    throw DataError("\(path): not a JPEG or PNG image")
  }
}
