// Implementation note: the resampler follows the algorithm Pillow documents for
// `Image.resize(..., Image.BICUBIC)` (and torchvision's `Resize` on PIL images uses): a separable
// convolution, horizontal pass then vertical pass, with the Keys cubic kernel (a = -0.5,
// support 2) stretched by the scale factor when shrinking (antialiasing), weights normalised to
// sum 1 and quantised to 22-bit fixed point, and each pass rounded and clamped to 8 bits.
// Written from that description, it reproduces Pillow's pixels exactly (checked on the
// ImageNet sample photos with Pillow 11).

import Foundation
import ModelFool

/// Resizing and cropping of 8-bit interleaved images (`height x width x channels`, row-major).
public enum ImageResize {
  /// The Keys cubic convolution kernel with a = -0.5 (Pillow's and Catmull-Rom's choice):
  /// `(a+2)|x|^3 - (a+3)|x|^2 + 1` for `|x| < 1`, `a|x|^3 - 5a|x|^2 + 8a|x| - 4a` for
  /// `1 <= |x| < 2`, 0 beyond.
  public static func cubicKernel(_ x: Double) -> Double {
    let a = -0.5
    let t = abs(x)
    if t < 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
    if t < 2 { return (((t - 5) * t + 8) * t - 4) * a }
    return 0
  }

  /// Bicubic resampling of an 8-bit image to `toWidth x toHeight`, matching Pillow's
  /// `Image.resize((toWidth, toHeight), Image.BICUBIC)` pixel for pixel (antialiased when
  /// shrinking: the kernel is widened by the scale factor). A pass whose size is unchanged is
  /// skipped (it would be the identity).
  public static func bicubic(
    _ pixels: [UInt8], width: Int, height: Int, channels: Int, toWidth: Int, toHeight: Int
  ) -> [UInt8] {
    bicubic(
      pixels, width: width, height: height, channels: channels, toWidth: toWidth, toHeight: toHeight,
      window: (0, 0, toWidth, toHeight))
  }

  /// The `window` (`x..<x+width`, `y..<y+height` of the output) of
  /// `bicubic(pixels, ..., toWidth:, toHeight:)`, computing only those pixels (and horizontally
  /// resampling only the input rows they need): resize-then-crop in one step, equal to it byte
  /// for byte.
  public static func bicubic(
    _ pixels: [UInt8], width: Int, height: Int, channels: Int, toWidth: Int, toHeight: Int,
    window: (x: Int, y: Int, width: Int, height: Int)
  ) -> [UInt8] {
    bicubic(
      pixels, width: width, height: height, channels: channels, toWidth: toWidth, toHeight: toHeight, window: window,
      extent: nil)
  }

  /// `bicubic(..., window:)` where the image content spans `extent` input pixels (at most
  /// `width x height`; Pillow's `resize(..., box=(0, 0, extent.width, extent.height))`): a JPEG
  /// decoded at scale n/8 has `ceil(size * n / 8)` pixels, the last row and column partly
  /// beyond the frame, whose true extent `size * n / 8` the resize must map onto the output.
  /// Both passes run even when a side keeps its pixel count.
  static func bicubic(
    _ pixels: [UInt8], width: Int, height: Int, channels: Int, toWidth: Int, toHeight: Int,
    window: (x: Int, y: Int, width: Int, height: Int), extent: (width: Double, height: Double)?
  ) -> [UInt8] {
    precondition(width > 0 && height > 0 && channels > 0 && toWidth > 0 && toHeight > 0, "empty image")
    precondition(pixels.count == width * height * channels, "pixel count does not match the size")
    precondition(
      window.x >= 0 && window.y >= 0 && window.width > 0 && window.height > 0 && window.x + window.width <= toWidth
        && window.y + window.height <= toHeight, "window outside the output")
    let columns =
      extent != nil || toWidth != width
      ? taps(inLength: width, outLength: toWidth, extent: extent?.width ?? Double(width)) : nil
    let rows =
      extent != nil || toHeight != height
      ? taps(inLength: height, outLength: toHeight, extent: extent?.height ?? Double(height)) : nil
    // The input rows the window's output rows read.
    var rowLow = window.y, rowHigh = window.y + window.height
    if let rows {
      rowLow = rows.first[window.y]
      rowHigh = 0
      for i in window.y..<(window.y + window.height) { rowHigh = max(rowHigh, rows.first[i] + rows.count[i]) }
    }
    let lineLength = window.width * channels
    // Horizontal pass (or a copy of the window's columns) over rows rowLow..<rowHigh.
    var middle = [UInt8](repeating: 0, count: (rowHigh - rowLow) * lineLength)
    pixels.withUnsafeBufferPointer { src in
      middle.withUnsafeMutableBufferPointer { dst in
        let source = src.baseAddress!, target = dst.baseAddress!
        for r in rowLow..<rowHigh {
          let inRow = source + r * width * channels
          let outRow = target + (r - rowLow) * lineLength
          if let columns {
            resampleLine(inRow, into: outRow, taps: columns, from: window.x, count: window.width, channels: channels)
          } else {
            outRow.update(from: inRow + window.x * channels, count: lineLength)
          }
        }
      }
    }
    guard let rows else {
      return middle  // rows rowLow..<rowHigh are exactly the window's
    }
    // Vertical pass: each output row is a weighted sum of whole intermediate rows.
    var output = [UInt8](repeating: 0, count: window.height * lineLength)
    var accumulator = [Int32](repeating: 0, count: lineLength)
    middle.withUnsafeBufferPointer { src in
      output.withUnsafeMutableBufferPointer { dst in
        accumulator.withUnsafeMutableBufferPointer { acc in
          rows.weights.withUnsafeBufferPointer { weights in
            let sum = acc.baseAddress!
            for i in 0..<window.height {
              let o = window.y + i
              let w = weights.baseAddress! + o * rows.stride
              let first = rows.first[o] - rowLow
              for x in 0..<lineLength { sum[x] = half }
              for k in 0..<rows.count[o] {
                let weight = w[k]
                let line = src.baseAddress! + (first + k) * lineLength
                for x in 0..<lineLength { sum[x] &+= Int32(line[x]) &* weight }
              }
              let out = dst.baseAddress! + i * lineLength
              for x in 0..<lineLength { out[x] = clip8(sum[x]) }
            }
          }
        }
      }
    }
    return output
  }

  /// The size that makes the shorter side `shorterSide` and keeps the aspect ratio, the longer
  /// side truncated as torchvision's `Resize(int)` does: 1024x683 -> 383x256.
  public static func sizeForShorterSide(_ shorterSide: Int, width: Int, height: Int) -> (width: Int, height: Int) {
    if width <= height {
      return (shorterSide, Int(Double(shorterSide) * Double(height) / Double(width)))
    }
    return (Int(Double(shorterSide) * Double(width) / Double(height)), shorterSide)
  }

  /// The top-left corner of a centred `cropWidth x cropHeight` window, rounded half to even as
  /// torchvision's `CenterCrop` does (`round((size - crop) / 2)`).
  public static func centerCropOrigin(width: Int, height: Int, cropWidth: Int, cropHeight: Int) -> (x: Int, y: Int) {
    let x = (Double(width - cropWidth) / 2).rounded(.toNearestOrEven)
    let y = (Double(height - cropHeight) / 2).rounded(.toNearestOrEven)
    return (Int(x), Int(y))
  }

  /// Cuts the centred `cropWidth x cropHeight` window (see `centerCropOrigin`) out of an image
  /// at least that large.
  public static func centerCrop(
    _ pixels: [UInt8], width: Int, height: Int, channels: Int, cropWidth: Int, cropHeight: Int
  ) -> [UInt8] {
    precondition(cropWidth <= width && cropHeight <= height, "crop larger than the image")
    precondition(pixels.count == width * height * channels, "pixel count does not match the size")
    let origin = centerCropOrigin(width: width, height: height, cropWidth: cropWidth, cropHeight: cropHeight)
    var out = [UInt8]()
    out.reserveCapacity(cropWidth * cropHeight * channels)
    for y in origin.y..<(origin.y + cropHeight) {
      let start = (y * width + origin.x) * channels
      out.append(contentsOf: pixels[start..<(start + cropWidth * channels)])
    }
    return out
  }

  // MARK: Internals

  private static let precisionBits: Int32 = 22
  /// Rounding offset: half of one unit of the fixed-point weights.
  private static let half: Int32 = 1 << (precisionBits - 1)

  /// A fixed-point sum back to 8 bits, rounded (the offset `half` is already in it) and clamped.
  @inline(__always) private static func clip8(_ sum: Int32) -> UInt8 {
    UInt8(truncatingIfNeeded: min(max(sum >> precisionBits, 0), 255))
  }

  /// Fixed-point weights of each output pixel: `first` input index, `count` taps, and `count`
  /// weights at `weights[i * stride]`, each `round(w * 2^22)` (Pillow's precision). Sums stay
  /// within Int32: the weights add to 2^22 and their absolute values to less than 1.3 * 2^22,
  /// so `255 * 1.3 * 2^22 < 2^31`.
  private struct Taps {
    var first: [Int] = []
    var count: [Int] = []
    var weights: [Int32] = []
    var stride = 0
  }

  private static func taps(inLength: Int, outLength: Int, extent: Double) -> Taps {
    let scale = extent / Double(outLength)
    let filterScale = max(scale, 1)
    let support = 2.0 * filterScale
    let reciprocal = 1 / filterScale
    var result = Taps()
    result.stride = Int(support.rounded(.up)) * 2 + 1
    result.weights = [Int32](repeating: 0, count: result.stride * outLength)
    var real = [Double](repeating: 0, count: result.stride)
    let unit = Double(1 << precisionBits)
    for i in 0..<outLength {
      let center = (Double(i) + 0.5) * scale
      let low = max(Int(center - support + 0.5), 0)  // Int() truncates toward zero
      let high = min(Int(center + support + 0.5), inLength)
      let n = high - low
      var total = 0.0
      for k in 0..<n {
        real[k] = cubicKernel((Double(k + low) - center + 0.5) * reciprocal)
        total += real[k]
      }
      for k in 0..<n {
        let w = total != 0 ? real[k] / total : 0
        result.weights[i * result.stride + k] = Int32(w < 0 ? w * unit - 0.5 : w * unit + 0.5)
      }
      result.first.append(low)
      result.count.append(n)
    }
    return result
  }

  /// Horizontal resampling of one row: output pixels `from..<from+count` of the resized row,
  /// written to `output` (`count * channels` bytes). Three channels (RGB) have their own loop
  /// with the three sums in registers.
  private static func resampleLine(
    _ input: UnsafePointer<UInt8>, into output: UnsafeMutablePointer<UInt8>, taps: Taps, from: Int, count: Int,
    channels: Int
  ) {
    taps.weights.withUnsafeBufferPointer { weights in
      taps.first.withUnsafeBufferPointer { firsts in
        taps.count.withUnsafeBufferPointer { counts in
          for j in 0..<count {
            let i = from + j
            let w = weights.baseAddress! + i * taps.stride
            let n = counts[i]
            var p = input + firsts[i] * channels
            if channels == 3 {
              var r = half, g = half, b = half
              for k in 0..<n {
                let weight = w[k]
                r &+= Int32(p[0]) &* weight
                g &+= Int32(p[1]) &* weight
                b &+= Int32(p[2]) &* weight
                p += 3
              }
              output[3 * j] = clip8(r)
              output[3 * j + 1] = clip8(g)
              output[3 * j + 2] = clip8(b)
            } else {
              for c in 0..<channels {
                var sum = half
                for k in 0..<n { sum &+= Int32(p[k * channels + c]) &* w[k] }
                output[j * channels + c] = clip8(sum)
              }
            }
          }
        }
      }
    }
  }
}

/// How a model wants its images: resize, centre crop, then per channel
/// `value = (pixel / divisor - mean[c]) / std[c]` on RGB pixels 0...255, laid out as a
/// `[N, 3, H, W]` Float tensor.
///
/// Presets: `unitRange` (0...1, for models that normalise inside, so attack budgets like 8/255
/// mean what they say), `pixelRange` (0...255), `torchvision` (ImageNet mean/std after /255),
/// `efficientNetLite` (`(pixel - 127) / 128`, the TensorFlow EfficientNet-Lite convention). All
/// resize the shorter side to 256 with Pillow-exact bicubic resampling and centre-crop 224, as
/// the torchvision evaluation pipeline `Resize(256, BICUBIC), CenterCrop(224)` does.
/// Codable, so it can be stored as a JSON attribute of a checkpoint.
public struct ImagePreprocessing: Sendable, Hashable, Codable {
  /// Resize so the shorter side has this many pixels (aspect kept); nil: no resize.
  public var resizeShorterSide: Int?
  /// Side of the square centre crop; nil: no crop.
  public var centerCrop: Int?
  /// Pixels 0...255 are divided by this first (255 gives 0...1, 1 keeps 0...255).
  public var divisor: Float
  /// Per-channel (R, G, B) value subtracted after dividing.
  public var mean: [Float]
  /// Per-channel (R, G, B) value divided by last.
  public var std: [Float]

  /// Creates a pipeline; `mean` and `std` have three entries (R, G, B).
  public init(
    resizeShorterSide: Int? = 256, centerCrop: Int? = 224, divisor: Float = 255,
    mean: [Float] = [0, 0, 0], std: [Float] = [1, 1, 1]
  ) {
    precondition(mean.count == 3 && std.count == 3, "mean and std need one value per RGB channel")
    self.resizeShorterSide = resizeShorterSide
    self.centerCrop = centerCrop
    self.divisor = divisor
    self.mean = mean
    self.std = std
  }

  /// Resize 256, crop 224, values `pixel / 255` in 0...1.
  public static let unitRange = ImagePreprocessing()
  /// Resize 256, crop 224, values `pixel` in 0...255.
  public static let pixelRange = ImagePreprocessing(divisor: 1)
  /// Resize 256, crop 224, `(pixel / 255 - mean) / std` with the ImageNet statistics
  /// mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225) (torchvision models).
  public static let torchvision = ImagePreprocessing(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
  /// Resize 256, crop 224, `(pixel - 127) / 128` (EfficientNet-Lite).
  public static let efficientNetLite = ImagePreprocessing(divisor: 1, mean: [127, 127, 127], std: [128, 128, 128])

  /// Resizes and crops an RGB image (no value mapping): the 8-bit pixels the model will see.
  /// Throws when the image is smaller than the crop.
  public func geometry(rgb: [UInt8], width: Int, height: Int, source: String = "image") throws -> (
    rgb: [UInt8], width: Int, height: Int
  ) {
    try geometry(rgb: rgb, width: width, height: height, decodedFrom: (width, height), scale: 8, source: source)
  }

  /// Reads an image file (``ImageFile/read(_:maxPixels:targetShorterSide:)``) and applies
  /// ``geometry(rgb:width:height:source:)``.
  ///
  /// With `dctScaling`, a JPEG much larger than `resizeShorterSide` is decoded by libjpeg at a
  /// reduced DCT scale (1/8 ... 8/8) whose shorter side is still at least `resizeShorterSide`,
  /// and then resized as the full frame would have been (the decode's fractional extent
  /// mapped onto the target), so the output has the same size and nearly the same pixels: on
  /// the shipped ImageNet photos a mean absolute difference of 0.4-4.9 levels of 255 (1.9 on
  /// average; the 512x512 ones decode at 256x256 and equal Pillow's `draft` decode), for about
  /// 1.8x the throughput. Without it (the default) the pixels equal Pillow's decode + resize +
  /// crop exactly.
  /// `maxPixels`: the decoding budget (nil: `$MODELFOOL_MAX_PIXELS`, else 100 megapixels).
  public func geometry(contentsOf path: String, maxPixels: Int? = nil, dctScaling: Bool = false) throws -> (
    rgb: [UInt8], width: Int, height: Int
  ) {
    let image = try ImageFile.readScaled(
      path, maxPixels: maxPixels, targetShorterSide: dctScaling ? resizeShorterSide : nil)
    return try geometry(
      rgb: image.rgb, width: image.width, height: image.height, decodedFrom: (image.fullWidth, image.fullHeight),
      scale: image.scale, source: path)
  }

  /// Resize and crop of an image decoded at DCT scale `scale`/8 from a `decodedFrom` frame:
  /// the resize target is computed from the full frame's size.
  private func geometry(
    rgb: [UInt8], width: Int, height: Int, decodedFrom full: (width: Int, height: Int), scale: Int, source: String
  ) throws -> (rgb: [UInt8], width: Int, height: Int) {
    guard width > 0, height > 0, rgb.count == width * height * 3 else {
      throw DataError("\(source): \(rgb.count) bytes are not a \(width)x\(height) RGB image")
    }
    var size = (width: width, height: height)
    if let side = resizeShorterSide {
      size = ImageResize.sizeForShorterSide(side, width: full.width, height: full.height)
      guard size.width > 0, size.height > 0 else {
        throw DataError("\(source): image of \(full.width)x\(full.height) pixels is too narrow to resize to \(side)")
      }
    }
    var window = (x: 0, y: 0, width: size.width, height: size.height)
    if let crop = centerCrop {
      guard crop <= size.width, crop <= size.height else {
        throw DataError("\(source): image of \(size.width)x\(size.height) pixels is smaller than the \(crop)x\(crop) crop")
      }
      let origin = ImageResize.centerCropOrigin(width: size.width, height: size.height, cropWidth: crop, cropHeight: crop)
      window = (origin.x, origin.y, crop, crop)
    }
    if size.width == width, size.height == height, scale == 8 || (full.width * scale % 8 == 0 && full.height * scale % 8 == 0) {
      if window.width == width, window.height == height { return (rgb, width, height) }
      return (
        ImageResize.centerCrop(rgb, width: width, height: height, channels: 3, cropWidth: window.width, cropHeight: window.height),
        window.width, window.height
      )
    }
    // A decode at DCT scale n/8 holds the frame in `full * n / 8` pixels (a fraction when the
    // last block row or column is cut), in `ceil(full * n / 8)` whole ones.
    let span = (width: Double(full.width) * Double(scale) / 8, height: Double(full.height) * Double(scale) / 8)
    let extent = span == (Double(width), Double(height)) ? nil : span
    let pixels = ImageResize.bicubic(
      rgb, width: width, height: height, channels: 3, toWidth: size.width, toHeight: size.height, window: window,
      extent: extent)
    return (pixels, window.width, window.height)
  }

  /// Maps 8-bit RGB pixels (`height x width x 3`) to `(pixel / divisor - mean[c]) / std[c]`,
  /// planar, into `destination` (`3 * height * width` floats, channel-major).
  public func normalize(rgb: [UInt8], width: Int, height: Int, into destination: UnsafeMutablePointer<Float>) {
    let plane = width * height
    precondition(rgb.count == plane * 3, "pixel count does not match the size")
    // One table of the 256 possible values per channel, each computed as the formula does.
    var table = [Float](repeating: 0, count: 3 * 256)
    for c in 0..<3 {
      for v in 0..<256 { table[c * 256 + v] = (Float(v) / divisor - mean[c]) / std[c] }
    }
    rgb.withUnsafeBufferPointer { src in
      table.withUnsafeBufferPointer { lookup in
        let pixels = src.baseAddress!
        let r = lookup.baseAddress!, g = r + 256, b = r + 512
        let outR = destination, outG = destination + plane, outB = destination + 2 * plane
        for p in 0..<plane {
          outR[p] = r[Int(pixels[3 * p])]
          outG[p] = g[Int(pixels[3 * p + 1])]
          outB[p] = b[Int(pixels[3 * p + 2])]
        }
      }
    }
  }

  /// The full pipeline for one RGB image: a `[1, 3, H, W]` tensor.
  public func tensor(rgb: [UInt8], width: Int, height: Int, source: String = "image") throws -> Tensor {
    tensor(try geometry(rgb: rgb, width: width, height: height, source: source))
  }

  /// The full pipeline for one image file (``geometry(contentsOf:maxPixels:dctScaling:)``,
  /// then ``normalize(rgb:width:height:into:)``): a `[1, 3, H, W]` tensor.
  public func tensor(contentsOf path: String, maxPixels: Int? = nil, dctScaling: Bool = false) throws -> Tensor {
    tensor(try geometry(contentsOf: path, maxPixels: maxPixels, dctScaling: dctScaling))
  }

  private func tensor(_ image: (rgb: [UInt8], width: Int, height: Int)) -> Tensor {
    let storage = TensorStorage(uninitializedCount: 3 * image.width * image.height)
    normalize(rgb: image.rgb, width: image.width, height: image.height, into: storage.pointer)
    return Tensor(shape: [1, 3, image.height, image.width], storage: storage)
  }

  /// The pipeline as a one-line JSON object (for checkpoint attributes).
  public var jsonString: String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
  }

  /// Decodes a pipeline written by `jsonString`.
  public init(jsonString: String) throws {
    do {
      self = try JSONDecoder().decode(ImagePreprocessing.self, from: Data(jsonString.utf8))
    } catch {
      throw DataError("image preprocessing: invalid JSON \(jsonString.prefix(80))")
    }
    guard mean.count == 3, std.count == 3 else {
      throw DataError("image preprocessing: mean and std need 3 values each in \(jsonString.prefix(80))")
    }
  }
}
