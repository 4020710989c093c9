import CBLAS
import Foundation
import ModelFool

/// Throughput measurements of the engine's hot kernels, for `modelfool bench step`.
public enum KernelBenchmark {
  /// Seconds per call of `body`: the median of `repeats` timings after one warm-up call. With
  /// `threadCPUTime` the calling thread's CPU time (for single-threaded work on a loaded machine:
  /// time spent waiting for a core is not counted), else wall time.
  public static func medianSeconds(repeats: Int, threadCPUTime: Bool = false, _ body: () -> Void) -> Double {
    body()
    var times: [Double] = []
    func now() -> Double {
      guard threadCPUTime else { return Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
      var t = timespec()
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
      return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
    for _ in 0..<repeats {
      let start = now()
      body()
      times.append(now() - start)
    }
    times.sort()
    return times[times.count / 2]
  }

  /// GFLOP/s of raw `cblas_sgemm` on `n` x `n` matrices.
  public static func rawSgemmGFLOPs(n: Int = 512, repeats: Int = 20) -> Double {
    let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
    var c = [Float](repeating: 0, count: n * n)
    let s = medianSeconds(repeats: repeats) {
      cblas_sgemm(
        CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), b,
        Int32(n), 0, &c, Int32(n))
    }
    return 2 * Double(n * n * n) / s / 1e9
  }

  /// GFLOP/s of `Tensor.matmul` (allocation and graph bookkeeping included) on `n` x `n`.
  public static func engineMatmulGFLOPs(n: Int = 512, repeats: Int = 20) -> Double {
    let a = Tensor(repeating: 0.5, shape: [n, n]), b = Tensor(repeating: 0.25, shape: [n, n])
    let s = medianSeconds(repeats: repeats) { _ = Tensor.matmul(a, b) }
    return 2 * Double(n * n * n) / s / 1e9
  }

  /// Forward and backward (input + weight gradients) GFLOP/s of the workload's second
  /// convolution: batch 32, 16->32 channels, 3x3, 32x32, padding 1.
  public static func convGFLOPs(repeats: Int = 10) -> (forward: Double, backward: Double) {
    var g = SeededGenerator(seed: 1)
    let x = Tensor.randomNormal([32, 16, 32, 32], using: &g)
    let w = Tensor.randomNormal([32, 16, 3, 3], using: &g)
    let geometry = ConvGeometry(kernel: (3, 3), stride: (1, 1), padding: (1, 1))
    let flops = 2.0 * 32 * 32 * 32 * 32 * 16 * 9
    let forward = medianSeconds(repeats: repeats) { _ = Tensor.conv2d(x, w, geometry: geometry) }
    let dy = Tensor.randomNormal([32, 32, 32, 32], using: &g)
    let backward = medianSeconds(repeats: repeats) {
      _ = Tensor.convInputGradient(dy, w, inputShape: x.shape, geometry: geometry)
      _ = Tensor.convWeightGradient(x, dy, weightShape: w.shape, geometry: geometry)
    }
    return (flops / forward / 1e9, 2 * flops / backward / 1e9)
  }

  /// Peak resident memory of this process in MiB (VmHWM from /proc/self/status), if readable.
  public static func peakResidentMiB() -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
      let kb = line.split(separator: " ").compactMap { Double($0) }.first
      return kb.map { $0 / 1024 }
    }
    return nil
  }
}
