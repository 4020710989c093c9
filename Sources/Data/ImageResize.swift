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
    precondition(width > 0 && height > 0 && channels > 0 && toWidth > 0 && toHeight > 0, "empty image")
    precondition(pixels.count == width * height * channels, "pixel count does not match the size")
    var current = pixels
    if toWidth != width {
      current = resamplePass(
        current, lines: height, inLength: width, outLength: toWidth, channels: channels, horizontal: true)
    }
    if toHeight != height {
      current = resamplePass(
        current, lines: toWidth, inLength: height, outLength: toHeight, channels: channels, horizontal: false)
    }
    return current
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

  private static let precisionBits = 22

  /// Fixed-point weights of one output pixel: `first` input index and its weights.
  private struct Taps {
    var first: [Int] = []
    var count: [Int] = []
    var weights: [Int] = []  // `stride` per output pixel
    var stride = 0
  }

  private static func taps(inLength: Int, outLength: Int) -> Taps {
    let scale = Double(inLength) / Double(outLength)
    let filterScale = max(scale, 1)
    let support = 2.0 * filterScale
    let reciprocal = 1 / filterScale
    var result = Taps()
    result.stride = Int(support.rounded(.up)) * 2 + 1
    result.weights = [Int](repeating: 0, count: result.stride * outLength)
    var real = [Double](repeating: 0, count: result.stride)
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
      let unit = Double(1 << precisionBits)
      for k in 0..<n {
        let w = total != 0 ? real[k] / total : 0
        result.weights[i * result.stride + k] = Int(w < 0 ? w * unit - 0.5 : w * unit + 0.5)
      }
      result.first.append(low)
      result.count.append(n)
    }
    return result
  }

  /// One separable pass. Horizontal: `lines` rows of `inLength` pixels become rows of
  /// `outLength`. Vertical: `inLength` rows of `lines` pixels become `outLength` rows.
  private static func resamplePass(
    _ input: [UInt8], lines: Int, inLength: Int, outLength: Int, channels: Int, horizontal: Bool
  ) -> [UInt8] {
    let taps = taps(inLength: inLength, outLength: outLength)
    let half = 1 << (precisionBits - 1)
    let maximum = 256 << precisionBits
    var output = [UInt8](repeating: 0, count: lines * outLength * channels)
    input.withUnsafeBufferPointer { src in
      output.withUnsafeMutableBufferPointer { dst in
        taps.weights.withUnsafeBufferPointer { weights in
          for line in 0..<lines {
            for i in 0..<outLength {
              let first = taps.first[i]
              let count = taps.count[i]
              let w = weights.baseAddress! + i * taps.stride
              for c in 0..<channels {
                var sum = half
                if horizontal {
                  var index = (line * inLength + first) * channels + c
                  for k in 0..<count {
                    sum += Int(src[index]) * w[k]
                    index += channels
                  }
                } else {
                  var index = (first * lines + line) * channels + c
                  let step = lines * channels
                  for k in 0..<count {
                    sum += Int(src[index]) * w[k]
                    index += step
                  }
                }
                let value: UInt8 = sum <= 0 ? 0 : sum >= maximum ? 255 : UInt8(sum >> precisionBits)
                if horizontal {
                  dst[(line * outLength + i) * channels + c] = value
                } else {
                  dst[(i * lines + line) * channels + c] = value
                }
              }
            }
          }
        }
      }
    }
    return output
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
    guard width > 0, height > 0, rgb.count == width * height * 3 else {
      throw DataError("\(source): \(rgb.count) bytes are not a \(width)x\(height) RGB image")
    }
    var pixels = rgb
    var size = (width: width, height: height)
    if let side = resizeShorterSide {
      let target = ImageResize.sizeForShorterSide(side, width: width, height: height)
      if target != size {
        pixels = ImageResize.bicubic(
          pixels, width: size.width, height: size.height, channels: 3, toWidth: target.width, toHeight: target.height)
        size = target
      }
    }
    if let crop = centerCrop, crop != size.width || crop != size.height {
      guard crop <= size.width, crop <= size.height else {
        throw DataError("\(source): image of \(size.width)x\(size.height) pixels is smaller than the \(crop)x\(crop) crop")
      }
      pixels = ImageResize.centerCrop(
        pixels, width: size.width, height: size.height, channels: 3, cropWidth: crop, cropHeight: crop)
      size = (crop, crop)
    }
    return (pixels, size.width, size.height)
  }

  /// Maps 8-bit RGB pixels (`height x width x 3`) to `(pixel / divisor - mean[c]) / std[c]`,
  /// planar, into `destination` (`3 * height * width` floats, channel-major).
  public func normalize(rgb: [UInt8], width: Int, height: Int, into destination: UnsafeMutablePointer<Float>) {
    let plane = width * height
    precondition(rgb.count == plane * 3, "pixel count does not match the size")
    for c in 0..<3 {
      let m = mean[c]
      let s = std[c]
      let d = divisor
      let out = destination + c * plane
      for p in 0..<plane { out[p] = (Float(rgb[3 * p + c]) / d - m) / s }
    }
  }

  /// The full pipeline for one RGB image: a `[1, 3, H, W]` tensor.
  public func tensor(rgb: [UInt8], width: Int, height: Int, source: String = "image") throws -> Tensor {
    let image = try geometry(rgb: rgb, width: width, height: height, source: source)
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
