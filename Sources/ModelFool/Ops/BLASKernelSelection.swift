import CBLAS
import Foundation

/// Makes OpenBLAS use its AVX-512 kernels on CPUs that it does not recognise but that have them.
///
/// OpenBLAS built with `DYNAMIC_ARCH` (Debian's build) picks its kernels from the CPU model at load
/// time. Releases before 0.3.26 map AMD Zen 4/5 to the AVX2 "Haswell" kernels although those
/// chips run AVX-512; the SkylakeX kernels are then about 1.7x faster for sgemm here
/// (86 -> 145 GFLOP/s at 512x512 on one core). When the detected core is Haswell or Zen, the CPU
/// reports the AVX-512 subsets the SkylakeX kernels use (F, CD, BW, DQ, VL), and the user has not
/// chosen a core with `OPENBLAS_CORETYPE`, this re-runs OpenBLAS's own dynamic initialisation with
/// `OPENBLAS_CORETYPE=SkylakeX`. Set `MODELFOOL_BLAS_NATIVE=1` to keep OpenBLAS's own choice.
/// Everything is looked up with `dlsym`, so a BLAS without these entry points is left alone.
public enum BLASKernelSelection {
  /// The OpenBLAS core in use after selection (e.g. "SkylakeX"), or `nil` if not OpenBLAS.
  public static var coreName: String? {
    _ = selected
    guard let f = symbol("openblas_get_corename", as: (@convention(c) () -> UnsafePointer<CChar>?).self),
      let name = f()
    else { return nil }
    return String(cString: name)
  }

  /// Runs the selection once (thread-safe lazy global); called before the first sgemm.
  static let selected: Bool = {
    let env = ProcessInfo.processInfo.environment
    guard env["OPENBLAS_CORETYPE"] == nil, env["MODELFOOL_BLAS_NATIVE"] == nil,
      let corename = symbol("openblas_get_corename", as: (@convention(c) () -> UnsafePointer<CChar>?).self),
      let current = corename().map({ String(cString: $0) }),
      ["haswell", "zen"].contains(current.lowercased()),
      cpuHasSkylakeXFeatures(),
      let quit = symbol("gotoblas_dynamic_quit", as: (@convention(c) () -> Void).self),
      let initialise = symbol("gotoblas_dynamic_init", as: (@convention(c) () -> Void).self)
    else { return false }
    setenv("OPENBLAS_CORETYPE", "SkylakeX", 1)
    quit()
    initialise()
    unsetenv("OPENBLAS_CORETYPE")
    return true
  }()

  /// True when /proc/cpuinfo lists every AVX-512 subset that OpenBLAS's SkylakeX kernels need.
  static func cpuHasSkylakeXFeatures() -> Bool {
    // Read line by line: /proc files report size 0, which whole-file readers may trust.
    guard let file = fopen("/proc/cpuinfo", "r") else { return false }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 1 << 16)
    var flagsLine: String?
    while fgets(&buffer, Int32(buffer.count), file) != nil {
      let line = String(cString: buffer)
      if line.hasPrefix("flags") {
        flagsLine = line
        break
      }
    }
    guard let line = flagsLine else { return false }
    let flags = Set(line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init))
    return ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "fma", "avx2"].allSatisfy(flags.contains)
  }

  private static func symbol<T>(_ name: String, as type: T.Type) -> T? {
    guard let p = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
    return unsafeBitCast(p, to: type)
  }
}
