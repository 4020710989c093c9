import Foundation

/// The pixel budget that image decoding checks a file's header against before allocating
/// anything in proportion to the image: image files come from outside and are hostile (an 18 KB
/// progressive JPEG can claim 65500x65500 pixels, a 57-byte PNG header 16384x16384 at 16 bits).
///
/// The budget counts the pixels of the frame the header declares (`width * height`, before any
/// DCT scaling: a progressive JPEG keeps every coefficient of the full frame in memory). Decoding
/// an RGB image of `n` pixels needs about `3n` bytes for the result plus up to `8n` of decoder
/// state (16-bit PNG) or `2n * components` (progressive JPEG coefficients).
public enum ImageBudget {
  /// 100 megapixels: a 10000x10000 image; about 0.3 GB as 8-bit RGB.
  public static let defaultMaxPixels = 100_000_000

  /// The environment variable that sets the budget for every command that decodes images
  /// (`MODELFOOL_MAX_PIXELS=400000000 modelfool predict ...`).
  public static let environmentVariable = "MODELFOOL_MAX_PIXELS"

  /// The decoded size a stack of images read whole (an HDF5 `images` dataset) may reach: 1 GiB.
  /// The stack's uint8 pixels and the float32 inputs made from them are both held, 15 bytes per
  /// stored pixel: about 1,400 images of 224x224.
  public static let defaultMaxDecodedBytes = 1 << 30

  /// The environment variable that sets the decoded-size budget of an image stack
  /// (`MODELFOOL_MAX_DECODED_BYTES=4000000000 modelfool evaluate --h5 ...`).
  public static let decodedBytesVariable = "MODELFOOL_MAX_DECODED_BYTES"

  /// Bytes a stored pixel of a stack takes once read: 3 (uint8 RGB) + 12 (three float32 values).
  public static let decodedBytesPerPixel = 15

  /// The decoded-size budget in effect: `explicit` when given, else `$MODELFOOL_MAX_DECODED_BYTES`
  /// when set, else ``defaultMaxDecodedBytes``; a value that is not a positive whole number is an
  /// error.
  public static func maxDecodedBytes(_ explicit: Int? = nil, environment: [String: String]? = nil) throws -> Int {
    if let explicit {
      guard explicit > 0 else { throw DataError("decoded-size budget \(explicit): expected a positive number of bytes") }
      return explicit
    }
    if let environment { return try parse(environment[decodedBytesVariable], variable: decodedBytesVariable, unit: "bytes", default: defaultMaxDecodedBytes) }
    return try processDecodedBudget.get()
  }

  /// The budget in effect: `explicit` when given, else `$MODELFOOL_MAX_PIXELS` when set, else
  /// ``defaultMaxPixels``. A value that is not a positive whole number (an empty one included) is
  /// an error, not a silent fallback to the default.
  public static func maxPixels(
    _ explicit: Int? = nil, environment: [String: String]? = nil
  ) throws -> Int {
    if let explicit {
      guard explicit > 0 else { throw DataError("image pixel budget \(explicit): expected a positive number of pixels") }
      return explicit
    }
    if let environment { return try parse(environment[environmentVariable]) }
    return try processBudget.get()
  }

  /// Checks a declared `width x height` image of `channels` bytes per pixel against `maxPixels`
  /// with overflow-checked arithmetic and returns the byte count `width * height * channels`.
  /// The error names the file, its size and the budget, and how to raise the budget.
  public static func checkedByteCount(
    width: Int, height: Int, channels: Int, maxPixels: Int, source: String
  ) throws -> Int {
    guard width > 0, height > 0, channels > 0 else {
      throw DataError("\(source): image size \(width)x\(height) is empty")
    }
    let (pixels, pixelsOverflow) = width.multipliedReportingOverflow(by: height)
    guard !pixelsOverflow, pixels <= maxPixels else {
      throw DataError(
        "\(source): image of \(width)x\(height) pixels is over the decoding budget of \(maxPixels) pixels"
          + " (set \(environmentVariable) to raise it)")
    }
    let (bytes, bytesOverflow) = pixels.multipliedReportingOverflow(by: channels)
    guard !bytesOverflow else {
      throw DataError("\(source): image of \(width)x\(height)x\(channels) bytes overflows the address space")
    }
    return bytes
  }

  /// Checks a declared stack of `images` (`N x H x W x 3` uint8, as an HDF5 `images` dataset)
  /// before it is read: each image's `H x W` and the stack's `N x H x W` pixels (of the `rows`
  /// read, all when nil) must lie within `maxPixels` (nil: ``maxPixels(_:environment:)``), and
  /// the stack's decoded size, ``decodedBytesPerPixel`` bytes per pixel, within `maxDecodedBytes`
  /// (nil: ``maxDecodedBytes(_:environment:)``), with checked arithmetic. A 2 KB compressed file
  /// can declare gigabytes.
  public static func checkImageStack(
    shape: [Int], rows: Range<Int>? = nil, maxPixels explicit: Int? = nil, maxDecodedBytes explicitBytes: Int? = nil,
    source: String
  ) throws {
    guard shape.count == 4, shape[3] == 3 else {
      throw DataError("\(source): 'images' must be N x H x W x 3 uint8 RGB, found shape \(shape)")
    }
    let budget = try maxPixels(explicit)
    _ = try checkedByteCount(width: shape[2], height: shape[1], channels: 3, maxPixels: budget, source: source)
    let count = rows.map { max(0, min($0.upperBound, shape[0]) - max($0.lowerBound, 0)) } ?? shape[0]
    let (pixels, overflow) = (shape[1] * shape[2]).multipliedReportingOverflow(by: count)
    guard !overflow, pixels <= budget else {
      throw DataError(
        "\(source): \(count) images of \(shape[2])x\(shape[1]) pixels are over the decoding budget of \(budget) pixels per file"
          + " (set \(environmentVariable) to raise it)")
    }
    let byteBudget = try maxDecodedBytes(explicitBytes)
    let (bytes, bytesOverflow) = pixels.multipliedReportingOverflow(by: decodedBytesPerPixel)
    guard !bytesOverflow, bytes <= byteBudget else {
      throw DataError(
        "\(source): \(count) images of \(shape[2])x\(shape[1]) pixels decode to \(bytesOverflow ? "more than \(Int.max)" : String(bytes)) bytes,"
          + " over the budget of \(byteBudget) bytes per file (set \(decodedBytesVariable) to raise it)")
    }
  }

  /// The environment's budget, read once per process.
  private static let processBudget: Result<Int, DataError> = Result {
    try parse(ProcessInfo.processInfo.environment[environmentVariable])
  }.mapError { $0 as? DataError ?? DataError("\($0)") }

  /// The environment's decoded-size budget, read once per process.
  private static let processDecodedBudget: Result<Int, DataError> = Result {
    try parse(ProcessInfo.processInfo.environment[decodedBytesVariable], variable: decodedBytesVariable, unit: "bytes", default: defaultMaxDecodedBytes)
  }.mapError { $0 as? DataError ?? DataError("\($0)") }

  private static func parse(
    _ text: String?, variable: String = environmentVariable, unit: String = "pixels", default fallback: Int = defaultMaxPixels
  ) throws -> Int {
    guard let text else { return fallback }
    guard let value = Int(text.filter { $0 != "_" }), value > 0 else {
      throw DataError("$\(variable)='\(text)': expected a positive whole number of \(unit) (default \(fallback))")
    }
    return value
  }
}
