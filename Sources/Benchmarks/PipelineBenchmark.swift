import Foundation
import ModelFoolData

/// Throughput of the image input pipeline, for `modelfool bench pipeline`: per image, read the
/// file, decode it (``ImageFile``), resize the shorter side to 256 (Pillow-exact bicubic), crop
/// the centre 224x224 and normalise into a `3 x 224 x 224` Float buffer, the work of
/// torchvision's `Resize(256, BICUBIC), CenterCrop(224), ToTensor(), Normalize(...)` evaluation
/// transform. The peer is bench/peers/pillow_pipeline.py (Pillow + numpy, the same steps).
public enum PipelineBenchmark {
  /// One measured configuration.
  public struct Measurement: Sendable {
    /// Worker threads, each taking every `threads`-th image.
    public var threads: Int
    /// Images processed per timed pass (`files.count * repeats`).
    public var images: Int
    /// Images per second of each timed pass, in order.
    public var passes: [Double]
    /// The median of `passes`.
    public var median: Double { passes.sorted()[passes.count / 2] }
  }

  /// The image files (`.jpg`, `.jpeg`, `.png`, any case) directly in `folder`, sorted.
  public static func imageFiles(in folder: String) throws -> [String] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
      throw DataError("\(folder): folder not found")
    }
    let files = names.filter { ImageFile.extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
    guard !files.isEmpty else { throw DataError("\(folder): no .jpg, .jpeg or .png files") }
    return files.map { folder + "/" + $0 }
  }

  /// Runs the pipeline over `files` repeated `repeats` times on `threads` threads, `passes`
  /// timed passes after one untimed warm-up pass over the files; `dctScaling` lets libjpeg
  /// decode large JPEGs at a reduced scale (``ImagePreprocessing/geometry(contentsOf:maxPixels:dctScaling:)``).
  /// Throws the first decoding error.
  public static func measure(
    files: [String], repeats: Int, threads: Int, passes: Int = 3,
    preprocessing: ImagePreprocessing = .torchvision, dctScaling: Bool = false
  ) throws -> Measurement {
    precondition(!files.isEmpty && repeats > 0 && threads > 0 && passes > 0, "nothing to measure")
    let work = Array(repeating: files, count: repeats).flatMap { $0 }
    _ = try run(files, threads: threads, preprocessing: preprocessing, dctScaling: dctScaling)
    var rates: [Double] = []
    for _ in 0..<passes {
      let start = DispatchTime.now().uptimeNanoseconds
      _ = try run(work, threads: threads, preprocessing: preprocessing, dctScaling: dctScaling)
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      rates.append(Double(work.count) / seconds)
    }
    return Measurement(threads: threads, images: work.count, passes: rates)
  }

  /// Per-thread state: the first error, and a checksum of the outputs (kept so the work is used).
  private final class Outcome: @unchecked Sendable {
    let lock = NSLock()
    var error: (any Error)?
    var checksum: Double = 0
  }

  /// Processes every file once, thread `t` taking files `t, t + threads, ...`; returns the sum of
  /// every output's first value.
  private static func run(
    _ work: [String], threads: Int, preprocessing: ImagePreprocessing, dctScaling: Bool
  ) throws -> Double {
    let outcome = Outcome()
    DispatchQueue.concurrentPerform(iterations: threads) { thread in
      var buffer = [Float]()
      var sum = 0.0
      do {
        for index in stride(from: thread, to: work.count, by: threads) {
          let image = try preprocessing.geometry(contentsOf: work[index], dctScaling: dctScaling)
          let count = 3 * image.width * image.height
          if buffer.count < count { buffer = [Float](repeating: 0, count: count) }
          buffer.withUnsafeMutableBufferPointer { out in
            preprocessing.normalize(rgb: image.rgb, width: image.width, height: image.height, into: out.baseAddress!)
          }
          sum += Double(buffer[0])
        }
      } catch {
        outcome.lock.withLock { if outcome.error == nil { outcome.error = error } }
      }
      outcome.lock.withLock { outcome.checksum += sum }
    }
    if let error = outcome.error { throw error }
    return outcome.checksum
  }
}
